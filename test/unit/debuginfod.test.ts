// The debuginfod client's choices, against small HTTP servers of the test's
// own: which servers and limits the settings give, where the cache is,
// what a server that lacks the file, sends another, or redirects gets, and
// how the extension shows a request's fetches with their cancel button.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Debuginfod, debuginfodCacheDir, debuginfodLimits, debuginfodSource } from '../../node/symbols/debuginfod';
import { readElfInfo } from '../../node/symbols/elf';
import { FetchProgress, type ProgressReporter } from '../../extension/fetchProgress';
import { type DebuginfodProgress } from '../../protocol/server';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'debuginfod-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SETTING = 'the setting perfSideband.debuginfodUrls';

describe('debuginfod settings', () => {
  test('the setting wins over DEBUGINFOD_URLS, an empty list turns it off, and without either nothing is fetched', () => {
    const env = { DEBUGINFOD_URLS: 'http://a.example/  https://b.example' };
    assert.deepEqual(debuginfodSource(undefined, SETTING, env), { urls: ['http://a.example', 'https://b.example'], origin: `DEBUGINFOD_URLS (what ${SETTING} defaults to)` });
    assert.deepEqual(debuginfodSource(['http://c.example/'], SETTING, env), { urls: ['http://c.example'], origin: SETTING });
    assert.equal(debuginfodSource([], SETTING, env), undefined);
    assert.equal(debuginfodSource([''], SETTING, env), undefined);
    assert.equal(debuginfodSource(undefined, SETTING, {}), undefined);
  });

  test("the cache is where elfutils' client keeps it", () => {
    assert.equal(debuginfodCacheDir({ DEBUGINFOD_CACHE_PATH: '/c', XDG_CACHE_HOME: '/x' }), '/c');
    assert.equal(debuginfodCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/debuginfod_client');
    assert.equal(debuginfodCacheDir({}), path.join(os.homedir(), '.cache', 'debuginfod_client'));
  });

  test("elfutils' variables set the limits; values that are no positive number leave ours", () => {
    assert.deepEqual(debuginfodLimits({}), { stallMs: 30_000, totalMs: 600_000, maxBytes: 2 ** 30 });
    assert.deepEqual(debuginfodLimits({ DEBUGINFOD_TIMEOUT: '5', DEBUGINFOD_MAXTIME: '60', DEBUGINFOD_MAXSIZE: '1000' }), { stallMs: 5000, totalMs: 60_000, maxBytes: 1000 });
    assert.deepEqual(debuginfodLimits({ DEBUGINFOD_TIMEOUT: 'soon', DEBUGINFOD_MAXTIME: '-1', DEBUGINFOD_MAXSIZE: '0' }), debuginfodLimits({}));
  });
});

describe('debuginfod answers', () => {
  let debugFile = '';
  let buildId = '';
  let otherDebugFile = '';
  let server: http.Server;
  let url = '';
  const asked: string[] = [];
  const routes = new Map<string, (response: http.ServerResponse) => void>();

  before(async () => {
    const source = path.join(tmp, 'f.c');
    fs.writeFileSync(source, 'int f(int x) { return x * 3; }\n');
    for (const [name, flag] of [['one', '-O0'], ['two', '-O2']]) {
      execFileSync('gcc', ['-g', flag, '-shared', '-fPIC', '-Wl,--build-id', '-o', path.join(tmp, `${name}.so`), source]);
      execFileSync('objcopy', ['--only-keep-debug', path.join(tmp, `${name}.so`), path.join(tmp, `${name}.debug`)]);
    }
    debugFile = path.join(tmp, 'one.debug');
    otherDebugFile = path.join(tmp, 'two.debug');
    buildId = readElfInfo(debugFile).buildId!;
    assert.notEqual(readElfInfo(otherDebugFile).buildId, buildId);
    server = http.createServer((request, response) => {
      asked.push(request.url!);
      const route = routes.get(request.url!.split('/')[1]);
      if (route) route(response);
      else response.writeHead(404).end('not here');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    routes.set('right', (r) => r.writeHead(200, { 'Content-Length': fs.statSync(debugFile).size }).end(fs.readFileSync(debugFile)));
    routes.set('wrong', (r) => r.writeHead(200).end(fs.readFileSync(otherDebugFile)));
    routes.set('moved', (r) => r.writeHead(302, { Location: `/right/buildid/${buildId}/debuginfo` }).end());
    routes.set('broken', (r) => r.writeHead(500, 'Internal Server Error').end());
  });
  after(() => server.close());

  const client = (...prefixes: string[]): Debuginfod => new Debuginfod({ urls: prefixes.map((p) => `${url}/${p}`), origin: SETTING }, fs.mkdtempSync(path.join(tmp, 'cache-')), debuginfodLimits({}));

  test("a redirect is followed, the file lands in the client's layout, and the next ask is the cache's", async () => {
    const debuginfod = client('moved');
    const got = await debuginfod.fetch(buildId, '/lib/one.so');
    assert.equal(got, path.join(debuginfod.cacheDir, buildId, 'debuginfo'));
    assert.deepEqual(fs.readFileSync(got), fs.readFileSync(debugFile));
    const before = asked.length;
    assert.equal(await debuginfod.fetch(buildId, '/lib/one.so'), got);
    assert.equal(asked.length, before);
  });

  test("a file of another build-id is refused; the next server's is taken", async () => {
    const debuginfod = client('wrong', 'right');
    assert.deepEqual(fs.readFileSync(await debuginfod.fetch(buildId, '/lib/one.so')), fs.readFileSync(debugFile));
    await assert.rejects(client('wrong').fetch(buildId, '/lib/one.so'), (e: Error & { code: string }) => {
      assert.equal(e.code, 'debuginfod');
      assert.match(e.message, new RegExp(`${url}/wrong/buildid/${buildId}/debuginfo sent the debug file of build-id ${readElfInfo(otherDebugFile).buildId}, not ${buildId}`));
      return true;
    });
  });

  test('servers that lack it say so as missing debug info; a failing one is named, and not asked again', async () => {
    await assert.rejects(client('none', 'nothing').fetch(buildId, '/lib/one.so'), (e: Error & { code: string }) => {
      assert.equal(e.code, 'no-debug-info');
      assert.match(e.message, new RegExp(`no debuginfod server of ${SETTING} \\(${url}/none ${url}/nothing\\) has it for build-id ${buildId}`));
      return true;
    });
    const broken = client('broken');
    const first = await broken.fetch(buildId, '/lib/one.so').catch((e: Error) => e);
    assert.match((first as Error).message, new RegExp(`${url}/broken/buildid/${buildId}/debuginfo answered HTTP 500 Internal Server Error \\(servers from ${SETTING}\\)`));
    const before = asked.length;
    assert.equal(await broken.fetch(buildId, '/lib/one.so').catch((e: Error) => e), first);
    assert.equal(asked.length, before);
  });

  test('a build-id that is not hex never reaches a server or names a path', async () => {
    const before = asked.length;
    await assert.rejects(client('right').fetch('../../etc', '/lib/odd.so'), /is not a build-id a debuginfod server knows/);
    assert.equal(asked.length, before);
  });
});

describe("the extension's progress of a request's fetches", () => {
  const told = (id: number, received: number, extra: Partial<DebuginfodProgress> = {}): DebuginfodProgress => ({ id, file: '/usr/lib/libbig.so', buildId: 'abcdef0123456789abcd', url: 'http://debuginfod.example:8002/buildid/abcdef/debuginfo', received, ...extra });

  test('one progress per request, told its bytes, closed when done; its cancel button cancels that request', async () => {
    const shown: Array<{ title: string; reports: Array<{ message?: string; increment?: number }>; cancel?: () => void; ended: boolean }> = [];
    const cancelled: number[] = [];
    const progress = new FetchProgress(
      (title, task) => {
        const entry: (typeof shown)[number] = { title, reports: [], ended: false };
        shown.push(entry);
        const reporter: ProgressReporter = { report: (value) => entry.reports.push(value) };
        void task(reporter, { onCancellationRequested: (listener) => (entry.cancel = listener) }).then(() => (entry.ended = true));
      },
      (id) => cancelled.push(id),
    );
    progress.told(told(1, 0, { total: 4 * 2 ** 20 }));
    progress.told(told(1, 2 ** 20, { total: 4 * 2 ** 20 }));
    progress.told(told(2, 0));
    assert.equal(shown.length, 2);
    assert.equal(shown[0].title, 'Perf Sideband: fetching debug info from debuginfod');
    assert.deepEqual(shown[0].reports.at(-1), { message: 'libbig.so (build-id abcdef012345…) from debuginfod.example:8002: 1.0 MB of 4.0 MB', increment: 25 });
    assert.deepEqual(shown[1].reports.at(-1), { message: 'libbig.so (build-id abcdef012345…) from debuginfod.example:8002: 0.0 MB', increment: 0 });

    shown[1].cancel!();
    assert.deepEqual(cancelled, [2]);
    progress.told(told(1, 4 * 2 ** 20, { total: 4 * 2 ** 20, done: true }));
    await new Promise(setImmediate);
    assert.deepEqual([shown[0].ended, shown[1].ended], [true, false]);
    progress.dispose();
    await new Promise(setImmediate);
    assert.equal(shown[1].ended, true, 'a progress left open is closed with the server');
  });
});
