// The `sample-heavy file:` timeline rows: the sample-heavy file
// (sampleHeavy.ts) opened in the webview through the host's own file path,
// a TimelineFollower posting to the page (test/webview/harness.ts) as
// FileFeed posts to VS Code's webview. Fixed bars: the page holds at most
// twice the file's sideband and 32 MB, and draws it whole within a second.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { indexPerfDataFile, openPerfData } from '../node/perfdata/reader';
import { TimelineFollower } from '../node/timelineFeed';
import { WebviewPage } from '../test/webview/harness';
import { ratioOf, type Result } from './results';
import { sampleHeavyFile } from './sampleHeavy';
import { progress, ROOT } from './tools';
import { pageMemory } from './webview';

const FIRST_RENDER_BAR_MS = 1000;
const MEMORY_SLACK_BYTES = 32 << 20;

/** What the timeline must show, read once beforehand (and into the page cache, as a file just recorded is); the index let go before the measure. */
function sidebandOf(file: string): { records: number; sideband: number } {
  const { index } = indexPerfDataFile(file);
  return { records: index.count, sideband: index.size.reduce((n, size) => n + size, 0) };
}

export async function measureSampleHeavyTimeline(): Promise<Result[]> {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'webview.js'))) throw new Error('dist/webview.js is missing: run `npm run bundle` first');
  const file = sampleHeavyFile();
  const fileBytes = fs.statSync(file).size;
  const { records, sideband } = sidebandOf(file);
  const bar = 2 * sideband + MEMORY_SLACK_BYTES;
  const webview = await WebviewPage.open({ width: 1600, height: 900 });
  try {
    progress(`sample-heavy file: ${(fileBytes / 1e6).toFixed(0)} MB, ${records} sideband records (${(sideband / 1e6).toFixed(2)} MB), into the timeline`);
    // As VS Code's renderer is: running before the file is opened, not still starting the browser.
    for (let k = 0; k < 30; k++) await webview.nextFrame();
    let follower: TimelineFollower | undefined;
    const sink = webview.sink((end) => follower?.stored(end));
    const began = await webview.page.evaluate(() => performance.now());
    const start = performance.now();
    follower = new TimelineFollower(openPerfData(file), sink, { title: path.basename(file), warnings: [] });
    const outcome = await follower.done;
    if (outcome.end !== 'read') throw new Error(`${file} was not read to its end`);
    const read = performance.now() - start;
    sink.post({ type: 'ended', message: 'read to the end' });
    await sink.delivered;
    const delivered = performance.now() - start;
    await webview.page.waitForFunction((n) => (window as unknown as { __sidebandTimeline: { lastFrameRecords: number } }).__sidebandTimeline.lastFrameRecords === n, records, { timeout: 120_000 });
    const firstRender = (await webview.hook((h) => h.lastFrameAt)) - began;
    const batches = (await webview.posted()).filter((m) => m.type === 'stored').length;
    const { jsHeap, held, memory } = await pageMemory(webview);
    const renderRatio = ratioOf(firstRender, FIRST_RENDER_BAR_MS);
    const memoryRatio = ratioOf(memory, bar);
    const what = `${path.basename(file)}: ${(fileBytes / 1e6).toFixed(0)} MB of perf record --call-graph dwarf -a, ${records} sideband records, ${(sideband / 1e6).toFixed(2)} MB`;
    return [
      {
        name: 'sample-heavy file: timeline memory',
        ours: memory / 1e6,
        peer: bar / 1e6,
        unit: 'MB',
        ratio: memoryRatio,
        bar: '<= 1 (ours/(2 x sideband + 32 MB))',
        met: memoryRatio !== null && memoryRatio <= 1,
        note: `${what}; the page after a forced GC: JS heap ${(jsHeap / 1e6).toFixed(1)} MB + batches and index columns ${(held / 1e6).toFixed(1)} MB; peer column: the bar`,
      },
      {
        name: 'sample-heavy file: first complete render',
        ours: firstRender,
        peer: FIRST_RENDER_BAR_MS,
        unit: 'ms',
        ratio: renderRatio,
        bar: '<= 1 (ours/1000 ms)',
        met: renderRatio !== null && renderRatio <= 1,
        note: `${what}; from the host opening the file (TimelineFollower: read in 4 MiB chunks, samples left out, ${batches} batches posted, at most 4 unacknowledged) to the end of the first frame with all indexed: the host read and posted it in ${read.toFixed(0)} ms, the harness had it in the page by ${delivered.toFixed(0)} ms; peer column: the bar`,
      },
    ];
  } finally {
    await webview.close();
  }
}
