// Perf's record stream, read in chunks as it comes: a file's data section,
// the data.N of a --threads directory, or a pipe after its header. The
// kernel's records are indexed (records.ts) where they lie; what perf
// wraps around them is taken apart here. COMPRESSED payloads are
// decompressed and their sideband kept in memory; a pipe's HEADER_ATTRs
// name its events; the payloads after AUXTRACE and TRACING_DATA are
// stepped over, as are user records that leave the stream unaligned.
//
// One rule for a stream that ends inside a record: an input that ends
// where it said it would (a finished file's data section) contradicts
// itself, and is refused; one that was cut (a short file, an unfinished
// capture, a pipe that closed) is read up to its last whole record.

import { EventAttr, RecordError, RecordIndex, RecordIndexBuilder, RecordSource, RecordType, StreamLayout, USER_TYPE_START, expectedRecords, parseAttr, typeName } from './records';
import { ZstdError, ZstdStream } from './perfdata/zstd';
import { Feature, compressedMmapLen } from './perfdata/format';
import { partitionPoint } from './search';
import { cString } from './recordLayout';

/**
 * Reads `size` bytes at `position` of an input again, for a record looked
 * at later. A pipe read once has none: its records can be looked at until
 * the next push. Until then, any input's are read from the reader's buffer.
 */
export type ReadBack = (position: number, size: number) => Uint8Array;

export interface StreamInput {
  /** How messages name it: a file's path, or "data.3 of DIR". */
  name: string;
  /** File offset of the input's first byte, so messages name bytes as the file has them. */
  fileOffset: number;
  /** Bytes the input says it has (a finished data section); undefined when it runs to where it ends. */
  declaredBytes?: number;
  readBack?: ReadBack;
}

/**
 * The most one compressed record decompresses to when the stream has no
 * COMPRESSED feature to say (perf always writes one): a 64 MiB ring, far
 * more than perf's default 516 KiB, so that a payload built to expand
 * without end is stopped.
 */
const DEFAULT_DECOMPRESSED_LIMIT = 64 << 20;
/** PERF_EVENT_UPDATE__NAME, the kind of EVENT_UPDATE that names an event. */
const EVENT_UPDATE_NAME = 2n;

const EMPTY_INDEX: RecordIndex = {
  count: 0,
  source: { record: () => new Uint8Array(0) },
  offset: new Float64Array(0),
  size: new Uint16Array(0),
  type: new Uint8Array(0),
  flags: new Uint8Array(0),
  time: new Float64Array(0),
  pid: new Int32Array(0),
  tid: new Int32Array(0),
  cpu: new Int32Array(0),
  trailer: new Uint8Array(0),
  call: new Uint8Array(0),
  rawAt: new Uint16Array(0),
  skipped: 0,
  skippedByType: {},
};

/** A stretch of the index's stream offsets: bytes of an input from `position`, or records kept in memory. */
type Span = { start: number } & ({ input: StreamInput; position: number } | { memory: Uint8Array });

/** Records of a stream on the index's offsets: the one kind of RecordSource this module makes. */
class SpanSource implements RecordSource {
  readonly spans: Span[] = [];
  /** Bytes of the last push, and their position: a pipe's records as long as they are held, any input's until the next push. */
  window?: { input: StreamInput; position: number; bytes: Uint8Array }[];

  record(offset: number, size: number): Uint8Array {
    const spans = this.spans;
    // The last span that starts at or before offset (the first starts at 0).
    const span = spans[Math.max(0, partitionPoint(0, spans.length, (k) => spans[k].start <= offset) - 1)];
    const at = offset - span.start;
    if ('memory' in span) return aligned(span.memory.subarray(at, at + size));
    const position = span.position + at;
    for (const w of this.window ?? [])
      if (w.input === span.input && position >= w.position && position + size <= w.position + w.bytes.byteLength)
        return aligned(w.bytes.subarray(position - w.position, position - w.position + size));
    if (span.input.readBack) return span.input.readBack(position, size);
    throw new RecordError('stream', `the record at byte ${position} of ${span.input.name} was read from a pipe and is no longer held`);
  }
}

function aligned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
}

export class RecordStreamReader {
  private builder?: RecordIndexBuilder;
  private readonly attrs: { attr: EventAttr; ids: bigint[]; name?: string }[];
  private readonly source = new SpanSource();
  /** What is wrong with the stream but still lets its records be read. */
  readonly warnings: string[] = [];
  private truncatedAt?: number;
  private decompressedLimit = DEFAULT_DECOMPRESSED_LIMIT;

  private input?: StreamInput;
  /** The input's bytes not consumed yet, from `position` of the input. */
  private buf: Uint8Array = new Uint8Array(new ArrayBuffer(1 << 16));
  private filled = 0;
  private consumed = 0;
  private position = 0;
  /** Stream offset = input position + delta: kept records from payloads push later bytes along. */
  private delta = 0;
  /** Next free stream offset. */
  private end = 0;
  /** Payload bytes after a record, still to step over. */
  private skipping = 0;
  private received = 0;
  /** The decompressed stream: zstd's state, and a record it ended inside. */
  private zstd?: ZstdStream;
  private innerCarry = new Uint8Array(0);
  /** File offset of the COMPRESSED record being read, to name it. */
  private compressedAt = 0;
  /** Records a pipe has before it names its events, counted once it does. */
  private readonly pendingSkips: number[] = [];

  /**
   * `stream`: the events of a file; none for a pipe, whose HEADER_ATTRs name
   * them. `decompressedLimit`: the file's COMPRESSED feature's mmap_len.
   */
  constructor(stream: StreamLayout | undefined, expectedBytes = 0, decompressedLimit?: number) {
    if (decompressedLimit) this.decompressedLimit = decompressedLimit;
    this.attrs = stream ? stream.attrs.map((a) => ({ attr: a.attr, ids: [...a.ids], ...(a.name === undefined ? {} : { name: a.name }) })) : [];
    if (stream) this.builder = new RecordIndexBuilder(stream, expectedRecords(expectedBytes));
  }

  /** The events named so far: the file's, or the pipe's HEADER_ATTRs. */
  get stream(): StreamLayout {
    return { attrs: this.attrs };
  }

  /** Starts the next input; the one before must have ended. */
  begin(input: StreamInput): void {
    this.input = input;
    this.filled = this.consumed = this.position = this.received = this.skipping = 0;
    this.delta = this.end;
    this.source.spans.push({ start: this.end, input, position: 0 });
    this.source.window = undefined;
  }

  /**
   * Room for the next `size` bytes of the input, after those not consumed
   * yet: read into it, then commit() how many came. This saves push()'s
   * copy. The buffer is new when a pipe's window still shows the old one,
   * whose records stay readable until then; an input read back reuses it.
   */
  room(size: number): Uint8Array {
    const left = this.filled - this.consumed;
    const need = left + size;
    if (need <= this.buf.byteLength && (!this.source.window || this.input?.readBack)) {
      this.buf.copyWithin(0, this.consumed, this.filled);
    } else {
      const bigger = new Uint8Array(new ArrayBuffer(Math.max(need, this.buf.byteLength)));
      bigger.set(this.buf.subarray(this.consumed, this.filled));
      this.buf = bigger;
    }
    this.source.window = undefined;
    this.position += this.consumed;
    this.filled = left;
    this.consumed = 0;
    return this.buf.subarray(left, left + size);
  }

  /** `size` bytes were read into the room(): takes them. Throws a RecordError naming the record, its byte and field when the stream contradicts itself. */
  commit(size: number): void {
    const input = this.current();
    this.received += size;
    this.filled += size;
    this.source.window = [{ input, position: this.position, bytes: this.buf.subarray(0, this.filled) }];
    this.run();
  }

  /** The next bytes of the input (copied: the caller may reuse them). */
  push(bytes: Uint8Array): void {
    this.room(bytes.byteLength).set(bytes);
    this.commit(bytes.byteLength);
  }

  /** The input ended: a record it ends inside is refused or marks the stream truncated (see the file comment). */
  finishInput(): void {
    const input = this.current();
    const left = this.filled - this.consumed;
    const cutAt = this.position + this.consumed;
    const whole = input.declaredBytes !== undefined && this.received >= input.declaredBytes;
    if (left > 0 || this.skipping > 0) {
      const what = left >= 8 ? this.describe(this.consumed) : `a record header cut to ${left} bytes`;
      if (whole)
        throw new RecordError('header.size', `${what} runs past the end of the data section at byte ${input.fileOffset + input.declaredBytes!}`, input.fileOffset + cutAt, input.name);
      this.truncate(cutAt, `${input.name} ends inside a record at byte ${input.fileOffset + cutAt}: the records before it are read`);
    }
    if (this.innerCarry.byteLength > 0) {
      if (whole && left === 0) throw new RecordError('COMPRESSED.data', "COMPRESSED record's data ends inside a record", this.compressedAt, input.name);
      this.innerCarry = new Uint8Array(0);
    }
    // Each data.N of a directory is compressed as a stream of its own.
    this.zstd = undefined;
    this.end = this.received + this.delta;
    this.input = undefined;
  }

  /** The index of every record so far; call again after more pushes for a grown one. */
  index(): RecordIndex {
    // A pipe read so far only up to its HEADER_ATTRs: no records yet.
    if (!this.builder && this.attrs.length === 0) return { ...EMPTY_INDEX, source: this.source };
    return this.indexBuilder().finish(this.source, this.truncatedAt);
  }

  private current(): StreamInput {
    if (!this.input) throw new Error('no input begun');
    return this.input;
  }

  private truncate(position: number, warning: string): void {
    this.truncatedAt ??= position + this.delta;
    this.warnings.push(warning);
  }

  /** The index, made when a pipe's first kernel record comes: its HEADER_ATTRs have named the events by then. */
  private indexBuilder(): RecordIndexBuilder {
    if (this.builder) return this.builder;
    if (this.attrs.length === 0)
      throw new RecordError('HEADER_ATTR', 'the stream has a record before any HEADER_ATTR names its event: it is not a whole perf pipe stream', this.current().fileOffset + this.position + this.consumed, this.current().name);
    const builder = new RecordIndexBuilder(this.stream);
    for (const type of this.pendingSkips) builder.skip(type);
    this.pendingSkips.length = 0;
    this.builder = builder;
    return builder;
  }

  /** A record's type and size, for messages. */
  private describe(at: number): string {
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + at, 8);
    return `a ${typeName(view.getUint32(0, true))} record's header.size of ${view.getUint16(6, true)} bytes`;
  }

  /** Indexes and takes apart every whole record in the buffer. */
  private run(): void {
    const input = this.current();
    for (;;) {
      if (this.skipping) {
        const take = Math.min(this.skipping, this.filled - this.consumed);
        this.skipping -= take;
        this.consumed += take;
        if (this.skipping) return;
      }
      let at = this.consumed;
      if (this.filled - at < 8) return;
      const header = new DataView(this.buf.buffer, this.buf.byteOffset + at, 8);
      const type = header.getUint32(0, true);
      if (type < USER_TYPE_START || (type === RecordType.FINISHED_INIT && header.getUint16(6, true) % 8 === 0)) {
        // Records for the index, which reads 32-bit words: a user record
        // before them may have left the stream unaligned (perf inject's
        // build-ids), and the rest of the buffer moves to realign it. Only
        // then: between a -z file's COMPRESSED records there are none.
        const builder = this.indexBuilder();
        if (at % 4 !== 0) {
          // A pipe's old window stays readable in its old buffer; an input read back reused its buffer, and reads older records from its file.
          const window = input.readBack ? [] : (this.source.window ?? []);
          this.room(0);
          this.source.window = [...window, { input, position: this.position, bytes: this.buf.subarray(0, this.filled) }];
          at = 0;
        }
        let indexed: number;
        try {
          indexed = builder.add(this.buf.subarray(at, this.filled), this.position + at + this.delta);
        } catch (e) {
          throw this.located(e);
        }
        if (indexed === 0) return; // a record the buffer holds only the start of
        this.consumed = at + indexed;
        continue;
      }
      const size = header.getUint16(6, true);
      if (size < 8) throw new RecordError('header.size', `${typeName(type)} record's header.size is ${size}, less than its own 8-byte header`, input.fileOffset + this.position + at, input.name);
      if (size > this.filled - at) return;
      this.consumed = at + size;
      this.userRecord(type, this.buf.subarray(at, at + size), input.fileOffset + this.position + at);
    }
  }

  /** Takes a user record the index stopped at (or any record, before a pipe names its events). */
  private userRecord(type: number, record: Uint8Array, fileAt: number): void {
    const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
    const name = this.current().name;
    const field = (f: string): string => `${typeName(type)}.${f}`;
    switch (type) {
      case RecordType.HEADER_ATTR: {
        if (record.byteLength < 8 + 64) throw new RecordError(field('attr'), `HEADER_ATTR record is ${record.byteLength} bytes, too short for a perf_event_attr`, fileAt, name);
        const attrSize = view.getUint32(12, true) || 64;
        if (attrSize < 64 || 8 + attrSize > record.byteLength || (record.byteLength - 8 - attrSize) % 8 !== 0)
          throw new RecordError(field('attr.size'), `HEADER_ATTR's attr.size is ${attrSize}, which does not fit its ${record.byteLength}-byte record with whole u64 ids`, fileAt, name);
        const attr = parseAttr(record.slice(8, 8 + attrSize));
        const ids: bigint[] = [];
        for (let at = 8 + attrSize; at < record.byteLength; at += 8) ids.push(view.getBigUint64(at, true));
        this.attrs.push({ attr, ids });
        this.builder?.setStream(this.stream);
        return;
      }
      case RecordType.EVENT_UPDATE:
        // perf_record_event_update: u64 type, u64 id, then the update; of
        // its kinds only NAME (2) matters here, as the index reads the
        // samples of the mapping syscalls' tracepoints by their names. Our
        // captures name every event so at the start of their data, for
        // readers that follow the file before its EVENT_DESC is written.
        if (record.byteLength > 24 && view.getBigUint64(8, true) === EVENT_UPDATE_NAME) {
          const id = view.getBigUint64(16, true);
          const event = this.attrs.find((a) => a.ids.includes(id));
          if (event) {
            event.name = cString(record, 24, record.byteLength);
            this.builder?.setStream(this.stream);
          }
        }
        break;
      case RecordType.HEADER_TRACING_DATA:
        if (record.byteLength < 12) throw new RecordError(field('size'), 'TRACING_DATA record is too short for its size field', fileAt, name);
        // The tracing data follows the record, padded to 8 bytes, outside its size.
        this.stepOver(Math.ceil(view.getUint32(8, true) / 8) * 8);
        break;
      case RecordType.AUXTRACE: {
        if (record.byteLength < 16) throw new RecordError(field('size'), 'AUXTRACE record is too short for its size field', fileAt, name);
        const aux = view.getUint32(8, true) + view.getUint32(12, true) * 4294967296;
        // perf pads AUX data to 8 bytes; anything else would leave every later record misaligned.
        if (aux % 8 !== 0) throw new RecordError(field('size'), `AUXTRACE record is followed by ${aux} bytes of AUX data, not a multiple of 8`, fileAt, name);
        this.stepOver(aux);
        break;
      }
      case RecordType.HEADER_FEATURE:
        // In a pipe, features come as records: the compression's mmap_len bounds each payload.
        if (record.byteLength >= 16 && view.getBigUint64(8, true) === BigInt(Feature.COMPRESSED))
          this.decompressedLimit = compressedMmapLen(record.subarray(16)) ?? DEFAULT_DECOMPRESSED_LIMIT;
        break;
      case RecordType.COMPRESSED:
        this.decompress(record.subarray(8), fileAt);
        break;
      case RecordType.COMPRESSED2: {
        if (record.byteLength < 16) throw new RecordError(field('data_size'), 'COMPRESSED2 record is too short for its data_size field', fileAt, name);
        const dataSize = view.getUint32(8, true) + view.getUint32(12, true) * 4294967296;
        if (dataSize > record.byteLength - 16)
          throw new RecordError(field('data_size'), `COMPRESSED2's data_size is ${dataSize}, more than the ${record.byteLength - 16} bytes its record holds`, fileAt, name);
        this.decompress(record.subarray(16, 16 + dataSize), fileAt);
        break;
      }
    }
    this.skip(type);
  }

  /** Counts a record left out of the index, once there is an index to count it. */
  private skip(type: number): void {
    if (!this.builder) this.pendingSkips.push(type);
    else this.builder.skip(type);
  }

  private stepOver(bytes: number): void {
    const take = Math.min(bytes, this.filled - this.consumed);
    this.consumed += take;
    this.skipping = bytes - take;
  }

  /**
   * Decompresses a payload and indexes the records it completes: the
   * sideband among them is copied into memory, samples are only counted.
   */
  private decompress(payload: Uint8Array, fileAt: number): void {
    const name = this.current().name;
    this.compressedAt = fileAt;
    this.zstd ??= new ZstdStream();
    let parts: Uint8Array[];
    try {
      parts = this.zstd.push(payload, this.decompressedLimit);
    } catch (e) {
      if (e instanceof ZstdError) throw new RecordError('COMPRESSED.data', `COMPRESSED record's data: ${e.message}`, fileAt, name);
      throw e;
    }
    const total = parts.reduce((n, p) => n + p.byteLength, this.innerCarry.byteLength);
    if (total === 0) return;
    const bytes = new Uint8Array(total);
    bytes.set(this.innerCarry);
    let filled = this.innerCarry.byteLength;
    for (const p of parts) {
      bytes.set(p, filled);
      filled += p.byteLength;
    }
    const kept = new Uint8Array(total);
    let keptBytes = 0;
    let at = 0;
    const view = new DataView(bytes.buffer);
    while (total - at >= 8) {
      const type = view.getUint32(at, true);
      const size = view.getUint16(at + 6, true);
      if (size < 8 || (type < USER_TYPE_START && size % 8 !== 0))
        throw new RecordError('header.size', `${typeName(type)} record's header.size is ${size} in the compressed records: not a whole kernel record`, fileAt, name);
      if (size > total - at) break;
      if (type === RecordType.SAMPLE || type >= USER_TYPE_START) this.skip(type);
      else {
        kept.set(bytes.subarray(at, at + size), keptBytes);
        keptBytes += size;
      }
      at += size;
    }
    this.innerCarry = bytes.slice(at);
    if (keptBytes === 0) return;
    const builder = this.indexBuilder();
    const records = kept.slice(0, keptBytes);
    // Records from a payload take stream offsets of their own, before the bytes after the COMPRESSED record.
    const start = this.position + this.consumed + this.delta;
    try {
      builder.add(records, start);
    } catch (e) {
      if (e instanceof RecordError) throw new RecordError(e.field, `${e.reason}, in the records compressed`, fileAt, name);
      throw e;
    }
    this.source.spans.push({ start, memory: records });
    this.delta += keptBytes;
    this.source.spans.push({ start: start + keptBytes, input: this.current(), position: this.position + this.consumed });
  }

  /** A RecordError from the index, renamed to the input's byte. */
  private located(e: unknown): unknown {
    if (!(e instanceof RecordError) || e.offset === undefined) return e;
    const input = this.current();
    return new RecordError(e.field, e.reason, e.offset - this.delta + input.fileOffset, input.name);
  }
}

/**
 * Indexes every record in `input`, kept in memory. Malformed records throw
 * a RecordError naming the field; a record cut off by the end of the bytes
 * stops the index there and sets `truncatedAt`.
 */
export function indexRecords(input: Uint8Array, stream: StreamLayout): RecordIndex {
  const bytes = aligned(input);
  const reader = new RecordStreamReader(stream, bytes.byteLength);
  reader.begin({ name: '', fileOffset: 0, readBack: (position, size) => aligned(bytes.subarray(position, position + size)) });
  reader.push(bytes);
  reader.finishInput();
  return reader.index();
}
