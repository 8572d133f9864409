// debuginfod, opt-in: a captured library stripped of its DWARF resolves to
// source lines through Debian's debuginfod, started here on 127.0.0.1 and
// serving the library's separate debug file; through the CLI and the
// language server, into the standard client cache, fetched once. A server
// that stalls, a debug file over the cap, and debuginfod left off each give
// one answer that says so, and nothing is fetched unasked.

import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { readElfInfo } from '../../node/symbols/elf';
import { LoadedPerfData } from '../../node/symbols/resolver';
import { wireRegion } from '../../protocol/webview';
import { CLI, Proc, ROOT, sideband, tempDir } from './harness';
import { LanguageServer } from './lsp';

const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const LIB_SOURCE = path.join(FIXTURES, 'source_lib.c');

/** A port nothing listens on now, for a server to take. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** GET `url`'s body as text. */
function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (d: string) => (body += d));
        response.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** Debian's debuginfod serving `dir`, on 127.0.0.1:port, with no rescans or grooming to race the test. */
class DebuginfodServer {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly log: string[],
  ) {}

  static async start(dir: string, database: string): Promise<DebuginfodServer> {
    const port = await freePort();
    const log: string[] = [];
    const child = spawn('debuginfod', ['-F', '-p', String(port), '-d', database, '-t', '0', '-g', '0', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
    const server = new DebuginfodServer(child, `http://127.0.0.1:${port}`, log);
    await server.scanned(1);
    return server;
  }

  /** A counter of its metrics, 0 before it first counts. */
  async metric(name: string): Promise<number> {
    const line = (await get(`${this.url}/metrics`)).split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(name.length + 1)) : 0;
  }

  /** How many debug files it was asked for so far. */
  requests(): Promise<number> {
    return this.metric('http_requests_total{type="debuginfo"}');
  }

  /** Waits until its scan took `files` files and has nothing pending: its metrics say so, polled; fails after a minute. */
  private async scanned(files: number): Promise<void> {
    const until = Date.now() + 60_000;
    for (;;) {
      try {
        const scanned = await this.metric('scanned_files_total{source="file"}');
        if (scanned >= files && (await this.metric('thread_work_pending{role="scan"}')) === 0) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until || this.child.exitCode !== null) throw new Error(`debuginfod did not scan ${files} file(s) within a minute: ${this.log.join('')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  stop(): void {
    this.child.kill();
  }
}

/** A server that takes connections and never answers, or answers with `handler`. */
async function tinyServer(handler?: http.RequestListener): Promise<{ url: string; requests: string[]; close(): void }> {
  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    requests.push(request.url ?? '');
    handler?.(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** `sideband ARGS` with `env`, to its end; asynchronous, so servers in this process answer meanwhile. */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The files in a debuginfod cache, however deep. */
function cachedFiles(cache: string): string[] {
  if (!fs.existsSync(cache)) return [];
  return (fs.readdirSync(cache, { recursive: true, encoding: 'utf8' }) as string[]).filter((f) => fs.statSync(path.join(cache, f)).isFile());
}

/** The environment without DEBUGINFOD_URLS (debuginfod off unless a test turns it on), caching in `cache`. */
function envWith(cache: string, more: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DEBUGINFOD_CACHE_PATH: cache, ...more };
  if (!('DEBUGINFOD_URLS' in more)) delete env.DEBUGINFOD_URLS;
  return env;
}

describe('debuginfod: a stripped library, its debug file served by build-id', () => {
  const dir = tempDir('debuginfod');
  const target = path.join(dir, 'source_target');
  const library = path.join(dir, 'libsource.so');
  const unstripped = path.join(dir, 'libsource.unstripped.so');
  const served = path.join(dir, 'served');
  const captureFile = path.join(dir, 'capture.data');
  let buildId = '';
  let pid = 0;
  let libScale = 0n;
  let expectedLine = '';
  let debuginfod: DebuginfodServer;
  let caches = 0;
  const freshCache = (): string => path.join(dir, `cache-${++caches}`);
  const resolveArgs = (...more: string[]): string[] => ['resolve', captureFile, '--pid', String(pid), ...more, `0x${libScale.toString(16)}`];
  const libraryRegion = () => {
    const regions = LoadedPerfData.load(captureFile).regionsOf(pid);
    return regions.find((r) => r.filename === library && libScale >= r.start && libScale < r.end)!;
  };

  before(async () => {
    execFileSync('gcc', ['-g', '-O2', '-fPIE', '-pie', '-o', target, path.join(FIXTURES, 'source_target.c'), '-ldl']);
    execFileSync('gcc', ['-g', '-O2', '-fPIC', '-shared', '-Wl,--build-id', '-o', unstripped, LIB_SOURCE]);
    fs.mkdirSync(served);
    execFileSync('objcopy', ['--only-keep-debug', unstripped, path.join(served, 'libsource.debug')]);
    execFileSync('strip', ['-o', library, unstripped]);
    buildId = readElfInfo(library).buildId!;
    assert.ok(buildId && !readElfInfo(library).hasDebugInfo, 'the library is stripped and keeps its build-id');

    const fx = Proc.start(target, [library], { stdin: true });
    pid = Number((await fx.waitFor(/^ready (\d+)/))[1]);
    const capture = sideband(['capture', '--pid', String(pid), '-o', captureFile]);
    await capture.waitFor(/attached/);
    fx.send('go');
    await fx.waitFor(/^done/);
    libScale = BigInt(fx.lines.map((l) => /^fn lib_scale (0x[0-9a-f]+)/.exec(l)).find(Boolean)![1]);
    capture.child.kill('SIGINT');
    assert.equal(await capture.exited, 0, capture.output);
    fx.send('bye');
    assert.equal(await fx.exited, 0, fx.output);

    // The oracle: the unstripped library's own lines, at the same file address.
    const region = libraryRegion();
    const offset = region.pgoff + (libScale - region.start);
    const segment = readElfInfo(unstripped).segments.find((s) => BigInt(s.offset) <= offset && offset < BigInt(s.offset + s.filesz))!;
    const vaddr = offset - BigInt(segment.offset) + BigInt(segment.vaddr);
    const [fn, at] = execFileSync('addr2line', ['-f', '-e', unstripped, `0x${vaddr.toString(16)}`], { encoding: 'utf8' }).trim().split('\n');
    expectedLine = `${fn} ${at.replace(/ \(discriminator \d+\)$/, '')}`;
    assert.match(expectedLine, new RegExp(`^lib_scale ${LIB_SOURCE}:\\d+$`));

    debuginfod = await DebuginfodServer.start(served, path.join(dir, 'debuginfod.sqlite'));
  });
  after(() => {
    debuginfod?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('off by default: nothing is fetched, and the answer names the setting that would fetch it', async () => {
    const before = await debuginfod.requests();
    const cache = freshCache();
    // Its exported symbol names it, without a line: the debug file is not here.
    const off = await cli(resolveArgs(), envWith(cache));
    assert.deepEqual([off.status, off.stdout, off.stderr], [0, 'lib_scale\n', '']);
    // DEBUGINFOD_URLS set, and --debuginfod '' turning it off.
    const turnedOff = await cli(resolveArgs('--debuginfod', ''), envWith(cache, { DEBUGINFOD_URLS: debuginfod.url }));
    assert.deepEqual([turnedOff.status, turnedOff.stdout, turnedOff.stderr], [0, 'lib_scale\n', '']);
    // The language server, its setting [] while DEBUGINFOD_URLS names the server.
    const server = await LanguageServer.start({ settings: { debugDirectories: [], debuginfodUrls: [] }, env: envWith(cache, { DEBUGINFOD_URLS: debuginfod.url }) });
    try {
      const sources = await server.regionSources(pid, wireRegion(libraryRegion()));
      assert.equal(sources.code, 'no-debug-info', JSON.stringify(sources));
      assert.match(sources.missing ?? '', new RegExp(`has no debug info .*build-id ${buildId}.*perfSideband\\.debuginfodUrls`));
      assert.deepEqual(server.fetches, []);
    } finally {
      await server.stop();
    }
    assert.equal(await debuginfod.requests(), before, 'debuginfod was not asked');
    assert.deepEqual(cachedFiles(cache), [], 'nothing was cached');
  });

  test('`sideband resolve --debuginfod` resolves the stripped library to its line, and the second run finds it in the cache', async () => {
    const cache = freshCache();
    const before = await debuginfod.requests();
    const first = await cli(resolveArgs('--debuginfod', debuginfod.url), envWith(cache));
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout, `${expectedLine}\n`);
    assert.match(first.stderr, new RegExp(`fetching the debug info of ${library} \\(build-id ${buildId}\\) from ${debuginfod.url}/buildid/${buildId}/debuginfo`));
    assert.equal(await debuginfod.requests(), before + 1);
    // The client's layout, so debuginfod-find and gdb find it too.
    const cached = path.join(cache, buildId, 'debuginfo');
    assert.equal(readElfInfo(cached).buildId, buildId);
    assert.deepEqual(fs.readdirSync(path.join(cache, buildId)), ['debuginfo'], 'no partial file is left');

    // DEBUGINFOD_URLS as the default, and no fetch: the cache answers.
    const second = await cli(resolveArgs(), envWith(cache, { DEBUGINFOD_URLS: debuginfod.url }));
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stdout, `${expectedLine}\n`);
    assert.doesNotMatch(second.stderr, /fetching/);
    assert.equal(await debuginfod.requests(), before + 1, 'the second resolve did not ask the server');
  });

  test('the language server fetches on a region sources request, tells its progress, and then answers addresses from the cache', async () => {
    const cache = freshCache();
    const before = await debuginfod.requests();
    const server = await LanguageServer.start({ workspace: FIXTURES, settings: { debugDirectories: [], debuginfodUrls: [debuginfod.url] }, env: envWith(cache) });
    try {
      const region = wireRegion(libraryRegion());
      const sources = await server.regionSources(pid, region);
      assert.equal(sources.missing, undefined, sources.missing);
      assert.ok(sources.files.some((f) => f.path === LIB_SOURCE), JSON.stringify(sources.files));
      const told = server.fetches;
      assert.ok(told.length >= 2, JSON.stringify(told));
      assert.deepEqual([told[0].buildId, told[0].file, told[0].url], [buildId, library, `${debuginfod.url}/buildid/${buildId}/debuginfo`]);
      const last = told[told.length - 1];
      assert.equal(last.done, true);
      assert.equal(last.received, fs.statSync(path.join(cache, buildId, 'debuginfo')).size);

      const [resolution] = await server.resolve({ pid, addresses: [libScale.toString(16)], region });
      assert.equal(`${resolution.frames[0]?.function} ${resolution.frames[0]?.file}:${resolution.frames[0]?.line}`, expectedLine);
      assert.equal(server.fetches.length, told.length, 'the address was answered without another fetch');
      assert.equal(await debuginfod.requests(), before + 1);
    } finally {
      await server.stop();
    }
  });

  test('a debug file over DEBUGINFOD_MAXSIZE is refused by the cap, and nothing is cached', async () => {
    const cache = freshCache();
    const size = fs.statSync(path.join(served, 'libsource.debug')).size;
    const capped = await cli(resolveArgs('--debuginfod', debuginfod.url), envWith(cache, { DEBUGINFOD_MAXSIZE: String(size - 1) }));
    assert.equal(capped.status, 1, capped.stderr);
    assert.match(capped.stderr, new RegExp(`${debuginfod.url}/buildid/${buildId}/debuginfo sent ${size} bytes or more, over the ${size - 1}-byte cap \\(DEBUGINFOD_MAXSIZE\\)`));
    assert.deepEqual(cachedFiles(cache), []);

    // A server that announces no length is cut off as its bytes pass the cap.
    const endless = await tinyServer((_, response) => {
      response.writeHead(200); // chunked: no Content-Length
      const chunk = Buffer.alloc(64 * 1024);
      const more = (): void => {
        while (response.write(chunk));
        response.once('drain', more);
      };
      more();
    });
    try {
      const cut = await cli(resolveArgs('--debuginfod', endless.url), envWith(cache, { DEBUGINFOD_MAXSIZE: '1000000' }));
      assert.equal(cut.status, 1, cut.stderr);
      assert.match(cut.stderr, /sent \d+ bytes or more, over the 1000000-byte cap \(DEBUGINFOD_MAXSIZE\)/);
      assert.deepEqual(cachedFiles(cache), [], 'the partial file is removed');
    } finally {
      endless.close();
    }
  });

  test('a server that stalls times out with one message naming its URL and where it was set; the language server can cancel it', async () => {
    const stalled = await tinyServer();
    try {
      const cache = freshCache();
      const cut = await cli(resolveArgs('--debuginfod', stalled.url), envWith(cache, { DEBUGINFOD_TIMEOUT: '1' }));
      assert.equal(cut.status, 1, cut.stderr);
      const said = cut.stderr.split('\n').filter((l) => l.includes(stalled.url) && !l.includes('fetching'));
      assert.equal(said.length, 1, cut.stderr);
      assert.match(said[0], new RegExp(`${stalled.url}/buildid/${buildId}/debuginfo sent nothing for 1 s \\(DEBUGINFOD_TIMEOUT\\) .*servers from --debuginfod.*Fix: `));

      // The language server names its setting, and says the same when asked again, without asking the server.
      const server = await LanguageServer.start({ settings: { debugDirectories: [], debuginfodUrls: [stalled.url] }, env: envWith(cache, { DEBUGINFOD_TIMEOUT: '1' }) });
      try {
        const region = wireRegion(libraryRegion());
        const [timedOut] = await server.resolve({ pid, addresses: [libScale.toString(16)], region });
        assert.equal(timedOut.code, 'debuginfod');
        assert.match(timedOut.error ?? '', new RegExp(`${stalled.url}/buildid/${buildId}/debuginfo sent nothing for 1 s \\(DEBUGINFOD_TIMEOUT\\) .*the setting perfSideband\\.debuginfodUrls`));
        const asked = stalled.requests.length;
        assert.equal((await server.regionSources(pid, region)).missing, timedOut.error);
        assert.equal(stalled.requests.length, asked);
      } finally {
        await server.stop();
      }

      // No timeout this time: Ctrl-C cancels the CLI's fetch, and leaves nothing in the cache.
      const interruptedCache = freshCache();
      const interrupted = spawn(process.execPath, [CLI, ...resolveArgs('--debuginfod', stalled.url)], { env: envWith(interruptedCache), stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      const exited = new Promise<number | null>((resolve) => interrupted.on('close', resolve));
      await new Promise<void>((resolve) =>
        interrupted.stderr!.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (stderr.includes('fetching')) resolve();
        }),
      );
      interrupted.kill('SIGINT');
      assert.equal(await exited, 1, stderr);
      assert.match(stderr, new RegExp(`fetching the debug info of ${library} \\(build-id ${buildId}\\) was cancelled`));
      assert.deepEqual(cachedFiles(interruptedCache), [], 'no partial file is left');

      // And the language server's: the user's cancel button ends the wait.
      const patient = await LanguageServer.start({ settings: { debugDirectories: [], debuginfodUrls: [stalled.url] }, env: envWith(freshCache()) });
      try {
        const answer = patient.regionSources(pid, wireRegion(libraryRegion()));
        const progress = await patient.nextFetch(30_000);
        assert.equal(progress.received, 0);
        await patient.cancelFetch(progress.id);
        const cancelled = await answer;
        assert.equal(cancelled.code, 'debuginfod');
        assert.match(cancelled.missing ?? '', new RegExp(`fetching the debug info of ${library} \\(build-id ${buildId}\\) was cancelled`));
        assert.equal(patient.fetches.at(-1)?.done, true, 'the progress is closed');
      } finally {
        await patient.stop();
      }
    } finally {
      stalled.close();
    }
  });
});
