// What a timeline can show: a live capture, written to a perf.data file as
// it runs, or a perf.data opened from disk. Either one feeds a timeline
// everything it has so far, then (live) what follows, as protocol messages
// with the records in batches: a live capture's raw, a file's sideband.

import * as fs from 'node:fs';
import * as vscode from 'vscode';

import type { AttachInfo, CaptureOptions, SnapshotInfo } from '../native/engine';
import { openPerfData, readRecords, recordReader, type OpenedPerfData } from '../node/perfdata/reader';
import { RecordError, copyRecords, inTimeOrder, type RecordIndex, type StreamLayout } from '../core/records';
import { type MarkerMeta, type SnapshotMeta } from '../core/perfdata/metadata';
import { Recording, type RecordingResult } from '../node/recording';
import { type HostMessage, type WireEvent, type WireSnapshot, type WireStats } from '../protocol/webview';
import { type MarkerKind } from '../core/perfdata/metadata';

/** Where a timeline's messages go: one webview. */
export interface TimelineSink {
  post(message: HostMessage): void;
}

export interface TimelineFeed {
  readonly title: string;
  /** The perf.data file behind it, which the language server reads too; none for a file that could not be opened. */
  readonly path?: string;
  /** Sends everything so far to `sink`, then, while live, what follows, until disposed. */
  feed(sink: TimelineSink): vscode.Disposable;
}

/** Stream offsets count what this sink was sent, so its webview can check that no batch went missing. */
class RecordStream {
  private sent = 0;
  /** File offset up to which a followed file was sent. */
  fileEnd = 0;
  constructor(private readonly sink: TimelineSink) {}

  /** Sends the records of `path` from where the last send ended up to file offset `end`. */
  sendFile(path: string, end: number): void {
    if (end <= this.fileEnd) return;
    const bytes = new Uint8Array(end - this.fileEnd);
    const fd = fs.openSync(path, 'r');
    try {
      for (let done = 0; done < bytes.byteLength; ) {
        const n = fs.readSync(fd, bytes, done, bytes.byteLength - done, this.fileEnd + done);
        if (n === 0) break;
        done += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    this.fileEnd = end;
    this.send(bytes);
  }

  send(bytes: Uint8Array): void {
    // postMessage sends whole ArrayBuffers: never one that holds more than the batch.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    this.sink.post({ type: 'records', offset: this.sent, bytes: own.buffer as ArrayBuffer });
    this.sent += bytes.byteLength;
  }
}

// Records go to a webview in chunks of this size: large enough that a
// million records take a few dozen messages, small enough to show progress.
const CHUNK_BYTES = 4 << 20;

function wireEvents(stream: StreamLayout): WireEvent[] {
  return stream.attrs.map((a) => ({ attr: a.attr.bytes.slice().buffer as ArrayBuffer, ids: a.ids.map(String), ...(a.name === undefined ? {} : { name: a.name }) }));
}

const wireSnapshot = (s: SnapshotInfo | SnapshotMeta): WireSnapshot => ({
  index: s.index,
  path: s.path,
  start: Number(s.start),
  end: Number(s.end),
  processes: s.processes,
  records: s.records,
  stale: s.stale,
});

const wireStats = (s: WireStats): WireStats => ({ records: s.records, statusRecords: s.statusRecords, lost: s.lost });

const markerMessage = (m: MarkerMeta): HostMessage => ({ type: 'marker', time: Number(m.time), kind: m.kind, label: m.label });

/** Nanoseconds on CLOCK_MONOTONIC, the capture's clock: libuv's hrtime reads that clock on Linux. */
export const captureClock = (): bigint => process.hrtime.bigint();

/**
 * A capture running now. Its records go to a perf.data file first (see
 * Recording), so a timeline that opens late, or is re-created after being
 * hidden, reads the file so far and then follows the live batches: all on
 * one thread, so nothing falls between the two.
 */
export class LiveFeed implements TimelineFeed {
  readonly recording: Recording;
  readonly result: Promise<RecordingResult>;
  /** Every sink fed; those with a stream have been sent the file so far (after attach). */
  private readonly sinks = new Set<TimelineSink>();
  private readonly streams = new Map<TimelineSink, RecordStream>();
  private ended?: string;

  constructor(
    readonly title: string,
    options: CaptureOptions,
    readonly path: string,
  ) {
    this.recording = new Recording(options, path);
    const { session } = this.recording;
    session.on('attached', () => this.sinks.forEach((sink) => this.open(sink)));
    session.on('snapshot', (s) => this.broadcast({ type: 'snapshot', snapshot: wireSnapshot(s) }));
    this.recording.on('written', (end) => {
      for (const stream of this.streams.values()) stream.sendFile(this.path, end);
      for (const sink of this.streams.keys()) sink.post({ type: 'stats', stats: wireStats(session.stats) });
    });
    session.on('warning', (w) => this.broadcast({ type: 'marker', time: Number(captureClock()), kind: 'note', label: w.message }));
    this.result = this.recording.run().then((result) => {
      const { stop } = result;
      this.ended = stop.error ? `capture failed: ${stop.error.message}` : stop.reason === 'exited' ? 'capture ended: the target exited' : 'capture stopped';
      this.broadcast({ type: 'ended', message: this.ended });
      return result;
    });
  }

  get attach(): AttachInfo | undefined {
    return this.recording.session.attach;
  }

  get running(): boolean {
    return this.ended === undefined;
  }

  /** A debugger event, stamped now on the capture's clock. */
  mark(kind: MarkerKind, label: string): void {
    const marker: MarkerMeta = { time: captureClock().toString(), kind, label };
    this.recording.markers.push(marker);
    this.broadcast(markerMessage(marker));
  }

  private broadcast(message: HostMessage): void {
    for (const sink of this.streams.keys()) sink.post(message);
  }

  /**
   * Starts a sink's stream from the file so far, read as any file is (the
   * events named by the EVENT_UPDATE records at its start, perf's own
   * records left behind), all before the next batch: called once the file
   * exists.
   */
  private open(sink: TimelineSink): void {
    if (!this.recording.readable) return; // not attached yet: 'attached' opens it
    const opened = openPerfData(this.path);
    // Only what the core said it wrote: whole records.
    const dataEnd = this.recording.dataEnd;
    opened.records[0].end = Math.max(opened.records[0].start, Math.min(opened.records[0].end, dataEnd));
    const reader = recordReader(opened);
    for (const _ of readRecords(opened, reader, CHUNK_BYTES));
    const { session } = this.recording;
    sink.post({ type: 'open', title: this.title, live: true, events: wireEvents(reader.stream), expectedBytes: 0, warnings: session.warnings.map((w) => w.message) });
    const stream = new RecordStream(sink);
    for (const batch of recordBatches(reader.index())) stream.send(batch);
    stream.fileEnd = opened.records[0].end;
    this.streams.set(sink, stream);
    for (const s of session.snapshots) sink.post({ type: 'snapshot', snapshot: wireSnapshot(s) });
    for (const m of this.recording.markers) sink.post(markerMessage(m));
    const { stats } = session;
    sink.post({ type: 'stats', stats: wireStats(stats) });
    if (this.ended) sink.post({ type: 'ended', message: this.ended });
  }

  feed(sink: TimelineSink): vscode.Disposable {
    this.sinks.add(sink);
    this.open(sink);
    return new vscode.Disposable(() => {
      this.sinks.delete(sink);
      this.streams.delete(sink);
    });
  }
}

/**
 * A perf.data in any of perf's forms, ours or perf's own. Only its header
 * is read until a timeline asks for the records; then they are read here,
 * chunk by chunk, put in time order (inTimeOrder: perf's files are ordered
 * only within rounds), and the webview is sent the sideband alone: samples,
 * the bulk of most files, never cross postMessage, and compressed records
 * arrive decompressed.
 */
export class FileFeed implements TimelineFeed {
  readonly title: string;
  private readonly opened: OpenedPerfData;

  /** Throws a PerfDataError naming what is wrong with the file's header. */
  constructor(readonly path: string) {
    this.opened = openPerfData(path);
    this.title = vscode.workspace.asRelativePath(path);
  }

  feed(sink: TimelineSink): vscode.Disposable {
    const cancel = new vscode.CancellationTokenSource();
    const { opened, title } = this;
    const meta = opened.meta;
    const total = opened.recordBytes;
    const warnings = [...opened.warnings, ...(meta?.warnings.map((w) => w.message) ?? [])];
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Reading ${title}`, cancellable: true }, async (progress, token) => {
      token.onCancellationRequested(() => cancel.cancel());
      const reader = recordReader(opened);
      /** Sends what was read, in time order, then the file's metadata when it was read whole, then how the reading ended. */
      const finish = async (ended: Extract<HostMessage, { type: 'ended' }>, whole = false): Promise<void> => {
        // A pipe names its events in its records: none read, nothing to open.
        if (reader.stream.attrs.length === 0) return sink.post(ended);
        sink.post({ type: 'open', title, live: false, events: wireEvents(reader.stream), expectedBytes: 0, warnings });
        await sendInBatches(sink, inTimeOrder(reader.index()), cancel.token);
        if (whole && meta) {
          for (const s of meta.snapshots) sink.post({ type: 'snapshot', snapshot: wireSnapshot(s) });
          for (const m of meta.markers ?? []) sink.post(markerMessage(m));
          sink.post({ type: 'stats', stats: wireStats(meta.stats) });
        }
        sink.post(ended);
      };
      let done = 0;
      try {
        for (const read of readRecords(opened, reader, CHUNK_BYTES)) {
          if (cancel.token.isCancellationRequested) return await finish({ type: 'ended', message: `reading stopped at ${read} of ${total} bytes: cancelled` });
          progress.report({ increment: (100 * (read - done)) / Math.max(1, total) });
          done = read;
          // Lets the host answer other work between chunks.
          await new Promise((resolve) => setImmediate(resolve));
        }
      } catch (e) {
        if (!(e instanceof RecordError)) throw e;
        return await finish({ type: 'ended', message: `stopped at a fault after ${reader.index().count} records`, fault: `${title} cannot be read past a fault: ${e.message}` });
      }
      const how = meta ? `captured by ${meta.tool}, stopped: ${meta.stopReason}` : 'read to the end';
      await finish({ type: 'ended', message: `${how}${reader.warnings.length ? ` (${reader.warnings.join('; ')})` : ''}` }, true);
    });
    return new vscode.Disposable(() => cancel.cancel());
  }
}

/** An index's records, copied out of their files (or memory) in batches of about CHUNK_BYTES. */
function* recordBatches(index: RecordIndex): Generator<Uint8Array> {
  for (let from = 0; from < index.count; ) {
    let to = from;
    for (let bytes = 0; to < index.count && bytes < CHUNK_BYTES; to++) bytes += index.size[to];
    yield copyRecords(index, from, to);
    from = to;
  }
}

/** The same, the host let run between batches. */
async function sendInBatches(sink: TimelineSink, index: RecordIndex, cancelled: vscode.CancellationToken): Promise<void> {
  const stream = new RecordStream(sink);
  for (const batch of recordBatches(index)) {
    if (cancelled.isCancellationRequested) return;
    stream.send(batch);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** What an editor tab shows for a file that cannot be read: why, and how to fix it. */
export class FailedFeed implements TimelineFeed {
  constructor(
    readonly title: string,
    private readonly message: string,
  ) {}

  feed(sink: TimelineSink): vscode.Disposable {
    sink.post({ type: 'failed', message: this.message });
    return new vscode.Disposable(() => {});
  }
}
