// What a timeline can show: a live capture, written to a perf.data file as
// it runs, or a perf.data opened from disk. Either one feeds a timeline
// everything it has so far, then (live) what follows, as protocol messages:
// the records, the sideband alone, read from the file by a TimelineFollower
// (node/timelineFeed.ts); the rest from the capture or the file's metadata.

import * as vscode from 'vscode';

import type { AttachInfo, CaptureOptions, SnapshotInfo } from '../native/engine';
import { openPerfData, type OpenedPerfData } from '../node/perfdata/reader';
import { type MarkerMeta, type SnapshotMeta } from '../core/perfdata/metadata';
import { Recording, type RecordingResult } from '../node/recording';
import { TimelineFollower, type TimelineSink, type TimelineSubscription } from '../node/timelineFeed';
import { type HostMessage, type WireSnapshot, type WireStats } from '../protocol/webview';
import { type MarkerKind } from '../core/perfdata/metadata';

export interface TimelineFeed {
  readonly title: string;
  /** The perf.data file behind it, which the language server reads too; none for a file that could not be opened. */
  readonly path?: string;
  /** Sends everything so far to `sink`, then, while live, what follows, until disposed. */
  feed(sink: TimelineSink): TimelineSubscription;
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
 * A capture running now. Its records go to a perf.data file (see
 * Recording), and each timeline follows the file: one that opens late, or
 * is re-created after being hidden, reads what the file holds, in chunks,
 * then what is written after.
 */
export class LiveFeed implements TimelineFeed {
  readonly recording: Recording;
  readonly result: Promise<RecordingResult>;
  private readonly followers = new Set<TimelineFollower>();
  /** Sinks fed before the file exists: each followed once the capture attaches. */
  private readonly waiting = new Set<() => void>();
  private ended?: string;

  constructor(
    readonly title: string,
    options: CaptureOptions,
    readonly path: string,
  ) {
    this.recording = new Recording(options, path);
    const { session } = this.recording;
    this.recording.on('written', (end) => {
      for (const follow of this.waiting) follow();
      this.waiting.clear();
      for (const follower of this.followers) follower.grew(end);
      this.broadcast({ type: 'stats', stats: wireStats(session.stats) });
    });
    session.on('snapshot', (s) => this.broadcast({ type: 'snapshot', snapshot: wireSnapshot(s) }));
    session.on('warning', (w) => this.broadcast({ type: 'marker', time: Number(captureClock()), kind: 'note', label: w.message }));
    this.result = this.recording.run().then((result) => {
      const { stop } = result;
      this.ended = stop.error ? `capture failed: ${stop.error.message}` : stop.reason === 'exited' ? 'capture ended: the target exited' : 'capture stopped';
      for (const follower of this.followers) follower.complete();
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
    for (const follower of this.followers) follower.post(message);
  }

  /**
   * Follows the file for a sink, from its start: the capture's snapshots,
   * markers and counts so far follow the 'open', later ones as they come,
   * and 'ended' once the sink was sent the file to its end.
   */
  private follow(sink: TimelineSink): TimelineFollower | undefined {
    let opened: OpenedPerfData;
    try {
      opened = openPerfData(this.path);
    } catch (e) {
      sink.post({ type: 'failed', message: `${this.path}, the capture's file, cannot be read: ${(e as Error).message}. Fix: check the file and its folder, then capture again.` });
      return undefined;
    }
    const { session } = this.recording;
    const follower = new TimelineFollower(opened, sink, { title: this.title, warnings: session.warnings.map((w) => w.message), live: { end: this.recording.written } });
    for (const s of session.snapshots) follower.post({ type: 'snapshot', snapshot: wireSnapshot(s) });
    for (const m of this.recording.markers) follower.post(markerMessage(m));
    follower.post({ type: 'stats', stats: wireStats(session.stats) });
    this.followers.add(follower);
    if (this.ended) follower.complete();
    void follower.done.then((outcome) => {
      this.followers.delete(follower);
      if (outcome.end === 'read') follower.post({ type: 'ended', message: this.ended ?? 'capture stopped' });
    });
    return follower;
  }

  feed(sink: TimelineSink): TimelineSubscription {
    let follower: TimelineFollower | undefined;
    const follow = (): void => {
      follower = this.follow(sink);
    };
    if (this.recording.readable) follow();
    else this.waiting.add(follow);
    return {
      stored: (end) => follower?.stored(end),
      dispose: () => {
        this.waiting.delete(follow);
        follower?.dispose();
      },
    };
  }
}

/**
 * A perf.data in any of perf's forms, ours or perf's own. Only its header
 * is read until a timeline asks for the records; then a TimelineFollower
 * reads them, chunk by chunk, and sends the webview the sideband alone, in
 * time order; compressed records arrive decompressed.
 */
export class FileFeed implements TimelineFeed {
  readonly title: string;
  private readonly opened: OpenedPerfData;

  /** Throws a PerfDataError naming what is wrong with the file's header. */
  constructor(readonly path: string) {
    this.opened = openPerfData(path);
    this.title = vscode.workspace.asRelativePath(path);
  }

  feed(sink: TimelineSink): TimelineSubscription {
    const { opened, title } = this;
    const meta = opened.meta;
    const total = opened.recordBytes;
    let report = (_read: number): void => {};
    const follower = new TimelineFollower(opened, sink, {
      title,
      warnings: [...opened.warnings, ...(meta?.warnings.map((w) => w.message) ?? [])],
      progress: (read) => report(read),
    });
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Reading ${title}`, cancellable: true }, async (progress, token) => {
      token.onCancellationRequested(() => follower.cancel());
      let done = 0;
      report = (read) => {
        progress.report({ increment: (100 * (read - done)) / Math.max(1, total) });
        done = read;
      };
      const outcome = await follower.done;
      if (outcome.end !== 'read') return;
      if (meta) {
        for (const s of meta.snapshots) follower.post({ type: 'snapshot', snapshot: wireSnapshot(s) });
        for (const m of meta.markers ?? []) follower.post(markerMessage(m));
        follower.post({ type: 'stats', stats: wireStats(meta.stats) });
      }
      const how = meta ? `captured by ${meta.tool}, stopped: ${meta.stopReason}` : 'read to the end';
      follower.post({ type: 'ended', message: `${how}${outcome.warnings.length ? ` (${outcome.warnings.join('; ')})` : ''}` });
    });
    return follower;
  }
}

/** What an editor tab shows for a file that cannot be read: why, and how to fix it. */
export class FailedFeed implements TimelineFeed {
  constructor(
    readonly title: string,
    private readonly message: string,
  ) {}

  feed(sink: TimelineSink): TimelineSubscription {
    sink.post({ type: 'failed', message: this.message });
    return { stored: () => {}, dispose: () => {} };
  }
}
