// The webview's copy of the stream: the host's batches as they arrived (no
// concatenation, so a batch is never copied to grow a big buffer) and the
// columnar index built from them batch by batch.

import { RecordIndex, RecordIndexBuilder, RecordSource, StreamLayout, expectedRecords } from '../core/records';
import { partitionPoint } from '../core/search';
import { HEADER } from '../core/recordLayout';

interface Batch {
  /** Stream offset of the batch's first byte. */
  base: number;
  bytes: Uint8Array;
}

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

export class RecordStore {
  private readonly batches: Batch[] = [];
  /** Dropped once the stream is complete, so the index can shed the room it kept for growth. */
  private builder: RecordIndexBuilder | undefined;
  /** Stream offset the next batch must start at. */
  private received = 0;
  /** Stream offset of the first record not indexed yet: before `received` when a record runs past the last batch. */
  private indexedTo = 0;
  readonly source: RecordSource = { record: (offset, size) => this.bytesAt(offset, size) };
  index: RecordIndex;

  constructor(stream: StreamLayout, expectedBytes: number) {
    this.builder = new RecordIndexBuilder(stream, expectedRecords(expectedBytes));
    this.index = this.builder.finish(this.source);
  }

  /** Bytes the store holds: the batches, and the index's columns with the room they reserve for growth. */
  get heldBytes(): number {
    const { offset, size, type, flags, time, pid, tid, cpu, trailer, call, rawAt } = this.index;
    return this.received + [offset, size, type, flags, time, pid, tid, cpu, trailer, call, rawAt].reduce((n, column) => n + column.buffer.byteLength, 0);
  }

  /**
   * Takes a batch that must follow the previous one, and indexes every
   * record it completes: those wholly inside it, and one begun in an earlier
   * batch. Throws a StoreError for a gap or overlap, a RecordError for a
   * malformed record; what was indexed before stays.
   */
  append(offset: number, buffer: ArrayBuffer): void {
    const builder = this.builder;
    if (!builder) throw new StoreError(`records batch at byte ${offset} after the stream ended`);
    if (offset !== this.received) throw new StoreError(`records batch starts at byte ${offset}, but the stream so far ends at byte ${this.received}`);
    if (buffer.byteLength === 0) return;
    const bytes = new Uint8Array(buffer);
    this.batches.push({ base: offset, bytes });
    this.received += bytes.byteLength;
    // A record that began in an earlier batch: copy it whole (it is small) and index it alone.
    while (this.indexedTo < offset) {
      if (this.received - this.indexedTo < 8) return;
      const size = new DataView(this.bytesAt(this.indexedTo, HEADER.end).slice().buffer).getUint16(HEADER.size, true);
      const want = Math.max(size, 8);
      if (this.received - this.indexedTo < want) return;
      this.indexedTo += builder.add(this.bytesAt(this.indexedTo, want).slice(), this.indexedTo);
    }
    const start = this.indexedTo - offset;
    if (start < bytes.byteLength) {
      // The builder reads 32-bit words: a batch cut at an odd place is copied to realign it.
      const chunk = start % 8 === 0 ? bytes.subarray(start) : bytes.slice(start);
      this.indexedTo += builder.add(chunk, this.indexedTo);
    }
    this.index = builder.finish(this.source);
  }

  /**
   * The stream ended: the index's columns are copied to their exact length,
   * and the builder, with the room it reserved from an estimate of the
   * record count, is let go. Later batches are refused.
   */
  end(): void {
    if (!this.builder) return;
    const index = this.index;
    this.index = {
      ...index,
      offset: index.offset.slice(),
      size: index.size.slice(),
      type: index.type.slice(),
      flags: index.flags.slice(),
      time: index.time.slice(),
      pid: index.pid.slice(),
      tid: index.tid.slice(),
      cpu: index.cpu.slice(),
      trailer: index.trailer.slice(),
      call: index.call.slice(),
      rawAt: index.rawAt.slice(),
    };
    this.builder = undefined;
  }

  /** `length` bytes from stream offset `offset`: a view into one batch, or a copy when they span batches. */
  private bytesAt(offset: number, length: number): Uint8Array {
    const batches = this.batches;
    // The last batch that starts at or before offset (the first starts at 0).
    const lo = Math.max(0, partitionPoint(0, batches.length, (k) => batches[k].base <= offset) - 1);
    const first = batches[lo];
    const at = offset - first.base;
    if (at + length <= first.bytes.byteLength) return first.bytes.subarray(at, at + length);
    const joined = new Uint8Array(length);
    let filled = 0;
    for (let k = lo; filled < length && k < batches.length; k++) {
      const from = k === lo ? at : 0;
      const part = batches[k].bytes.subarray(from, from + length - filled);
      joined.set(part, filled);
      filled += part.byteLength;
    }
    return joined;
  }
}
