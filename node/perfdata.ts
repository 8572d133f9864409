// perf.data files (file mode, "PERFILE2", little-endian): a reader for
// those `perf record` and we write, and the streaming writer of captures.
//
// Records stay in perf's layout from the ring to the file and back;
// records.ts decodes them. This module only knows the container: the header,
// the attrs and their id arrays, the data section and the feature sections
// (tools/perf/Documentation/perf.data-file-format.txt), and the trailer of
// our own metadata that follows them.
//
// Parsing and building work on Uint8Arrays. Only readPerfData,
// indexPerfDataFile, readHostInfo and PerfDataWriter touch the file system,
// through node:fs.

import * as fs from 'node:fs';
import {
  EventAttr,
  PROC_IDS,
  RecordError,
  RecordIndex,
  RecordIndexBuilder,
  RecordSource,
  RecordType,
  StreamLayout,
  expectedRecords,
  parseAttr,
} from '../core/records';

/** Feature bits of the header (perf 6.1, tools/perf/util/header.h), those this module reads or writes. */
export enum Feature {
  HOSTNAME = 3,
  OSRELEASE = 4,
  VERSION = 5,
  ARCH = 6,
  NRCPUS = 7,
  CMDLINE = 11,
  EVENT_DESC = 12,
  CLOCKID = 23,
}

/** Status snapshot of a capture, as the native core reports it. */
export interface SnapshotMeta {
  index: number;
  path: 'ioctl' | 'proc' | 'none';
  processes: number;
  records: number;
  stale: number;
  gone: number;
  /** Nanoseconds on the capture's clock, as a decimal string. */
  start: string;
  end: string;
}

/** What a capture counted: the engine reports it live, the file keeps the last. */
export interface CaptureStats {
  records: number;
  statusRecords: number;
  ioctlRecords: number;
  procRecords: number;
  lost: number;
  lostRecords: number;
}

/**
 * What a capture knows about itself, kept as JSON in a trailer after the
 * feature sections (see SIDEBAND_MAGIC). Readers need none of it to read
 * records: provenance and staleness travel in the records themselves.
 */
export interface SidebandMeta {
  version: 1;
  /** Name and version of the tool that captured, also written as perf's VERSION feature. */
  tool: string;
  /**
   * Decimal id of the event that received the kernel's ioctl status, if any.
   * Informational: records.ts tells ioctl status by its STATUS_ONLY bit.
   */
  ioctlId?: string;
  target: { pid: number; command?: string[] };
  ringPages: number;
  cpus: number[];
  namespaces: boolean;
  snapshots: SnapshotMeta[];
  stats: CaptureStats;
  warnings: Array<{ code: string; message: string }>;
  /** "exited", "requested" or "failed", as the native core says. */
  stopReason: string;
  /** Of a launched command, as waitpid reports it. */
  exitStatus?: number;
  /** Debugger stops and continues during the capture, as the extension saw them. */
  markers?: MarkerMeta[];
}

export interface MarkerMeta {
  /** Nanoseconds on the capture's clock, as a decimal string. */
  time: string;
  kind: 'stopped' | 'continued' | 'note';
  label: string;
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
  /** What is wrong with the file but still lets its records be read. */
  warnings: string[];
}

export class PerfDataError extends RecordError {
  constructor(field: string, message: string, offset?: number) {
    super(field, message, offset);
    this.name = 'PerfDataError';
  }
}

const MAGIC = 0x32454c4946524550n; // "PERFILE2" read as a little-endian u64
const MAGIC_SWAPPED = 0x50455246494c4532n; // ...as written by a big-endian machine
const MAGIC_LEGACY = 0x454c494646524550n; // "PERFFILE", perf before 2011
const HEADER_SIZE = 104;
const PIPE_HEADER_SIZE = 16;
const FEATURE_BITS = 256;
const SECTION_SIZE = 16;
/**
 * perf opens an event per thread and CPU, and lists an id for each: 16k
 * threads on 256 CPUs. A file may hold more id bytes than that, but as
 * bigints they would take GBs.
 */
const MAX_IDS = 1 << 22;
/** perf_event_attr was 64 bytes when published; the kernel caps it at a page. */
const ATTR_SIZE_MIN = 64;
const ATTR_SIZE_MAX = 4096;
/**
 * Our metadata is not a header feature: perf inject copies every set feature
 * bit and indexes its feature table with it, so a private bit (we used 250)
 * crashes it. The JSON follows the last feature section instead, where perf
 * never reads, found by a footer that ends the file:
 *   [JSON][u64 offset of the JSON][u64 its length]["SIDEBAN1"]
 * A tool that rewrites the file (perf inject) drops it; perf's files, and
 * ours until finish(), have none.
 */
const SIDEBAND_MAGIC = 'SIDEBAN1';
const FOOTER_SIZE = 24;
/** Name perf gives a software dummy event that excludes kernel and hypervisor. */
const SIDEBAND_EVENT_NAME = 'dummy:u';

interface Section {
  offset: number;
  size: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

function viewOf(bytes: Uint8Array): DataView {
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

interface FileHeader {
  attrSize: number;
  attrs: Section;
  data: Section;
  features: number[];
}

function parseHeader(file: Uint8Array): FileHeader {
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
    throw new PerfDataError('header.size', 'the file is in perf\'s pipe format (`perf record -o -`), which is not supported: convert it with `perf inject -i IN -o OUT.data`');
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

type Check = (value: unknown, path: string) => string | undefined;

const is =
  (predicate: (value: unknown) => boolean): Check =>
  (value, path) =>
    predicate(value) ? undefined : path;
const optional =
  (check: Check): Check =>
  (value, path) =>
    value === undefined ? undefined : check(value, path);
const arrayOf =
  (check: Check): Check =>
  (value, path) => {
    if (!Array.isArray(value)) return path;
    for (let i = 0; i < value.length; i++) {
      const bad = check(value[i], `${path}[${i}]`);
      if (bad) return bad;
    }
    return undefined;
  };
const object =
  (fields: Record<string, Check>): Check =>
  (value, path) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return path;
    const record = value as Record<string, unknown>;
    for (const [key, check] of Object.entries(fields)) {
      const bad = check(record[key], path ? `${path}.${key}` : key);
      if (bad) return bad;
    }
    return undefined;
  };
const isString = is((v) => typeof v === 'string');
const isCount = is((v) => Number.isSafeInteger(v) && (v as number) >= 0);
const isInteger = is((v) => Number.isSafeInteger(v));
const isDecimal = is((v) => typeof v === 'string' && /^[0-9]{1,20}$/.test(v) && BigInt(v) < 1n << 64n);

/** Fields readers rely on; others are let through for newer writers. */
const checkMeta = object({
  version: is((v) => v === 1),
  tool: isString,
  ioctlId: optional(isDecimal),
  target: object({ pid: isInteger, command: optional(arrayOf(isString)) }),
  ringPages: isCount,
  cpus: arrayOf(isCount),
  namespaces: is((v) => typeof v === 'boolean'),
  snapshots: arrayOf(
    object({
      index: isCount,
      path: is((v) => v === 'ioctl' || v === 'proc' || v === 'none'),
      processes: isCount,
      records: isCount,
      stale: isCount,
      gone: isCount,
      start: isDecimal,
      end: isDecimal,
    }),
  ),
  stats: object({ records: isCount, statusRecords: isCount, ioctlRecords: isCount, procRecords: isCount, lost: isCount, lostRecords: isCount }),
  warnings: arrayOf(object({ code: isString, message: isString })),
  stopReason: isString,
  exitStatus: optional(isInteger),
  markers: optional(arrayOf(object({ time: isDecimal, kind: is((v) => v === 'stopped' || v === 'continued' || v === 'note'), label: isString }))),
});

/**
 * The metadata trailer of a finished file whose data section ends at
 * `dataEnd`, if the file ends in our footer. Anything wrong with it is a
 * warning: the records are still there to read.
 */
function parseSidebandMeta(file: Uint8Array, dataEnd: number, warnings: string[]): SidebandMeta | undefined {
  const footerAt = file.byteLength - FOOTER_SIZE;
  if (footerAt < dataEnd || utf8.decode(file.subarray(footerAt + 16)) !== SIDEBAND_MAGIC) return undefined;
  const view = viewOf(file);
  const offset = view.getBigUint64(footerAt, true);
  const length = view.getBigUint64(footerAt + 8, true);
  if (offset < BigInt(dataEnd) || offset > BigInt(footerAt)) {
    warnings.push(
      `the sideband footer's offset is ${offset}, not between the end of the data section (${dataEnd}) and the footer (${footerAt}): the file is corrupt, so the capture's metadata is missing`,
    );
    return undefined;
  }
  if (length > BigInt(footerAt) - offset) {
    warnings.push(`the sideband footer's length is ${length}, but only ${BigInt(footerAt) - offset} bytes lie between its offset and the footer: the file is corrupt, so the capture's metadata is missing`);
    return undefined;
  }
  const at = Number(offset);
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(file.subarray(at, at + Number(length))));
  } catch (e) {
    warnings.push(`the sideband metadata is not valid JSON (${(e as Error).message}): the metadata is missing`);
    return undefined;
  }
  const bad = checkMeta(value, '');
  if (bad !== undefined) {
    warnings.push(`the sideband metadata's field "${bad || '(root)'}" is missing or of the wrong type: the metadata is ignored`);
    return undefined;
  }
  return value as SidebandMeta;
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

  if (featuresReadable && header.features.length > 0) {
    // The feature table follows the data section: one section per set bit, in bit order.
    const table: Section = { offset: dataEnd, size: header.features.length * SECTION_SIZE };
    requireInside(table, file.byteLength, 'features');
    const view = viewOf(file);
    header.features.forEach((bit, i) => {
      if (bit !== Feature.EVENT_DESC) return;
      const at = table.offset + i * SECTION_SIZE;
      const offset = view.getBigUint64(at, true);
      const size = view.getBigUint64(at + 8, true);
      const section: Section = { offset: Number(offset), size: Number(size) };
      if (offset + size > BigInt(file.byteLength)) {
        warnings.push(`the section of feature ${bit} reaches past the end of the file: the feature is ignored`);
      } else {
        const names = parseEventNames(file, section);
        if (names?.length === attrs.length) names.forEach((name, k) => (attrs[k].name = name));
        else warnings.push('the EVENT_DESC feature is malformed or lists other events than the attrs: event names are missing');
      }
    });
  }
  // Only a finished file has the trailer, and only after its data section.
  const meta = featuresReadable ? parseSidebandMeta(file, dataEnd, warnings) : undefined;
  return {
    attrs,
    stream: { attrs },
    data: file.subarray(data.offset, dataEnd),
    dataOffset: data.offset,
    meta,
    features: header.features,
    warnings,
  };
}

/** Reads `length` bytes at file offset `from` into `into` at `at`; fewer when the file is shorter. */
function readInto(fd: number, into: Uint8Array, at: number, length: number, from = at): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, into, at + done, length - done, from + done);
    if (n === 0) break; // the file shrank while being read
    done += n;
  }
  return done;
}

/** Opens a capture to read, with its size: 4 GiB at most, as the file is held in one buffer (whole, or sparse to index it). */
function openCapture(path: string): { fd: number; size: number } {
  const fd = fs.openSync(path, 'r');
  const size = fs.fstatSync(fd).size;
  if (size > 0xffffffff) {
    fs.closeSync(fd);
    throw new PerfDataError('file', `${path} is ${size} bytes; files over 4 GiB are not supported: split the capture`);
  }
  return { fd, size };
}

/** Reads a whole file into a buffer of its own, whose start is 8-byte aligned as records.ts wants. */
function readWholeFile(path: string): Uint8Array {
  const { fd, size } = openCapture(path);
  try {
    const bytes = new Uint8Array(new ArrayBuffer(size));
    return bytes.subarray(0, readInto(fd, bytes, 0, size));
  } finally {
    fs.closeSync(fd);
  }
}

export function readPerfData(path: string): PerfData {
  return parsePerfData(readWholeFile(path));
}

// Records looked at together lie together (a process's MMAPs, a lane's
// COMMs, what a model update reads): one read serves a block of them, where
// a read per record would open the file as many times.
const SOURCE_BLOCK_BYTES = 64 << 10;

/** Records read back from their file when one is looked at. */
function fileSource(path: string, dataOffset: number): RecordSource {
  let blockStart = 0;
  let block = new Uint8Array(0);
  return {
    record(offset, size) {
      if (offset < blockStart || offset + size > blockStart + block.length) {
        blockStart = offset - (offset % SOURCE_BLOCK_BYTES);
        const bytes = new Uint8Array(Math.max(SOURCE_BLOCK_BYTES, offset + size - blockStart));
        const fd = fs.openSync(path, 'r');
        try {
          // Only what was there: a live file grows, and a later look reads again.
          block = bytes.subarray(0, readInto(fd, bytes, 0, bytes.length, dataOffset + blockStart));
        } finally {
          fs.closeSync(fd);
        }
      }
      const bytes = new Uint8Array(new ArrayBuffer(size));
      bytes.set(block.subarray(offset - blockStart, offset - blockStart + size));
      return bytes;
    },
  };
}

/** A file whose records stay in it: everything but the data section, and where that lies. */
export interface PerfDataFile extends Omit<PerfData, 'data'> {
  /** File offsets of the data section's first byte and of the byte after its last. */
  dataStart: number;
  dataEnd: number;
}

/**
 * Reads everything of a perf.data file but its records. The buffer has the
 * file's size, but only what lies outside the data section is read into it:
 * the rest is never touched, so its pages are never faulted in, and
 * parsePerfData checks every offset against the real size. A file still
 * being written (data.size 0) has its data run to the current end.
 */
export function openPerfDataFile(path: string): PerfDataFile {
  const { fd, size } = openCapture(path);
  try {
    const sparse = new Uint8Array(new ArrayBuffer(size));
    readInto(fd, sparse, 0, Math.min(size, HEADER_SIZE));
    const { data } = parseHeader(sparse);
    const dataStart = Math.min(data.offset, size);
    const dataEnd = data.size === 0 ? size : Math.min(size, dataStart + data.size);
    readInto(fd, sparse, 0, dataStart);
    readInto(fd, sparse, dataEnd, size - dataEnd);
    const { data: _untouched, ...file } = parsePerfData(sparse);
    return { ...file, dataStart, dataEnd };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The data section of `file`, in chunks of up to `chunkBytes`, each in an
 * ArrayBuffer of its own (to hand on, e.g. to a webview). Chunks end where
 * the reads do, so a record may span two.
 */
export function* dataChunks(path: string, file: PerfDataFile, chunkBytes: number): Generator<Uint8Array> {
  const fd = fs.openSync(path, 'r');
  try {
    for (let position = file.dataStart; position < file.dataEnd; ) {
      const chunk = new Uint8Array(new ArrayBuffer(Math.min(chunkBytes, file.dataEnd - position)));
      const n = readInto(fd, chunk, 0, chunk.length, position);
      if (n === 0) break; // the file shrank while being read
      yield n === chunk.length ? chunk : chunk.slice(0, n);
      position += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** A file indexed for the timeline: its records stay in the file. */
export interface IndexedPerfData extends Omit<PerfData, 'data'> {
  index: RecordIndex;
}

/**
 * Indexes a perf.data file for the timeline without holding its records:
 * the data section streams through one small buffer, each chunk indexed
 * while it is still in cache, and decodeRecord reads a record back from the
 * file when one is looked at. Memory is the index's columns, about a third
 * of the file, not the file as well. `chunkBytes` trades memory for calls.
 */
export function indexPerfDataFile(path: string, chunkBytes = 2 << 20): IndexedPerfData {
  const { dataStart, dataEnd, ...file } = openPerfDataFile(path);
  const fd = fs.openSync(path, 'r');
  try {
    const builder = new RecordIndexBuilder(file.stream, expectedRecords(dataEnd - dataStart));
    let chunk = new Uint8Array(new ArrayBuffer(Math.max(8, chunkBytes - (chunkBytes % 8))));
    let base = 0; // stream offset of chunk[0]
    let filled = 0;
    let position = dataStart;
    while (position < dataEnd) {
      if (filled === chunk.length) {
        // One record larger than the chunk: make room for it.
        const grown = new Uint8Array(new ArrayBuffer(chunk.length * 2));
        grown.set(chunk);
        chunk = grown;
      }
      const n = fs.readSync(fd, chunk, filled, Math.min(chunk.length - filled, dataEnd - position), position);
      if (n === 0) break;
      position += n;
      filled += n;
      const next = builder.add(chunk.subarray(0, filled), base);
      if (next >= filled) {
        position += next - filled; // AUX data to skip, if any
        filled = 0;
      } else {
        chunk.copyWithin(0, next, filled);
        filled -= next;
      }
      base += next;
    }
    // Bytes left over end inside a record; AUX data past the end cuts off its AUXTRACE.
    const truncatedAt = filled > 0 ? base : position > dataEnd ? builder.lastRecordAt : undefined;
    return { ...file, index: builder.finish(fileSource(path, dataStart), truncatedAt) };
  } finally {
    fs.closeSync(fd);
  }
}

/** Growable little-endian byte builder for the header and feature payloads. */
class ByteWriter {
  private bytes = new Uint8Array(512);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  private reserve(n: number): number {
    const at = this.length;
    if (at + n > this.bytes.byteLength) {
      const grown = new Uint8Array(Math.max(this.bytes.byteLength * 2, at + n));
      grown.set(this.bytes.subarray(0, at));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    this.length += n;
    return at;
  }
  // reserve() may replace the buffer: call it before reading this.bytes or this.view.
  u32(value: number): this {
    const at = this.reserve(4);
    this.view.setUint32(at, value, true);
    return this;
  }
  u64(value: number | bigint): this {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(value), true);
    return this;
  }
  raw(bytes: Uint8Array): this {
    const at = this.reserve(bytes.byteLength);
    this.bytes.set(bytes, at);
    return this;
  }
  section(section: Section): this {
    return this.u64(section.offset).u64(section.size);
  }
  /** perf's do_write_string: u32 length, the string, a NUL, zeros up to a multiple of 64. */
  perfString(value: string): this {
    const text = utf8Encoder.encode(value);
    const length = Math.ceil((text.byteLength + 1) / 64) * 64;
    this.u32(length).raw(text);
    this.reserve(length - text.byteLength);
    return this;
  }
  alignTo(n: number): this {
    this.reserve((n - (this.length % n)) % n);
    return this;
  }
  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

function buildHeader(attrSize: number, attrs: Section, data: Section, features: readonly number[]): Uint8Array {
  const out = new ByteWriter().u64(MAGIC).u64(HEADER_SIZE).u64(attrSize).section(attrs).section(data).section({ offset: 0, size: 0 });
  const bits = new Uint8Array(FEATURE_BITS / 8);
  for (const bit of features) bits[bit >> 3] |= 1 << (bit & 7);
  return out.raw(bits).result();
}

/** The machine a capture ran on, for perf's HOSTNAME, OSRELEASE, ARCH, NRCPUS and CMDLINE features. */
export interface HostInfo {
  hostname: string;
  osRelease: string;
  /** As `uname -m` says, e.g. x86_64: perf maps it to its own arch names. */
  arch: string;
  /** Highest present CPU number + 1, as perf writes it. */
  cpusAvailable: number;
  cpusOnline: number;
  cmdline: string[];
}

/** Numbers in a kernel CPU list such as "0-3,8,10-11". */
function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) continue;
    for (let cpu = Number(m[1]); cpu <= Number(m[2] ?? m[1]); cpu++) cpus.push(cpu);
  }
  return cpus;
}

function readText(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** What perf record would write about this machine, read from /proc and /sys. */
export function readHostInfo(): HostInfo {
  const present = parseCpuList(readText('/sys/devices/system/cpu/present'));
  return {
    hostname: readText('/proc/sys/kernel/hostname'),
    osRelease: readText('/proc/sys/kernel/osrelease'),
    arch: readText('/proc/sys/kernel/arch'),
    cpusAvailable: present.length ? Math.max(...present) + 1 : 0,
    cpusOnline: parseCpuList(readText('/sys/devices/system/cpu/online')).length,
    cmdline: process.argv,
  };
}

/**
 * The feature sections of a finished file, as they follow its data section,
 * then the metadata trailer and its footer.
 */
function buildFeatures(offset: number, attr: EventAttr, ids: readonly bigint[], host: HostInfo, meta: SidebandMeta): { bits: number[]; bytes: Uint8Array } {
  const payloads: Array<[Feature, ByteWriter]> = [
    [Feature.HOSTNAME, new ByteWriter().perfString(host.hostname)],
    [Feature.OSRELEASE, new ByteWriter().perfString(host.osRelease)],
    [Feature.VERSION, new ByteWriter().perfString(meta.tool)],
    [Feature.ARCH, new ByteWriter().perfString(host.arch)],
    [Feature.NRCPUS, new ByteWriter().u32(host.cpusAvailable).u32(host.cpusOnline)],
    [Feature.CMDLINE, host.cmdline.reduce((out, arg) => out.perfString(arg), new ByteWriter().u32(host.cmdline.length))],
    [Feature.EVENT_DESC, ids.reduce((out, id) => out.u64(id), new ByteWriter().u32(1).u32(attr.bytes.byteLength).raw(attr.bytes).u32(ids.length).perfString(SIDEBAND_EVENT_NAME))],
  ];
  // CLOCKID holds the clock's resolution in ns; perf uses it to say that
  // times are on attr.clockid. The POSIX clocks perf offers all tick in 1 ns.
  if (attr.useClockid) payloads.push([Feature.CLOCKID, new ByteWriter().u64(1)]);

  const table = new ByteWriter();
  const body = new ByteWriter();
  const bodyStart = offset + payloads.length * SECTION_SIZE;
  for (const [, payload] of payloads) {
    table.section({ offset: bodyStart + body.length, size: payload.length });
    body.raw(payload.result()).alignTo(8);
  }
  const json = utf8Encoder.encode(JSON.stringify(meta));
  const jsonAt = bodyStart + body.length;
  body.raw(json).u64(jsonAt).u64(json.byteLength).raw(utf8Encoder.encode(SIDEBAND_MAGIC));
  return { bits: payloads.map(([bit]) => bit), bytes: table.raw(body.result()).result() };
}

const FINISHED_ROUND = new ByteWriter().u32(RecordType.FINISHED_ROUND).u32(8 << 16).result();
/** perf queues records until a FINISHED_ROUND; these bound what it holds at once. */
const ROUND_RECORDS = 65536;
const ROUND_BYTES = 4 << 20;
const WRITE_BUFFER_BYTES = 1 << 20;

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
}

/**
 * Streams a capture into a perf.data file that perf itself reads: one event
 * (the capture's attr), its kernel ids plus the ids /proc status records
 * carry, the records as appended, then perf's features and our metadata
 * trailer.
 *
 * Until finish() the header says data.size = 0, perf's own mark of an
 * unfinished file, as `perf record` leaves one when killed. readPerfData
 * reads such a file up to its last whole record; perf 6.1 only warns that
 * it was not properly terminated and then reads none of it.
 */
export class PerfDataWriter {
  private readonly buffer = new Uint8Array(WRITE_BUFFER_BYTES);
  private buffered = 0;
  /** File offset where the buffer's bytes go. */
  private position: number;
  private roundRecords = 0;
  private roundBytes = 0;
  private fd: number | undefined;

  private constructor(
    fd: number,
    private readonly attr: EventAttr,
    private readonly ids: bigint[],
    private readonly attrsAt: number,
    private readonly dataOffset: number,
    private readonly host: HostInfo,
  ) {
    this.fd = fd;
    this.position = dataOffset;
  }

  /**
   * Creates (or truncates) `path` and writes the header, id array and attr.
   * `attr` is the perf_event_attr of every record's event; `ids` its kernel
   * ids, the id of the event that receives ioctl status among them.
   */
  static open(path: string, init: { attr: Uint8Array; ids: readonly bigint[]; host?: HostInfo }): PerfDataWriter {
    const attr = parseAttr(init.attr);
    if (attr.size !== init.attr.byteLength)
      throw new PerfDataError('attr.size', `attr.size is ${attr.size} but the attr has ${init.attr.byteLength} bytes: perf would misread the file`);
    const ids = [...new Set([...init.ids, ...PROC_IDS])];
    const attrSize = init.attr.byteLength + SECTION_SIZE;
    const idsAt = HEADER_SIZE;
    const attrsAt = idsAt + ids.length * 8;
    const dataOffset = Math.ceil((attrsAt + attrSize) / 8) * 8;
    const start = new ByteWriter().raw(buildHeader(attrSize, { offset: attrsAt, size: attrSize }, { offset: dataOffset, size: 0 }, []));
    for (const id of ids) start.u64(id);
    start.raw(init.attr).section({ offset: idsAt, size: ids.length * 8 }).alignTo(8);
    const host = init.host ?? readHostInfo();
    const fd = fs.openSync(path, 'w', 0o600);
    try {
      writeAll(fd, start.result(), 0);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    return new PerfDataWriter(fd, attr, ids, attrsAt, dataOffset, host);
  }

  /** Appends whole records in perf's layout, in time order. */
  append(records: Uint8Array): void {
    const fd = this.openFd();
    const view = viewOf(records);
    // Check the whole batch before writing any of it, noting where rounds end.
    const roundEnds: number[] = [];
    let { roundRecords, roundBytes } = this;
    for (let at = 0; at < records.byteLength; ) {
      const size = records.byteLength - at >= 8 ? view.getUint16(at + 6, true) : 0;
      if (size < 8 || size % 8 !== 0 || size > records.byteLength - at)
        throw new PerfDataError('records', 'the batch does not consist of whole records (a header.size is 0, not a multiple of 8, or runs past its end): nothing of it was written', at);
      at += size;
      roundRecords++;
      roundBytes += size;
      if (roundRecords >= ROUND_RECORDS || roundBytes >= ROUND_BYTES) {
        roundEnds.push(at);
        roundRecords = roundBytes = 0;
      }
    }
    this.roundRecords = roundRecords;
    this.roundBytes = roundBytes;
    let start = 0;
    for (const end of roundEnds) {
      this.write(fd, records.subarray(start, end));
      this.write(fd, FINISHED_ROUND);
      start = end;
    }
    this.write(fd, records.subarray(start));
  }

  /** Ends the data section, writes the features, the metadata trailer and the final header, and closes the file. */
  finish(meta: SidebandMeta): void {
    const fd = this.openFd();
    const bad = checkMeta(meta, '');
    if (bad !== undefined) throw new PerfDataError(`meta.${bad}`, `meta.${bad} is missing or of the wrong type: readers would ignore the metadata`);
    // Also makes data.size non-zero, which is what marks the file finished.
    this.write(fd, FINISHED_ROUND);
    this.writeBuffered(fd);
    const features = buildFeatures(this.position, this.attr, this.ids, this.host, meta);
    writeAll(fd, features.bytes, this.position);
    const attrSize = this.attr.bytes.byteLength + SECTION_SIZE;
    const data = { offset: this.dataOffset, size: this.position - this.dataOffset };
    // The header last: only now does the file say it is complete.
    writeAll(fd, buildHeader(attrSize, { offset: this.attrsAt, size: attrSize }, data, features.bits), 0);
    this.close(fd);
  }

  /** Writes out what was appended, so readers of the file see every record so far. */
  flush(): void {
    this.writeBuffered(this.openFd());
  }

  /**
   * Writes out what was appended and closes the file without finishing it,
   * as an interrupted capture would leave it: data.size stays 0.
   */
  abandon(): void {
    const fd = this.openFd();
    this.writeBuffered(fd);
    this.close(fd);
  }

  private openFd(): number {
    if (this.fd === undefined) throw new PerfDataError('writer', 'the perf.data writer was already finished or abandoned');
    return this.fd;
  }

  private close(fd: number): void {
    this.fd = undefined;
    fs.closeSync(fd);
  }

  private write(fd: number, bytes: Uint8Array): void {
    if (bytes.byteLength > this.buffer.byteLength - this.buffered) this.writeBuffered(fd);
    if (bytes.byteLength >= this.buffer.byteLength) {
      writeAll(fd, bytes, this.position);
      this.position += bytes.byteLength;
      return;
    }
    this.buffer.set(bytes, this.buffered);
    this.buffered += bytes.byteLength;
  }

  private writeBuffered(fd: number): void {
    writeAll(fd, this.buffer.subarray(0, this.buffered), this.position);
    this.position += this.buffered;
    this.buffered = 0;
  }
}
