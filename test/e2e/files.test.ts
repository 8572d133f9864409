// perf.data files of the forms perf writes, opened in the extension's
// editor in code-server (where "Open perf.data…" opens them too): a -z
// file and a pipe-format file draw their timelines; a file that
// contradicts itself shows the records before its fault and the fault in
// a banner, and the extension host lives on to open the next file.
// Screenshots go to test-results/e2e/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Frame, Page } from 'playwright-core';

import { RecordType } from '../../core/records';
import { Timeline } from '../../core/timeline';
import { indexPerfDataFile } from '../../node/perfdata/reader';
import { notifications, repoRoot, runCommand, startCodeServer, webviewFrame, type CodeServer } from './codeserver';
import { hook, waitForHook } from './timeline';
import { recordPlaces } from '../fixtures/perfFile';

const vsix = path.join(repoRoot, 'perf-sideband-linux-x64.vsix');
const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-e2e-files-'));
const WORKLOAD = ['--', 'sh', '-c', 'ls / > /dev/null; exec /bin/true'];

function perfRecord(name: string, options: string[]): string {
  const file = path.join(workspace, name);
  const pipe = options.includes('-');
  const r = spawnSync('perf', ['record', '-q', ...(pipe ? [] : ['-o', file]), ...options, ...WORKLOAD], { cwd: workspace, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.toString());
  if (pipe) fs.writeFileSync(file, r.stdout);
  return file;
}

/** A --namespaces file whose first NAMESPACES record claims 2^40 links: refused there. */
function contradictingFile(): { file: string; before: number } {
  const good = fs.readFileSync(perfRecord('good-ns.data', ['--namespaces']));
  const places = recordPlaces(good);
  const fault = places.findIndex((p) => p.type === RecordType.NAMESPACES);
  good.writeBigUInt64LE(1n << 40n, places[fault].at + 16);
  const before = places.slice(0, fault).filter(({ type }) => (type < 64 && type !== RecordType.SAMPLE) || type === RecordType.FINISHED_INIT).length;
  const file = path.join(workspace, 'contradicts.data');
  fs.writeFileSync(file, good);
  return { file, before };
}

/** Opens `file` with "Open perf.data…", as a user does, and waits until its timeline has indexed `records` records. */
async function openTimeline(page: Page, file: string, records: number): Promise<Frame> {
  await runCommand(page, 'Perf Sideband: Open perf.data…');
  // code-server's open dialog is a quick input that takes a typed path. It shows its
  // starting folder's path at once, lists the folder, then sets the path again (VS Code's
  // SimpleFileDialog.updateItems, forced), over anything typed before: a fill before the
  // listing was lost in one run of three. So the file's row in the listing is awaited first.
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible' });
  await page
    .locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: path.basename(file) })
    .first()
    .waitFor({ state: 'visible', timeout: 60_000 })
    .catch(async (e: Error) => assert.fail(`the open dialog did not list ${path.basename(file)}: ${e.message}; its input holds ${JSON.stringify(await input.inputValue().catch(() => '(gone)'))}`));
  await input.fill(file);
  await page
    .waitForFunction(({ box, file }) => document.querySelector<HTMLInputElement>(box)?.value === file, { box: '.quick-input-widget .quick-input-box input', file })
    .catch(async (e: Error) => assert.fail(`the open dialog did not keep the path typed: ${e.message}; its input holds ${JSON.stringify(await input.inputValue().catch(() => '(gone)'))}`));
  await input.press('Enter');
  // The webview's own header names the file (an editor tab's label is the custom editor's to choose).
  const frame = await webviewFrame(page, { text: new RegExp(`^${path.basename(file).replace('.', '\\.')}`), selector: '#timeline', timeout: 60_000 });
  await waitForHook(frame, `${records} records`, (h) => h.recordsIndexed === records);
  return frame;
}

describe('perf.data files in the editor', () => {
  let server: CodeServer;

  before(async () => {
    assert.ok(fs.existsSync(vsix), `${vsix} exists: npm run test:e2e packages it first`);
    server = await startCodeServer({ workspace, vsix });
  });

  after(async () => {
    await server?.stop();
    fs.rmSync(workspace, { recursive: true, force: true });
  });

  for (const [name, stem, options] of [
    ['a -z file', 'compressed', ['-z']],
    ['a pipe-format file', 'pipe', ['-o', '-']],
  ] as const) {
    test(`${name} draws its timeline`, async () => {
      const file = perfRecord(`${stem}.data`, [...options]);
      const read = indexPerfDataFile(file).index;
      const expected = read.count;
      assert.ok(expected > 5, `${expected} records`);
      const frame = await openTimeline(server.page, file, expected);
      // The host sends the records in time order: a lane per thread, none twice for an exec read before its fork.
      const lanes = new Timeline(read).lanes.length;
      await waitForHook(frame, `its records drawn, in ${lanes} lanes`, (h) => h.realDrawn > 0 && h.lanes === lanes);
      assert.equal(await frame.locator('#banner').isHidden(), true);
      await server.screenshot(`file-${stem}`);
    });
  }

  test('a file that contradicts itself shows its records before the fault, and the fault; the host opens the next file', async () => {
    const { file, before } = contradictingFile();
    assert.ok(before > 0);
    const frame = await openTimeline(server.page, file, before);
    const banner = frame.locator('#banner');
    await banner.waitFor({ state: 'visible', timeout: 30_000 });
    assert.match((await banner.textContent()) ?? '', /contradicts\.data cannot be read past a fault: NAMESPACES record's nr_namespaces is 1099511627776, but its \d+ bytes hold 7 links \(at byte \d+ of .*contradicts\.data\)/);
    await server.screenshot('file-contradicts');
    assert.equal((await hook(frame)).recordsIndexed, before);
    // The extension host lived: another file opens and draws. No message was rejected on the way.
    const next = perfRecord('after.data', []);
    await openTimeline(server.page, next, indexPerfDataFile(next).index.count);
    assert.deepEqual((await notifications(server.page)).filter((n) => /rejected/.test(n)), []);
  });
});
