// Measure 4: the timeline webview with a million records, in headless
// Chromium: the first complete render, frame times while zooming and
// panning, and the memory the page holds. Each has a fixed bar instead of a
// peer (the "peer" column holds the bar), so the ratio is ours/bar.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { WebviewPage } from '../test/webview/harness';
import { EVENTS, busyCapture } from '../test/webview/streams';
import { ratioOf, type Result } from './results';
import { progress, ROOT } from './tools';

const RECORDS = 1_000_000;
/** What a host batch might carry: about a ring's worth. */
const BATCH_BYTES = 1 << 20;
const FRAMES = 200;
const FIRST_RENDER_BAR_MS = 1000;
const FRAME_BAR_MS = 16;
const MEMORY_BAR = 2;

/** A scripted session of zooms, pans, drags and scrolls: `FRAMES` inputs, each waited out to its frame. */
async function interact(webview: WebviewPage): Promise<void> {
  const { page } = webview;
  const box = (await page.locator('#timeline').boundingBox())!;
  const x = Math.round(box.x + box.width * 0.55);
  const y = Math.round(box.y + box.height * 0.5);
  await page.mouse.move(x, y);
  const quarter = FRAMES / 5;
  for (let k = 0; k < FRAMES; k++) {
    const phase = Math.floor(k / quarter);
    if (phase === 0) {
      // Zoom in from the whole capture down to a few microseconds.
      await page.keyboard.down('Control');
      await page.mouse.wheel(0, -150);
      await page.keyboard.up('Control');
    } else if (phase === 1) {
      await page.mouse.wheel(k % 2 ? 120 : -80, 0);
    } else if (phase === 2) {
      // Drag: the pointer moves and the view follows, rows included.
      if (k % quarter === 0) await page.mouse.down();
      await page.mouse.move(x - ((k % quarter) + 1) * 6, y - ((k % quarter) + 1) * 2);
      if (k % quarter === quarter - 1) await page.mouse.up();
    } else if (phase === 3) {
      await page.keyboard.down('Control');
      await page.mouse.wheel(0, 150);
      await page.keyboard.up('Control');
    } else {
      await page.keyboard.down('Shift');
      await page.mouse.wheel(0, 120);
      await page.keyboard.up('Shift');
    }
    await webview.nextFrame();
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * What the page holds after a forced GC: the JS heap (which holds the
 * timeline model) does not count ArrayBuffer contents; the page's own
 * accounting of its buffers (batches, index columns) does.
 */
export async function pageMemory(webview: WebviewPage): Promise<{ jsHeap: number; held: number; memory: number }> {
  const cdp = await webview.page.context().newCDPSession(webview.page);
  await cdp.send('HeapProfiler.enable');
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('Performance.enable');
  const metrics = (await cdp.send('Performance.getMetrics')).metrics;
  const jsHeap = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? NaN;
  const held = await webview.hook((h) => h.heldBytes());
  return { jsHeap, held, memory: jsHeap + held };
}

export async function measureWebview(): Promise<Result[]> {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'webview.js'))) throw new Error('dist/webview.js is missing: run `npm run bundle` first');
  progress(`webview: building ${RECORDS} synthetic records`);
  const capture = busyCapture(RECORDS);
  const bytes = capture.bytes.byteLength;
  const webview = await WebviewPage.open({ width: 1600, height: 900 });
  try {
    progress(`webview: loading ${(bytes / 1e6).toFixed(1)} MB in ${Math.ceil(bytes / BATCH_BYTES)} batches`);
    await webview.open(EVENTS, bytes, 'bench');
    const began = await webview.sendRecords(capture.bytes, BATCH_BYTES);
    await webview.page.waitForFunction((n) => (window as unknown as { __sidebandTimeline: { lastFrameRecords: number } }).__sidebandTimeline.lastFrameRecords === n, capture.count, { timeout: 120_000 });
    const firstRender = (await webview.hook((h) => h.lastFrameAt)) - began;
    const [statusRecords, lanes] = await webview.hook((h) => [h.statusIndexed, h.lanes]);
    // As the host does once a file is read: the view then trims the room its index kept for growth.
    await webview.post({ type: 'ended', message: 'file read' });

    progress(`webview: ${FRAMES} frames of zooming, panning, dragging and scrolling`);
    const before = await webview.hook((h) => h.frames);
    await interact(webview);
    const times = await webview.hook((h) => h.frameTimes);
    const frames = (await webview.hook((h) => h.frames)) - before;
    const recent = times.slice(-Math.min(frames, times.length));
    const p95 = percentile(recent, 95);
    const worst = Math.max(...recent);

    progress('webview: memory after a forced GC');
    const { jsHeap, held, memory } = await pageMemory(webview);

    const firstRatio = ratioOf(firstRender, FIRST_RENDER_BAR_MS);
    const frameRatio = ratioOf(p95, FRAME_BAR_MS);
    const memoryRatio = ratioOf(memory, bytes);
    return [
      {
        name: 'webview: first complete render',
        ours: firstRender,
        peer: FIRST_RENDER_BAR_MS,
        unit: 'ms',
        ratio: firstRatio,
        bar: '<= 1 (ours/1000 ms)',
        met: firstRatio !== null && firstRatio <= 1,
        note: `${capture.count} records (${statusRecords} status-only), ${(bytes / 1e6).toFixed(1)} MB in ${BATCH_BYTES >> 10} KiB batches, from the first batch posted to the end of the first frame with all indexed; ${lanes} lanes; peer column: the bar`,
      },
      {
        name: 'webview: frame time, zoom and pan (p95)',
        ours: p95,
        peer: FRAME_BAR_MS,
        unit: 'ms',
        ratio: frameRatio,
        bar: '<= 1 (ours/16 ms)',
        met: frameRatio !== null && frameRatio <= 1,
        note: `${recent.length} frames of scripted ctrl+wheel zoom, wheel pan, drag and row scroll, each draw timed in the page; worst ${worst.toFixed(1)} ms; peer column: the bar`,
      },
      {
        name: 'webview: memory vs records binary',
        ours: memory / 1e6,
        peer: bytes / 1e6,
        unit: 'MB',
        ratio: memoryRatio,
        bar: `<= ${MEMORY_BAR} (ours/binary)`,
        met: memoryRatio !== null && memoryRatio <= MEMORY_BAR,
        note: `JS heap after GC ${(jsHeap / 1e6).toFixed(1)} MB (the timeline model included) + ArrayBuffers: batches and index columns ${(held / 1e6).toFixed(1)} MB; peer column: the records' binary size`,
      },
    ];
  } finally {
    await webview.close();
  }
}
