// The capture against the real kernel of this machine, with `perf record`
// attached to the same process as the independent oracle.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import type { DecodedRecord } from '../../core/records';
import { fixture, keyOf, nameOfLength, perfRecordAttach, perfScript, Proc, readCapture, sideband, tempDir } from './harness';

function executableFiles(dir: string): { before: string; after: string } {
  const before = path.join(dir, 'before.bin');
  const after = path.join(dir, 'after.bin');
  fs.writeFileSync(before, Buffer.alloc(4096, 0xc3));
  fs.writeFileSync(after, Buffer.alloc(4096, 0xc3));
  return { before, after };
}

function find(records: DecodedRecord[], what: Partial<DecodedRecord> & { fields?: Record<string, unknown> }): DecodedRecord[] {
  return records.filter(
    (r) =>
      (what.type === undefined || r.type === what.type) &&
      (what.pid === undefined || r.pid === what.pid) &&
      (what.tid === undefined || r.tid === what.tid) &&
      (what.statusOnly === undefined || r.statusOnly === what.statusOnly) &&
      Object.entries(what.fields ?? {}).every(([k, v]) => r.fields[k] === v),
  );
}

function multiset(keys: Array<string | undefined>): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) if (k) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

test('attach: pre-existing state arrives as status-only records, later actions as real ones, none missing against perf', async () => {
  const dir = tempDir('attach');
  const { before, after } = executableFiles(dir);
  const fx = Proc.start(fixture('sideband_fixture'), [before, after], { stdin: true });
  const [, pidText, tidText, beforeAddr] = await fx.waitFor(/^ready (\d+) (\d+) (0x[0-9a-f]+)/);
  const pid = Number(pidText);
  const tid = Number(tidText);
  const oursFile = path.join(dir, 'ours.data');
  const perfFile = path.join(dir, 'perf.data');
  const perf = await perfRecordAttach(pid, perfFile);
  const capture = sideband(['capture', '--pid', String(pid), '-o', oursFile]);
  await capture.waitFor(/attached/);
  fx.send('go');
  assert.equal(await fx.exited, 0, fx.output);
  assert.equal(await capture.exited, 0, capture.output);
  assert.equal(await perf.exited, 0, perf.output);
  const [, afterAddr] = await fx.waitFor(/^mapped (0x[0-9a-f]+)/);
  const [, child] = (await fx.waitFor(/^child (\d+) exited 0/)).map(Number);

  const { file, records } = readCapture(oursFile);
  const status = records.filter((r) => r.statusOnly);
  const real = records.filter((r) => !r.statusOnly && r.type !== 'FINISHED_INIT');

  // The state from before the attach, as status-only records of this process.
  const parent = process.pid;
  assert.equal(find(status, { type: 'FORK', pid, tid: pid, fields: { ppid: parent, exec: true } }).length, 1, 'leader FORK');
  assert.equal(find(status, { type: 'FORK', pid, tid, fields: { ppid: pid, ptid: pid } }).length, 1, 'thread FORK');
  assert.equal(find(status, { type: 'COMM', pid, tid: pid, fields: { comm: 'fx-before', exec: false } }).length, 1);
  assert.equal(find(status, { type: 'COMM', pid, tid, fields: { comm: 'fx-thread' } }).length, 1);
  assert.equal(find(status, { type: 'NAMESPACES', pid, tid: pid }).length, 1);
  assert.equal(find(status, { type: 'NAMESPACES', pid, tid }).length, 1);
  assert.equal(find(status, { type: 'MMAP2', pid, fields: { addr: beforeAddr, filename: before } }).length, 1, 'the file mapped before attach');
  assert.equal(find(status, { type: 'MMAP2', pid, fields: { filename: after } }).length, 0, 'nothing from after the attach');
  const snapshot = file.meta?.snapshots[0];
  assert.ok(snapshot, 'the file records its snapshot');
  for (const r of status) {
    assert.equal(r.provenance, snapshot.path, 'provenance matches the path the capture reports');
    assert.ok(r.time > 0, `status record with a real timestamp: ${JSON.stringify(r)}`);
    assert.deepEqual(r.stale, [], 'an idle process gives no reason to doubt its status');
  }
  assert.equal(status.length, snapshot.records, 'the snapshot counts what it emitted');
  const init = records.findIndex((r) => r.type === 'FINISHED_INIT');
  assert.ok(init > records.findLastIndex((r) => r.statusOnly), 'FINISHED_INIT follows the first snapshot');

  // Everything done after the attach, as real records, later than all status.
  const expectReal: Array<[string, Partial<DecodedRecord> & { fields?: Record<string, unknown> }]> = [
    ['second mapping', { type: 'MMAP2', pid, fields: { addr: afterAddr, filename: after } }],
    ['rename', { type: 'COMM', pid, tid: pid, fields: { comm: 'fx-after', exec: false } }],
    ['fork', { type: 'FORK', pid: child, tid: child, fields: { ppid: pid } }],
    ['exec', { type: 'COMM', pid: child, fields: { comm: 'true', exec: true } }],
    ['child exit', { type: 'EXIT', pid: child, tid: child }],
    ['thread exit', { type: 'EXIT', pid, tid }],
    ['exit', { type: 'EXIT', pid, tid: pid }],
  ];
  for (const [what, pattern] of expectReal) {
    const found = find(real, pattern);
    assert.equal(found.length, 1, `${what}: ${JSON.stringify(pattern)}`);
    assert.equal(found[0].provenance, 'kernel');
  }
  const unshare = find(real, { type: 'NAMESPACES', pid, tid: pid });
  assert.equal(unshare.length, 1, 'the UTS unshare');
  const utsBefore = find(status, { type: 'NAMESPACES', pid, tid: pid })[0].fields.namespaces as Array<{ ino: string }>;
  const utsAfter = unshare[0].fields.namespaces as Array<{ ino: string }>;
  assert.notEqual(utsAfter[1].ino, utsBefore[1].ino, 'a new UTS namespace');
  assert.equal(utsAfter[0].ino, utsBefore[0].ino, 'the same network namespace: status and kernel agree');

  const lastStatus = Math.max(...status.map((r) => r.time));
  const firstReal = Math.min(...real.filter((r) => r.pid === pid || r.pid === child).map((r) => r.time));
  assert.ok(lastStatus < firstReal, `status (${lastStatus}) before every later action (${firstReal})`);
  for (let i = 1; i < records.length; i++) assert.ok(records[i - 1].time <= records[i].time, `time order at record ${i}`);

  // Against perf: every real record perf saw, we saw, and nothing more.
  const perfRecords = perfScript(perfFile);
  const perfReal = multiset(perfRecords.filter((r) => r.time > 0).map((r) => r.key));
  const oursReal = multiset(real.map(keyOf));
  assert.ok(perfReal.size > 8, 'perf saw the actions');
  assert.deepEqual(oursReal, perfReal);

  // perf reads our capture as we do, status records included, without a warning.
  const oursByPerf = perfScript(oursFile);
  assert.deepEqual(multiset(oursByPerf.map((r) => r.key)), multiset(records.map(keyOf)));
  assert.deepEqual(
    oursByPerf.map((r) => r.time),
    records.filter(keyOf).map((r) => Math.floor(r.time / 1000) * 1000),
    'perf orders our records as we do, on the same clock (to its microseconds)',
  );
  const stats = execFileSync('perf', ['report', '--stats', '-i', oursFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(stats, new RegExp(`COMM events:\\s+${find(records, { type: 'COMM' }).length}\\b`));

  // And our /proc status says what perf's own /proc synthesis says, but for
  // [vsyscall]: perf copies it from the maps text, while the kernel (whose
  // ioctl we emulate) reports only real VMAs, and the gate area is none.
  const perfSynth = multiset(
    perfRecords
      .filter((r) => r.time === 0 && (r.type === 'MMAP2' || r.type === 'COMM') && r.key.includes(` ${pid}/`) && !r.key.endsWith('[vsyscall]'))
      .map((r) => r.key),
  );
  const oursSynth = multiset(status.filter((r) => r.type === 'MMAP2' || r.type === 'COMM').map(keyOf));
  assert.deepEqual(oursSynth, perfSynth);
});

test('names /proc tells otherwise (past PATH_MAX, past a record\'s 16-bit size, with a newline) are as the kernel writes them', { timeout: 120_000 }, async () => {
  const dir = tempDir('names');
  // The same shapes of name mapped before the attach (status from /proc:
  // the maps text, since PROCMAP_QUERY refuses the longest) and after it
  // (real records, named by the kernel).
  const shapes = (when: string): string[] => [
    ...[4087, 4088, 65431].map((length) => `${when}/${length}/${nameOfLength(`${dir}/${when}/${length}`, length)}`),
    `${when}/line\nbreak.bin`,
  ];
  const fx = Proc.start(fixture('mapped_names'), [dir, ...shapes('early'), '--', ...shapes('later')], { stdin: true });
  const pid = Number((await fx.waitFor(/^ready (\d+)/))[1]);
  const out = path.join(dir, 'names.data');
  const capture = sideband(['capture', '--pid', String(pid), '-o', out]);
  try {
    await capture.waitFor(/attached/);
    fx.send('go');
    await fx.waitFor(/^mapped/);
    fx.child.stdin!.end();
    assert.equal(await fx.exited, 0, fx.output);
    assert.equal(await capture.exited, 0, capture.output);
  } finally {
    // A capture stuck in its snapshot would not stop at a polite signal.
    capture.child.kill('SIGKILL');
    fx.child.kill();
  }

  const { records } = readCapture(out);
  const named = (statusOnly: boolean, when: string): string[] =>
    find(records, { type: 'MMAP2', pid, statusOnly })
      .map((r) => r.fields.filename as string)
      .filter((name) => name.startsWith(`${dir}/${when}/`) || name === '//toolong')
      .map((name) => name.replace(`${dir}/${when}/`, `${dir}/SAME/`))
      .sort();
  const real = named(false, 'later');
  assert.equal(real.filter((name) => name === '//toolong').length, 2, `the kernel names the two long paths //toolong: ${real}`);
  assert.deepEqual(named(true, 'early'), real);
});

test('launch: a command is followed from its first instruction', async () => {
  const dir = tempDir('launch');
  const { before, after } = executableFiles(dir);
  const out = path.join(dir, 'launch.data');
  const exe = fixture('sideband_fixture');
  const capture = sideband(['capture', '-o', out, '--', exe, before, after], { stdin: true });
  const [, pidText] = await capture.waitFor(/^ready (\d+)/);
  capture.send('go');
  assert.equal(await capture.exited, 0, capture.output);
  const pid = Number(pidText);
  const { records } = readCapture(out);
  const mine = records.filter((r) => r.pid === pid);
  const exec = mine.findIndex((r) => r.type === 'COMM' && r.fields.exec === true);
  assert.ok(exec >= 0, 'the exec is a real COMM record');
  assert.equal(mine[exec].fields.comm, path.basename(exe).slice(0, 15));
  assert.ok(mine.slice(0, exec).every((r) => r.statusOnly), 'before the exec only the status of the waiting child');
  const program = find(mine, { type: 'MMAP2', statusOnly: false, fields: { filename: exe } });
  assert.ok(program.length >= 1, 'the program itself is mapped after the capture started');
  assert.equal(find(mine, { type: 'COMM', statusOnly: false, fields: { comm: 'fx-before' } }).length, 1);
  assert.equal(find(mine, { type: 'MMAP2', statusOnly: false, fields: { filename: before } }).length, 1);
  assert.equal(find(mine, { type: 'EXIT', tid: pid }).length, 1);
});

test('snapshot on demand: `sideband snapshot` makes a running capture emit status again', async () => {
  const dir = tempDir('snapshot');
  const { before, after } = executableFiles(dir);
  const fx = Proc.start(fixture('sideband_fixture'), [before, after], { stdin: true });
  const [, pidText] = await fx.waitFor(/^ready (\d+)/);
  const pid = Number(pidText);
  const out = path.join(dir, 'snap.data');
  const capture = sideband(['capture', '--pid', String(pid), '-o', out]);
  await capture.waitFor(/attached/);
  const ask = sideband(['snapshot', '--capture', String(capture.child.pid)]);
  assert.equal(await ask.exited, 0, ask.output);
  await capture.waitFor(/snapshot 1:/);
  fx.send('go');
  assert.equal(await capture.exited, 0, capture.output);

  const { file, records } = readCapture(out);
  assert.equal(file.meta?.snapshots.length, 2);
  const [first, second] = file.meta!.snapshots;
  const comms = find(records, { type: 'COMM', pid, tid: pid, statusOnly: true, fields: { comm: 'fx-before' } });
  assert.equal(comms.length, 2, 'each snapshot tells the name');
  assert.ok(comms[0].time >= Number(first.start) && comms[0].time <= Number(first.end));
  assert.ok(comms[1].time >= Number(second.start) && comms[1].time <= Number(second.end));
  const rename = find(records, { type: 'COMM', pid, statusOnly: false, fields: { comm: 'fx-after' } });
  assert.ok(comms[1].time < rename[0].time, 'the second snapshot precedes the rename');
  assert.equal(records.filter((r) => r.type === 'FINISHED_INIT').length, 1, 'only the first snapshot finishes init');
});

test('races: status read while the process changes is marked stale, and only then', async () => {
  const dir = tempDir('race');
  const file = path.join(dir, 'churn.bin');
  fs.writeFileSync(file, Buffer.alloc(4096, 0xc3));
  const churn = Proc.start(fixture('churn'), [file, '32']);
  try {
    const [, pidText] = await churn.waitFor(/^ready (\d+)/);
    const pid = Number(pidText);
    const out = path.join(dir, 'race.data');
    const capture = sideband(['capture', '--pid', String(pid), '-o', out]);
    await capture.waitFor(/attached/);
    // A scan races only if the churn maps while the scan reads: on a busy
    // machine the scheduler can keep it off the CPUs for a few scans in a
    // row (five in a row were seen with both cores loaded). So snapshots are
    // asked until one says it read something stale, a hundred at most.
    let snapshots = 0;
    for (let stale = false; !stale && snapshots < 100; ) {
      process.kill(capture.child.pid!, 'SIGUSR1');
      const [line] = await capture.waitFor(new RegExp(`snapshot ${++snapshots}:.*`));
      stale = / possibly stale$/.test(line);
    }
    capture.child.kill('SIGINT');
    assert.equal(await capture.exited, 0, capture.output);

    const { file: data, records } = readCapture(out);
    const raced = records.filter((r) => r.stale.includes('race'));
    assert.ok(raced.length > 0, `a process mapping in a loop races with its /proc read (${snapshots} snapshots asked)`);
    for (const r of raced) {
      const s = data.meta!.snapshots.find((s) => r.time >= Number(s.start) && r.time <= Number(s.end));
      assert.ok(s, 'a stale record belongs to a snapshot');
      const witness = records.some((x) => !x.statusOnly && x.pid === r.pid && x.time >= Number(s.start) && x.time <= Number(s.end));
      assert.ok(witness, 'a real record of the same process inside the read window');
    }
    assert.equal(data.meta!.stats.lost, 0, 'the default ring keeps up with the churn');
  } finally {
    churn.child.kill();
  }
});

test('a zombie leader: its status is marked stale, and the capture lasts until its last thread exits', async () => {
  const dir = tempDir('zombie');
  const file = path.join(dir, 'late.bin');
  fs.writeFileSync(file, Buffer.alloc(4096, 0xc3));
  const fx = Proc.start(fixture('leader_exits'), [file], { stdin: true });
  const pid = Number((await fx.waitFor(/^ready (\d+)/))[1]);
  const stat = (): string => fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  for (let i = 0; i < 200 && !/\) Z /.test(stat()); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(stat(), /\) Z /, 'the leader is a zombie');
  const out = path.join(dir, 'zombie.data');
  const capture = sideband(['capture', '--pid', String(pid), '-o', out]);
  await capture.waitFor(/attached/);
  fx.send('go');
  await fx.waitFor(/^mapped/);
  assert.equal(await capture.exited, 0, capture.output);

  const { records } = readCapture(out);
  const status = records.filter((r) => r.statusOnly && r.pid === pid);
  assert.ok(status.length > 0);
  assert.ok(status.every((r) => r.stale.includes('zombie')), 'a zombie maps nothing: its status cannot be trusted to be whole');
  assert.equal(find(status, { type: 'MMAP2' }).length, 0);
  const late = find(records, { type: 'MMAP2', pid, statusOnly: false, fields: { filename: file } });
  assert.equal(late.length, 1, 'the thread went on after its leader, and so did the capture');
  const exits = find(records, { type: 'EXIT', pid });
  assert.ok(exits.length >= 1 && exits.at(-1)!.time > late[0].time, 'the last thread exits last');
});

test('overflow is never silent: every record the ring could not hold is a LOST record, counted and reported', async () => {
  const dir = tempDir('lost');
  const file = path.join(dir, 'burst.bin');
  fs.writeFileSync(file, Buffer.alloc(4096, 0xc3));
  const out = path.join(dir, 'lost.data');
  const count = 50_000;
  // The sideband alone, so that every loss is one of the records counted here (regionChanges.test.ts has the tracepoints' storm).
  const capture = sideband(['capture', '--ring-pages', '1', '--no-region-tracepoints', '-o', out, '--', fixture('burst'), file, String(count)]);
  assert.equal(await capture.exited, 0, capture.output);
  const { file: data, records } = readCapture(out);
  const lostRecords = records.filter((r) => r.type === 'LOST');
  const lost = lostRecords.reduce((sum, r) => sum + Number(r.fields.lost), 0);
  assert.ok(lost > 0, 'a one-page ring cannot hold a burst');
  assert.equal(data.meta!.stats.lost, lost, 'the capture counts what the LOST records say');
  assert.equal(data.meta!.stats.lostRecords, lostRecords.length);
  assert.match(capture.output, new RegExp(`lost ${lost} records in ${lostRecords.length} overflows`));
  const seen = find(records, { type: 'MMAP2', statusOnly: false, fields: { filename: file } }).length;
  // Whatever else the program did after exec (its own mappings) may be among the lost, never more.
  const others = records.filter((r) => !r.statusOnly && r.type !== 'LOST' && !(r.type === 'MMAP2' && r.fields.filename === file)).length;
  assert.ok(seen + lost >= count, `seen ${seen} + lost ${lost} account for all ${count} mappings`);
  assert.ok(seen + lost <= count + others + 16, 'and lost counts nothing that did not happen');
});

test('the capture lasts while a followed child outlives the target', async () => {
  const dir = tempDir('orphan');
  const out = path.join(dir, 'orphan.data');
  // sh forks sleep into the background and exits at once; the sleep ends only when the test ends it, once sh is gone.
  const capture = sideband(['capture', '-o', out, '--', '/bin/sh', '-c', 'sleep 30 & echo child $! shell $$']);
  const [, childPid, shellPid] = await capture.waitFor(/^child (\d+) shell (\d+)/);
  const child = Number(childPid);
  const shell = Number(shellPid);
  await exited(shell);
  process.kill(child, 'SIGTERM');
  assert.equal(await capture.exited, 0, capture.output);
  const { records } = readCapture(out);
  assert.equal(records.find((r) => r.type === 'FORK' && r.pid === child)!.fields.ppid, shell);
  const shellExit = find(records, { type: 'EXIT', pid: shell, tid: shell });
  const childExit = find(records, { type: 'EXIT', pid: child, tid: child });
  assert.equal(shellExit.length, 1);
  assert.equal(childExit.length, 1, 'the orphaned child was followed to its end');
  assert.ok(childExit[0].time > shellExit[0].time, 'after its parent');
  assert.ok(find(records, { type: 'COMM', pid: child, fields: { comm: 'sleep', exec: true } }).length === 1);
});

/** Resolves once process `pid` has exited (gone, or a zombie not yet reaped); fails after 10 s. */
async function exited(pid: number): Promise<void> {
  for (let tries = 0; tries < 1000; tries++) {
    let state: string | undefined;
    try {
      state = /\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    await new Promise((wake) => setTimeout(wake, 10));
  }
  assert.fail(`process ${pid} did not exit`);
}

test('Ctrl-C stops the capture with a complete file', async () => {
  const dir = tempDir('sigint');
  const target = Proc.start('sleep', ['30']);
  const out = path.join(dir, 'sigint.data');
  const capture = sideband(['capture', '--pid', String(target.child.pid), '-o', out]);
  await capture.waitFor(/attached/);
  capture.child.kill('SIGINT');
  assert.equal(await capture.exited, 0, capture.output);
  target.child.kill();
  const { file, records } = readCapture(out);
  assert.deepEqual(file.warnings, [], 'finished, not cut off');
  assert.equal(file.meta!.stopReason, 'requested');
  assert.ok(records.some((r) => r.statusOnly && r.type === 'COMM' && r.fields.comm === 'sleep'));
});

/** `promise`, or a failure naming `what` if it has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A capture of a launched command that ignores SIGTERM, once it does. */
async function captureIgnoringTerm(dir: string): Promise<{ capture: Proc; pid: number; out: string }> {
  const out = path.join(dir, 'ignores-term.data');
  const capture = sideband(['capture', '-o', out, '--', 'sh', '-c', 'trap "" TERM; exec sleep 1000']);
  const pid = Number((await capture.waitFor(/attached to (\d+)/))[1]);
  // Stop only once the shell has set its trap and exec'ed sleep, which keeps it.
  for (let tries = 0; fs.readFileSync(`/proc/${pid}/comm`, 'utf8') !== 'sleep\n'; tries++) {
    assert.ok(tries < 2000, `pid ${pid} never became sleep`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return { capture, pid, out };
}

test('Ctrl-C with a launched command that ignores SIGTERM: killed after a deadline, said, and the file complete', async () => {
  const { capture, pid, out } = await captureIgnoringTerm(tempDir('ignores-term'));
  capture.child.kill('SIGINT');
  // Before, the engine waited for it for ever: the CLI never exited.
  assert.equal(await within(capture.exited, 60_000, 'the capture to end'), 0, capture.output);
  assert.match(capture.output, new RegExp(`pid ${pid}\\) did not exit within \\d+ s of SIGTERM, so it was killed \\(SIGKILL\\)\\. Fix:`));
  assert.throws(() => process.kill(pid, 0), 'the command is gone');
  const { file } = readCapture(out);
  assert.deepEqual(file.warnings, [], 'finished, not cut off');
  assert.equal(file.meta!.exitStatus, 9, 'its wait status: killed by SIGKILL');
});

test('a second Ctrl-C kills the launched command at once', async () => {
  const { capture, pid, out } = await captureIgnoringTerm(tempDir('second-sigint'));
  capture.child.kill('SIGINT');
  await capture.waitFor(/stopping \(Ctrl-C again/);
  capture.child.kill('SIGINT');
  assert.equal(await within(capture.exited, 60_000, 'the capture to end'), 0, capture.output);
  assert.match(capture.output, new RegExp(`pid ${pid}\\) was killed \\(SIGKILL\\) by a forced stop`));
  assert.doesNotMatch(capture.output, /did not exit within/);
  const { file } = readCapture(out);
  assert.deepEqual(file.warnings, [], 'finished, not cut off');
  assert.equal(file.meta!.exitStatus, 9);
});
