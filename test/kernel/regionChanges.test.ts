// What a capture records of region changes perf has no record for: the
// syscall tracepoints of munmap, mremap, mprotect and brk where they are
// allowed, as perf itself reads them; where they are refused, one warning
// and status snapshots; and a storm of them at full speed, lost records
// counted as for any record.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import { readPerfData } from '../../node/perfdata/reader';
import { recordPlaces } from '../fixtures/perfFile';
import { fixture, Proc, readCapture, ROOT, sideband, tempDir } from './harness';

const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const PAGE = BigInt(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());
const TRACEPOINTS = ['munmap', 'mremap', 'mprotect', 'brk'].flatMap((call) => [`syscalls:sys_enter_${call}`, `syscalls:sys_exit_${call}`]);
/** A failed syscall's return, as the exit tracepoint's unsigned long prints it. */
const EINVAL_RETURN = (1n << 64n) - 22n;

/** A directory `nobody` can write, holding the fixture, its two libraries, and what it writes. */
function lifetimesDir(name: string): { dir: string; program: string } {
  const dir = tempDir(name);
  fs.chmodSync(dir, 0o777);
  const program = path.join(dir, 'lifetimes');
  fs.copyFileSync(fixture('lifetimes'), program);
  fs.chmodSync(program, 0o755);
  for (const fn of ['gone_fn', 'new_fn'])
    execFileSync('gcc', ['-g', '-O2', '-fPIC', '-shared', `-DLIB_FN=${fn}`, '-o', path.join(dir, `lib${fn.replace('_fn', '')}.so`), path.join(FIXTURES, 'lifetimes_lib.c')]);
  return { dir, program };
}

/** What the fixture wrote to OUTDIR/addresses. */
function addressesOf(dir: string): Map<string, bigint> {
  const text = fs.readFileSync(path.join(dir, 'addresses'), 'utf8');
  return new Map(text.trim().split('\n').map((line) => {
    const [name, hex] = line.split(' ');
    return [name, BigInt(hex)];
  }));
}

/** The start of the first mapping of `file` in the fixture's OUTDIR/maps.N. */
function mappedAt(dir: string, moment: number, file: string): bigint {
  const line = fs.readFileSync(path.join(dir, `maps.${moment}`), 'utf8').split('\n').find((l) => l.endsWith(`/${file}`));
  assert.ok(line, `maps.${moment} maps ${file}`);
  return BigInt(`0x${line.split('-')[0]}`);
}

interface SyscallSample {
  pid: number;
  event: string;
  /** The exit's return, or the enter's fields, by name. */
  fields: Map<string, bigint>;
}

/** The syscall tracepoint samples `perf script` prints of `file`, each with its fields. */
function perfScriptSyscalls(file: string): SyscallSample[] {
  const r = spawnSync('perf', ['script', '-i', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const samples: SyscallSample[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*\S+\s+(\d+)\s+\[\d+\]\s+[\d.]+:\s+(syscalls:\S+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const fields = new Map<string, bigint>();
    for (const f of m[3].matchAll(/(\w+): (0x[0-9a-f]+)/g)) fields.set(f[1], BigInt(f[2]));
    if (/^0x[0-9a-f]+$/.test(m[3].trim())) fields.set('ret', BigInt(m[3].trim()));
    samples.push({ pid: Number(m[1]), event: m[2], fields });
  }
  return samples;
}

/** The exit that follows the enter at `i` in the same process. */
function exitAfter(samples: SyscallSample[], i: number): SyscallSample {
  const exit = samples.slice(i + 1).find((s) => s.pid === samples[i].pid && s.event === samples[i].event.replace('sys_enter_', 'sys_exit_'));
  assert.ok(exit, `${samples[i].event} has its exit`);
  return exit;
}

describe('region changes with the syscall tracepoints', () => {
  const { dir, program } = lifetimesDir('lifetimes');
  const file = path.join(dir, 'lifetimes.data');
  let capture: Proc;
  const captured = (async () => {
    capture = sideband(['capture', '-o', file, '--', program, dir]);
    assert.equal(await capture.exited, 0, capture.output);
  })();

  test('the capture records them, and its summary and file say so', async () => {
    await captured;
    assert.match(capture.output, /region ends are recorded by the munmap, mremap, mprotect and brk syscall tracepoints/);
    assert.doesNotMatch(capture.output, /warning/);
    const data = readPerfData(file);
    assert.equal(data.meta?.regionChanges, 'tracepoints');
    assert.deepEqual(data.attrs.map((a) => a.name), ['dummy:u', ...TRACEPOINTS]);
    assert.ok(data.features.includes(1), 'the file has TRACING_DATA');
  });

  test('perf script prints each of the fixture\'s region changes with its fields and its result', async () => {
    await captured;
    const pid = readPerfData(file).meta!.target.pid;
    const at = addressesOf(dir);
    const code = at.get('code')!;
    const samples = perfScriptSyscalls(file).filter((s) => s.pid === pid);
    const find = (event: string, fields: Record<string, bigint>): number => {
      const i = samples.findIndex((s) => s.event === `syscalls:sys_enter_${event}` && Object.entries(fields).every(([k, v]) => s.fields.get(k) === v));
      assert.ok(i >= 0, `perf script prints ${event} ${JSON.stringify(fields, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`);
      return i;
    };
    // dlclose unmaps the library from its first page.
    assert.equal(exitAfter(samples, find('munmap', { addr: mappedAt(dir, 0, 'libgone.so') })).fields.get('ret'), 0n);
    assert.equal(exitAfter(samples, find('munmap', { addr: code + 6n * PAGE, len: 2n * PAGE })).fields.get('ret'), 0n);
    assert.equal(exitAfter(samples, find('mprotect', { start: code + 4n * PAGE, len: 2n * PAGE, prot: 1n })).fields.get('ret'), 0n);
    const moved = at.get('moved')!;
    const mremap = find('mremap', { addr: code + 2n * PAGE, old_len: 2n * PAGE, new_len: 2n * PAGE, flags: 3n, new_addr: moved });
    assert.equal(exitAfter(samples, mremap).fields.get('ret'), moved);
    assert.equal(exitAfter(samples, find('munmap', { addr: at.get('bad_munmap')!, len: PAGE })).fields.get('ret'), EINVAL_RETURN, 'the failed munmap returns EINVAL');
    assert.equal(exitAfter(samples, find('brk', { brk: at.get('brk')! })).fields.get('ret'), at.get('brk'));
  });

  test('the samples are in time order with the sideband records, as the rings\' reader orders them', async () => {
    await captured;
    const bytes = fs.readFileSync(file);
    let last = 0n;
    let samples = 0;
    for (const { at, type, size } of recordPlaces(bytes)) {
      if (type >= 64) continue; // ours and perf's own records carry no time
      // A sample's time follows its IDENTIFIER and TID; any other record's is in its trailer.
      const time = bytes.readBigUInt64LE(type === 9 ? at + 24 : at + size - 24);
      assert.ok(time >= last, `the ${type === 9 ? 'sample' : `record of type ${type}`} at byte ${at} is stamped ${time}, before ${last}`);
      last = time;
      if (type === 9) samples++;
    }
    assert.ok(samples > 0);
  });

  test('perf report --stats counts the samples of each tracepoint as our file holds them', async () => {
    await captured;
    const data = readPerfData(file);
    const nameOf = new Map(data.attrs.flatMap((a) => a.ids.map((id) => [id, a.name] as const)));
    const ours: Record<string, number> = {};
    const bytes = fs.readFileSync(file);
    for (const { at, type } of recordPlaces(bytes)) {
      if (type !== 9) continue;
      const name = nameOf.get(bytes.readBigUInt64LE(at + 8)) ?? 'unknown';
      ours[name] = (ours[name] ?? 0) + 1;
    }
    const r = spawnSync('perf', ['report', '--stats', '-i', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const perfs: Record<string, number> = {};
    for (const m of r.stdout.matchAll(/^(syscalls:\S+) stats:\n\s*SAMPLE events:\s*(\d+)/gm)) perfs[m[1]] = Number(m[2]);
    assert.deepEqual(perfs, ours);
    assert.ok(TRACEPOINTS.every((name) => (ours[name] ?? 0) > 0), `every tracepoint has samples: ${JSON.stringify(ours)}`);
  });
});

test('the tracepoints follow the children the target forks, and no other process', async () => {
  const file = path.join(tempDir('tracepoint-children'), 'children.data');
  const capture = sideband(['capture', '-o', file, '--', '/bin/sh', '-c', '/bin/true; /bin/true']);
  assert.equal(await capture.exited, 0, capture.output);
  const { file: data, records } = readCapture(file);
  const followed = new Set([data.meta!.target.pid, ...records.filter((r) => r.type === 'FORK' && !r.statusOnly).map((r) => r.pid)]);
  const bytes = fs.readFileSync(file);
  const sampled = new Set<number>();
  // A sample's pid follows its IDENTIFIER.
  for (const { at, type } of recordPlaces(bytes)) if (type === 9) sampled.add(bytes.readUInt32LE(at + 16));
  assert.equal(followed.size, 3, 'the shell and its two children');
  assert.deepEqual([...sampled].sort(), [...followed].sort());
});

describe('region changes where the tracepoints are refused', () => {
  test('as nobody: one warning naming the cause and the fix, the file says snapshots, and --snapshot-every takes several', async () => {
    const { dir, program } = lifetimesDir('lifetimes-nobody');
    const file = path.join(dir, 'nobody.data');
    const capture = Proc.start('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, path.join(ROOT, 'bin', 'sideband.js'), 'capture', '--snapshot-every', '20', '-o', file, '--', program, dir, '--wait']);
    // The fixture waits for OUTDIR/go: snapshots are taken meanwhile.
    await capture.waitFor(/snapshot 3:/);
    fs.writeFileSync(path.join(dir, 'go'), '');
    assert.equal(await capture.exited, 0, capture.output);
    const warnings = capture.lines.filter((l) => l.includes('warning') && l.includes('tracepoint'));
    assert.equal(warnings.length, 1, capture.output);
    assert.match(
      warnings[0],
      /cannot read the syscall tracepoints' ids in \/sys\/kernel\/tracing \(Permission denied\): region ends will be found by status snapshots only\. Fix: run as root, or give the capturing user CAP_PERFMON .*and read access to tracefs/,
    );
    assert.match(capture.output, /region ends are found only by comparing status snapshots/);
    const data = readPerfData(file);
    assert.equal(data.meta?.regionChanges, 'snapshots');
    assert.equal(data.meta?.warnings.filter((w) => w.code === 'no-region-tracepoints').length, 1);
    assert.deepEqual(data.attrs.map((a) => a.name), ['dummy:u']);
    assert.ok(!data.features.includes(1), 'no TRACING_DATA without tracepoints');
    assert.ok(data.meta!.snapshots.length >= 4, `${data.meta!.snapshots.length} snapshots`);
    assert.equal(fs.readFileSync(path.join(dir, 'addresses'), 'utf8').split('\n').length, 7, 'the fixture ran to its end');
  });

  test('as root without capabilities: tracefs reads, but the kernel refuses the open; one warning, and the capture goes on', async () => {
    const file = path.join(tempDir('no-caps'), 'nocaps.data');
    const capture = Proc.start('setpriv', ['--bounding-set=-all', '--inh-caps=-all', process.execPath, path.join(ROOT, 'bin', 'sideband.js'), 'capture', '-o', file, '--', '/bin/true']);
    assert.equal(await capture.exited, 0, capture.output);
    const warnings = capture.lines.filter((l) => l.includes('warning') && l.includes('tracepoint'));
    assert.equal(warnings.length, 1, capture.output);
    assert.match(warnings[0], /cannot open the tracepoint syscalls:sys_enter_munmap \(Permission denied\): region ends will be found by status snapshots only\. Fix: /);
    const data = readPerfData(file);
    assert.equal(data.meta?.regionChanges, 'snapshots');
    assert.deepEqual(data.attrs.map((a) => a.name), ['dummy:u']);
  });

  test('--no-region-tracepoints turns them off as root, without a warning', async () => {
    const dir = tempDir('no-tracepoints');
    const file = path.join(dir, 'off.data');
    const capture = sideband(['capture', '--no-region-tracepoints', '-o', file, '--', '/bin/true']);
    assert.equal(await capture.exited, 0, capture.output);
    assert.doesNotMatch(capture.output, /warning/);
    const data = readPerfData(file);
    assert.equal(data.meta?.regionChanges, 'snapshots');
    assert.deepEqual(data.attrs.map((a) => a.name), ['dummy:u']);
  });

  test('--snapshot-every refuses what is not a positive number of milliseconds', async () => {
    const capture = sideband(['capture', '--snapshot-every', 'often', '-o', path.join(tempDir('bad-every'), 'x.data'), '--', '/bin/true']);
    assert.equal(await capture.exited, 2);
    assert.match(capture.output, /--snapshot-every needs a positive number, not often/);
  });
});

describe('a storm of mmap and munmap at full speed, into one-page rings', () => {
  test('the capture keeps up or counts what it lost, and never fails', async () => {
    const dir = tempDir('syscall-storm');
    const storm = path.join(dir, 'storm');
    execFileSync('gcc', ['-O2', '-o', storm, path.join(ROOT, 'bench', 'storm.c')]);
    const file = path.join(dir, 'storm.data');
    const iterations = 100_000;
    const capture = sideband(['capture', '--ring-pages', '1', '-o', file, '--', storm, String(iterations), path.join(dir, 'storm.map'), path.join(dir, 'storm.report')]);
    assert.equal(await capture.exited, 0, capture.output);
    const data = readPerfData(file);
    const munmaps = new Set(data.attrs.filter((a) => a.name?.endsWith('_munmap')).flatMap((a) => a.ids));
    const bytes = fs.readFileSync(file);
    let kept = 0;
    for (const { at, type } of recordPlaces(bytes)) if (type === 9 && munmaps.has(bytes.readBigUInt64LE(at + 8))) kept++;
    const { lost } = data.meta!.stats;
    assert.ok(lost > 0, 'one-page rings cannot hold a storm at full speed');
    assert.match(capture.output, /the kernel lost \d+ records/);
    // Each iteration's munmap is an enter and an exit: what is not kept was counted lost.
    assert.ok(kept + lost >= 2 * iterations, `${kept} munmap samples kept, ${lost} records lost, of ${2 * iterations}`);
  });
});
