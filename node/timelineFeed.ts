// A timeline's records, read from the perf.data file behind it and sent to
// one webview: the sideband alone (what the RecordIndex indexes: samples,
// the bulk of most files, never cross postMessage), in batches the webview
// acknowledges, no more than MAX_BATCHES_IN_FLIGHT of them unacknowledged:
// while a webview is behind, the records wait in the file, not in the
// host's memory. A live capture's file is followed as it grows. It knows no
// VS Code: extension/feeds.ts wires it; the tests and the bench drive it.

import { RecordError, copyRecords, inTimeOrder, type RecordIndex, type StreamLayout } from '../core/records';
import { type RecordStreamReader } from '../core/recordStream';
import { type HostMessage, type WireEvent } from '../protocol/webview';
import { RecordFeeder, recordReader, type OpenedPerfData } from './perfdata/reader';

/** Where a timeline's messages go: one webview. */
export interface TimelineSink {
  post(message: HostMessage): void;
}

/** One sink's feed: told of the batches its webview stored, and stopped on dispose. */
export interface TimelineSubscription {
  /** The webview stored the stream up to stream offset `end` (its 'stored' message). */
  stored(end: number): void;
  dispose(): void;
}

/** Batches a webview may hold unacknowledged: enough to keep it busy while the next is read, few enough to bound what waits in its queue. */
export const MAX_BATCHES_IN_FLIGHT = 4;
// File bytes read at a time: large enough that a million records take a
// few dozen reads and messages, small enough to show progress.
const CHUNK_BYTES = 4 << 20;

export function wireEvents(stream: StreamLayout): WireEvent[] {
  return stream.attrs.map((a) => ({ attr: a.attr.bytes.slice().buffer as ArrayBuffer, ids: a.ids.map(String), ...(a.name === undefined ? {} : { name: a.name }) }));
}

/** Stream offsets count what this sink was sent, so its webview can check that no batch went missing; its acknowledgements, what it holds unstored. */
class BatchStream {
  private sent = 0;
  /** Stream offsets where the batches not acknowledged yet end, oldest first. */
  private readonly unstored: number[] = [];

  constructor(
    private readonly sink: TimelineSink,
    private readonly maxInFlight: number,
  ) {}

  get full(): boolean {
    return this.unstored.length >= this.maxInFlight;
  }

  send(bytes: Uint8Array): void {
    // postMessage sends whole ArrayBuffers: never one that holds more than the batch.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    this.sink.post({ type: 'records', offset: this.sent, bytes: own.buffer as ArrayBuffer });
    this.sent += bytes.byteLength;
    this.unstored.push(this.sent);
  }

  stored(end: number): void {
    while (this.unstored.length > 0 && this.unstored[0] <= end) this.unstored.shift();
  }
}

export interface FollowOptions {
  title: string;
  /** Warnings of the capture or of the file, shown once. */
  warnings: readonly string[];
  /**
   * A live capture's file, whose data section reaches file offset `end`
   * now: its records (in time order, as our captures write them) are sent
   * as they are read, grew() says when there are more, and complete() when
   * the capture stopped. Without it, the file is read whole, then sent in
   * time order: perf's files are in order only within rounds.
   */
  live?: { end: number };
  /** Called after each chunk read, with the file bytes read so far. */
  progress?(read: number): void;
  maxInFlight?: number;
  chunkBytes?: number;
}

/** How following ended: read to the end (the caller posts 'ended', saying how the file or capture ended), or stopped ('ended' was posted if anyone was told why). */
export type FollowOutcome = { end: 'read'; warnings: string[] } | { end: 'stopped' };

/**
 * Follows one perf.data for one sink: 'open', then its records in batches
 * (with the messages given to post() after the 'open'), then done settles.
 * Between chunks the host runs other work (setImmediate).
 */
export class TimelineFollower implements TimelineSubscription {
  readonly done: Promise<FollowOutcome>;
  private readonly reader: RecordStreamReader;
  private readonly feeder: RecordFeeder;
  private readonly stream: BatchStream;
  /** Messages held until the 'open' is posted; none once it was (or once the stream can have none). */
  private held?: HostMessage[] = [];
  /** Records of the index taken so far: posted (live), or kept (a file), so each goes once. */
  private taken = 0;
  /** A file's sideband, copied out chunk by chunk as read, in stream order, until it is sent in time order. */
  private readonly kept: Uint8Array[] = [];
  private cancelled = false;
  private disposed = false;
  private wake?: () => void;

  constructor(
    private readonly opened: OpenedPerfData,
    private readonly sink: TimelineSink,
    private readonly options: FollowOptions,
  ) {
    // Index columns sized for the file would be sized for its samples (a quarter of a GB for 460 MB of
    // perf record -g); started small, they grow with the sideband.
    this.reader = recordReader(opened, 0);
    // Each chunk's records are taken while the reader's buffer holds them, never read back from the file:
    // a file's sideband lies scattered among its samples, and reading it back took a block per record.
    this.feeder = new RecordFeeder(opened, this.reader, { chunkBytes: options.chunkBytes ?? CHUNK_BYTES, growing: options.live !== undefined });
    if (options.live) this.feeder.extend(options.live.end);
    this.stream = new BatchStream(sink, options.maxInFlight ?? MAX_BATCHES_IN_FLIGHT);
    this.done = this.run().finally(() => this.feeder.close());
  }

  /** Posts a message other than records: after the 'open', as the webview takes them. */
  post(message: HostMessage): void {
    if (this.disposed) return;
    if (this.held) this.held.push(message);
    else this.sink.post(message);
  }

  /** The live file's data section now reaches file offset `end`. */
  grew(end: number): void {
    this.feeder.extend(end);
    this.nudge();
  }

  /** The live capture stopped: its file ends where it last grew to. */
  complete(): void {
    this.feeder.complete();
    this.nudge();
  }

  /** Stops reading: what was read is still sent (a file's, once read), then an 'ended' that says where reading stopped. */
  cancel(): void {
    this.cancelled = true;
    this.nudge();
  }

  stored(end: number): void {
    this.stream.stored(end);
    this.nudge();
  }

  /** Stops everything: nothing more is read or posted. */
  dispose(): void {
    this.disposed = true;
    this.held = undefined;
    this.nudge();
  }

  private async run(): Promise<FollowOutcome> {
    const { feeder, options } = this;
    const live = options.live !== undefined;
    try {
      while (!this.cancelled) {
        if (live && this.stream.full) {
          await this.wakeup();
        } else if (feeder.step()) {
          options.progress?.(feeder.read);
          // Live, one chunk read makes at most one batch: the batches in flight stay within the bound.
          if (live) this.postNew();
          else this.keep();
          await new Promise((resolve) => setImmediate(resolve));
        } else if (feeder.done) {
          break;
        } else {
          await this.wakeup(); // until the file grows or the capture stops
        }
        if (this.disposed) return { end: 'stopped' };
      }
    } catch (e) {
      if (this.disposed) return { end: 'stopped' };
      const count = this.reader.index().count;
      const fault = e instanceof RecordError ? `${options.title} cannot be read past a fault: ${e.message}` : `${options.title} could not be read: ${(e as Error).message}`;
      return this.stop({ type: 'ended', message: `stopped at a fault after ${count} records`, fault });
    }
    if (this.cancelled) return this.stop({ type: 'ended', message: `reading stopped at ${feeder.read} of ${this.opened.recordBytes} bytes: cancelled` });
    if (!(await this.postRest())) return { end: 'stopped' };
    return { end: 'read', warnings: this.reader.warnings };
  }

  /** Posts what was read and not posted, then `ended`. */
  private async stop(ended: Extract<HostMessage, { type: 'ended' }>): Promise<FollowOutcome> {
    if (await this.postRest()) this.sink.post(ended);
    return { end: 'stopped' };
  }

  /** Posts the records read and not posted yet (a file's, all of them, in time order); false when disposed meanwhile. */
  private async postRest(): Promise<boolean> {
    if (this.options.live) {
      this.postNew();
    } else {
      this.keep();
      const index = this.keptInTimeOrder();
      this.open();
      for (const [from, to] of batchRanges(index, this.options.chunkBytes ?? CHUNK_BYTES)) {
        while (this.stream.full && !this.disposed) await this.wakeup();
        if (this.disposed) return false;
        this.stream.send(copyRecords(index, from, to));
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    this.flushHeld();
    return !this.disposed;
  }

  /** Live: the records indexed since the last batch, as one batch. */
  private postNew(): void {
    const index = this.reader.index();
    this.open();
    if (index.count === this.taken || this.disposed) return;
    this.stream.send(copyRecords(index, this.taken));
    this.taken = index.count;
  }

  /** A file: copies the records indexed since the last chunk out of the reader's buffer. */
  private keep(): void {
    const index = this.reader.index();
    if (index.count === this.taken) return;
    this.kept.push(copyRecords(index, this.taken));
    this.taken = index.count;
  }

  /** The index of the kept records, in time order, reading them from where they were kept. */
  private keptInTimeOrder(): RecordIndex {
    const index = this.reader.index();
    const kept = new Uint8Array(this.kept.reduce((n, part) => n + part.byteLength, 0));
    let at = 0;
    for (const part of this.kept) {
      kept.set(part, at);
      at += part.byteLength;
    }
    this.kept.length = 0;
    const offset = new Float64Array(index.count);
    for (let i = 0, position = 0; i < index.count; position += index.size[i], i++) offset[i] = position;
    return inTimeOrder({ ...index, offset, source: { record: (position, size) => kept.subarray(position, position + size) } });
  }

  /** Posts the 'open' once the stream's events are known (a pipe names them in its records), then what was held for after it. */
  private open(): void {
    if (!this.held || this.reader.stream.attrs.length === 0) return;
    const { title, warnings } = this.options;
    this.sink.post({ type: 'open', title, live: this.options.live !== undefined, events: wireEvents(this.reader.stream), expectedBytes: 0, warnings: [...warnings] });
    this.flushHeld();
  }

  /** Posts what was held: after the 'open', or without one when the stream named no events. */
  private flushHeld(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const message of held) this.sink.post(message);
  }

  private wakeup(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private nudge(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** Ranges of an index's records of about `bytes` each: the batches of a file sent whole. */
function* batchRanges(index: RecordIndex, bytes: number): Generator<[from: number, to: number]> {
  for (let from = 0; from < index.count; ) {
    let to = from;
    for (let size = 0; to < index.count && size < bytes; to++) size += index.size[to];
    yield [from, to];
    from = to;
  }
}
