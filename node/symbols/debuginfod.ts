// Debug files fetched by build-id from debuginfod servers, when the user
// named some: over Node's own HTTP client, into the standard debuginfod
// client cache, so debuginfod-find, gdb and perf share what we fetched and we
// share theirs. A fetch has a stall timeout, a total timeout and a size cap,
// reports its bytes as they come, and stops when its signal aborts.

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';

import { readElfInfo } from './elf';
import { SourceError } from '../../core/sourceError';

/** Where the servers were named, told in every message about them so the user knows what to change. */
export interface DebuginfodSource {
  urls: string[];
  /** "the setting perfSideband.debuginfodUrls", "--debuginfod", or DEBUGINFOD_URLS as their default. */
  origin: string;
}

/**
 * The servers to ask: `given` when the user gave a list in `setting` (an
 * empty one turns debuginfod off), else DEBUGINFOD_URLS (space-separated, as
 * elfutils reads it), else none. Undefined when there are none: nothing is
 * ever fetched then.
 */
export function debuginfodSource(given: readonly string[] | undefined, setting: string, env: NodeJS.ProcessEnv = process.env): DebuginfodSource | undefined {
  const [listed, origin] = given !== undefined ? [given, setting] : [(env.DEBUGINFOD_URLS ?? '').split(/\s+/), `DEBUGINFOD_URLS (what ${setting} defaults to)`];
  const urls = listed.map((u) => u.trim().replace(/\/+$/, '')).filter(Boolean);
  return urls.length ? { urls, origin } : undefined;
}

/** The debuginfod client cache, as elfutils' client chooses it. */
export function debuginfodCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DEBUGINFOD_CACHE_PATH) return env.DEBUGINFOD_CACHE_PATH;
  const xdg = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'debuginfod_client');
}

/** What a fetch's watcher hears as bytes come, and how it stops the fetch. */
export interface FetchProgress {
  buildId: string;
  /** The file whose debug info this is. */
  file: string;
  url: string;
  received: number;
  /** From Content-Length, when the server sent one. */
  total?: number;
}
export interface FetchWatch {
  signal?: AbortSignal;
  progress?(progress: FetchProgress): void;
}

export interface DebuginfodLimits {
  /** No byte for this long fails the fetch. */
  stallMs: number;
  /** The whole fetch, every server tried, takes at most this long. */
  totalMs: number;
  /** A larger debug file is refused, announced or not. */
  maxBytes: number;
}

/**
 * Our limits, overridden by elfutils' own variables where the user set them
 * (DEBUGINFOD_TIMEOUT and DEBUGINFOD_MAXTIME in seconds, DEBUGINFOD_MAXSIZE
 * in bytes), so one setting governs every debuginfod client on the machine.
 * Stricter than elfutils' defaults (90 s, unlimited, unlimited): users object
 * to gigabytes fetched behind their back, and a panel waits on the answer.
 */
export function debuginfodLimits(env: NodeJS.ProcessEnv = process.env): DebuginfodLimits {
  const positive = (name: string, fallback: number, scale: number): number => {
    const n = Number(env[name]);
    return env[name] !== undefined && Number.isFinite(n) && n > 0 ? n * scale : fallback;
  };
  return { stallMs: positive('DEBUGINFOD_TIMEOUT', 30_000, 1000), totalMs: positive('DEBUGINFOD_MAXTIME', 600_000, 1000), maxBytes: positive('DEBUGINFOD_MAXSIZE', 2 ** 30, 1) };
}

/** Why a server gave nothing: it has none (404), or it failed, naming how. */
type Attempt = { got: string } | { notFound: string } | { failed: string };

const MAX_REDIRECTS = 5;

/** A cancelled fetch: the watcher's own doing, so never remembered as the server's failure. */
class Cancelled extends Error {}

export class Debuginfod {
  /** Fetches under way, shared by whoever asks for the same build-id meanwhile (the first asker's watch hears it and can cancel it). */
  private readonly fetching = new Map<string, Promise<string>>();
  /** Build-ids no server had or could give: not asked again until the servers or limits change (a new client). */
  private readonly refused = new Map<string, SourceError>();

  constructor(
    readonly source: DebuginfodSource,
    readonly cacheDir: string = debuginfodCacheDir(),
    readonly limits: DebuginfodLimits = debuginfodLimits(),
  ) {}

  /** The cached debug file of `buildId`, in the client's layout (BUILDID/debuginfo), if one was fetched before. */
  cached(buildId: string): string | undefined {
    if (!isBuildId(buildId)) return undefined;
    const file = path.join(this.cacheDir, buildId, 'debuginfo');
    try {
      return fs.statSync(file).isFile() ? file : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The debug file of `buildId` (that of `file`): from the cache, else from
   * the first server that has it, then cached. Throws one SourceError naming
   * the server, what went wrong, where the servers were named and the fix.
   */
  async fetch(buildId: string, file: string, watch: FetchWatch = {}): Promise<string> {
    const cached = this.cached(buildId);
    if (cached) return cached;
    if (!isBuildId(buildId)) throw new SourceError('debuginfod', `${file} has build-id ${JSON.stringify(buildId)}, which is not a build-id a debuginfod server knows: its debug info cannot be fetched.`);
    const refused = this.refused.get(buildId);
    if (refused) throw refused;
    let under = this.fetching.get(buildId);
    if (!under) {
      under = this.fetchFromServers(buildId, file, watch);
      this.fetching.set(buildId, under);
      void under.then(
        () => this.fetching.delete(buildId),
        (e) => {
          this.fetching.delete(buildId);
          if (!(e instanceof Cancelled)) this.refused.set(buildId, e as SourceError);
        },
      );
    }
    try {
      return await under;
    } catch (e) {
      if (e instanceof Cancelled) throw new SourceError('debuginfod', `fetching the debug info of ${file} (build-id ${buildId}) was cancelled; asking again fetches it.`);
      throw e;
    }
  }

  private async fetchFromServers(buildId: string, file: string, watch: FetchWatch): Promise<string> {
    const deadline = Date.now() + this.limits.totalMs;
    const failures: string[] = [];
    for (const base of this.source.urls) {
      if (!/^https?:\/\/[^/]/.test(base)) {
        failures.push(`${base} is not an http:// or https:// URL`);
        continue;
      }
      const url = `${base}/buildid/${buildId}/debuginfo`;
      const attempt = await this.download(url, buildId, file, deadline, watch);
      if ('got' in attempt) return attempt.got;
      if ('failed' in attempt) failures.push(attempt.failed);
    }
    const fix = `Fix: check that server (or raise the limit named, where one is), or change ${this.source.origin}; it is not asked again for this build-id until then.`;
    if (failures.length) throw new SourceError('debuginfod', `The debug info of ${file} (build-id ${buildId}) could not be fetched: ${failures.join('; ')} (servers from ${this.source.origin}). ${fix}`);
    throw new SourceError(
      'no-debug-info',
      `${file} has no debug info here, and no debuginfod server of ${this.source.origin} (${this.source.urls.join(' ')}) has it for build-id ${buildId}: rebuild it with -g and keep its debug file, or install its debug package.`,
    );
  }

  /** One server's answer: written to a temporary file beside its cache entry, then renamed into place, so no reader sees half a file. */
  private download(url: string, buildId: string, file: string, deadline: number, watch: FetchWatch, redirects = 0): Promise<Attempt> {
    const { stallMs, maxBytes, totalMs } = this.limits;
    return new Promise<Attempt>((resolve, reject) => {
      if (watch.signal?.aborted) return reject(new Cancelled());
      const entry = path.join(this.cacheDir, buildId);
      const partial = path.join(entry, `.debuginfo.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
      const request = (url.startsWith('https:') ? https : http).get(url, { headers: { 'User-Agent': 'perf-sideband' } });
      // Told at once, before any answer: a server that stalls is shown, and can be cancelled, too.
      watch.progress?.({ buildId, file, url, received: 0 });
      let out: fs.WriteStream | undefined;
      let settled = false;
      const finish = (outcome: Attempt | Cancelled | { redirect: string }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(stall);
        clearTimeout(total);
        watch.signal?.removeEventListener('abort', onAbort);
        request.destroy();
        const done = (): void => {
          if (!('got' in outcome)) fs.rmSync(partial, { force: true });
          if (outcome instanceof Cancelled) reject(outcome);
          else if ('redirect' in outcome) this.download(outcome.redirect, buildId, file, deadline, watch, redirects + 1).then(resolve, reject);
          else resolve(outcome);
        };
        if (out && !out.closed) out.close(done);
        else done();
      };
      const fail = (why: string): void => finish({ failed: `${url} ${why}` });
      const stalled = (): NodeJS.Timeout => setTimeout(() => fail(`sent nothing for ${stallMs / 1000} s (DEBUGINFOD_TIMEOUT)`), stallMs);
      let stall = stalled();
      const total = setTimeout(() => fail(`had not finished when the fetch's ${totalMs / 1000} s ran out (DEBUGINFOD_MAXTIME)`), Math.max(0, deadline - Date.now()));
      const alive = (): void => {
        clearTimeout(stall);
        stall = stalled();
      };
      const onAbort = (): void => finish(new Cancelled());
      watch.signal?.addEventListener('abort', onAbort);
      const notCached = (e: Error): void => fail(`could not be cached in ${entry}: ${e.message} (set DEBUGINFOD_CACHE_PATH to a writable directory)`);
      request.on('error', (e) => fail(`failed: ${e.message}`));
      request.on('response', (response) => {
        alive();
        const status = response.statusCode ?? 0;
        const location = response.headers.location;
        if (status !== 200) response.resume();
        if (status >= 300 && status < 400 && location) {
          if (redirects >= MAX_REDIRECTS) return fail(`redirected more than ${MAX_REDIRECTS} times`);
          return finish({ redirect: new URL(location, url).href });
        }
        if (status === 404) return finish({ notFound: url });
        if (status !== 200) return fail(`answered HTTP ${status} ${response.statusMessage ?? ''}`.trimEnd());
        const announced = Number(response.headers['content-length']);
        const totalBytes = Number.isFinite(announced) && announced >= 0 ? announced : undefined;
        const tooBig = (bytes: number): string => `sent ${bytes} bytes or more, over the ${maxBytes}-byte cap (DEBUGINFOD_MAXSIZE)`;
        if (totalBytes !== undefined && totalBytes > maxBytes) return fail(tooBig(totalBytes));
        try {
          fs.mkdirSync(entry, { recursive: true });
          out = fs.createWriteStream(partial, { mode: 0o600 });
        } catch (e) {
          return notCached(e as Error);
        }
        out.on('error', notCached);
        let received = 0;
        watch.progress?.({ buildId, file, url, received, total: totalBytes });
        response.on('data', (chunk: Buffer) => {
          if (settled) return;
          alive();
          received += chunk.length;
          if (received > maxBytes) return fail(tooBig(received));
          // The disk slower than the network: the answer waits for it, rather than piling up in memory.
          if (!out!.write(chunk)) {
            response.pause();
            out!.once('drain', () => response.resume());
          }
          watch.progress?.({ buildId, file, url, received, total: totalBytes });
        });
        response.on('error', (e) => fail(`failed mid-answer: ${e.message}`));
        response.on('end', () => {
          if (settled) return;
          if (totalBytes !== undefined && received !== totalBytes) return fail(`ended after ${received} of ${totalBytes} bytes`);
          out!.end(() => {
            if (settled) return;
            let answered: string | undefined;
            try {
              answered = readElfInfo(partial).buildId;
            } catch (e) {
              return fail(`sent a file that is not a debug file: ${(e as Error).message}`);
            }
            if (answered !== buildId) return fail(`sent the debug file of build-id ${answered ?? 'none'}, not ${buildId}`);
            const got = path.join(entry, 'debuginfo');
            try {
              fs.renameSync(partial, got);
            } catch (e) {
              return notCached(e as Error);
            }
            finish({ got });
          });
        });
      });
    });
  }
}

/** A GNU build-id in hex, as servers index them: it names a directory of the cache, so nothing else may pass. */
function isBuildId(id: string): boolean {
  return /^[0-9a-f]{2,128}$/.test(id);
}
