// The e2e harness on a slow machine: its helpers must wait for what the
// workbench does, not for a fixed time, nor for work a loaded machine may
// not finish in time. The renderer's CPU is throttled (Chromium's CDP), as a
// busy CI machine slows it: before runCommand waited for the palette to
// filter, this failed every time. And a file the workspace's file search
// never lists stands for a search that has not answered yet: before
// openFile asked Quick Open for a path rather than a name, that failed
// every time, and on a loaded machine now and then. It runs after the
// panel was shown, whose terminal may take the focus while Quick Open is
// open: before openFile clicked its row rather than pressing Enter, that
// failed one run in eight.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';

import { openFile, runCommand, startCodeServer, type CodeServer } from './codeserver';

const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-e2e-slow-'));
/** A source the file search is told to leave out: only a lookup by path finds it. */
const unsearched = path.join(workspace, 'unsearched', 'lens.c');
let server: CodeServer;

before(async () => {
  fs.mkdirSync(path.dirname(unsearched));
  fs.writeFileSync(unsearched, 'int lens(void) { return 1; }\n');
  fs.mkdirSync(path.join(workspace, '.vscode'));
  fs.writeFileSync(path.join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'search.exclude': { '**/unsearched': true }, 'files.exclude': { '**/unsearched': true } }));
  server = await startCodeServer({ workspace });
});

after(async () => {
  await server?.stop();
  fs.rmSync(workspace, { recursive: true, force: true });
});

test('a command runs from the palette on a renderer eight times slower', async () => {
  const { page } = server;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 8 });
  try {
    await runCommand(page, 'View: Toggle Maximized Panel');
    // The panel fills the window: the editor area gives it all its room.
    await page.locator('.part.panel').waitFor({ state: 'visible' });
    const panel = await page.locator('.part.panel').boundingBox();
    const editor = await page.locator('.part.editor').boundingBox();
    assert.ok(panel && panel.height > 200, `the panel is shown: ${JSON.stringify(panel)}`);
    assert.ok(!editor || editor.height < panel.height / 4, `the panel is maximized: panel ${JSON.stringify(panel)}, editor ${JSON.stringify(editor)}`);
  } finally {
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
  }
});

test('a file opens from Quick Open though the file search does not list it', async () => {
  await openFile(server.page, unsearched);
  const tab = await server.page.locator('.tab.active').getAttribute('aria-label');
  assert.match(tab ?? '', /^lens\.c/);
});
