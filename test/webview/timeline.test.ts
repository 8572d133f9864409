// The webview in headless Chromium, fed synthetic streams as the host would
// feed them. Needs /usr/bin/chromium and the bundle (npm run test:webview).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RESULTS_DIR, WebviewPage } from './harness';
import { EVENTS, HOSTILE_COMM, LIFETIME_EVENTS, START, busyCapture, lifetimesCapture, mapping, smallCapture } from './streams';
import { comm, concat, mmap2 } from '../fixtures/records';
import { THEMES, ThemeName } from './themes';
import { openPerfData } from '../../node/perfdata/reader';
import { PerfDataWriter } from '../../node/perfdata/writer';
import { MAX_BATCHES_IN_FLIGHT, TimelineFollower } from '../../node/timelineFeed';

const small = smallCapture();

/** Opens a page and feeds it the small capture, in one batch unless told. */
const withSmallCapture = (batchBytes?: number): Promise<WebviewPage> => WebviewPage.showing(EVENTS, small, batchBytes);

const rgbOf = (color: string): number[] => [1, 3, 5].map((k) => parseInt(color.slice(k, k + 2), 16));
const near = (pixel: number[], rgb: number[], tolerance = 24): boolean => rgb.every((c, k) => Math.abs(pixel[k] - c) <= tolerance);

describe('webview: loading', () => {
  let webview: WebviewPage;
  before(async () => (webview = await withSmallCapture()));
  after(() => webview.close());

  test('says it is ready, indexes every record, and says when they are drawn', async () => {
    const posted = await webview.posted();
    assert.deepEqual(posted[0], { type: 'ready' });
    const drawn = posted.filter((m) => m.type === 'drawn');
    assert.ok(drawn.length >= 1, 'a drawn message');
    assert.deepEqual(drawn.at(-1), { type: 'drawn', records: small.count, newestTime: 7_000_000 });
    assert.equal(await webview.hook((h) => h.recordsIndexed), small.count);
    assert.equal(await webview.hook((h) => h.statusIndexed), 4);
    // global, 100, 200
    assert.equal(await webview.hook((h) => h.lanes), 3);
  });

  test("fed by the host's own file path, it acknowledges each batch it stored, and the host sends the rest as it does", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webview-follow-'));
    const page = await WebviewPage.open();
    try {
      const file = path.join(dir, 'small.data');
      const writer = PerfDataWriter.open(file, { events: EVENTS.map((e) => ({ attr: e.attr, ids: e.ids, name: 'dummy:u' })) });
      writer.append(small.bytes);
      writer.abandon();
      let follower: TimelineFollower | undefined;
      const sink = page.sink((end) => follower?.stored(end));
      // Batches of one record each: many more than may be in flight at once.
      follower = new TimelineFollower(openPerfData(file), sink, { title: 'small.data', warnings: [], chunkBytes: 64 });
      // More than the host sends unacknowledged: they come only if the acknowledgements go back.
      await page.postedOf('stored', MAX_BATCHES_IN_FLIGHT + 1);
      assert.equal((await follower.done).end, 'read');
      await sink.delivered;
      await page.drawn(small.count);
      const ends = (await page.postedOf('stored')).map((m) => m.end as number);
      assert.ok(ends.length > 4, `${ends.length} batches, each acknowledged`);
      assert.deepEqual(ends, [...ends].sort((a, b) => a - b));
      assert.equal(ends.at(-1), small.bytes.byteLength, 'the last acknowledgement is the end of the stream');
    } finally {
      await page.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the status line counts records, status-only ones and LOST', async () => {
    const status = await webview.page.textContent('#status');
    assert.match(status ?? '', /12 records · 4 status-only · 1 LOST \(17 records lost\) · 2 processes/);
  });
});

describe('webview: status-only and real records', () => {
  let webview: WebviewPage;
  before(async () => (webview = await withSmallCapture()));
  after(() => webview.close());

  test('draws status-only records as hollow diamonds and real ones as filled circles', async () => {
    const dark = THEMES.dark.variables;
    assert.deepEqual(await webview.hook((h) => [h.statusDrawn, h.realDrawn]), [4, 8]);
    const status = await webview.position(small.records.statusApp);
    const real = await webview.position(small.records.rename);
    // Hollow: the middle of the diamond is the background, its edge the kind's color (MMAP: blue).
    assert.ok(near(await webview.pixel(status.x, status.y), rgbOf(dark['--vscode-editor-background'])), 'status mark is hollow');
    assert.ok(near(await webview.pixel(status.x + 2.5, status.y - 2.5), rgbOf(dark['--vscode-charts-blue']), 90), 'status mark has an outline');
    // Filled: the middle of the circle is the kind's color (COMM: yellow).
    assert.ok(near(await webview.pixel(real.x, real.y), rgbOf(dark['--vscode-charts-yellow'])), 'real mark is filled');
  });

  test('the status-only filter hides status records and keeps real ones', async () => {
    const status = await webview.position(2);
    await webview.page.click('#filter-status');
    await webview.nextFrame();
    assert.deepEqual(await webview.hook((h) => [h.statusDrawn, h.realDrawn]), [0, 8]);
    assert.ok(near(await webview.pixel(status.x + 2.5, status.y - 2.5), rgbOf(THEMES.dark.variables['--vscode-editor-background'])), 'its outline is gone');
    await webview.page.click('#filter-status');
    await webview.page.click('#filter-mmap');
    await webview.nextFrame();
    // Three MMAP2 records hidden: two status, one real (LOST and the rest stay).
    assert.deepEqual(await webview.hook((h) => [h.statusDrawn, h.realDrawn]), [2, 6]);
    await webview.page.click('#filter-mmap');
  });
});

describe("webview: the mapping syscalls' samples", () => {
  const lifetimes = lifetimesCapture();
  let webview: WebviewPage;
  before(async () => (webview = await WebviewPage.showing(LIFETIME_EVENTS, lifetimes)));
  after(() => webview.close());

  test('are marks of their own kind, orange, which the legend names and its filter hides', async () => {
    const at = await webview.position(lifetimes.records.munmap);
    assert.ok(near(await webview.pixel(at.x, at.y), rgbOf(THEMES.dark.variables['--vscode-charts-orange'])), 'the munmap is an orange mark');
    assert.equal(await webview.page.textContent('label:has(#filter-unmap)'), 'munmap · mremap · mprotect · brk');
    const shown = await webview.hook((h) => h.realDrawn);
    await webview.page.click('#filter-unmap');
    await webview.nextFrame();
    // Three calls, each an entry and an exit.
    assert.equal(await webview.hook((h) => h.realDrawn), shown - 6);
    await webview.page.click('#filter-unmap');
  });
});

describe('webview: hover and selection', () => {
  let webview: WebviewPage;
  before(async () => (webview = await withSmallCapture()));
  after(() => webview.close());

  test('the tooltip shows a hostile comm as text, never as markup', async () => {
    let dialogs = 0;
    webview.page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    const at = await webview.position(small.records.rename);
    await webview.page.mouse.move(at.x, at.y);
    await webview.page.waitForSelector('#tooltip:not([hidden])');
    const text = await webview.page.textContent('#tooltip');
    assert.ok(text?.includes(`comm ${HOSTILE_COMM}`), text ?? '');
    assert.ok(text?.includes('real record'));
    assert.equal(await webview.page.locator('img').count(), 0);
    assert.equal(dialogs, 0);
  });

  test('the tooltip of a /proc record says so and names its stale reason', async () => {
    const at = await webview.position(small.records.statusLibc);
    await webview.page.mouse.move(at.x, at.y);
    await webview.page.waitForFunction(() => document.getElementById('tooltip')?.textContent?.includes('libc'));
    const text = await webview.page.textContent('#tooltip');
    assert.match(text ?? '', /status-only, from \/proc\s+— possibly stale: race/);
    assert.match(text ?? '', /MMAP2\s+\+600 µs/);
  });

  test('clicking a record lists its process regions at its time, inherited ones included', async () => {
    const at = await webview.position(small.records.plugin);
    await webview.page.mouse.click(at.x, at.y);
    await webview.page.waitForFunction(() => document.querySelectorAll('#regions tr.region').length === 3);
    const rows = await webview.page.$$eval('#regions tr.region', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)));
    assert.deepEqual(rows, [
      ['400000–402000', 'r-xp', '0', 'server', '—', '◇status · ioctl · from 100'],
      ['500000–501000', 'r-xp', '0', 'libplugin.so', '—', '●real'],
      ['7f0000000000–7f0000020000', 'r-xp', '0', 'libc.so.6', '—', '◇status · /proc · from 100 ! race'],
    ]);
    const paths = await webview.page.$$eval('#regions tr.region .file', (tds) => tds.map((td) => td.getAttribute('title')));
    assert.deepEqual(paths, ['/usr/bin/server', '/home/user/project/libplugin.so', '/usr/lib/libc.so.6']);
    assert.match((await webview.page.textContent('#regions-subtitle')) ?? '', /worker \(pid 200\) at \+3\.5 ms: 3 regions/);
    assert.equal(await webview.hook((h) => h.regionsListed), 3);
  });

  test('asks the host about the files, shows build-ids and links files in the workspace', async () => {
    const ask = (await webview.posted()).find((m) => m.type === 'describeFiles') as { id: number; paths: string[] } | undefined;
    assert.ok(ask, 'a describeFiles request');
    assert.deepEqual([...ask.paths].sort(), ['/home/user/project/libplugin.so', '/usr/bin/server', '/usr/lib/libc.so.6']);
    await webview.post({
      type: 'reply',
      id: ask.id,
      files: [
        { path: '/home/user/project/libplugin.so', inWorkspace: true, buildId: '0123456789abcdef0123' },
        { path: '/usr/bin/server', inWorkspace: false },
      ],
    });
    await webview.page.waitForSelector('#regions a.file-link');
    assert.equal(await webview.page.textContent('#regions tr.region:nth-child(2) .build-id'), '0123456789ab');
    assert.equal(await webview.page.locator('#regions a.file-link').count(), 1);
    await webview.page.click('#regions a.file-link');
    assert.deepEqual((await webview.posted()).at(-1), { type: 'openFile', path: '/home/user/project/libplugin.so' });
  });

  test('a later moment of the parent shows the mapping laid over part of libc', async () => {
    const at = await webview.position(small.records.over);
    await webview.page.mouse.click(at.x, at.y);
    await webview.page.waitForFunction(() => document.getElementById('regions-subtitle')?.textContent?.includes('pid 100'));
    const regions = await webview.page.$$eval('#regions tr.region', (trs) => trs.map((tr) => `${tr.querySelector('.addr')?.textContent} ${tr.querySelector('.pgoff')?.textContent} ${tr.querySelector('.file')?.textContent}`));
    assert.deepEqual(regions, ['400000–402000 0 server', '7f0000000000–7f0000008000 0 libc.so.6', '7f0000008000–7f000000c000 0 over', '7f000000c000–7f0000020000 c000 libc.so.6']);
  });
});

describe('webview: invalid input', () => {
  test('a malformed message posts invalid and shows one banner, keeping what was drawn', async () => {
    const webview = await withSmallCapture();
    try {
      await webview.post({ type: 'records', offset: 'nowhere' });
      await webview.page.waitForSelector('#banner:not([hidden])');
      assert.match((await webview.page.textContent('#banner')) ?? '', /'records' message has a missing or invalid 'offset'/);
      // A record whose size is not a multiple of 8, where the next record belongs.
      const bad = new Uint8Array(16);
      new DataView(bad.buffer).setUint32(0, 3, true);
      new DataView(bad.buffer).setUint32(4, 12 << 16, true);
      await webview.post({ type: 'records', offset: small.bytes.byteLength }, { bytes: bad });
      await webview.page.waitForFunction(() => document.getElementById('banner')?.textContent?.includes('2 messages'));
      const invalid = (await webview.posted()).filter((m) => m.type === 'invalid');
      assert.equal(invalid.length, 2);
      assert.match(String(invalid[1].message), /COMM record's header.size is 12, not a multiple of 8/);
      assert.equal(await webview.page.locator('#banner').count(), 1);
      assert.equal(await webview.hook((h) => h.recordsIndexed), small.count);
      await webview.nextFrame();
      assert.deepEqual(await webview.hook((h) => [h.statusDrawn, h.realDrawn]), [4, 8]);
    } finally {
      await webview.close();
    }
  });

  test('a batch that does not follow the previous one is refused', async () => {
    const webview = await withSmallCapture();
    try {
      await webview.post({ type: 'records', offset: small.bytes.byteLength + 8 }, { bytes: new Uint8Array(8) });
      await webview.page.waitForSelector('#banner:not([hidden])');
      const end = small.bytes.byteLength;
      assert.match((await webview.page.textContent('#banner')) ?? '', new RegExp(`starts at byte ${end + 8}, but the stream so far ends at byte ${end}`));
    } finally {
      await webview.close();
    }
  });
});

describe('webview: end of stream', () => {
  test('after ended, records still read back and a further batch is refused', async () => {
    const webview = await withSmallCapture();
    try {
      await webview.post({ type: 'ended', message: 'file read' });
      await webview.page.waitForFunction(() => document.getElementById('status')?.textContent?.endsWith('file read'));
      const at = await webview.position(small.records.plugin);
      await webview.page.mouse.move(at.x, at.y);
      await webview.page.waitForSelector('#tooltip:not([hidden])');
      assert.ok((await webview.page.textContent('#tooltip'))?.includes('/home/user/project/libplugin.so'));
      await webview.post({ type: 'records', offset: small.bytes.byteLength }, { bytes: new Uint8Array(8) });
      await webview.page.waitForSelector('#banner:not([hidden])');
      assert.match((await webview.page.textContent('#banner')) ?? '', /after the stream ended/);
    } finally {
      await webview.close();
    }
  });
});

describe('webview: records spanning batches', () => {
  test('batches cut anywhere, down to single bytes, index the same records as one batch', async () => {
    for (const batchBytes of [13, 1, 100]) {
      const webview = await withSmallCapture(batchBytes);
      try {
        assert.equal(await webview.hook((h) => h.recordsIndexed), small.count, `batches of ${batchBytes}`);
        assert.deepEqual(await webview.hook((h) => [h.lanes, h.statusDrawn, h.realDrawn]), [3, 4, 8], `batches of ${batchBytes}`);
        const at = await webview.position(11);
        await webview.page.mouse.move(at.x, at.y);
        await webview.page.waitForSelector('#tooltip:not([hidden])');
        assert.ok((await webview.page.textContent('#tooltip'))?.includes('/tmp/over'), `a record read back across batches of ${batchBytes}`);
      } finally {
        await webview.close();
      }
    }
  });
});

describe('webview: zoom and pan', () => {
  let webview: WebviewPage;
  before(async () => (webview = await withSmallCapture()));
  after(() => webview.close());
  const view = () => webview.hook((h) => h.view);

  test('keys zoom, pan and reset', async () => {
    const full = await view();
    await webview.page.focus('#timeline');
    await webview.page.keyboard.press('+');
    const zoomed = await view();
    assert.ok(Math.abs((full.end - full.start) / (zoomed.end - zoomed.start) - 1.5) < 1e-6, 'zoomed in 1.5x');
    await webview.page.keyboard.press('ArrowRight');
    const panned = await view();
    assert.ok(panned.start > zoomed.start, 'panned right');
    assert.equal(panned.end - panned.start, zoomed.end - zoomed.start);
    await webview.page.keyboard.press('Home');
    assert.deepEqual(await view(), full);
  });

  test('ctrl+wheel zooms at the pointer, wheel and drag pan', async () => {
    const full = await view();
    const box = (await webview.page.locator('#timeline').boundingBox())!;
    // Whole pixels: the wheel event's clientX is rounded.
    const x = Math.round(box.x + box.width * 0.6);
    const y = Math.round(box.y + 60);
    await webview.page.mouse.move(x, y);
    const pointerTime = full.start + ((x - box.x - 190) / (box.width - 190)) * (full.end - full.start);
    await webview.page.keyboard.down('Control');
    await webview.page.mouse.wheel(0, -300);
    await webview.page.keyboard.up('Control');
    await webview.nextFrame();
    const zoomed = await view();
    assert.ok(zoomed.end - zoomed.start < (full.end - full.start) / 1.5, 'zoomed in');
    const stillUnderPointer = zoomed.start + ((x - box.x - 190) / (box.width - 190)) * (zoomed.end - zoomed.start);
    assert.ok(Math.abs(stillUnderPointer - pointerTime) < (zoomed.end - zoomed.start) * 1e-6, 'the time under the pointer stays there');
    await webview.page.mouse.wheel(0, 100);
    await webview.nextFrame();
    const wheeled = await view();
    assert.ok(wheeled.start > zoomed.start, 'plain wheel pans');
    await webview.page.mouse.move(x, y);
    await webview.page.mouse.down();
    await webview.page.mouse.move(x + 200, y, { steps: 5 });
    await webview.page.mouse.up();
    await webview.nextFrame();
    const dragged = await view();
    assert.ok(dragged.start < wheeled.start, 'dragging right shows earlier times');
    assert.ok(Math.abs(dragged.end - dragged.start - (wheeled.end - wheeled.start)) < 1e-3);
  });
});

describe('webview: themes', () => {
  for (const theme of Object.keys(THEMES) as ThemeName[]) {
    test(`looks right in ${theme}: screenshot to test-results/webview/${theme}.png`, async () => {
      const webview = await WebviewPage.open({ theme });
      try {
        const busy = busyCapture(4000, 0.05);
        await webview.open(EVENTS, busy.bytes.byteLength, 'make -j8 (pid 1000)', true, []);
        await webview.post({ type: 'snapshot', snapshot: { index: 1, path: 'proc', start: START, end: START + 12_000, processes: 1, records: 27, stale: 1 } });
        await webview.sendRecords(busy.bytes, 64 * 1024);
        await webview.post({ type: 'marker', time: START + 20_000_000, kind: 'stopped', label: 'breakpoint main.c:42' });
        await webview.post({ type: 'marker', time: START + 26_000_000, kind: 'continued', label: 'continued' });
        await webview.post({ type: 'stats', stats: { records: busy.count, statusRecords: 27, lost: 12 } });
        await webview.drawn(busy.count);
        // Show a child the host asks to reveal, zoomed in so marks are drawn one by one.
        await webview.post({ type: 'reveal', pid: 20002 });
        await webview.page.focus('#timeline');
        for (let k = 0; k < 4; k++) await webview.page.keyboard.press('+');
        await webview.nextFrame();
        // At its fork, before its exec: the server's mappings, copied.
        assert.match((await webview.page.textContent('#regions-subtitle')) ?? '', /make \(pid 20002\) at \+212\.354 µs: 5 regions/);
        assert.equal(await webview.hook((h) => h.regionsListed), 5);
        const at = await webview.page.evaluate(() => {
          const hook = (window as unknown as { __sidebandTimeline: { recordPosition(i: number): { x: number; y: number } | null } }).__sidebandTimeline;
          // A record of a child, away from the top left, for the tooltip.
          for (let i = 28; i < 4000; i++) {
            const at = hook.recordPosition(i);
            if (at && at.y > 300 && at.x > 300) return at;
          }
          return null;
        });
        assert.ok(at, 'a record in view to hover');
        await webview.page.mouse.move(at.x, at.y);
        await webview.page.waitForSelector('#tooltip:not([hidden])');
        await webview.screenshot(path.join(RESULTS_DIR, `${theme}.png`));
        // The canvas took the theme: its background (left of the lane labels) is the editor's.
        const corner = await webview.pixel(2, 400);
        assert.ok(near(corner, rgbOf(THEMES[theme].variables['--vscode-editor-background']), 8), `background ${corner}`);
      } finally {
        await webview.close();
      }
    });
  }
});

describe("webview: a capture of perf's time-0 status alone", () => {
  test('draws it at the capture start and says so, with no time to fail on', async () => {
    const webview = await WebviewPage.open();
    try {
      // As perf record -a --synth=all leaves a file cut before its first real record: time 0, id 0, all synthesized.
      const synthesized = { pid: 300, tid: 300, time: 0, cpu: 0, id: 0n };
      const records = concat([comm(synthesized, 'daemon'), mmap2(synthesized, mapping(0x400000n, 0x1000n, '/usr/sbin/daemon'))]);
      await webview.open(EVENTS, records.byteLength);
      await webview.sendRecords(records, records.byteLength);
      await webview.drawn(2);
      const posted = await webview.posted();
      assert.deepEqual(posted.filter((m) => m.type === 'invalid'), []);
      assert.deepEqual(posted.filter((m) => m.type === 'drawn').at(-1), { type: 'drawn', records: 2, newestTime: 0 });
      // perf's synthesized records count among the real ones the frame drew: both on screen.
      assert.equal(await webview.hook((h) => h.realDrawn), 2);
    } finally {
      await webview.close();
    }
  });
});
