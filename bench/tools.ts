// Running the programs the bench compares against, and timing things.

import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root (this file runs as out/bench/tools.js). */
export const ROOT = path.resolve(__dirname, '..', '..');
/** Scratch space for builds and perf.data files; gitignored. */
export const WORK = path.join(ROOT, 'bench', 'work');
export const PERF = '/usr/bin/perf';
/** Our CLI, as users run it. */
export const SIDEBAND = path.join(ROOT, 'bin', 'sideband.js');

export interface Ran {
  stdout: string;
  stderr: string;
  seconds: number;
}

/**
 * Runs a program to completion and returns its output and wall time.
 * Throws, with its stderr, when it cannot start or exits non-zero.
 */
export function run(file: string, args: readonly string[], options: SpawnSyncOptions = {}): Ran {
  const start = process.hrtime.bigint();
  const r = spawnSync(file, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  if (r.error) throw new Error(`cannot run ${file}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`\`${[file, ...args].join(' ')}\` failed (${r.signal ?? `exit ${r.status}`}):\n${stderr.trim()}`);
  return { stdout: typeof r.stdout === 'string' ? r.stdout : '', stderr, seconds };
}

/** Seconds `fn` takes, the least of `runs` calls: the run least disturbed by the noisy machine. */
export function bestSeconds(runs: number, fn: () => void): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return best;
}

/** The compiled addon the engine loads (native/engine.ts). */
const ADDON = path.join(ROOT, 'native', 'build', 'Release', 'sideband.node');
const ADDON_SOURCES = ['core', 'addon'].map((dir) => path.join(ROOT, 'native', dir));

/**
 * C++ sources changed since the addon was built: the bench does not build
 * it, and a stale one measures code that is no longer there.
 */
export function sourcesNewerThanAddon(): string[] {
  const built = fs.statSync(ADDON).mtimeMs;
  return ADDON_SOURCES.flatMap((dir) => fs.readdirSync(dir).map((name) => path.join(dir, name))).filter((file) => fs.statSync(file).mtimeMs > built);
}

export function ensureWorkDir(): void {
  fs.mkdirSync(WORK, { recursive: true });
}

/** Writes progress to stderr, so stdout holds only the table. */
export function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}
