// The debuggers people use, in code-server: a C program under lldb's DAP
// adapter (Debian's lldb-vscode-15) and a Python program under debugpy
// (`python3 -m debugpy.adapter`), each registered as a debug type by a
// test-only shim extension (test/e2e/debuggers/package.json), as neither
// adapter's extension is on a marketplace the tests reach. Both adapters
// name the debuggee in the DAP `process` event; what each does after the
// attach must be real records, what it had mapped before status-only.
// Screenshots go to test-results/e2e/ (lldb-capture, lldb-codelens,
// debugpy-capture).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Frame, Page } from 'playwright-core';

import { expandRegion, pidsWhere, regionRows, selectNewestRecordOf, waitForHook } from './timeline';
import { extensionLog, openFile, pickQuickItem, repoRoot, runCommand, startCodeServer, stopDebugging, timeouts, webviewFrame, type CodeServer } from './codeserver';

const SHIM = path.join(repoRoot, 'test', 'e2e', 'debuggers');
const vsix = path.join(repoRoot, 'perf-sideband-linux-x64.vsix');
const workspace = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-debuggers-')));
const shimVsix = path.join(workspace, '..', `${path.basename(workspace)}-shim.vsix`);

const LAUNCH = {
  version: '0.2.0',
  configurations: [
    { type: 'lldb-vscode', request: 'launch', name: 'C under lldb-vscode', program: '${workspaceFolder}/debuggee', args: ['${workspaceFolder}/go-c'], cwd: '${workspaceFolder}' },
    { type: 'debugpy', request: 'launch', name: 'Python under debugpy', program: '${workspaceFolder}/debuggee.py', args: ['${workspaceFolder}/go-py'], cwd: '${workspaceFolder}', python: '/usr/bin/python3', console: 'internalConsole' },
  ],
};

/** Starts a launch configuration by name ("Debug: Select and Start Debugging"). */
async function startConfiguration(page: Page, name: string): Promise<void> {
  await runCommand(page, 'Debug: Select and Start Debugging');
  // By a pattern, so the box keeps its "debug " prefix: typed over, it would search files instead.
  await pickQuickItem(page, new RegExp(`^${name}$`));
  await page.locator('.debug-toolbar').waitFor({ state: 'visible', timeout: timeouts.debug });
}

/** The pid the timeline's title names: the process the extension captures. */
async function capturedPid(timeline: Frame, name: string): Promise<number> {
  const title = timeline.locator('#title', { hasText: name });
  await title.waitFor({ state: 'visible', timeout: 60_000 });
  const match = /\(pid (\d+)\)/.exec(await title.innerText());
  assert.ok(match, `the timeline's title names a pid: ${await title.innerText()}`);
  return Number(match[1]);
}

/** Selects the newest record of `pid` until its regions list `file`; returns the rows then. */
async function regionsOnceMapped(timeline: Frame, pid: number, file: string): Promise<Array<{ text: string; statusOnly: boolean }>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    await selectNewestRecordOf(timeline, pid);
    const rows = await regionRows(timeline);
    if (rows.some((r) => r.text.includes(file))) return rows;
    assert.ok(Date.now() < deadline, `the regions of pid ${pid} list ${file} within 60 s; they list: ${rows.map((r) => r.text).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The rows whose file is exactly `file`. */
const rowsOf = (rows: Array<{ text: string; statusOnly: boolean }>, file: string) => rows.filter((r) => r.text.split('\t').includes(file));

describe('debuggers in code-server', () => {
  let server: CodeServer;
  let page: Page;

  before(async () => {
    for (const file of ['debuggee.c', 'debuggee_lib.c', 'debuggee.py']) fs.copyFileSync(path.join(SHIM, file), path.join(workspace, file));
    // Built where they are debugged, so their DWARF names this workspace's files.
    execFileSync('gcc', ['-g', '-O1', '-fPIC', '-shared', '-o', path.join(workspace, 'libdebuggee.so'), path.join(workspace, 'debuggee_lib.c')]);
    execFileSync('gcc', ['-g', '-O1', '-pthread', '-o', path.join(workspace, 'debuggee'), path.join(workspace, 'debuggee.c'), '-ldl']);
    fs.mkdirSync(path.join(workspace, '.vscode'));
    fs.writeFileSync(path.join(workspace, '.vscode', 'launch.json'), JSON.stringify(LAUNCH, null, 2));
    // The shim, packed as it is: a manifest with two debuggers contributions, no code.
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
    fs.rmSync(workspace, { recursive: true, force: true });
    fs.rmSync(shimVsix, { force: true });
  });

  test('C under lldb-vscode: the library dlopened after the attach is real, with its source file and a CodeLens over its function', async () => {
    await startConfiguration(page, 'C under lldb-vscode');
    const timeline = await webviewFrame(page, { selector: '#timeline', timeout: 60_000 });
    const pid = await capturedPid(timeline, 'C under lldb-vscode');
    const debuggees = pidsWhere((p) => fs.readlinkSync(`/proc/${p}/exe`) === path.join(workspace, 'debuggee'));
    assert.deepEqual(debuggees, [pid], 'the pid of the process event is the program lldb runs');
    await waitForHook(timeline, 'the status-only records of the attach', (h) => h.statusDrawn > 0);
    fs.writeFileSync(path.join(workspace, 'go-c'), '');

    const rows = await regionsOnceMapped(timeline, pid, 'libdebuggee.so');
    const program = rowsOf(rows, 'debuggee');
    assert.ok(program.length > 0 && program.every((r) => r.statusOnly), `the program, mapped before the attach, is status-only: ${program.map((r) => r.text).join(' | ')}`);
    const library = rowsOf(rows, 'libdebuggee.so');
    assert.ok(library.length > 0 && library.every((r) => !r.statusOnly), `the library, dlopened after it, is real: ${library.map((r) => r.text).join(' | ')}`);
    // The fork and exec after the attach give the child a lane of its own.
    await waitForHook(timeline, 'the forked child', (h) => h.lanes > 2);
    const sources = await expandRegion(timeline, 'libdebuggee.so');
    assert.equal(sources[0], path.join(workspace, 'debuggee_lib.c'), `the library's region lists its source first: ${sources.join(', ')}`);
    await page.mouse.move(0, 0); // no tooltip over the regions
    await server.screenshot('lldb-capture');

    await openFile(page, path.join(workspace, 'debuggee_lib.c'));
    const editorBox = await page.locator('.part.editor').boundingBox();
    if (!editorBox || editorBox.height < 200) await runCommand(page, 'View: Toggle Maximized Panel');
    const mapped = new RegExp(`mapped in pid ${pid} \\(debuggee\\) at 0x[0-9a-f]+–0x[0-9a-f]+ since \\+[\\d.]+ (ms|s), real mmap`);
    const lenses = page.locator('.monaco-editor .codelens-decoration');
    const deadline = Date.now() + 90_000;
    let lensTexts: string[] = [];
    while (!lensTexts.some((t) => mapped.test(t))) {
      assert.ok(Date.now() < deadline, `a CodeLens over debuggee_checksum matching ${mapped} within 90 s; lenses shown: ${JSON.stringify(lensTexts)}; the Perf Sideband Symbols log:\n${extensionLog(server, 'Perf Sideband Symbols')}`);
      await page.waitForTimeout(500);
      lensTexts = await lenses.allInnerTexts();
    }
    await server.screenshot('lldb-codelens');
    await stopDebugging(page);
  });

  test('Python under debugpy: the debuggee is the Python process itself, and its C extension imported after the attach is real', async () => {
    await runCommand(page, 'View: Toggle Maximized Panel');
    await startConfiguration(page, 'Python under debugpy');
    const timeline = await webviewFrame(page, { selector: '#timeline', timeout: 60_000 });
    const pid = await capturedPid(timeline, 'Python under debugpy');
    await waitForHook(timeline, 'the status-only records of the attach', (h) => h.statusDrawn > 0);
    fs.writeFileSync(path.join(workspace, 'go-py'), '');

    const rows = await regionsOnceMapped(timeline, pid, '_sqlite3');
    // debugpy's launcher names the script too, and so does the debuggee, after debugpy's own
    // arguments: the one that runs it is the one that has mapped _sqlite3 now.
    const script = path.join(workspace, 'debuggee.py');
    const debuggees = pidsWhere((p, cmdline) => cmdline.includes(script) && fs.readFileSync(`/proc/${p}/maps`, 'utf8').includes('/_sqlite3.'));
    assert.deepEqual(debuggees, [pid], 'the pid of the process event is the Python process that runs the script');
    const python = rows.filter((r) => /\tpython3[.\d]*\t/.test(`\t${r.text}\t`));
    assert.ok(python.length > 0 && python.every((r) => r.statusOnly), `the interpreter, mapped before the attach, is status-only: ${python.map((r) => r.text).join(' | ')}`);
    // Not _ctypes: debugpy imports ctypes itself, before the attach.
    const sqlite = rows.filter((r) => r.text.includes('_sqlite3'));
    assert.ok(sqlite.every((r) => !r.statusOnly), `_sqlite3, imported after it, is real: ${sqlite.map((r) => r.text).join(' | ')}`);
    await page.mouse.move(0, 0); // no tooltip over the regions
    await server.screenshot('debugpy-capture');
    await stopDebugging(page);
  });
});
