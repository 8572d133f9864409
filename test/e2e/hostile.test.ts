// Hostile names, end to end in code-server: a traced process renamed to
// markup and a mapped file whose name holds markup, quotes, a newline and a
// right-to-left override render as plain text in the timeline (canvas and
// DOM), its tooltip, the regions panel, and the editor's CodeLens and
// hover; and no script runs, anywhere. A third name, of Markdown, shows
// the hover's Markdown says names as they are. Screenshots go to test-results/e2e/.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ConsoleMessage, Frame, Page } from 'playwright-core';

import { hoverText, openFile, pickQuickItem, repoRoot, runCommand, startCodeServer, webviewFrame, type CodeServer } from './codeserver';
import { regionRows, selectNewestRecordOf, waitForHook } from './timeline';

const vsix = path.join(repoRoot, 'perf-sideband-linux-x64.vsix');
const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-e2e-hostile-'));
const sources = path.join(repoRoot, 'test', 'e2e', 'hostile');

// The kernel keeps 15 bytes of a comm: the <img> payload arrives cut to
// "<img src=x oner", no longer a whole tag; "<svg/onload=1>" (14 bytes)
// arrives whole, a tag that would run its handler if it became an element.
const PROCESS_NAME = '<img src=x onerror=alert(1)>';
const PROCESS_COMM = PROCESS_NAME.slice(0, 15);
const CHILD_COMM = '<svg/onload=1>';
// Markdown, which a hover would otherwise render: emphasis and a link.
const MARKDOWN_COMM = '_em_ *b* [l](x)';
// Markup whose handler would set a flag, both quotes, a newline, and a
// right-to-left override (U+202E) that reverses what follows it on screen.
const FILE_NAME = `lib <img src=x onerror="window.__pwned=1;alert(1)"> 'q' \n\u202Eos.evil.so`;
const FILE = path.join(workspace, FILE_NAME);

/** Installs, in a frame, the traps that tell whether a payload ran: alert and the flag the file name's payload sets. */
async function trap(frame: Frame | Page): Promise<void> {
  await frame.evaluate(() => {
    const w = window as unknown as { alert: (m?: unknown) => void; __alerted?: unknown[] };
    w.__alerted = [];
    w.alert = (m?: unknown) => void w.__alerted!.push(m);
  });
}

/** What the traps caught in a frame, and the elements a payload would have injected. */
function caught(frame: Frame | Page): Promise<{ alerted: unknown[]; pwned: unknown; injected: string[] }> {
  return frame.evaluate(() => {
    const w = window as unknown as { __alerted?: unknown[]; __pwned?: unknown };
    const injected = [...document.querySelectorAll('img[src="x"], svg[onload], [onerror], [onload]')].map((e) => e.outerHTML);
    return { alerted: w.__alerted ?? [], pwned: w.__pwned, injected };
  });
}

describe('hostile names in code-server', () => {
  let server: CodeServer;
  let page: Page;
  let target: ChildProcessWithoutNullStreams | undefined;
  const consoleErrors: string[] = [];

  before(async () => {
    assert.ok(fs.existsSync(vsix), `${vsix} exists: npm run test:e2e packages it first`);
    fs.copyFileSync(path.join(sources, 'mapped.c'), path.join(workspace, 'mapped.c'));
    // Built in the workspace, so its DWARF names the workspace's mapped.c, which the lenses are for.
    execFileSync('gcc', ['-g', '-O0', '-shared', '-fPIC', '-o', FILE, 'mapped.c'], { cwd: workspace });
    execFileSync('gcc', ['-O1', '-o', 'hostile-target', path.join(sources, 'target.c')], { cwd: workspace });
    server = await startCodeServer({ workspace, vsix });
    page = server.page;
    // An injected <img src=x> would show as a failed load or a CSP refusal; a thrown handler as an error.
    page.on('console', (m: ConsoleMessage) => {
      if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
    await trap(page);
  });

  after(async () => {
    target?.kill('SIGKILL');
    await server?.stop();
    fs.rmSync(workspace, { recursive: true, force: true });
  });

  test('a process renamed to markup and a file named with markup, quotes, a newline and U+202E render as text; no script runs', async () => {
    target = spawn(path.join(workspace, 'hostile-target'), [FILE, PROCESS_NAME, CHILD_COMM, MARKDOWN_COMM], { cwd: workspace });
    const pid = target.pid!;
    let stdout = '';
    target.stdout.on('data', (d: Buffer) => (stdout += d));
    target.stderr.on('data', (d: Buffer) => (stdout += d));

    await runCommand(page, 'Perf Sideband: Capture Sideband');
    await pickQuickItem(page, String(pid));
    const timeline = await webviewFrame(page, { selector: '#timeline', timeout: 60_000 });
    await trap(timeline);
    // Every string the canvas draws, from now on.
    await timeline.evaluate(() => {
      const w = window as unknown as { __drawnTexts: Set<string> };
      w.__drawnTexts = new Set();
      const fillText = CanvasRenderingContext2D.prototype.fillText;
      CanvasRenderingContext2D.prototype.fillText = function (text: string, x: number, y: number, maxWidth?: number) {
        w.__drawnTexts.add(text);
        return maxWidth === undefined ? fillText.call(this, text, x, y) : fillText.call(this, text, x, y, maxWidth);
      };
    });
    await waitForHook(timeline, `the target ${pid}, status-only`, (h) => h.statusDrawn > 0);

    // Now the renames, the mapping and the fork happen, as real records.
    target.stdin.write('go\n');
    const deadline = Date.now() + 30_000;
    while (!/ready/.test(stdout)) {
      assert.ok(Date.now() < deadline && target.exitCode === null, `the target renamed itself, mapped the library and forked: it said ${JSON.stringify(stdout)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [child, markdownChild] = [...stdout.matchAll(/child (\d+)/g)].map((m) => Number(m[1]));
    await timeline.waitForFunction((children) => {
      const h = (window as unknown as { __sidebandTimeline: { recordsIndexed: number; recordPid(i: number): number } }).__sidebandTimeline;
      const seen = new Set<number>();
      for (let i = h.recordsIndexed - 1; i >= 0; i--) seen.add(h.recordPid(i));
      return children.every((c) => seen.has(c));
    }, [child, markdownChild], { timeout: 60_000 });

    // The regions panel lists the file by its name, as text, and the process by its comm.
    await selectNewestRecordOf(timeline, pid);
    await waitForHook(timeline, 'the regions of the target', (h) => h.regionsListed > 0, 15_000);
    const rows = await regionRows(timeline);
    const fileCells = await timeline.locator('#regions tr.region td.file').evaluateAll((cells) => cells.map((c) => ({ title: (c as HTMLElement).title, text: c.textContent ?? '', elements: [...c.querySelectorAll('*')].map((e) => e.tagName) })));
    const hostile = fileCells.filter((c) => c.title === FILE);
    assert.ok(hostile.length > 0, `the regions list ${JSON.stringify(FILE)} under its whole path: ${rows.map((r) => r.text).join(' | ')}`);
    for (const cell of hostile) {
      assert.equal(cell.text, FILE_NAME, 'the cell says the file name, every character of it');
      assert.ok(cell.elements.every((tag) => tag === 'BUTTON' || tag === 'A'), `and holds no element but its toggle and its link: ${cell.elements}`);
    }
    const subtitle = (await timeline.locator('#regions-subtitle').textContent()) ?? '';
    assert.ok(subtitle.startsWith(`${PROCESS_COMM} (pid ${pid})`), `the regions say whose they are, by comm: ${JSON.stringify(subtitle)}`);
    await server.screenshot('hostile-regions');

    // The tooltip of the MMAP2 record names the file; that of the child's COMM, its name.
    const tooltips = await tooltipsOf(timeline, [pid, child]);
    assert.ok(tooltips.some((t) => t.lines.includes(FILE) && t.elements === 0), `a tooltip names the file as text: ${JSON.stringify(tooltips)}`);
    assert.ok(tooltips.some((t) => t.lines.includes(`comm ${CHILD_COMM}`) && t.elements === 0), `a tooltip names the child's comm as text: ${JSON.stringify(tooltips)}`);
    assert.ok(tooltips.some((t) => t.lines.includes(`comm ${PROCESS_COMM}`)), `a tooltip names the target's comm as text: ${JSON.stringify(tooltips)}`);
    await server.screenshot('hostile-tooltip');

    // The canvas drew the children's names, in their lanes' names, as the strings they are (or
    // their start and an ellipsis, where the gutter has no room for more); the parent's lane is
    // named by what it was called at the left edge, before it renamed itself.
    const drawn = await timeline.evaluate(() => [...(window as unknown as { __drawnTexts: Set<string> }).__drawnTexts]);
    const drew = (comm: string) => drawn.some((t) => t === comm || (t.length > 1 && t.endsWith('…') && comm.startsWith(t.slice(0, -1))));
    for (const comm of [CHILD_COMM, MARKDOWN_COMM]) assert.ok(drew(comm), `the canvas drew ${JSON.stringify(comm)}: it drew ${JSON.stringify(drawn)}`);

    // In the library's source, the CodeLens and the hover name the processes by their comms, as text.
    await openFile(page, path.join(workspace, 'mapped.c'));
    const lenses = page.locator('.monaco-editor .codelens-decoration');
    const lensDeadline = Date.now() + 90_000;
    let lensTexts: string[] = [];
    const lensSays = new RegExp(`mapped in pid (${pid} \\(${escapeRegExp(PROCESS_COMM)}\\)|${child} \\(${escapeRegExp(CHILD_COMM)}\\))`);
    while (!lensTexts.some((t) => lensSays.test(t))) {
      assert.ok(Date.now() < lensDeadline, `a CodeLens over hostile_mapped matching ${lensSays} within 90 s; lenses shown: ${JSON.stringify(lensTexts)}`);
      await page.waitForTimeout(500);
      lensTexts = await lenses.allInnerTexts();
    }
    assert.equal(await lenses.locator('img, svg').count(), 0, 'the lens holds no injected element');
    const hover = await hoverText(page, 'hostile_mapped', new RegExp(escapeRegExp(CHILD_COMM)));
    for (const [p, comm] of [[pid, PROCESS_COMM], [child, CHILD_COMM], [markdownChild, MARKDOWN_COMM]] as const) {
      assert.ok(hover.includes(`mapped in pid ${p} (${comm})`), `the hover names pid ${p} by its comm ${JSON.stringify(comm)}, as written: ${JSON.stringify(hover)}`);
    }
    assert.equal(await page.locator('.monaco-hover:not(.hidden) .monaco-hover-content').locator('img, svg').count(), 0, 'the hover holds no injected element');
    await server.screenshot('hostile-hover');

    // No payload ran, nor became an element, in the workbench or the timeline; the console has nothing to say of them.
    for (const [where, frame] of [['the workbench', page], ['the timeline', timeline]] as const) {
      assert.deepEqual(await caught(frame), { alerted: [], pwned: undefined, injected: [] }, `in ${where}`);
    }
    const fromPayloads = consoleErrors.filter((e) => /\/x\b|Content Security Policy|Refused|onerror|onload|pwned|webview/i.test(e));
    assert.deepEqual(fromPayloads, [], `console errors a payload would cause (of all ${consoleErrors.length}: ${JSON.stringify(consoleErrors)})`);
  });
});

/** Hovers each on-screen record of `pids`, newest first, and returns the tooltip's lines and how many elements the lines hold. */
async function tooltipsOf(frame: Frame, pids: number[]): Promise<Array<{ lines: string[]; elements: number }>> {
  const marks = await frame.evaluate((pids) => {
    const h = (window as unknown as { __sidebandTimeline: { recordsIndexed: number; recordPid(i: number): number; recordPosition(i: number): { x: number; y: number } | null } }).__sidebandTimeline;
    const at: Array<{ x: number; y: number }> = [];
    for (let i = h.recordsIndexed - 1; i >= 0 && at.length < 40; i--) {
      const p = h.recordPosition(i);
      if (pids.includes(h.recordPid(i)) && p) at.push(p);
    }
    return at;
  }, pids);
  const canvas = frame.locator('#timeline');
  const left = await canvas.evaluate((c) => c.getBoundingClientRect());
  const seen: Array<{ lines: string[]; elements: number }> = [];
  for (const m of marks) {
    await canvas.hover({ position: { x: m.x - left.left, y: m.y - left.top } });
    const tip = await frame.locator('#tooltip').evaluate((t) => ({
      lines: [...t.children].map((d) => d.textContent ?? ''),
      elements: t.querySelectorAll(':scope > div *').length,
      hidden: (t as HTMLElement).hidden,
    }));
    if (!tip.hidden) seen.push({ lines: tip.lines, elements: tip.elements });
  }
  return seen;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
