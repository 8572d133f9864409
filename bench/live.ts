// Live latency: from a record's kernel timestamp to the timeline frame that
// draws it, while a target runs. A real capture (Recording, as the
// extension runs it) feeds the real webview bundle in headless Chromium
// through the protocol's messages; the webview's `drawn` messages say which
// records a frame has drawn, and each record's latency is the time that
// message reaches the host minus the record's timestamp (both on
// CLOCK_MONOTONIC): an upper bound, as it includes the way back.
//
// The peer is the engine's own part: the same records' timestamps to the
// moment their batch reaches the host. The webview's share is the rest.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium } from 'playwright-core';

import { Recording } from '../node/recording';
import { RecordIndexBuilder, RecordType, parseAttr } from '../core/records';
import { openPerfDataFile } from '../node/perfdata/reader';
import { type HostMessage, type WebviewMessage } from '../protocol/webview';
import { INFO, ratioOf, type Result } from './results';
import { progress, ROOT, WORK } from './tools';

const SECONDS = 6;
const now = (): number => Number(process.hrtime.bigint());

/** Bytes `from` to `to` of `file`. */
function readRange(file: string, from: number, to: number): Uint8Array {
  const bytes = new Uint8Array(to - from);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, bytes, 0, bytes.byteLength, from);
  } finally {
    fs.closeSync(fd);
  }
  return bytes;
}

/** File offset of the first record after the EVENT_UPDATEs that open a capture's data section. */
function firstRecordAt(file: string): number {
  const { dataStart } = openPerfDataFile(file);
  const head = readRange(file, dataStart, dataStart + 4096);
  const view = new DataView(head.buffer);
  let at = 0;
  while (at + 8 <= head.byteLength && view.getUint32(at, true) === RecordType.EVENT_UPDATE) at += view.getUint16(at + 6, true);
  return dataStart + at;
}

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
    await page.exposeFunction('__benchHostReceive', (m: WebviewMessage) => {
      if (m.type === 'drawn') drawn.push({ at: now(), records: m.records });
      if (m.type === 'invalid') invalid.push(m.message);
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
    const postOpen = (attr: Uint8Array, ids: string[]): Promise<void> =>
      page.evaluate(
        ([attr, ids]) => {
          const open = { type: 'open' as const, title: 'live', live: true, events: [{ attr: Uint8Array.from(attr).buffer, ids }], expectedBytes: 0, warnings: [] };
          window.postMessage(open satisfies HostMessage, '*');
        },
        [Array.from(attr), ids] as const,
      );
    const postRecords = (offset: number, bytes: Uint8Array): Promise<void> =>
      page.evaluate(([offset, bytes]) => window.postMessage({ type: 'records' as const, offset, bytes: Uint8Array.from(bytes).buffer } satisfies HostMessage, '*'), [offset, Array.from(bytes)] as const);
    const invalid: string[] = [];

    // The sideband alone, as this row has always measured it: the tracepoints' cost has its own row.
    const recording = new Recording({ pid: target.pid!, regionTracepoints: false }, path.join(WORK, 'live.data'));
    const { session } = recording;
    let index: RecordIndexBuilder | undefined;
    let sent = 0;
    /** Records indexed before this batch: the count of the last finish. */
    let indexed = 0;
    const arrivals: number[] = []; // host arrival time of each record's batch
    let queue = Promise.resolve();
    // A host's postMessage does not wait for the page; page.evaluate does. So batches that arrive
    // while one is on its way go together in the next, as they would queue in a webview's port.
    let pending: Uint8Array[] = [];
    let pendingAt = 0;
    let inFlight = false;
    const pump = (): void => {
      if (inFlight || pending.length === 0) return;
      const bytes = Buffer.concat(pending);
      const offset = pendingAt;
      pending = [];
      pendingAt += bytes.byteLength;
      inFlight = true;
      queue = queue.then(() => postRecords(offset, bytes)).then(() => {
        inFlight = false;
        pump();
      });
    };
    session.on('attached', (info) => {
      const [sideband] = info.events;
      index = new RecordIndexBuilder({ attrs: [{ attr: parseAttr(sideband.attr), ids: sideband.ids }] });
      const ids = [...sideband.ids, ...(info.ioctlId ? [info.ioctlId] : [])].map(String);
      queue = queue.then(() => postOpen(sideband.attr, ids));
    });
    // The file from its first record on (past the EVENT_UPDATEs naming its events), read as the core tells its growth.
    let fileEnd = 0;
    recording.on('written', (end) => {
      const at = now();
      fileEnd ||= firstRecordAt(recording.output);
      if (end <= fileEnd) return;
      const batch = readRange(recording.output, fileEnd, end);
      fileEnd = end;
      index!.add(batch, sent);
      const after = index!.finish({ record: () => new Uint8Array() }).count;
      for (let i = indexed; i < after; i++) arrivals.push(at);
      indexed = after;
      sent += batch.byteLength;
      pending.push(batch);
      pump();
    });
    const running = recording.run();
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    await session.stop();
    await running;
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
        note: `peer: the same records' timestamps to their batch reaching the host (the engine's share); ${toFrame.length} records while a target forked and exec'd about 100 times a second`,
      },
      { name: 'live latency, median', ours: toFrame.sort((a, b) => a - b)[toFrame.length >> 1], peer: toHost.sort((a, b) => a - b)[toHost.length >> 1], unit: 'ms', ratio: null, bar: INFO, met: true },
    ];
  } finally {
    target.kill('SIGKILL');
    await browser.close();
  }
}
