// Region lifetimes end to end: what `sideband regions` and `resolve --at`
// say of captures of the lifetimes fixture, checked against the maps the
// fixture wrote of itself at marked moments. With the syscall tracepoints;
// as nobody, from periodic status snapshots alone; and after a storm that
// the rings cannot hold, from the snapshot that follows it.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import { readPerfData } from '../../node/perfdata/reader';
import { CLI, Proc, ROOT, sideband } from './harness';
import { addressesOf, lifetimesDir, mapsKeys, momentsOf, type Moment } from './lifetimes';

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `sideband regions` of the capture's target at `at`, as mapsKeys gives them. */
function regionsAt(file: string, pid: number, at: number): string[] {
  const r = cli(['regions', file, '--pid', String(pid), '--at', String(at)]);
  assert.equal(r.status, 0, r.stderr);
  return mapsKeys(r.stdout.split('\n'));
}

/** A launched capture of the fixture, run to its end; its file, the fixture's pid and moments. */
async function captureFixture(name: string, options: string[], fixtureArgs: string[] = [], asNobody = false) {
  const { dir, program } = lifetimesDir(name);
  const file = path.join(dir, `${name}.data`);
  const args = ['capture', ...options, '-o', file, '--', program, dir, ...fixtureArgs];
  const capture = asNobody ? Proc.start('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, CLI, ...args]) : sideband(args);
  assert.equal(await capture.exited, 0, capture.output);
  const data = readPerfData(file);
  return { dir, file, data, pid: data.meta!.target.pid, moments: momentsOf(dir), output: capture.output };
}

describe('region lifetimes from the syscall tracepoints', () => {
  const captured = captureFixture('lifetimes-at', []);

  test('regions --at each marked moment lists the executable file mappings the fixture then had, line for line', async () => {
    const { file, pid, moments } = await captured;
    assert.equal(moments.length, 7);
    for (const [k, moment] of moments.entries()) assert.deepEqual(regionsAt(file, pid, moment.time), moment.maps, `moment ${k}`);
    // The moments differ, or the comparison proves little.
    assert.ok(moments[0].maps.some((line) => line.endsWith('/libgone.so')) && !moments[1].maps.some((line) => line.endsWith('/libgone.so')));
    // At 5: code.bin's first two pages, and the two moved elsewhere with their offset.
    assert.deepEqual(moments[5].maps.filter((line) => line.endsWith('/code.bin')).map((line) => line.split(' ')[2]).sort(), ['00000000', '00002000'], moments[5].maps.join('\n'));
  });

  test('resolve of the unloaded library\'s function: its line before the dlclose, ?? and the munmap after it', async () => {
    const { dir, file, pid, moments } = await captured;
    const gone = `0x${addressesOf(dir).get('gone_fn')!.toString(16)}`;
    const before = cli(['resolve', file, '--pid', String(pid), '--at', String(moments[0].time), gone]);
    assert.equal(before.status, 0, before.stderr);
    assert.match(before.stdout, new RegExp(`^gone_fn ${path.join(ROOT, 'test', 'fixtures', 'lifetimes_lib.c')}:\\d+\n$`));
    // At the moment after the dlclose, and by default: at the process's last moment.
    for (const at of [['--at', String(moments[1].time)], []]) {
      const after = cli(['resolve', file, '--pid', String(pid), ...at, gone]);
      assert.equal(after.status, 1, after.stdout);
      assert.equal(after.stdout, '??\n');
      assert.match(after.stderr, new RegExp(`${gone}: .*it was in ${dir}/libgone.so, unmapped at \\d+ \\(munmap\\)`));
    }
  });

  test('regions --ended says how each region ended, and an exited process has nothing mapped after its exit', async () => {
    const { dir, file, pid, moments } = await captured;
    const r = cli(['regions', file, '--pid', String(pid), '--at', String(moments[6].time), '--ended']);
    assert.equal(r.status, 0, r.stderr);
    const ended = r.stdout.split('\n').filter((line) => line.includes('# '));
    const code = addressesOf(dir).get('code')!;
    const page = (n: number): string => (code + BigInt(n) * 4096n).toString(16);
    const how = (range: string): string | undefined => ended.find((line) => line.startsWith(range))?.replace(/.*# /, '').replace(/\d+/g, 'T');
    assert.equal(how(`${page(6)}-${page(8)}`), 'unmapped at T (munmap)');
    assert.equal(how(`${page(4)}-${page(6)}`), 'no longer executable at T (mprotect)');
    assert.equal(how(`${page(2)}-${page(4)}`), 'moved at T (mremap)');
    assert.ok(ended.some((line) => line.includes(`${dir}/libgone.so  # unmapped at `) && line.endsWith('(munmap)')), ended.join('\n'));
    const afterExit = cli(['regions', file, '--pid', String(pid), '--at', String(moments[6].time + 60e9), '--ended']);
    assert.equal(afterExit.status, 0, afterExit.stderr);
    assert.ok(afterExit.stdout.split('\n').filter(Boolean).every((line) => line.includes('# ')), 'every region ended');
    assert.match(afterExit.stdout, /# ended at \d+ \(exit\)/);
  });

  test('a time that is not one is refused, naming what is', async () => {
    const { file, pid } = await captured;
    const r = cli(['regions', file, '--pid', String(pid), '--at', 'soon']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--at soon is not a time: give nanoseconds on the capture's clock \(as dump --json prints them\), or \+SECONDS from its first record/);
  });
});

/** The first snapshot read wholly between two moments: the fixture did nothing while it read. */
function snapshotBetween(snapshots: { start: string; end: string }[], from: Moment, to: Moment | undefined): { start: number; end: number } {
  const between = snapshots.map((s) => ({ start: Number(s.start), end: Number(s.end) })).find((s) => s.start > from.time && (!to || s.end < to.time));
  assert.ok(between, `a snapshot between the moments at ${from.time} and ${to?.time}: ${JSON.stringify(snapshots)}`);
  return between;
}

describe('region lifetimes without tracepoints, from status snapshots', () => {
  // 150 ms between the fixture's steps, a snapshot every 20 ms: several land between each two.
  const captured = captureFixture('lifetimes-nobody', ['--snapshot-every', '20'], ['--step-ms', '150'], true);

  test('at the first snapshot after each moment, regions lists what the fixture had then', async () => {
    const { file, pid, moments, data } = await captured;
    assert.equal(data.meta!.regionChanges, 'snapshots');
    for (const [k, moment] of moments.entries()) {
      const snapshot = snapshotBetween(data.meta!.snapshots, moment, moments[k + 1]);
      assert.deepEqual(regionsAt(file, pid, snapshot.end), moment.maps, `moment ${k}, snapshot at ${snapshot.start}`);
    }
  });

  test('every region that ended is "gone by" the snapshot after its end, since one before it; none that still exists', async () => {
    const { file, pid, moments } = await captured;
    const last = moments[moments.length - 1];
    const r = cli(['regions', file, '--pid', String(pid), '--at', String(last.time + 100e6), '--ended']);
    assert.equal(r.status, 0, r.stderr);
    const gone = r.stdout
      .split('\n')
      .map((line) => /^(\S+) (\S{4}) ([0-9a-f]+) \S+ \d+ +(\/.*?)  # gone between (\d+) and (\d+) \(found by a status snapshot\)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null);
    // libgone.so, and code.bin's unmapped, protected and moved pages.
    assert.ok(gone.length >= 4, r.stdout);
    for (const m of gone) {
      const [start, end] = m[1].split('-').map((hex) => BigInt(`0x${hex}`));
      const key = `${m[1]} ${m[4]}`;
      // Whether a moment's maps hold all of the range, executable, from the same file.
      const held = moments.map((moment) =>
        moment.maps.some((line) => {
          const [range, , , file] = line.split(' ');
          const [from, to] = range.split('-').map((hex) => BigInt(`0x${hex}`));
          return file === m[4] && from <= start && end <= to;
        }),
      );
      const first = held.findIndex((h, k) => k > 0 && held[k - 1] && !h);
      assert.ok(first > 0, `${key}, said gone, was in the fixture's maps and then left them: ${held}`);
      assert.ok(!held[held.length - 1], `${key} is gone at the end`);
      // It left between moments first-1 and first: the interval must hold that.
      const [after, by] = [Number(m[5]), Number(m[6])];
      assert.ok(after < moments[first].time && by > moments[first - 1].time, `${key}: gone between ${after} and ${by}, but it left between ${moments[first - 1].time} and ${moments[first].time}`);
    }
  });
});

describe('region lifetimes after a storm the rings cannot hold', () => {
  test('the snapshot after the storm leaves the model exactly what the kernel had', async () => {
    const { file, pid, moments, data, output } = await captureFixture('lifetimes-storm', ['--ring-pages', '1', '--snapshot-every', '50'], ['--storm', '100000', '--step-ms', '200']);
    assert.ok(data.meta!.stats.lost > 0, `one-page rings lose some of a storm: ${output}`);
    assert.equal(moments.length, 8);
    const afterStorm = moments[7];
    const snapshot = snapshotBetween(data.meta!.snapshots, afterStorm, undefined);
    assert.deepEqual(regionsAt(file, pid, snapshot.end), afterStorm.maps);
  });
});
