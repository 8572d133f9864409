// A status snapshot at a debugger stop, in code-server: a C program under
// lldb-vscode (the shim of test/e2e/debuggers/) dlopens and dlcloses a
// library, then stops at a breakpoint instruction. The stop takes a
// snapshot (perfSideband.snapshotOnStop, on by default), and the regions
// panel then matches the process's /proc/PID/maps, read while it is
// stopped: its executable file-backed regions, start, end and path, the
// dlclosed library not among them. Screenshot: test-results/e2e/stop-snapshot.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Frame, Page } from 'playwright-core';

import { hook, pidsWhere, selectNewestRecordOf, waitForHook } from './timeline';
import { pickQuickItem, repoRoot, runCommand, startCodeServer, stopDebugging, timeouts, waitForDebugPause, webviewFrame, type CodeServer } from './codeserver';

const SHIM = path.join(repoRoot, 'test', 'e2e', 'debuggers');
const vsix = path.join(repoRoot, 'perf-sideband-linux-x64.vsix');
const workspace = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-stops-')));
const shimVsix = path.join(workspace, '..', `${path.basename(workspace)}-shim.vsix`);
const NAME = 'C stopping under lldb-vscode';

const LAUNCH = {
  version: '0.2.0',
  configurations: [{ type: 'lldb-vscode', request: 'launch', name: NAME, program: '${workspaceFolder}/stopping', args: ['${workspaceFolder}/go'], cwd: '${workspaceFolder}' }],
};

/** The executable file-backed regions of /proc/PID/maps, as "start-end path" in hex without 0x. */
function executableMaps(pid: number): string[] {
  return fs
    .readFileSync(`/proc/${pid}/maps`, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(/\s+/))
    .filter(([, perms, , , , file]) => perms[2] === 'x' && file?.startsWith('/'))
    .map(([range, , , , , ...file]) => `${range} ${file.join(' ')}`);
}

/** The same of the regions panel: its executable rows whose file is a path. */
function panelExecutableRegions(timeline: Frame): Promise<string[]> {
  return timeline.locator('#regions tr.region').evaluateAll((rows) =>
    rows
      .filter((r) => r.querySelector('.prot')?.textContent?.[2] === 'x' && r.querySelector('.file')?.getAttribute('title')?.startsWith('/'))
      .map((r) => `${(r.querySelector('.addr')?.textContent ?? '').replace('–', '-')} ${r.querySelector('.file')?.getAttribute('title')}`),
  );
}

describe('a status snapshot at a debugger stop, in code-server', () => {
  let server: CodeServer;
  let page: Page;

  before(async () => {
    fs.copyFileSync(path.join(SHIM, 'debuggee_lib.c'), path.join(workspace, 'debuggee_lib.c'));
    execFileSync('gcc', ['-g', '-O1', '-fPIC', '-shared', '-o', path.join(workspace, 'libdebuggee.so'), path.join(workspace, 'debuggee_lib.c')]);
    execFileSync('gcc', ['-g', '-O1', '-o', path.join(workspace, 'stopping'), path.join(SHIM, 'stopping.c'), '-ldl']);
    fs.mkdirSync(path.join(workspace, '.vscode'));
    fs.writeFileSync(path.join(workspace, '.vscode', 'launch.json'), JSON.stringify(LAUNCH, null, 2));
    const shim = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-shim-'));
    fs.copyFileSync(path.join(SHIM, 'package.json'), path.join(shim, 'package.json'));
    execFileSync(path.join(repoRoot, 'node_modules', '.bin', 'vsce'), ['package', '--allow-missing-repository', '--skip-license', '-o', shimVsix], { cwd: shim, stdio: 'ignore' });
    fs.rmSync(shim, { recursive: true, force: true });
    server = await startCodeServer({ workspace, vsix: [vsix, shimVsix], settings: { 'perfSideband.captureOnDebug': 'always' } });
    page = server.page;
    await runCommand(page, 'View: Toggle Maximized Panel');
  });

  after(async () => {
    await server?.stop();
    // A test that failed before "Debug: Stop" leaves the debuggee behind its adapter: end it by its pid.
    for (const pid of pidsWhere((p) => fs.readlinkSync(`/proc/${p}/exe`) === path.join(workspace, 'stopping'))) process.kill(pid, 'SIGKILL');
    fs.rmSync(workspace, { recursive: true, force: true });
    fs.rmSync(shimVsix, { force: true });
  });

  test('the stop takes a snapshot, and the regions panel then matches the stopped process\'s maps, the dlclosed library gone', async () => {
    await runCommand(page, 'Debug: Select and Start Debugging');
    await pickQuickItem(page, new RegExp(`^${NAME}$`));
    await page.locator('.debug-toolbar').waitFor({ state: 'visible', timeout: timeouts.debug });
    const timeline = await webviewFrame(page, { selector: '#timeline', timeout: 60_000 });
    const title = timeline.locator('#title', { hasText: NAME });
    await title.waitFor({ state: 'visible', timeout: 60_000 });
    const pid = Number(/\(pid (\d+)\)/.exec(await title.innerText())?.[1]);
    assert.deepEqual(
      pidsWhere((p) => fs.readlinkSync(`/proc/${p}/exe`) === path.join(workspace, 'stopping')),
      [pid],
      'the timeline captures the program lldb runs',
    );
    const attached = await waitForHook(timeline, 'the attach snapshot', (h) => h.snapshots >= 1 && h.statusDrawn > 0);

    fs.writeFileSync(path.join(workspace, 'go'), '');
    await waitForDebugPause(page);
    await waitForHook(timeline, 'a snapshot taken at the stop, and the stop marker', (h) => h.snapshots > attached.snapshots && h.markers >= 1);
    assert.equal((await hook(timeline)).snapshots, attached.snapshots + 1, 'one stop, one snapshot');
    // Stopped: its maps hold still while they are compared.
    const maps = executableMaps(pid);
    assert.ok(!maps.some((m) => m.endsWith('/libdebuggee.so')), `dlclose unmapped the library: ${maps.join(' | ')}`);

    await runCommand(page, 'Perf Sideband: Show Timeline');
    // The newest records of the process are the snapshot's: its regions as the kernel listed them.
    const deadline = Date.now() + 30_000;
    let shown: string[] = [];
    for (;;) {
      await selectNewestRecordOf(timeline, pid);
      shown = await panelExecutableRegions(timeline);
      if (JSON.stringify(shown) === JSON.stringify(maps) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual(shown, maps, 'the regions panel at the stop lists what /proc/PID/maps lists, line for line');
    await page.mouse.move(0, 0);
    await server.screenshot('stop-snapshot');
    await stopDebugging(page);
  });
});
