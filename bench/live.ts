// Live latency: from a record's kernel timestamp to the timeline frame that
// draws it, while a target runs. A real capture (Recording, as the
// extension runs it) feeds the real webview bundle in headless Chromium
// through the protocol's messages; the webview's `drawn` messages say which
// records a frame has drawn, and each record's latency is the time that
// message reaches the host minus the record's timestamp (both on
// CLOCK_MONOTONIC): an upper bound, as it includes the way back.
//
// The host's part is its own: the core writes the file and says how far it
// grew, and a TimelineFollower (node/timelineFeed.ts) reads the new records
// and posts them, as the extension's LiveFeed does. The peer is the engine's
// and the host's part: the same records' timestamps to the moment the host
// posts them. The webview's share is the rest.

import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { chromium } from 'playwright-core';

import { Recording } from '../node/recording';
import { RecordIndexBuilder, parseAttr } from '../core/records';
import { openPerfData } from '../node/perfdata/reader';
import { TimelineFollower } from '../node/timelineFeed';
import { type HostMessage, type WebviewMessage } from '../protocol/webview';
import { INFO, ratioOf, type Result } from './results';
import { progress, ROOT, WORK } from './tools';

const SECONDS = 6;
const now = (): number => Number(process.hrtime.bigint());

function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? NaN;
}

export async function measureLiveLatency(): Promise<Result[]> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  // A target that forks and execs about a hundred times a second: FORK, COMM, MMAP2, EXIT records all along.
  const target = spawn('sh', ['-c', 'while :; do /bin/true; sleep 0.01; done'], { stdio: 'ignore' });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
    const drawn: Array<{ at: number; records: number }> = [];
    let onStored: (end: number) => void = () => {};
    await page.exposeFunction('__benchHostReceive', (m: WebviewMessage) => {
      if (m.type === 'drawn') drawn.push({ at: now(), records: m.records });
      if (m.type === 'invalid') invalid.push(m.message);
      if (m.type === 'stored') onStored(m.end);
    });
    await page.setContent('<!DOCTYPE html><html><head></head><body class="vscode-dark"></body></html>');
    // What VS Code gives a webview, before its script runs (setContent runs no init scripts).
    await page.evaluate(() => {
      (window as unknown as { acquireVsCodeApi: unknown }).acquireVsCodeApi = () => ({
        postMessage: (m: unknown) => (window as unknown as { __benchHostReceive(m: unknown): void }).__benchHostReceive(m),
      });
    });
    await page.addStyleTag({ path: path.join(ROOT, 'dist', 'webview.css') });
    await page.addScriptTag({ path: path.join(ROOT, 'dist', 'webview.js') });
    // Playwright passes no ArrayBuffers into the page: bytes go as arrays, and become buffers there.
    const toPage = (m: HostMessage): string => JSON.stringify(m, (_, v: unknown) => (v instanceof ArrayBuffer ? { bytes: Array.from(new Uint8Array(v)) } : v));
    const postToPage = (json: string): Promise<void> =>
      page.evaluate((json) => {
        window.postMessage(
          JSON.parse(json, (_, v: unknown) => (v && typeof v === 'object' && 'bytes' in v && Array.isArray(v.bytes) ? Uint8Array.from(v.bytes as number[]).buffer : v)),
          '*',
        );
      }, json);
    const invalid: string[] = [];

    // The sideband alone, as this row has always measured it: the tracepoints' cost has its own row.
    const recording = new Recording({ pid: target.pid!, regionTracepoints: false }, path.join(WORK, 'live.data'));
    const { session } = recording;
    let index: RecordIndexBuilder | undefined;
    /** Records indexed before this batch: the count of the last finish. */
    let indexed = 0;
    const arrivals: number[] = []; // when the host posted each record
    let queue = Promise.resolve();
    // The host's own path: a TimelineFollower reads the file as the core says it grew, and posts the sideband.
    let follower: TimelineFollower | undefined;
    const sink = {
      post(m: HostMessage): void {
        if (m.type === 'open') index = new RecordIndexBuilder({ attrs: m.events.map((e) => ({ attr: parseAttr(new Uint8Array(e.attr)), ids: e.ids.map(BigInt) })) });
        if (m.type === 'records') {
          const at = now();
          index!.add(new Uint8Array(m.bytes), m.offset);
          const after = index!.finish({ record: () => new Uint8Array() }).count;
          for (let i = indexed; i < after; i++) arrivals.push(at);
          indexed = after;
        }
        const json = toPage(m);
        queue = queue.then(() => postToPage(json));
      },
    };
    onStored = (end) => follower?.stored(end);
    recording.on('written', (end) => {
      if (follower) follower.grew(end);
      else follower = new TimelineFollower(openPerfData(recording.output), sink, { title: 'live', warnings: [], live: { end } });
    });
    const running = recording.run();
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    await session.stop();
    await running;
    follower?.complete();
    await follower?.done;
    await queue;
    await page.waitForTimeout(300); // the last frame
    const built = index!.finish({ record: () => new Uint8Array() });
    // The webview indexes what the host indexes, in the same order: record i is the same record on both sides.
    const toFrame: number[] = [];
    const toHost: number[] = [];
    let done = 0;
    for (const { at, records } of drawn) {
      for (let i = done; i < Math.min(records, built.count); i++) {
        if (built.time[i] === 0) continue; // FINISHED_INIT and such: no time of their own
        toFrame.push((at - built.time[i]) / 1e6);
        toHost.push((arrivals[i] - built.time[i]) / 1e6);
      }
      done = Math.max(done, records);
    }
    progress(`live latency: ${built.count} records in ${SECONDS} s, ${drawn.length} frames reported, ${toFrame.length} records timed`);
    if (toFrame.length < 100) throw new Error(`only ${toFrame.length} records reached a drawn frame: the webview did not draw the live stream${invalid.length ? `; it said: ${invalid[0]}` : ''}`);
    const frame = p95(toFrame);
    const host = p95(toHost);
    return [
      {
        name: 'live latency, record to drawn frame (p95)',
        ours: frame,
        peer: host,
        unit: 'ms',
        ratio: ratioOf(frame, host),
        bar: '<= 100 ms (ours)',
        met: frame <= 100,
        note: `peer: the same records' timestamps to the host posting them (the engine's and the host's share); ${toFrame.length} records while a target forked and exec'd about 100 times a second`,
      },
      { name: 'live latency, median', ours: toFrame.sort((a, b) => a - b)[toFrame.length >> 1], peer: toHost.sort((a, b) => a - b)[toHost.length >> 1], unit: 'ms', ratio: null, bar: INFO, met: true },
    ];
  } finally {
    target.kill('SIGKILL');
    await browser.close();
  }
}
