// The perf.data container (file mode, "PERFILE2", little-endian) over
// bytes: the header, the attrs and their id arrays, the data section and the
// feature table (tools/perf/Documentation/perf.data-file-format.txt).
//
// Records stay in perf's layout from the ring to the file and back;
// core/records.ts decodes them. Files are read by node/perfdata/reader.ts
// and written by node/perfdata/writer.ts; our metadata trailer after the
// features is core/perfdata/metadata.ts.

import { EventAttr, RecordError, StreamLayout, parseAttr } from '../records';
import { ByteWriter } from './byteWriter';
import { parseSidebandMeta, type SidebandMeta } from './metadata';

/** Feature bits of the header (perf 6.1, tools/perf/util/header.h), those this module reads or writes. */
export enum Feature {
  TRACING_DATA = 1,
  HOSTNAME = 3,
  OSRELEASE = 4,
  VERSION = 5,
  ARCH = 6,
  NRCPUS = 7,
  CMDLINE = 11,
  EVENT_DESC = 12,
  CLOCKID = 23,
  COMPRESSED = 27,
}

export interface PerfDataEvent {
  attr: EventAttr;
  ids: bigint[];
  /** From the EVENT_DESC feature, when the file has it. */
  name?: string;
}

export interface PerfData {
  attrs: PerfDataEvent[];
  stream: StreamLayout;
  /** The data section's bytes: whole records, perhaps ending inside one (see warnings). */
  data: Uint8Array;
  /** File offset of data[0], to name records by their place in the file as `perf report -D` does. */
  dataOffset: number;
  meta?: SidebandMeta;
  /** Feature bits set in the header, in increasing order. */
  features: number[];
  /** From the COMPRESSED feature: the most one COMPRESSED record decompresses to (perf's mmap_len). */
  decompressedLimit?: number;
  /** What is wrong with the file but still lets its records be read. */
  warnings: string[];
}

export class PerfDataError extends RecordError {
  constructor(field: string, message: string, offset?: number, input?: string) {
    super(field, message, offset, input);
    this.name = 'PerfDataError';
  }
}

export const MAGIC = 0x32454c4946524550n; // "PERFILE2" read as a little-endian u64
const MAGIC_SWAPPED = 0x50455246494c4532n; // ...as written by a big-endian machine
const MAGIC_LEGACY = 0x454c494646524550n; // "PERFFILE", perf before 2011
export const HEADER_SIZE = 104;
const PIPE_HEADER_SIZE = 16;
const FEATURE_BITS = 256;
export const SECTION_SIZE = 16;
/**
 * perf opens an event per thread and CPU, and lists an id for each: 16k
 * threads on 256 CPUs. A file may hold more id bytes than that, but as
 * bigints they would take GBs.
 */
const MAX_IDS = 1 << 22;
/** perf_event_attr was 64 bytes when published; the kernel caps it at a page. */
const ATTR_SIZE_MIN = 64;
const ATTR_SIZE_MAX = 4096;

export interface Section {
  offset: number;
  size: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A u64 the caller uses as a size or offset: beyond 2^53 it cannot describe this file. */
function readSize(view: DataView, at: number, field: string): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    throw new PerfDataError(field, `${field} is ${value}, larger than any file: the header is corrupt; re-record the capture`);
  return Number(value);
}

function readSection(view: DataView, at: number, field: string): Section {
  return { offset: readSize(view, at, `${field}.offset`), size: readSize(view, at + 8, `${field}.size`) };
}

function requireInside(section: Section, fileSize: number, field: string): void {
  if (section.offset > fileSize || section.size > fileSize - section.offset)
    throw new PerfDataError(
      field,
      `${field} (${section.size} bytes at ${section.offset}) reaches past the end of the ${fileSize}-byte file: the file is truncated or corrupt; re-record it`,
    );
}

function featureBitsOf(view: DataView, at: number): number[] {
  const bits: number[] = [];
  for (let bit = 0; bit < FEATURE_BITS; bit++) if (view.getUint8(at + (bit >> 3)) & (1 << (bit & 7))) bits.push(bit);
  return bits;
}

/**
 * The COMPRESSED feature's mmap_len (u32 version, type, level, ratio,
 * mmap_len): the most one COMPRESSED record decompresses to, perf's ring.
 * Undefined when the section is too short or says 0. A file has it as a
 * feature section, a pipe as a HEADER_FEATURE record.
 */
export function compressedMmapLen(section: Uint8Array): number | undefined {
  return section.byteLength >= 20 ? viewOf(section).getUint32(16, true) || undefined : undefined;
}

/** Whether `head` (its first 16 bytes or more) starts perf's pipe format: the magic, then a header of 16 bytes, and the records. */
export function isPipeHeader(head: Uint8Array): boolean {
  if (head.byteLength < PIPE_HEADER_SIZE) return false;
  const view = viewOf(head);
  return view.getBigUint64(0, true) === MAGIC && view.getBigUint64(8, true) === BigInt(PIPE_HEADER_SIZE);
}
export { PIPE_HEADER_SIZE };

export interface FileHeader {
  attrSize: number;
  attrs: Section;
  data: Section;
  features: number[];
}

/** The header of a perf.data file, checked against what a header can say. */
export function parseHeader(file: Uint8Array): FileHeader {
  const view = viewOf(file);
  if (file.byteLength < 16)
    throw new PerfDataError('header', `the file is ${file.byteLength} bytes, too short for a perf.data header: it is not a perf.data file`);
  const magic = view.getBigUint64(0, true);
  if (magic === MAGIC_SWAPPED)
    throw new PerfDataError('header.magic', 'the file was written on a big-endian machine, and only little-endian perf.data is supported: read it with perf on a machine of its own byte order');
  if (magic === MAGIC_LEGACY)
    throw new PerfDataError('header.magic', 'the file is in the pre-2011 "PERFFILE" format, which is not supported: re-record it with a current perf');
  if (magic !== MAGIC) throw new PerfDataError('header.magic', 'the file does not start with "PERFILE2": it is not a perf.data file');
  const size = view.getBigUint64(8, true);
  if (size === BigInt(PIPE_HEADER_SIZE))
    throw new PerfDataError('header.size', 'the file is in perf\'s pipe format (`perf record -o -`): read it as a stream (isPipeHeader)');
  if (size !== BigInt(HEADER_SIZE))
    throw new PerfDataError('header.size', `header.size is ${size}, not the ${HEADER_SIZE} bytes of a perf.data header: the file is corrupt or not a perf.data file`);
  if (file.byteLength < HEADER_SIZE)
    throw new PerfDataError('header', `the file is ${file.byteLength} bytes, shorter than its ${HEADER_SIZE}-byte header: it was cut off; re-record it`);
  const attrSize = readSize(view, 16, 'header.attr_size');
  if (attrSize < ATTR_SIZE_MIN + SECTION_SIZE || attrSize > ATTR_SIZE_MAX + SECTION_SIZE)
    throw new PerfDataError(
      'header.attr_size',
      `header.attr_size is ${attrSize}, outside the ${ATTR_SIZE_MIN + SECTION_SIZE}..${ATTR_SIZE_MAX + SECTION_SIZE} bytes of a perf_event_attr and its id section: the file is corrupt; re-record it`,
    );
  return {
    attrSize,
    attrs: readSection(view, 24, 'header.attrs'),
    data: readSection(view, 40, 'header.data'),
    features: featureBitsOf(view, 72),
  };
}

function parseAttrs(file: Uint8Array, header: FileHeader): PerfDataEvent[] {
  const view = viewOf(file);
  const { attrs, attrSize } = header;
  requireInside(attrs, file.byteLength, 'header.attrs');
  if (attrs.size === 0 || attrs.size % attrSize !== 0)
    throw new PerfDataError(
      'header.attrs.size',
      `header.attrs.size is ${attrs.size}, not a positive multiple of attr_size ${attrSize}: the file names no whole event; re-record it`,
    );
  const attrBytes = attrSize - SECTION_SIZE;
  const events: PerfDataEvent[] = [];
  // Each event's ids have their own place in the file: ids of all events
  // adding up to more than the file means overlap, which would let a small
  // hostile file make millions of ids.
  let idBytes = 0;
  for (let i = 0; i < attrs.size / attrSize; i++) {
    const at = attrs.offset + i * attrSize;
    const field = `attrs[${i}]`;
    // perf reads the id section right after attr.size bytes, so the two
    // sizes must agree for perf and this reader to see the same file.
    const declared = view.getUint32(at + 4, true);
    if (declared !== attrBytes && !(declared === 0 && attrBytes === ATTR_SIZE_MIN))
      throw new PerfDataError(`${field}.size`, `${field}.size is ${declared} but header.attr_size leaves ${attrBytes} bytes for it: the file is corrupt; re-record it`, at);
    const attr = parseAttr(file.subarray(at, at + attrBytes));
    const idSection = readSection(view, at + attrBytes, `${field}.ids`);
    requireInside(idSection, file.byteLength, `${field}.ids`);
    if (idSection.size % 8 !== 0)
      throw new PerfDataError(`${field}.ids.size`, `${field}.ids.size is ${idSection.size}, not a whole number of u64 ids: the file is corrupt; re-record it`);
    idBytes += idSection.size;
    if (idBytes > file.byteLength)
      throw new PerfDataError(`${field}.ids`, `the id arrays of the events up to ${field} add up to more than the file: they overlap, so the file is corrupt; re-record it`);
    if (idBytes / 8 > MAX_IDS)
      throw new PerfDataError(
        `${field}.ids.size`,
        `the events up to ${field} list ${idBytes / 8} ids, more than the ${MAX_IDS} any capture opens (one per event, thread and CPU): the file is corrupt; re-record it`,
      );
    const ids: bigint[] = [];
    for (let k = 0; k < idSection.size; k += 8) ids.push(view.getBigUint64(idSection.offset + k, true));
    events.push({ attr, ids });
  }
  return events;
}

/** Reads perf_header_string: u32 length (padding included), then a NUL-terminated string. */
function readPerfString(view: DataView, at: number, end: number): { value: string; next: number } | undefined {
  if (end - at < 4) return undefined;
  const length = view.getUint32(at, true);
  if (length > end - at - 4) return undefined;
  const bytes = new Uint8Array(view.buffer, view.byteOffset + at + 4, length);
  const nul = bytes.indexOf(0);
  return { value: utf8.decode(nul < 0 ? bytes : bytes.subarray(0, nul)), next: at + 4 + length };
}

/** Event names from EVENT_DESC, in the order of the file's attrs; undefined when malformed. */
function parseEventNames(file: Uint8Array, section: Section): string[] | undefined {
  const view = viewOf(file);
  const end = section.offset + section.size;
  if (section.size < 8) return undefined;
  const count = view.getUint32(section.offset, true);
  const attrSize = view.getUint32(section.offset + 4, true);
  const names: string[] = [];
  let at = section.offset + 8;
  for (let i = 0; i < count; i++) {
    if (end - at < attrSize + 4) return undefined;
    at += attrSize;
    const idCount = view.getUint32(at, true);
    const name = readPerfString(view, at + 4, end);
    if (!name || (end - name.next) / 8 < idCount) return undefined;
    names.push(name.value);
    at = name.next + idCount * 8;
  }
  return names;
}

/**
 * Parses a whole perf.data file. Throws PerfDataError (or RecordError, from
 * parseAttr) naming the field when the file cannot be read; problems that
 * still leave records to read end up in `warnings`.
 */
export function parsePerfData(file: Uint8Array): PerfData {
  const header = parseHeader(file);
  const attrs = parseAttrs(file, header);
  const warnings: string[] = [];
  const { data } = header;
  if (data.offset < HEADER_SIZE || data.offset > file.byteLength)
    throw new PerfDataError('header.data.offset', `header.data.offset is ${data.offset}, outside the ${file.byteLength}-byte file after its header: the file is corrupt; re-record it`);
  let dataEnd = data.offset + data.size;
  let featuresReadable = true;
  if (data.size === 0) {
    // perf record, like our writer, fills in data.size only when it finishes.
    warnings.push('the file was not properly finished (header.data.size is 0: the capture was interrupted or killed): reading its records up to the end of the file, whole records only');
    dataEnd = file.byteLength;
    featuresReadable = false;
  } else if (dataEnd > file.byteLength) {
    warnings.push(`the file is truncated: its data section should end at byte ${dataEnd} but the file has ${file.byteLength}; reading the whole records that remain, without the header features`);
    dataEnd = file.byteLength;
    featuresReadable = false;
  }

  let decompressedLimit: number | undefined;
  /** Where the last feature section ends: only our trailer may follow. */
  let featuresEnd = dataEnd;
  if (featuresReadable && header.features.length > 0) {
    // The feature table follows the data section: one section per set bit, in bit order.
    const table: Section = { offset: dataEnd, size: header.features.length * SECTION_SIZE };
    const view = viewOf(file);
    if (table.offset + table.size > file.byteLength) {
      warnings.push(`the file is truncated: its feature table should end at byte ${table.offset + table.size} but the file has ${file.byteLength}; its records are read, without the header features`);
      featuresReadable = false;
    } else {
      const cut: Array<{ bit: number; end: bigint }> = [];
      header.features.forEach((bit, i) => {
        const at = table.offset + i * SECTION_SIZE;
        const offset = view.getBigUint64(at, true);
        const size = view.getBigUint64(at + 8, true);
        if (offset + size > BigInt(file.byteLength)) {
          cut.push({ bit, end: offset + size });
          return;
        }
        const section: Section = { offset: Number(offset), size: Number(size) };
        featuresEnd = Math.max(featuresEnd, table.offset + table.size, section.offset + section.size);
        if (bit === Feature.EVENT_DESC) {
          const names = parseEventNames(file, section);
          if (names?.length === attrs.length) names.forEach((name, k) => (attrs[k].name = name));
          else warnings.push('the EVENT_DESC feature is malformed or lists other events than the attrs: event names are missing');
        } else if (bit === Feature.COMPRESSED) {
          decompressedLimit = compressedMmapLen(file.subarray(section.offset, section.offset + section.size));
        }
      });
      if (cut.length > 0) {
        const end = cut.reduce((most, c) => (c.end > most ? c.end : most), 0n);
        const sections = cut.length === 1 ? `the section of feature ${cut[0].bit} reaches` : `the sections of features ${cut.map((c) => c.bit).join(', ')} reach`;
        warnings.push(`the file is truncated at byte ${file.byteLength}: ${sections} up to byte ${end}; ${cut.length === 1 ? 'the feature is' : 'those features are'} ignored`);
        featuresEnd = file.byteLength; // nothing of a trailer is left to look for
      }
    }
  }
  // Only a finished file has the trailer, and only after its data section.
  const warned = warnings.length;
  const meta = featuresReadable ? parseSidebandMeta(file, dataEnd, warnings) : undefined;
  if (featuresReadable && !meta && warnings.length === warned && file.byteLength > featuresEnd)
    warnings.push(
      `the ${file.byteLength - featuresEnd} bytes after the file's last feature section (from byte ${featuresEnd}) are not a sideband trailer: the file was cut short, or another tool appended them; the capture's metadata is missing`,
    );
  return {
    attrs,
    stream: { attrs },
    data: file.subarray(data.offset, dataEnd),
    dataOffset: data.offset,
    meta,
    features: header.features,
    decompressedLimit,
    warnings,
  };
}

/** The header of a file with these attrs, data section and feature bits. */
export function buildHeader(attrSize: number, attrs: Section, data: Section, features: readonly number[]): Uint8Array {
  const out = new ByteWriter().u64(MAGIC).u64(HEADER_SIZE).u64(attrSize).section(attrs).section(data).section({ offset: 0, size: 0 });
  const bits = new Uint8Array(FEATURE_BITS / 8);
  for (const bit of features) bits[bit >> 3] |= 1 << (bit & 7);
  return out.raw(bits).result();
}
