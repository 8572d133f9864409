// JIT code in the webview, in headless Chromium: a process maps its jitdump,
// the page asks the host (the test) for the dump's bytes, and the regions
// panel lists its code with provenance jitdump, resolves an address in it to
// the runtime's name without asking, and the selected process's lifetimes
// draw it; a dump the host cannot read is one warning.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { WebviewPage } from './harness';
import { EVENTS, START, StreamBuilder, mapping, real } from './streams';
import { DumpWriter } from '../fixtures/jitdump';
import { comm, fork, mmap2 } from '../fixtures/records';

const DUMP = '/work/app/jit-100.dump';
const CODE_SPACE = 0x7e0000000000n;

/** Pid 100 maps its jitdump and an executable anonymous code space, then renames itself at +5 µs: the record clicked. */
function jitCapture() {
  const s = new StreamBuilder();
  s.add(fork(real(100, START), { pid: 1, tid: 1 }));
  s.add(comm(real(100, START + 100), 'node'));
  s.add(mmap2(real(100, START + 200), mapping(0x7f0000000000n, 0x1000n, DUMP)));
  s.add(mmap2(real(100, START + 300), mapping(CODE_SPACE, 0x100000n, '//anon', 7)));
  const renamed = s.add(comm(real(100, START + 5000), 'node-main'));
  return { bytes: s.build(), count: s.count, renamed };
}

/** Hot code, and cold code that moves at +3 µs. */
const dump = new DumpWriter()
  .load(START + 1000, CODE_SPACE + 0x100n, 0x80n, 'JS:*hot app.js:1:1')
  .load(START + 2000, CODE_SPACE + 0x400n, 0x40n, 'JS:^cold app.js:2:1')
  .move(START + 3000, CODE_SPACE + 0x400n, CODE_SPACE + 0x800n, 0x40n)
  .bytes();

const capture = jitCapture();

/** A page showing the capture, its dump's questions answered by `answer`, and pid 100 selected at its rename. */
async function showing(answer: (from: number) => { path: string; bytes: Uint8Array; problem?: string }): Promise<WebviewPage> {
  const webview = await WebviewPage.open();
  await webview.open(EVENTS, capture.bytes.byteLength);
  await webview.sendRecords(capture.bytes, capture.bytes.byteLength);
  await webview.drawn(capture.count);
  const [ask] = await webview.postedOf('readJitdump');
  assert.deepEqual(ask, { type: 'readJitdump', id: ask.id, pid: 100, filename: DUMP, from: 0 });
  const { bytes, ...reply } = answer(0);
  await webview.post({ type: 'jitdumpReply', id: ask.id, ...reply }, { bytes });
  const at = await webview.position(capture.renamed);
  await webview.page.mouse.click(at.x, at.y);
  return webview;
}

const rows = (webview: WebviewPage, selector: string) =>
  webview.page.$$eval(selector, (trs) => trs.map((tr) => [tr.querySelector('.addr')?.textContent, tr.querySelector('.file')?.textContent, tr.querySelector('.origin')?.textContent]));

describe('webview: JIT code from a jitdump', () => {
  let webview: WebviewPage;
  before(async () => (webview = await showing(() => ({ path: DUMP, bytes: dump }))));
  after(() => webview.close());

  test('the regions panel lists the code by its names, with provenance jitdump, inside the anonymous mapping that holds it', async () => {
    await webview.page.waitForFunction(() => document.querySelectorAll('#regions tr.region').length === 4);
    assert.deepEqual(await rows(webview, '#regions tr.region'), [
      ['7e0000000000–7e0000100000', 'anon', '●real'],
      ['7e0000000100–7e0000000180', 'JS:*hot app.js:1:1', '●jitdump'],
      ['7e0000000800–7e0000000840', 'JS:^cold app.js:2:1', '●jitdump'],
      ['7f0000000000–7f0000001000', 'jit-100.dump', '●real'],
    ]);
    assert.equal(await webview.page.getAttribute('#regions tr.region:nth-child(2) .file', 'title'), `JS:*hot app.js:1:1, JIT code from ${DUMP}`);
    await webview.page.check('#regions-show-ended');
    await webview.page.waitForSelector('#regions tr.ended-region');
    assert.deepEqual(await rows(webview, '#regions tr.ended-region'), [['7e0000000400–7e0000000440', 'JS:^cold app.js:2:1', '●jitdump · moved at +3 µs (jitdump code move)']]);
  });

  test('an address in JIT code is named by its jitdump, without asking the host', async () => {
    const before = (await webview.posted()).length;
    await webview.page.fill('#address', '7e0000000120');
    await webview.page.press('#address', 'Enter');
    await webview.page.waitForSelector('#address-answer ol.frames');
    assert.equal(await webview.page.textContent('#address-answer li.frame .function'), 'JS:*hot app.js:1:1');
    assert.equal(await webview.page.textContent('#address-answer .backend'), `JIT code named by ${DUMP}`);
    assert.equal((await webview.posted()).length, before);
  });

  test("the selected process's lifetimes draw its JIT code", async () => {
    const bands = await webview.hook((h) => h.lifetimeBands());
    const jit = (bands as Array<{ filename: string; ended: string }>).filter((b) => b.filename.startsWith('JS:'));
    assert.deepEqual(jit.map((b) => `${b.filename} ${b.ended}`).sort(), ['JS:*hot app.js:1:1 ', 'JS:^cold app.js:2:1 ', 'JS:^cold app.js:2:1 jit-move']);
  });

  test('the end of the stream asks once more, for what the dump gained', async () => {
    await webview.post({ type: 'ended', message: 'read to the end' });
    const asks = await webview.postedOf('readJitdump', 2);
    assert.deepEqual(asks[1], { type: 'readJitdump', id: asks[1].id, pid: 100, filename: DUMP, from: dump.byteLength });
  });
});

describe('webview: a jitdump the host cannot read', () => {
  test('is one warning naming the cause, and no JIT code', async () => {
    const problem = `cannot read ${DUMP}, the jitdump pid 100 mapped: ENOENT. Fix: read the capture where the runtime wrote its dump, before it is removed.`;
    const webview = await showing(() => ({ path: DUMP, bytes: new Uint8Array(0), problem }));
    try {
      await webview.page.waitForSelector('#warnings .warning');
      assert.deepEqual(await webview.page.$$eval('#warnings .warning', (ws) => ws.map((w) => w.textContent)), [problem]);
      await webview.page.waitForFunction(() => document.querySelectorAll('#regions tr.region').length === 2);
      assert.deepEqual((await rows(webview, '#regions tr.region')).map((r) => r[2]), ['●real', '●real']);
    } finally {
      await webview.close();
    }
  });
});
