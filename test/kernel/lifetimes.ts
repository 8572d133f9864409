// The lifetimes fixture (test/fixtures/lifetimes.c) as tests use it: built
// with its two libraries where `nobody` can run it, and what it wrote of
// itself read back: the addresses it used, and its maps at each moment.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { fixture, ROOT, tempDir } from './harness';

/** A directory `nobody` can write, holding the fixture, its two libraries, and what it writes. */
export function lifetimesDir(name: string): { dir: string; program: string } {
  const dir = tempDir(name);
  fs.chmodSync(dir, 0o777);
  const program = path.join(dir, 'lifetimes');
  fs.copyFileSync(fixture('lifetimes'), program);
  fs.chmodSync(program, 0o755);
  for (const fn of ['gone_fn', 'new_fn'])
    execFileSync('gcc', ['-g', '-O2', '-fPIC', '-shared', `-DLIB_FN=${fn}`, '-o', path.join(dir, `lib${fn.replace('_fn', '')}.so`), path.join(ROOT, 'test', 'fixtures', 'lifetimes_lib.c')]);
  return { dir, program };
}

/** What the fixture wrote to OUTDIR/addresses. */
export function addressesOf(dir: string): Map<string, bigint> {
  const text = fs.readFileSync(path.join(dir, 'addresses'), 'utf8');
  return new Map(
    text
      .trim()
      .split('\n')
      .map((line) => {
        const [name, hex] = line.split(' ');
        return [name, BigInt(hex)];
      }),
  );
}

/** A moment the fixture marked: when (CLOCK_MONOTONIC ns), and its maps then, as mapsKeys gives them. */
export interface Moment {
  time: number;
  maps: string[];
}

/** Every OUTDIR/maps.N the fixture wrote, in order. */
export function momentsOf(dir: string): Moment[] {
  const moments: Moment[] = [];
  for (let n = 0; fs.existsSync(path.join(dir, `maps.${n}`)); n++) {
    const [time, ...lines] = fs.readFileSync(path.join(dir, `maps.${n}`), 'utf8').split('\n');
    moments.push({ time: Number(time), maps: mapsKeys(lines) });
  }
  return moments;
}

/**
 * The executable file-backed lines of /proc/PID/maps text (or of `sideband
 * regions`, which prints the same format), as `START-END PERMS OFFSET PATH`:
 * what a capture records of a process's mappings, without the device and
 * inode (a build-id MMAP2 has none).
 */
export function mapsKeys(lines: string[]): string[] {
  const keys: string[] = [];
  for (const line of lines) {
    const m = /^([0-9a-f]+-[0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \d+ +(\/.*)$/.exec(line);
    if (m && m[2][2] === 'x') keys.push(`${m[1]} ${m[2]} ${m[3]} ${m[4]}`);
  }
  return keys;
}
