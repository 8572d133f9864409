// The soak, `npm run soak -- MINUTES` (default 10; not in CI): a busy
// target, a fork/exec storm with storm.c's mmap churn, captured by the
// extension in code-server with its timeline open, for MINUTES. Each second
// it samples the extension host's and the language server's RSS and the
// webview's memory: the ArrayBuffers it holds (its records' batches and
// index columns), and the JS heap of its renderer, which code-server shares
// with the workbench (the webview's frame is in the workbench's process), so
// the heap is an upper bound of the webview's own. At the end,
// with the capture still running, it times a zoom to the frame that draws
// it; then it stops the capture and holds the engine's count of lost records
// against the LOST records the kernel wrote into the file. It prints the
// figures and plots them to images/soak.png, drawn by the same Chromium.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';

import { pickQuickItem, runCommand, startCodeServer, webviewFrame, type CodeServer } from '../test/e2e/codeserver';
import { pidsWhere } from '../test/e2e/timeline';
import { buildStorm, countRecords, STORM, STORM_MAP } from './storm';
import { ensureWorkDir, progress, ROOT, WORK } from './tools';

const VSIX = path.join(ROOT, 'perf-sideband-linux-x64.vsix');
const PLOT = path.join(ROOT, 'images', 'soak.png');
/** One frame at 60 Hz: the bar for a zoom to be drawn. */
const FRAME_MS = 1000 / 60;
const ZOOMS = 9;

/**
 * The busy target: four fork/execs of /bin/true and a storm of 100 maps,
 * unmaps and renames, 20 times a second at most; some 2,000 records a
 * second, fewer where the machine is loaded.
 */
function startTarget(): ChildProcess {
  const storm = [STORM, '100', STORM_MAP, '/dev/null'].join(' ');
  const loop = `while :; do /bin/true; /bin/true; /bin/true; /bin/true; ${storm}; sleep 0.05; done`;
  // Its own process group, so that the storm it runs at the end goes with it.
  return spawn('sh', ['-c', loop], { stdio: 'ignore', detached: true });
}

interface Sample {
  seconds: number;
  /** Resident set sizes, in bytes; NaN where the process could not be read. */
  host: number;
  server: number;
  /** The JS heap in use of the webview's renderer (the workbench's too). */
  heap: number;
  /** The ArrayBuffers the webview holds. */
  held: number;
  records: number;
}

function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

function parentOf(pid: number): number {
  return Number(/^PPid:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** This code-server's language server (its extensions dir is the run's own), waited for. */
async function languageServerPid(server: CodeServer): Promise<number> {
  const script = path.join(server.dir, 'extensions', 'perf-sideband.perf-sideband-0.1.0', 'dist', 'server.js');
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [pid] = pidsWhere((_, cmdline) => cmdline.includes(script));
    if (pid) return pid;
    if (Date.now() > deadline) throw new Error(`soak: no language server (${script}) ran within 60 s of the capture's start`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

interface TimelineReading {
  heap: number;
  held: number;
  records: number;
}

function readTimeline(frame: Frame): Promise<TimelineReading> {
  return frame.evaluate(() => {
    const h = (window as unknown as { __sidebandTimeline: { recordsIndexed: number; heldBytes(): number } }).__sidebandTimeline;
    // Exact with --enable-precise-memory-info, which the soak gives chromium.
    const memory = (performance as unknown as { memory: { usedJSHeapSize: number } }).memory;
    return { heap: memory.usedJSHeapSize, held: h.heldBytes(), records: h.recordsIndexed };
  });
}

interface ZoomAnswer {
  /** From the wheel event to the end of the first frame that shows the new span, on the webview's clock. */
  ms: number;
  /** Frames drawn from the wheel to that one: 1 when the next frame answered it. */
  frames: number;
  /** How long that frame took to draw. */
  drawMs: number;
}

/** Zooms with Ctrl+wheel over the timeline, and says when and in which frame the zoom was drawn. */
async function zoomToFrame(server: CodeServer, frame: Frame, zoomIn: boolean): Promise<ZoomAnswer> {
  const canvas = frame.locator('#timeline');
  const box = await canvas.boundingBox();
  if (!box) throw new Error('soak: the timeline canvas is not on screen');
  const answered = frame.evaluate(
    () =>
      new Promise<{ ms: number; frames: number; drawMs: number }>((resolve, reject) => {
        type Hook = { frames: number; lastFrameAt: number; lastFrameMs: number; view: { start: number; end: number } };
        const h = (window as unknown as { __sidebandTimeline: Hook }).__sidebandTimeline;
        const canvas = document.getElementById('timeline')!;
        canvas.addEventListener(
          'wheel',
          (e) => {
            // Capturing, on the canvas itself: before the canvas's own listener zooms.
            const span = h.view.end - h.view.start;
            const frames = h.frames;
            const giveUp = setTimeout(() => reject(new Error(`no frame showed the zoom within 10 s (${h.frames - frames} frames drawn)`)), 10_000);
            // Each animation frame, before it is drawn: has a frame since the wheel shown another span?
            const look = () => {
              if (h.frames > frames && h.view.end - h.view.start !== span) {
                clearTimeout(giveUp);
                resolve({ ms: h.lastFrameAt - e.timeStamp, frames: h.frames - frames, drawMs: h.lastFrameMs });
              } else requestAnimationFrame(look);
            };
            requestAnimationFrame(look);
          },
          { once: true, capture: true },
        );
      }),
  );
  // The listener is in place once the evaluate has run its synchronous part; a round trip makes sure.
  await frame.evaluate(() => 0);
  const page = server.page;
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
  await page.keyboard.down('Control');
  await page.mouse.wheel(0, zoomIn ? -240 : 240);
  await page.keyboard.up('Control');
  return answered;
}

/** The least-squares slope of `value` over the samples, in bytes a minute: memory that keeps growing shows here. */
function growthPerMinute(samples: Sample[], value: (s: Sample) => number): number {
  const points = samples.filter((s) => Number.isFinite(value(s)));
  const n = points.length;
  if (n < 2) return NaN;
  const meanT = points.reduce((a, s) => a + s.seconds, 0) / n;
  const meanV = points.reduce((a, s) => a + value(s), 0) / n;
  const covariance = points.reduce((a, s) => a + (s.seconds - meanT) * (value(s) - meanV), 0);
  const variance = points.reduce((a, s) => a + (s.seconds - meanT) ** 2, 0);
  return (covariance / variance) * 60;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

const MB = 1e6;
const mb = (bytes: number): string => `${(bytes / MB).toFixed(0)} MB`;

interface Figures {
  minutes: number;
  records: number;
  fileBytes: number;
  memory: Array<{ name: string; first: number; peak: number; last: number; lateGrowthPerMinute: number }>;
  kernelLost: number;
  lostRecords: number;
  engineLost: number;
  timelineLost: string;
  zooms: ZoomAnswer[];
}

function figureLines(f: Figures): string[] {
  const zoomMs = f.zooms.map((z) => z.ms);
  const nextFrame = f.zooms.filter((z) => z.frames === 1).length;
  return [
    `${f.minutes} min: ${f.records.toLocaleString('en-US')} records (${Math.round(f.records / (f.minutes * 60)).toLocaleString('en-US')}/s), file ${mb(f.fileBytes)}`,
    ...f.memory.map((m) => `${m.name}: ${mb(m.first)} at 10 s, peak ${mb(m.peak)}, ${mb(m.last)} at the end; ${(m.lateGrowthPerMinute / MB).toFixed(1)} MB/min over the second half`),
    `lost: the kernel's LOST records in the file say ${f.kernelLost.toLocaleString('en-US')} records in ${f.lostRecords} LOST; the engine counted ${f.engineLost.toLocaleString('en-US')}${f.kernelLost === f.engineLost ? ' (they agree)' : ' (THEY DIFFER)'}; the timeline shows ${f.timelineLost}`,
    `zoom, live: the next frame drew it in ${nextFrame} of ${f.zooms.length} zooms; wheel to that frame drawn: median ${median(zoomMs).toFixed(1)} ms, max ${Math.max(...zoomMs).toFixed(1)} ms (drawing it: median ${median(f.zooms.map((z) => z.drawMs)).toFixed(1)} ms); one frame at 60 Hz is ${FRAME_MS.toFixed(1)} ms`,
  ];
}

/** The plot, as an SVG page: memory of the three processes and the records indexed, over the minutes. */
function plotPage(samples: Sample[], figures: string[]): string {
  const width = 1000;
  const height = 580;
  const left = 70;
  const right = 80;
  const top = 64;
  const plotHeight = 300;
  const seconds = samples[samples.length - 1]?.seconds ?? 1;
  const series = [
    { name: 'extension host RSS', color: '#4e79a7', value: (s: Sample) => s.host },
    { name: 'language server RSS', color: '#59a14f', value: (s: Sample) => s.server },
    { name: 'renderer JS heap (workbench + webview)', color: '#f28e2b', value: (s: Sample) => s.heap },
    { name: "webview's held buffers", color: '#e15759', value: (s: Sample) => s.held },
  ];
  const maxMb = Math.ceil(Math.max(100, ...samples.flatMap((s) => series.map((l) => l.value(s) / MB)).filter(Number.isFinite)) / 100) * 100;
  const maxRecords = Math.ceil(Math.max(1, ...samples.map((s) => s.records).filter(Number.isFinite)) / 100_000) * 100_000;
  const x = (s: number) => left + ((width - left - right) * s) / seconds;
  const yMb = (v: number) => top + plotHeight - (plotHeight * v) / maxMb;
  const yRecords = (v: number) => top + plotHeight - (plotHeight * v) / maxRecords;
  const line = (points: Array<[number, number]>, color: string, dash = '') =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" ${dash ? `stroke-dasharray="${dash}"` : ''} points="${points.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`;
  const lines = series.map((l) => line(samples.filter((s) => Number.isFinite(l.value(s))).map((s) => [x(s.seconds), yMb(l.value(s) / MB)]), l.color));
  lines.push(line(samples.filter((s) => Number.isFinite(s.records)).map((s) => [x(s.seconds), yRecords(s.records)]), '#9c755f', '6 4'));
  const ticks: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const v = (maxMb * k) / 4;
    ticks.push(`<text x="${left - 8}" y="${yMb(v) + 4}" text-anchor="end">${v.toFixed(0)}</text><line x1="${left}" x2="${width - right}" y1="${yMb(v)}" y2="${yMb(v)}" stroke="#ddd"/>`);
    const r = (maxRecords * k) / 4;
    ticks.push(`<text x="${width - right + 8}" y="${yRecords(r) + 4}">${r >= 1e6 ? `${(r / 1e6).toFixed(1)}M` : `${(r / 1e3).toFixed(0)}k`}</text>`);
  }
  const minutes = seconds / 60;
  for (let k = 0; k <= 5; k++) ticks.push(`<text x="${x((seconds * k) / 5)}" y="${top + plotHeight + 18}" text-anchor="middle">${((minutes * k) / 5).toFixed(1)}</text>`);
  const legend = [...series.map((l) => [l.name, l.color, '']), ['records indexed (right axis)', '#9c755f', '6 4']].map(
    ([name, color, dash], k) => {
      const [at, y] = [left + 10 + (k % 3) * 290, top - 30 + Math.floor(k / 3) * 16];
      return `<line x1="${at}" x2="${at + 30}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2" ${dash ? `stroke-dasharray="${dash}"` : ''}/><text x="${at + 36}" y="${y + 4}">${name}</text>`;
    },
  );
  const text = figures.map((f, k) => `<text x="${left}" y="${top + plotHeight + 50 + k * 20}">${f.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`);
  return `<!DOCTYPE html><html><body style="margin:0;background:#fff">
<svg id="plot" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12" style="background:#fff">
<text x="${left}" y="18" font-size="15" font-weight="600">Soak: ${minutes.toFixed(0)} min live capture of a fork/exec storm with mmap churn, timeline open in code-server</text>
${ticks.join('\n')}
<text x="16" y="${top + plotHeight / 2}" transform="rotate(-90 16 ${top + plotHeight / 2})" text-anchor="middle">MB</text>
<text x="${(left + width - right) / 2}" y="${top + plotHeight + 34}" text-anchor="middle">minutes</text>
<rect x="${left}" y="${top}" width="${width - left - right}" height="${plotHeight}" fill="none" stroke="#999"/>
${lines.join('\n')}
${legend.join('\n')}
${text.join('\n')}
</svg></body></html>`;
}

async function main(): Promise<void> {
  const minutes = process.argv[2] === undefined ? 10 : Number(process.argv[2]);
  if (!(minutes > 0)) throw new Error(`soak: MINUTES must be a positive number, not ${JSON.stringify(process.argv[2])} (npm run soak -- 10)`);
  if (!fs.existsSync(VSIX)) throw new Error(`soak: no ${VSIX}: npm run soak packages it first (npm run package)`);
  ensureWorkDir();
  buildStorm();
  fs.writeFileSync(STORM_MAP, '');
  // The extension host's temporary directory, where it writes the capture: the soak's own.
  const tmp = path.join(WORK, 'soak-tmp');
  const workspace = path.join(WORK, 'soak-workspace');
  for (const dir of [tmp, workspace]) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
  }
  progress('soak: starting code-server');
  const server = await startCodeServer({ workspace, vsix: VSIX, env: { TMPDIR: tmp }, browserArgs: ['--enable-precise-memory-info'] });
  const target = startTarget();
  try {
    const page = server.page;
    await runCommand(page, 'Perf Sideband: Capture Sideband');
    await pickQuickItem(page, String(target.pid));
    let frame = await webviewFrame(page, { selector: '#timeline', timeout: 60_000 });
    const serverPid = await languageServerPid(server);
    const hostPid = parentOf(serverPid);
    progress(`soak: capturing pid ${target.pid} for ${minutes} min; extension host ${hostPid}, language server ${serverPid}`);

    const samples: Sample[] = [];
    const began = Date.now();
    for (let second = 0; second < minutes * 60; second++) {
      await new Promise((r) => setTimeout(r, Math.max(0, began + (second + 1) * 1000 - Date.now())));
      let timeline: TimelineReading | undefined;
      try {
        timeline = await readTimeline(frame);
      } catch {
        // The webview was reloaded (VS Code may): find it again.
        frame = await webviewFrame(page, { selector: '#timeline', timeout: 30_000 });
      }
      samples.push({ seconds: (Date.now() - began) / 1000, host: rssOf(hostPid), server: rssOf(serverPid), heap: timeline?.heap ?? NaN, held: timeline?.held ?? NaN, records: timeline?.records ?? NaN });
      if (second % 60 === 59) progress(`soak: ${(second + 1) / 60} min, ${timeline?.records.toLocaleString('en-US')} records in the timeline, host ${mb(rssOf(hostPid))}`);
    }

    // The first zoom stops the view following the growing data, whose refits would look like zooms.
    await zoomToFrame(server, frame, false);
    const zooms: ZoomAnswer[] = [];
    for (let k = 0; k < ZOOMS; k++) zooms.push(await zoomToFrame(server, frame, k % 2 === 0));
    await server.screenshot('soak-end');

    await runCommand(page, 'Perf Sideband: Stop Capture');
    const status = frame.locator('#status');
    await frame.waitForFunction(() => !/live$/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 60_000 });
    const said = (await status.textContent()) ?? '';
    const engine = /capture: [\d,]+ records, [\d,]+ status, ([\d,]+) lost/.exec(said);
    const shown = /(\d+ LOST \([\d,]+ records lost\))/.exec(said);
    if (!engine || !shown) throw new Error(`soak: the timeline's status does not give the capture's counts: ${JSON.stringify(said)}`);
    const captures = fs.readdirSync(tmp, { recursive: true, encoding: 'utf8' }).filter((f) => /capture-\d+\.data$/.test(f));
    if (captures.length !== 1) throw new Error(`soak: expected one capture file under ${tmp}, found ${JSON.stringify(captures)}`);
    const file = path.join(tmp, captures[0]);
    const counted = countRecords(file, target.pid!);
    const last = samples[samples.length - 1];
    const at10 = samples.find((s) => s.seconds >= 10) ?? samples[0];
    const memory = (['host', 'server', 'heap', 'held'] as const).map((key) => ({
      name: { host: 'extension host RSS', server: 'language server RSS', heap: 'renderer JS heap (workbench + webview)', held: "webview's held buffers" }[key],
      first: at10[key],
      peak: Math.max(...samples.map((s) => s[key]).filter(Number.isFinite)),
      last: last[key],
      lateGrowthPerMinute: growthPerMinute(samples.slice(samples.length >> 1), (s) => s[key]),
    }));
    const figures = figureLines({
      minutes,
      records: counted.records,
      fileBytes: fs.statSync(file).size,
      memory,
      kernelLost: counted.kernelLost,
      lostRecords: counted.lostRecords,
      engineLost: Number(engine[1].replace(/,/g, '')),
      timelineLost: shown[1],
      zooms,
    });

    const plot = await server.browser.newPage({ viewport: { width: 1000, height: 580 } });
    await plot.setContent(plotPage(samples, figures));
    await plot.locator('#plot').screenshot({ path: PLOT });
    await plot.close();
    process.stdout.write(`${figures.join('\n')}\nplot: ${path.relative(ROOT, PLOT)}\n`);
  } finally {
    try {
      process.kill(-target.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
    await server.stop();
  }
}

main().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
