// The regions panel's questions to the host, in headless Chromium: source
// files of a region, and an address resolved to frames. The test is the
// host: it reads what the page posts and answers it.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RESULTS_DIR, WebviewPage } from './harness';
import { EVENTS, LIFETIME_EVENTS, START, lifetimesCapture, smallCapture } from './streams';
import { THEMES, ThemeName } from './themes';

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

const PLUGIN_FRAMES = {
  frames: [
    { function: 'checksum_block', file: '/home/user/project/util.h', line: 12, column: 5, inWorkspace: true, exists: true },
    { function: 'plugin_write', file: '/home/user/project/plugin.c', line: 40, inWorkspace: true, exists: true },
    { function: 'plugin_entry', file: '/build/plugin/entry.c', line: 7, inWorkspace: false, exists: false },
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

async function resolve(webview: WebviewPage, text: string): Promise<void> {
  await webview.page.fill('#address', text);
  await webview.page.press('#address', 'Enter');
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
    assert.equal(ask.pid, 200, 'the process: its mount namespace says which file the path names');
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
    assert.equal(await webview.page.locator('#regions tr.sources .read-from').count(), 0, 'no file named when the host names none');
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
    const read = { path: '/proc/200/root/usr/lib/libc.so.6', via: "/usr/lib/libc.so.6 in pid 200's mount namespace mnt:[4026532200], not ours" };
    await webview.post({ type: 'sourcesReply', id: asks[1].id, sources: { files: [], missing, backend: 'addr2line (binutils): install llvm for file lists', read } });
    await webview.page.waitForFunction(() => document.querySelector('#regions tr.sources .missing') !== null);
    assert.equal(await webview.page.textContent('#regions tr.sources .missing'), missing);
    assert.equal(await webview.page.textContent('#regions tr.sources .read-from'), `Read from ${read.path}: ${read.via}`, 'says which file was read');
    assert.equal(await webview.hook((h) => h.sourcesListed), 4, 'only libplugin.so lists files');
  });

  test('a reply that never comes leaves the row waiting, and expanding again asks again', async () => {
    const toggle = row(webview, 'server').locator('button.toggle');
    await toggle.click();
    const first = (await webview.postedOf('regionSources', 3))[2];
    assert.deepEqual(first.region, SERVER);
    await webview.page.waitForSelector('#regions tr.sources >> text=Reading debug info…');
    // The rest of the panel still works while it waits.
    await resolve(webview, 'zz');
    await webview.page.waitForSelector('#address-error:not([hidden])');
    await toggle.click();
    await toggle.click();
    const second = (await webview.postedOf('regionSources', 4))[3];
    assert.notEqual(second.id, first.id);
    assert.deepEqual(second.region, SERVER);
    await webview.post({ type: 'sourcesReply', id: second.id, sources: { files: [{ path: '/src/server/main.c', inWorkspace: false, exists: false }], backend: 'b' } });
    await webview.page.waitForSelector('#regions li.source-file >> text="/src/server/main.c"');
  });
});

describe('webview: the address field', () => {
  let webview: WebviewPage;
  before(async () => (webview = await withWorkerSelected()));
  after(() => webview.close());

  test('is disabled, and says why, until a process is selected', async () => {
    const page = await WebviewPage.open();
    try {
      await page.open(EVENTS, small.bytes.byteLength);
      await page.sendRecords(small.bytes, small.bytes.byteLength);
      await page.drawn(small.count);
      assert.equal(await page.page.isDisabled('#address'), true);
      assert.equal(await page.page.isDisabled('#address-resolve'), true);
      assert.match((await page.page.getAttribute('#address', 'placeholder')) ?? '', /Select a process/);
    } finally {
      await page.close();
    }
    assert.equal(await webview.page.isDisabled('#address'), false);
    assert.equal(await webview.page.getAttribute('#address', 'placeholder'), 'Address, hex');
  });

  test('junk gets an inline message, and nothing is asked', async () => {
    const before = (await webview.posted()).length;
    await resolve(webview, '0xfoo');
    await webview.page.waitForSelector('#address-error:not([hidden])');
    assert.match((await webview.page.textContent('#address-error')) ?? '', /“0xfoo” is not an address: write hex digits/);
    assert.equal(await webview.page.getAttribute('#address', 'aria-invalid'), 'true');
    assert.equal((await webview.posted()).length, before);
    await webview.page.fill('#address', '500');
    assert.equal(await webview.page.isHidden('#address-error'), true, 'typing clears the message');
  });

  test('an unmapped address is answered here, without asking the host', async () => {
    const before = (await webview.posted()).length;
    await resolve(webview, '0x600000');
    await webview.page.waitForSelector('#address-answer .unmapped');
    assert.equal(await webview.page.textContent('#address-answer'), '0x600000 is not mapped in pid 200 at that moment.');
    // The end of a region is not in it.
    await resolve(webview, '501000');
    await webview.page.waitForSelector('#address-answer >> text=0x501000 is not mapped');
    assert.equal((await webview.posted()).length, before);
  });

  test('a mapped address is sent with its region; frames come back innermost first, with links', async () => {
    await resolve(webview, '0x500ABC');
    const [ask] = await webview.postedOf('resolveAddress');
    assert.deepEqual(ask, { type: 'resolveAddress', id: ask.id, pid: 200, address: '500abc', region: await shownRegion(webview, 'libplugin.so') });
    assert.deepEqual(ask.region, PLUGIN);
    assert.match((await webview.page.textContent('#address-answer')) ?? '', /0x500abc in \/home\/user\/project\/libplugin\.so \(pid 200, file offset 0xabc\)Resolving…/);
    const read = { path: '/proc/200/map_files/500000-501000', via: "the file pid 200 maps there (its mount namespace mnt:[4026532200] is not ours)" };
    await webview.post({ type: 'resolveReply', id: ask.id, resolution: { ...PLUGIN_FRAMES, read } });
    await webview.page.waitForSelector('#address-answer ol.frames');
    assert.equal(await webview.page.textContent('#address-answer .read-from'), `Read from ${read.path}: ${read.via}`, 'says which file was read');
    const frames = await webview.page.$$eval('#address-answer li.frame', (lis) => lis.map((li) => [li.textContent, li.querySelector('a') !== null]));
    assert.deepEqual(frames, [
      ['checksum_block /home/user/project/util.h:12', true],
      ['inlined into plugin_write /home/user/project/plugin.c:40', true],
      ['inlined into plugin_entry /build/plugin/entry.c:7', false],
    ]);
    assert.equal(await webview.hook((h) => h.resolvedFrames), 3);
    assert.equal(await webview.page.textContent('#address-answer .backend'), PLUGIN_FRAMES.backend);
    assert.equal(await webview.page.getAttribute('#address-answer', 'aria-live'), 'polite');
    assert.equal((await webview.posted()).filter((m) => m.type === 'openFile').length, 0, 'nothing is opened unasked');
    await webview.page.click('#address-answer a >> text="/home/user/project/plugin.c:40"');
    assert.deepEqual((await webview.posted()).at(-1), { type: 'openFile', path: '/home/user/project/plugin.c', line: 40 });
  });

  test('only the last question is answered; an error is shown as the host words it', async () => {
    await resolve(webview, '7f0000001000');
    await resolve(webview, '7f0000002000');
    const asks = await webview.postedOf('resolveAddress', 3);
    assert.deepEqual(
      asks.slice(1).map((m) => [m.address, m.region]),
      [
        ['7f0000001000', LIBC],
        ['7f0000002000', LIBC],
      ],
    );
    const error = 'libc.so.6 has no symbols for 0x2000: install libc6-dbg.';
    await webview.post({ type: 'resolveReply', id: asks[2].id, resolution: { frames: [], error, backend: 'addr2line' } });
    await webview.page.waitForSelector('#address-answer .error');
    assert.equal(await webview.page.textContent('#address-answer .error'), error);
    assert.equal(await webview.hook((h) => h.resolvedFrames), 0);
    // The earlier question's answer, late: dropped.
    await webview.post({ type: 'resolveReply', id: asks[1].id, resolution: PLUGIN_FRAMES });
    await webview.nextFrame();
    assert.equal(await webview.page.textContent('#address-answer .error'), error);
    assert.equal(await webview.hook((h) => h.resolvedFrames), 0);
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

describe('webview: regions that ended, in the panel and the timeline', () => {
  const lifetimes = lifetimesCapture();
  let webview: WebviewPage;
  before(async () => (webview = await WebviewPage.showing(LIFETIME_EVENTS, lifetimes)));
  after(() => webview.close());

  /** The table's rows at a moment of pid 300, as [class, address, file, how it ended]. */
  async function rowsAt(time: number): Promise<string[][]> {
    await webview.post({ type: 'reveal', pid: 300, time });
    await webview.page.waitForFunction((t) => document.querySelector('#regions-subtitle')?.textContent?.includes(t), `at +${(time - START) / 1e6} ms`);
    return webview.page.$$eval('#regions tbody tr', (rows) =>
      rows.map((r) => [r.className, r.querySelector('.addr')?.textContent ?? '', r.querySelector('.file')?.getAttribute('title') ?? '', r.querySelector('.ended')?.textContent ?? '']),
    );
  }

  test('the regions mapped at the selected moment, from regionsAt: what munmap, mprotect and mremap removed is not listed', async () => {
    assert.deepEqual(await rowsAt(START + 6_000_000), [
      ['region status-only', '400000–402000', '/usr/bin/app', ''],
      ['region status-only', '500000–501000', '/tmp/code', ''],
      ['region status-only', '600000–603000', '/tmp/code', ''],
    ]);
    assert.equal(await webview.page.isChecked('#regions-show-ended'), false, '"Show ended" starts unchecked');
    assert.equal(await webview.hook((h) => h.endedListed), 0);
  });

  test('"Show ended" adds, greyed and latest first, what ended before the moment, with when and how', async () => {
    await webview.page.check('#regions-show-ended');
    await webview.page.waitForFunction(() => document.querySelectorAll('#regions tr.ended-region').length === 4);
    const rows = await rowsAt(START + 6_000_000);
    assert.deepEqual(rows.slice(3), [
      ['ended-region status-only', '7f1000000000–7f1000001000', '/tmp/libvanish.so', ' · gone between +0 and +5 ms (found by a status snapshot)'],
      ['ended-region status-only', '502000–504000', '/tmp/code', ' · moved at +3 ms (mremap)'],
      ['ended-region status-only', '501000–502000', '/tmp/code', ' · no longer executable at +2 ms (mprotect)'],
      ['ended-region status-only', '7f0000000000–7f0000003000', '/tmp/libgone.so', ' · unmapped at +1 ms (munmap)'],
    ]);
    assert.deepEqual(await webview.hook((h) => [h.regionsListed, h.endedListed]), [3, 4]);
    assert.match((await webview.page.textContent('#regions-subtitle')) ?? '', /: 3 regions, 4 ended before$/);
    const color = (selector: string) => webview.page.$eval(selector, (td) => getComputedStyle(td).color);
    assert.notEqual(await color('#regions tr.ended-region td.file'), await color('#regions tr.region td.file'), 'ended rows are greyed');
  });

  test('an earlier moment lists what was mapped then, and only what had ended by then', async () => {
    assert.deepEqual(await rowsAt(START + 2_500_000), [
      ['region status-only', '400000–402000', '/usr/bin/app', ''],
      ['region status-only', '500000–501000', '/tmp/code', ''],
      ['region status-only', '502000–504000', '/tmp/code', ''],
      ['region status-only', '7f1000000000–7f1000001000', '/tmp/libvanish.so', ''],
      ['ended-region status-only', '501000–502000', '/tmp/code', ' · no longer executable at +2 ms (mprotect)'],
      ['ended-region status-only', '7f0000000000–7f0000003000', '/tmp/libgone.so', ' · unmapped at +1 ms (munmap)'],
    ]);
  });

  test('unchecked, the ended rows go', async () => {
    await webview.page.uncheck('#regions-show-ended');
    await webview.page.waitForFunction(() => document.querySelectorAll('#regions tr.ended-region').length === 0);
    assert.deepEqual(await webview.hook((h) => [h.regionsListed, h.endedListed]), [4, 0]);
  });

  test("the timeline draws the selected process's region lifetimes, and a band's tooltip names its file and how it ended", async () => {
    await webview.post({ type: 'reveal', pid: 300, time: START + 6_000_000 });
    // Home shows the whole capture, every band in view.
    await webview.page.focus('#timeline');
    await webview.page.keyboard.press('Home');
    await webview.page.waitForFunction(() => (window as unknown as { __sidebandTimeline: { lifetimeBands(): Array<{ x: number }> } }).__sidebandTimeline.lifetimeBands().some((b) => b.x > 0));
    const bands = await webview.hook((h) => h.lifetimeBands());
    assert.deepEqual(bands.map((b) => `${b.filename} ${b.ended}`).sort(), [
      '/tmp/code ',
      '/tmp/code ',
      '/tmp/code mprotect',
      '/tmp/code mremap',
      '/tmp/libgone.so munmap',
      '/tmp/libvanish.so gone',
      '/usr/bin/app ',
    ]);
    const gone = bands.find((b) => b.filename === '/tmp/libgone.so')!;
    await webview.page.mouse.move(gone.x, gone.y);
    await webview.page.waitForSelector('#tooltip:not([hidden])');
    assert.deepEqual(await webview.page.$$eval('#tooltip div', (lines) => lines.map((l) => l.textContent)), ['/tmp/libgone.so', '7f0000000000–7f0000003000, mapped at +0', 'unmapped at +1 ms (munmap)']);
  });
});

describe('webview: regions in themes', () => {
  for (const theme of Object.keys(THEMES) as ThemeName[]) {
    test(`an expanded region and a resolved address in ${theme}: screenshot to test-results/webview/regions-${theme}.png`, async () => {
      const webview = await withWorkerSelected({ theme });
      try {
        const describe = (await webview.postedOf('describeFiles'))[0];
        await webview.post({ type: 'reply', id: describe.id, files: [{ path: PLUGIN.filename, inWorkspace: true, buildId: '0123456789abcdef0123' }] });
        await webview.page.waitForSelector('#regions a.file-link');
        await webview.post({ type: 'reveal', pid: 200, time: 4_500_000, region: PLUGIN.start });
        const [ask] = await webview.postedOf('regionSources');
        await webview.post({ type: 'sourcesReply', id: ask.id, sources: PLUGIN_SOURCES });
        await webview.page.waitForSelector('#regions li.source-file');
        await resolve(webview, '0x500abc');
        const [question] = await webview.postedOf('resolveAddress');
        await webview.post({ type: 'resolveReply', id: question.id, resolution: PLUGIN_FRAMES });
        await webview.page.waitForSelector('#address-answer ol.frames');
        await row(webview, 'server').locator('button.toggle').focus();
        await webview.screenshot(path.join(RESULTS_DIR, `regions-${theme}.png`));
      } finally {
        await webview.close();
      }
    });
  }
});
