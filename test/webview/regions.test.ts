// The regions panel's questions to the host, in headless Chromium: source
// files of a region. The test is the host: it reads what the page posts and
// answers it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebviewPage } from './harness';
import { EVENTS, smallCapture } from './streams';
import type { ThemeName } from './themes';

const small = smallCapture();

const PLUGIN = { start: '500000', end: '501000', pgoff: '0', filename: '/home/user/project/libplugin.so' };
const LIBC = { start: '7f0000000000', end: '7f0000020000', pgoff: '0', filename: '/usr/lib/libc.so.6' };
const SERVER = { start: '400000', end: '402000', pgoff: '0', filename: '/usr/bin/server' };

const PLUGIN_SOURCES = {
  // Out of order on purpose: the view puts workspace files first whatever the host sends.
  files: [
    { path: '/usr/include/stdio.h', inWorkspace: false, exists: true },
    { path: '/home/user/project/plugin.c', inWorkspace: true, exists: true },
    { path: '/build/glibc-2.39/libio/genops.c', inWorkspace: false, exists: false },
    { path: '/home/user/project/util.h', inWorkspace: true, exists: true },
  ],
  backend: 'llvm-symbolizer 18 (DWARF 5)',
};

/** A page showing the small capture with pid 200 selected at its plugin's mapping (+3.5 ms): server, libplugin.so, libc. */
async function withWorkerSelected(options: { theme?: ThemeName } = {}): Promise<WebviewPage> {
  const webview = await WebviewPage.open(options);
  await webview.open(EVENTS, small.bytes.byteLength);
  await webview.sendRecords(small.bytes, small.bytes.byteLength);
  await webview.drawn(small.count);
  const at = await webview.position(small.records.plugin);
  await webview.page.mouse.click(at.x, at.y);
  await webview.page.waitForFunction(() => document.querySelectorAll('#regions tr.region').length === 3);
  return webview;
}

/** The region row whose file is `name`. */
const row = (webview: WebviewPage, name: string) => webview.page.locator('#regions tr.region', { has: webview.page.locator(`td.file[title$="/${name}"]`) });

/** What the table shows of a region, in the host's terms: hex without 0x. */
async function shownRegion(webview: WebviewPage, name: string): Promise<Record<string, string>> {
  const r = row(webview, name);
  const [start, end] = ((await r.locator('.addr').textContent()) ?? '').split('–');
  return { start, end, pgoff: (await r.locator('.pgoff').textContent()) ?? '', filename: (await r.locator('.file').getAttribute('title')) ?? '' };
}

describe('webview: source files of a region', () => {
  let webview: WebviewPage;
  before(async () => (webview = await withWorkerSelected()));
  after(() => webview.close());

  test('file-backed regions have an expand button, collapsed', async () => {
    const toggles = webview.page.locator('#regions tr.region button.toggle');
    assert.equal(await toggles.count(), 3);
    assert.deepEqual(await toggles.evaluateAll((bs) => bs.map((b) => [b.getAttribute('aria-expanded'), b.getAttribute('aria-label')])), [
      ['false', 'Source files of server'],
      ['false', 'Source files of libplugin.so'],
      ['false', 'Source files of libc.so.6'],
    ]);
    // The chevron is CSS: the cell's text is still the file's name.
    assert.equal(await row(webview, 'libplugin.so').locator('.file').textContent(), 'libplugin.so');
    assert.equal((await webview.posted()).filter((m) => m.type === 'regionSources').length, 0, 'nothing asked before expanding');
  });

  test('expanding asks the host about the region the row shows, and says it waits', async () => {
    await row(webview, 'libplugin.so').locator('button.toggle').click();
    const [ask] = await webview.postedOf('regionSources');
    assert.deepEqual(ask.region, await shownRegion(webview, 'libplugin.so'));
    assert.deepEqual(ask.region, PLUGIN);
    assert.equal(await row(webview, 'libplugin.so').locator('button.toggle').getAttribute('aria-expanded'), 'true');
    assert.equal(await webview.page.textContent('#regions tr.sources'), 'Reading debug info…');
    assert.equal(await webview.page.getAttribute('#regions tr.sources [role=group]', 'aria-busy'), 'true');
    await webview.post({ type: 'sourcesReply', id: ask.id, sources: PLUGIN_SOURCES });
    await webview.page.waitForSelector('#regions li.source-file');
  });

  test('lists workspace files first, links the ones that can be opened, and names the backend', async () => {
    const items = await webview.page.$$eval('#regions li.source-file', (lis) => lis.map((li) => [li.textContent, li.querySelector('a') !== null]));
    assert.deepEqual(items, [
      ['/home/user/project/plugin.c', true],
      ['/home/user/project/util.h', true],
      ['/usr/include/stdio.h', true],
      ['/build/glibc-2.39/libio/genops.c', false],
    ]);
    assert.equal(await webview.hook((h) => h.sourcesListed), 4);
    assert.equal(await webview.page.textContent('#regions tr.sources .backend'), PLUGIN_SOURCES.backend);
    // The nested row is the one the button controls.
    const controls = await row(webview, 'libplugin.so').locator('button.toggle').getAttribute('aria-controls');
    assert.equal(await webview.page.getAttribute('#regions tr.sources', 'id'), controls);
    await webview.page.click('#regions li.source-file >> text="/home/user/project/util.h"');
    assert.deepEqual((await webview.posted()).at(-1), { type: 'openFile', path: '/home/user/project/util.h' });
  });

  test('the toggle works from the keyboard, keeps the focus, and an answered region is not asked again', async () => {
    const toggle = row(webview, 'libplugin.so').locator('button.toggle');
    await toggle.focus();
    await webview.page.keyboard.press('Enter');
    await webview.page.waitForFunction(() => document.querySelectorAll('#regions tr.sources').length === 0);
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await webview.hook((h) => h.sourcesListed), 0);
    assert.equal(await webview.page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Source files of libplugin.so', 'the focus stays on the toggle');
    await webview.page.keyboard.press('Space');
    await webview.page.waitForSelector('#regions li.source-file');
    assert.equal(await webview.hook((h) => h.sourcesListed), 4);
    assert.equal((await webview.posted()).filter((m) => m.type === 'regionSources').length, 1);
  });

  test('a region without debug info shows the host sentence instead of files', async () => {
    await row(webview, 'libc.so.6').locator('button.toggle').click();
    const asks = await webview.postedOf('regionSources', 2);
    assert.deepEqual(asks[1].region, await shownRegion(webview, 'libc.so.6'));
    assert.deepEqual(asks[1].region, LIBC);
    const missing = 'libc.so.6 has no debug info: install libc6-dbg, or set debuginfod-urls so the symbolizer can fetch it.';
    await webview.post({ type: 'sourcesReply', id: asks[1].id, sources: { files: [], missing, backend: 'addr2line (binutils): install llvm for file lists' } });
    await webview.page.waitForFunction(() => document.querySelector('#regions tr.sources .missing') !== null);
    assert.equal(await webview.page.textContent('#regions tr.sources .missing'), missing);
    assert.equal(await webview.hook((h) => h.sourcesListed), 4, 'only libplugin.so lists files');
  });

  test('a reply that never comes leaves the row waiting, and expanding again asks again', async () => {
    const toggle = row(webview, 'server').locator('button.toggle');
    await toggle.click();
    const first = (await webview.postedOf('regionSources', 3))[2];
    assert.deepEqual(first.region, SERVER);
    await webview.page.waitForSelector('#regions tr.sources >> text=Reading debug info…');
    await toggle.click();
    await toggle.click();
    const second = (await webview.postedOf('regionSources', 4))[3];
    assert.notEqual(second.id, first.id);
    assert.deepEqual(second.region, SERVER);
    await webview.post({ type: 'sourcesReply', id: second.id, sources: { files: [{ path: '/src/server/main.c', inWorkspace: false, exists: false }], backend: 'b' } });
    await webview.page.waitForSelector('#regions li.source-file >> text="/src/server/main.c"');
  });
});

describe('webview: reveal of a region', () => {
  test('selects the process at that moment, then highlights, scrolls to and expands the row', async () => {
    const webview = await WebviewPage.open();
    try {
      await webview.open(EVENTS, small.bytes.byteLength);
      await webview.sendRecords(small.bytes, small.bytes.byteLength);
      await webview.drawn(small.count);
      await webview.post({ type: 'reveal', pid: 200, time: 4_500_000, region: '7f0000000000' });
      await webview.page.waitForSelector('#regions tr.revealed');
      assert.match((await webview.page.textContent('#regions-subtitle')) ?? '', /worker \(pid 200\) at \+3\.5 ms: 3 regions$/);
      assert.equal(await webview.page.locator('#regions tr.revealed').count(), 1);
      assert.equal(await webview.page.textContent('#regions tr.revealed .addr'), '7f0000000000–7f0000020000');
      assert.equal(await webview.page.getAttribute('#regions tr.revealed', 'aria-current'), 'true');
      assert.equal(await webview.page.getAttribute('#regions tr.revealed button.toggle', 'aria-expanded'), 'true');
      const [ask] = await webview.postedOf('regionSources');
      assert.deepEqual(ask.region, LIBC);
      // Highlighted with the theme's selection colour.
      const background = await webview.page.$eval('#regions tr.revealed td', (td) => getComputedStyle(td).backgroundColor);
      assert.equal(background, 'rgb(55, 55, 61)');
      // A region no row starts at is said so.
      await webview.post({ type: 'reveal', pid: 200, time: 4_500_000, region: '500800' });
      await webview.page.waitForFunction(() => document.getElementById('regions-subtitle')?.textContent?.endsWith('none listed starts at 500800'));
      assert.equal(await webview.page.locator('#regions tr.revealed').count(), 0);
    } finally {
      await webview.close();
    }
  });
});

describe('webview: malformed replies', () => {
  test('a reply without its answer, or of the wrong kind, is refused and reported as invalid', async () => {
    const webview = await withWorkerSelected();
    try {
      await row(webview, 'libplugin.so').locator('button.toggle').click();
      const [ask] = await webview.postedOf('regionSources');
      await webview.post({ type: 'sourcesReply', id: ask.id });
      const [invalid] = await webview.postedOf('invalid');
      assert.match(String(invalid.message), /'sourcesReply' message has a missing or invalid 'sources'/);
      await webview.post({ type: 'resolveReply', id: ask.id, resolution: { frames: [], backend: 'b' } });
      const invalids = await webview.postedOf('invalid', 2);
      assert.match(String(invalids[1].message), new RegExp(`'resolveReply' message answers request ${ask.id}, which only a 'sourcesReply' answers`));
      // Still waiting, and still answerable.
      assert.equal(await webview.page.textContent('#regions tr.sources'), 'Reading debug info…');
      await webview.post({ type: 'sourcesReply', id: ask.id, sources: PLUGIN_SOURCES });
      await webview.page.waitForSelector('#regions li.source-file');
    } finally {
      await webview.close();
    }
  });
});
