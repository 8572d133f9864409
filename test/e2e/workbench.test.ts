// The e2e harness on a slow machine: its palette helper must wait for what
// the workbench does, not for a fixed time. The renderer's CPU is throttled
// (Chromium's CDP), as a busy CI machine slows it; before runCommand waited
// for the palette to filter, this failed every time.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';

import { runCommand, startCodeServer, type CodeServer } from './codeserver';

const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-e2e-slow-'));
let server: CodeServer;

before(async () => {
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
