// The extension in a real VS Code (code-server), installed from its .vsix:
// debugging the demo workspace captures the debuggee, the timeline shows
// its status-only and real records and the regions panel its mappings;
// the demo's native addon is a real mapping whose region lists the
// workspace's C files, and a CodeLens and a hover in them say where a
// function is mapped, also after the language server was killed and
// restarted;
// "Capture Sideband" attaches to a process picked in the quick pick; the
// capture saves as a perf.data that perf reads, and exports to Perfetto;
// the extension's details page shows its icon and its README's images,
// from the repository's addresses packaging gave them. Screenshots go to test-results/e2e/.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';

import { readPerfData } from '../../node/perfdata/reader';
import { decodeRecord, IndexFlag, RecordType } from '../../core/records';
import { indexRecords } from '../../core/recordStream';
import { decodedTrace } from '../fixtures/perfetto';
import { expandRegion, pidsWhere, regionRows, selectNewestRecordOf, waitForHook } from './timeline';
import { extensionLog, hoverText, openFile, repoRoot, runCommand, pickQuickItem, timeouts, startCodeServer, startDebugging, stopDebugging, waitForDebugPause, waitForNotification, webviewFrame, type CodeServer } from './codeserver';

const vsix = path.join(repoRoot, 'perf-sideband-linux-x64.vsix');
const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-e2e-'));

/**
 * Pids of the demo running in `cwd`, from /proc: the oracle for which
 * process the debugger runs. The demo sets process.title, which rewrites
 * its command line to that title.
 */
function demoPids(cwd: string): number[] {
  const dir = fs.realpathSync(cwd);
  const demo = pidsWhere((pid, cmdline) => /^(sideband-demo|demo-step-\d+)/.test(cmdline) && fs.readlinkSync(`/proc/${pid}/cwd`) === dir);
  // A child the demo forks has its title and cwd until it execs: on a loaded machine it was seen so.
  return demo.filter((pid) => !demo.includes(parentOf(pid)));
}

function parentOf(pid: number): number {
  try {
    return Number(/\) \S (\d+)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1]);
  } catch {
    return 0; // gone meanwhile
  }
}

/** Pids of the sideband language servers running from the installed extension. */
function languageServerPids(): number[] {
  return pidsWhere((_, cmdline) => cmdline.includes('perf-sideband.perf-sideband-0.1.0/dist/server.js'));
}

describe('the extension in code-server', () => {
  let server: CodeServer;
  let page: Page;
  let target: ChildProcess | undefined;

  before(async () => {
    assert.ok(fs.existsSync(vsix), `${vsix} exists: npm run test:e2e packages it first`);
    fs.cpSync(path.join(repoRoot, 'demo'), workspace, { recursive: true, filter: (src) => !src.endsWith('.data') && !src.endsWith('.log') && !src.includes('/native/build') });
    // Built where it is debugged, so its DWARF names this workspace's C files.
    execFileSync('make', ['-s', '-C', path.join(workspace, 'native')]);
    server = await startCodeServer({ workspace, vsix, settings: { 'perfSideband.captureOnDebug': 'always' } });
    page = server.page;
  });

  after(async () => {
    target?.kill('SIGKILL');
    await server?.stop();
    fs.rmSync(workspace, { recursive: true, force: true });
  });

  test('debugging the demo captures it: status-only and real records, its mappings, debugger markers', async () => {
    await runCommand(page, 'View: Toggle Maximized Panel');
    await startDebugging(page);
    const timeline = await webviewFrame(page, { selector: '#timeline', timeout: 60_000 });
    // The demo steps every 250 ms after 1.5 s: forks, execs and renames arrive as real records.
    const shown = await waitForHook(timeline, 'status-only and real records of the debuggee', (h) => h.statusDrawn > 0 && h.realDrawn > 20);
    await server.screenshot('debug-timeline');
    const debuggees = demoPids(workspace);
    assert.equal(debuggees.length, 1, `one process runs the demo in ${workspace}: ${debuggees}; ps: ${spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes('app.js')).join('; ')}`);

    // A pause and a continue of the debugger become markers on the timeline.
    // The debuggee runs in js-debug's child session, "app.js [PID]", beside
    // its worker's session and under the launcher's. The toolbar's Pause acts
    // on whichever session VS Code focused, and was seen to do nothing three
    // times in a row while the call stack said "app.js [PID] Running,
    // [worker 1] Running". So the debuggee's own session is paused, by the
    // Pause on its row in the call stack.
    await runCommand(page, 'View: Show Run and Debug');
    const session = page.locator('.debug-call-stack .monaco-list-row', { hasText: /^\s*app\.js \[\d+\]/ }).first();
    // The launcher's row may stand alone, its child session folded under it (the call stack
    // then shows only "Debug the demo: Running", and the toolbar's Pause acts on the launcher,
    // which has no thread): unfold it.
    const launcher = page.locator('.debug-call-stack .monaco-list-row', { hasText: /^\s*Debug the demo/ }).first();
    await Promise.race([session.waitFor({ state: 'visible', timeout: timeouts.debug }), launcher.waitFor({ state: 'visible', timeout: timeouts.debug })]).catch(() => undefined);
    if (!(await session.isVisible()) && (await launcher.isVisible())) {
      await launcher.click();
      await page.keyboard.press('ArrowRight');
    }
    await session.waitFor({ state: 'visible', timeout: timeouts.debug }).catch(async (e: Error) => {
      const callStack = await page.locator('.debug-call-stack').innerText().catch((f: Error) => `(no call stack view: ${f.message})`);
      assert.fail(`the debuggee's session is listed in the call stack: ${e.message}; it showed ${JSON.stringify(callStack)}`);
    });
    // VS Code may not know the debuggee's main thread yet: twice in eight runs its row showed no
    // state while its worker's showed "Running", and Pause on it did nothing for 30 s. Pausing the
    // worker pauses the same program, and its stop and continue are the debuggee's markers too.
    const worker = page.locator('.debug-call-stack .monaco-list-row', { hasText: /^\s*\[worker \d+\]/ }).first();
    for (let attempt = 1; ; attempt++) {
      const row = attempt % 2 === 1 || !(await worker.isVisible()) ? session : worker;
      await row.hover();
      // A click that finds the row already paused (the last one took, slowly) misses: that is no failure.
      await row.locator('.codicon-debug-pause').click({ timeout: 5_000 }).catch(() => undefined);
      const paused = await Promise.race([waitForDebugPause(page).then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
      if (paused) break;
      if (attempt === 3) {
        const callStack = await page.locator('.debug-call-stack').innerText().catch((e: Error) => `(no call stack view: ${e.message})`);
        await server.screenshot('pause-failed');
        assert.fail(`the debuggee pauses when Pause is clicked on its session, or its worker's, in the call stack; the call stack view showed: ${JSON.stringify(callStack)}`);
      }
    }
    await page.locator('.debug-toolbar .codicon-debug-continue').click();
    await waitForHook(timeline, 'the pause and the continue as markers', (h) => h.markers >= 2, 30_000);
    // The debugger may have brought its Debug Console to the front of the panel meanwhile.
    await runCommand(page, 'Perf Sideband: Show Timeline');

    await selectNewestRecordOf(timeline, debuggees[0]);
    await waitForHook(timeline, 'the regions of the debuggee', (h) => h.regionsListed > 0, 15_000);
    const rows = await regionRows(timeline);
    const node = rows.filter((r) => r.text.split('\t').includes('node'));
    assert.ok(node.length > 0, `the regions list the node binary: ${rows.map((r) => r.text).join(' | ')}`);
    assert.ok(node.every((r) => r.statusOnly), 'node was mapped before the capture attached, so its regions are status-only');
    await server.screenshot('debug-regions');
    assert.ok(shown.lanes > 1, 'the debuggee and its children have lanes');

    // The demo's addon, loaded after attach: a real mapping, whose source files are this workspace's.
    const addon = rows.filter((r) => r.text.includes('demo_native.node'));
    assert.ok(addon.length > 0 && addon.every((r) => !r.statusOnly), `the addon's regions are real records: ${addon.map((r) => r.text).join(' | ')}`);
    const sources = await expandRegion(timeline, 'demo_native.node');
    assert.deepEqual(sources.slice(0, 2).sort(), [path.join(workspace, 'native', 'addon.c'), path.join(workspace, 'native', 'checksum.c')], 'workspace sources first');
    await server.screenshot('region-sources');

    // In the addon's C source, a function's hover says where it is mapped now.
    await openFile(page, path.join(workspace, 'native', 'checksum.c'));
    // The panel was maximized for the timeline: the editor needs room again.
    const editorBox = await page.locator('.part.editor').boundingBox();
    if (!editorBox || editorBox.height < 200) await runCommand(page, 'View: Toggle Maximized Panel');
    const mapped = new RegExp(`mapped in pid ${debuggees[0]} \\(demo-step-\\d+\\) at 0x[0-9a-f]+–0x[0-9a-f]+ since \\+[\\d.]+ (ms|s), real mmap`);
    // The lens comes with the server's first answer for this file, or a refresh after it (each second while the capture grows).
    const lenses = page.locator('.monaco-editor .codelens-decoration');
    const lensDeadline = Date.now() + 90_000;
    let lensTexts: string[] = [];
    while (!lensTexts.some((t) => mapped.test(t))) {
      assert.ok(Date.now() < lensDeadline, `a CodeLens over demo_checksum matching ${mapped} within 90 s; lenses shown: ${JSON.stringify(lensTexts)}; the Perf Sideband Symbols log:\n${extensionLog(server, 'Perf Sideband Symbols')}`);
      await page.waitForTimeout(500);
      lensTexts = await lenses.allInnerTexts();
    }
    await hoverText(page, 'demo_checksum', mapped);
    await server.screenshot('hover');

    // The language server dies: the user hears it once, it restarts, and hovers come back.
    const [serverPid] = languageServerPids();
    assert.ok(serverPid, 'the language server runs');
    process.kill(serverPid, 'SIGKILL');
    await waitForNotification(page, /language server stopped unexpectedly and was restarted/);
    await hoverText(page, 'demo_checksum', mapped);
    assert.ok(!languageServerPids().includes(serverPid), 'a new language server answers');
    await waitForHook(timeline, 'the timeline going on meanwhile', (h) => h.recordsIndexed > shown.recordsIndexed);

    await stopDebugging(page);
  });

  test('"Capture Sideband" attaches to a process picked in the quick pick, and the capture saves as perf.data', async () => {
    // A process that ran before the capture and forks after it: a shell loop, whose comm is its script's name.
    const script = path.join(workspace, 'sideband-e2e-target');
    fs.writeFileSync(script, '#!/bin/sh\nwhile :; do /bin/true; sleep 0.2; done\n', { mode: 0o755 });
    target = spawn(script, [], { stdio: 'ignore' });
    const pid = target.pid!;
    await stopDebugging(page); // with a debug session, the command would capture its debuggee
    await runCommand(page, 'Perf Sideband: Capture Sideband');
    await pickQuickItem(page, String(pid));
    const timeline = await webviewFrame(page, { selector: '#timeline', timeout: 60_000 });
    await waitForHook(timeline, `the picked process ${pid}, status-only and real`, (h) => h.statusDrawn > 0 && h.realDrawn > 5);
    await server.screenshot('picked-process');

    await runCommand(page, 'Perf Sideband: Stop Capture');
    // The dialog proposes sideband-PID.data in the workspace; code-server's is a quick input holding the path.
    const saved = path.join(workspace, `sideband-${pid}.data`);
    await runCommand(page, 'Perf Sideband: Save Capture as perf.data…');
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    const deadlineForPath = Date.now() + 10_000;
    while (!(await input.inputValue()).endsWith(`sideband-${pid}.data`) && Date.now() < deadlineForPath) await page.waitForTimeout(100);
    await server.screenshot('save-dialog');
    await input.press('Enter');
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(saved) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const file = readPerfData(saved);
    const index = indexRecords(file.data, file.stream);
    let status = 0;
    let forks = 0;
    for (let i = 0; i < index.count; i++) {
      if (index.pid[i] === pid && index.flags[i] & IndexFlag.IS_STATUS) status++;
      // A FORK names the child; its parent is in the body.
      else if (index.type[i] === RecordType.FORK && !(index.flags[i] & IndexFlag.IS_STATUS) && decodeRecord(index, i).fields.ppid === pid) forks++;
    }
    assert.ok(status > 0 && forks > 0, `the saved file has status-only records (${status}) and real forks (${forks}) of pid ${pid}`);
    const perf = spawnSync('perf', ['script', '-i', saved, '--show-task-events'], { encoding: 'utf8' });
    assert.equal(perf.status, 0, perf.stderr);
    assert.match(perf.stdout, /sideband-e2e-t/, 'perf reads the saved capture, the target by name among it');
  });

  test('"Export to Perfetto…" writes the capture as a trace that Perfetto\'s own messages decode: its target\'s tracks and records', async () => {
    // The capture of the previous test, stopped; the dialog proposes sideband-PID.pftrace in the workspace.
    const pid = target!.pid!;
    const exported = path.join(workspace, `sideband-${pid}.pftrace`);
    await runCommand(page, 'Perf Sideband: Export to Perfetto…');
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    const deadlineForPath = Date.now() + 10_000;
    while (!(await input.inputValue()).endsWith(`sideband-${pid}.pftrace`) && Date.now() < deadlineForPath) await page.waitForTimeout(100);
    await input.press('Enter');
    await waitForNotification(page, /exported \d+ records to .*\.pftrace/);
    const trace = decodedTrace(fs.readFileSync(exported));
    assert.ok([...trace.processes.values()].some((p) => p.pid === pid), `the trace has a track for the target ${pid}`);
    // Its state before the attach is status-only; the children it forked after, real FORKs.
    const status = trace.events.filter((e) => trace.threads.get(e.track)?.pid === pid && e.categories.includes('status-only'));
    const forks = trace.events.filter((e) => e.name === 'FORK' && e.args.ppid === BigInt(pid) && e.categories.includes('real'));
    assert.ok(status.length > 0 && forks.length > 0, `the trace has status-only events of ${pid} (${status.length}) and real forks of its children (${forks.length})`);
  });

  test("the extension's details page shows its icon, and the README's images from where packaging pointed them", async () => {
    // Packaging pointed the README's relative links at the repository's raw files: here, with
    // no network, the browser is served the committed file at each such address instead.
    const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    const raw = `${manifest.repository.url.replace(/\.git$/, '')}/raw/HEAD/`;
    const served: string[] = [];
    await page.context().route(`${raw}**`, (route) => {
      const file = route.request().url().slice(raw.length);
      served.push(file);
      return route.fulfill({ path: path.join(repoRoot, file), contentType: 'image/png' });
    });
    await runCommand(page, 'Extensions: Show Installed Extensions');
    await page.locator('.extensions-viewlet .monaco-list-row', { hasText: 'Perf Sideband' }).first().click();
    const readme = await webviewFrame(page, { text: /Inspect the Linux perf/, selector: 'img', timeout: 60_000 });
    const images = readme.locator('img');
    const deadline = Date.now() + 30_000;
    let shown: Array<{ src: string; width: number }> = [];
    // Each image loads on its own: wait until every one has, or the deadline says which did not.
    while (Date.now() < deadline) {
      shown = await images.evaluateAll((nodes) => nodes.map((n) => ({ src: (n as HTMLImageElement).src, width: (n as HTMLImageElement).complete ? (n as HTMLImageElement).naturalWidth : 0 })));
      if (shown.length >= 4 && shown.every((i) => i.width > 0)) break;
      await page.waitForTimeout(250);
    }
    assert.deepEqual(
      shown.map((i) => ({ src: i.src, loaded: i.width > 0 })),
      ['images/timeline.png', 'images/regions.png', 'images/hover.png', 'images/soak.png'].map((file) => ({ src: raw + file, loaded: true })),
      `the README's images, as the details page loaded them (served: ${served.join(', ')})`,
    );
    const icon = page.locator('.extension-editor .header .icon').first();
    await icon.waitFor({ state: 'visible' });
    assert.ok(await icon.evaluate((n) => (n as HTMLImageElement).complete && (n as HTMLImageElement).naturalWidth > 0), "the details page's header shows the icon");
    await images.first().scrollIntoViewIfNeeded();
    await server.screenshot('details-page');
  });
});
