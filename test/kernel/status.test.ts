// The /proc status reader on its own, against processes whose state moves.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { loadAddon, type ProcStatusResult } from '../../native/engine';
import { decodeRecord, parseAttr, type DecodedRecord, type StreamLayout } from '../../core/records';
import { indexRecords } from '../../core/recordStream';
import { sidebandAttr } from '../fixtures/records';
import { fixture, nameOfLength, Proc, tempDir } from './harness';

const stream: StreamLayout = { attrs: [{ attr: parseAttr(sidebandAttr()), ids: [] }] };

/** The executable mappings /proc/PID/maps lists, by start address, but the gate area. */
function executableStarts(pid: number): string[] {
  return fs
    .readFileSync(`/proc/${pid}/maps`, 'latin1')
    .split('\n')
    .filter((line) => /^\S+ ..x. /.test(line) && !line.endsWith('[vsyscall]'))
    .map((line) => `0x${line.slice(0, line.indexOf('-'))}`);
}

/** The inodes of the namespace links in `dir`, in the order of a NAMESPACES record. */
function namespaceInodes(dir: string): string[] {
  return ['net', 'uts', 'ipc', 'pid', 'user', 'mnt', 'cgroup'].map((name) => /\[(\d+)\]/.exec(fs.readlinkSync(`${dir}/${name}`))![1]);
}

function mmapsOf(status: ProcStatusResult): DecodedRecord[] {
  const index = indexRecords(new Uint8Array(status.records), stream);
  return Array.from({ length: index.count }, (_, k) => decodeRecord(index, k)).filter((r) => r.type === 'MMAP2');
}

test('a mapping whose path exceeds PATH_MAX does not end the snapshot of the maps after it', async () => {
  const dir = tempDir('toolong');
  const fx = Proc.start(fixture('mapped_names'), [dir, nameOfLength(dir, 4500)], { stdin: true });
  const pid = Number((await fx.waitFor(/^ready (\d+)/))[1]);
  try {
    const status = loadAddon().readProcStatus([pid]);
    assert.ok(status.procmapQuery, 'this kernel answers PROCMAP_QUERY, which refuses such a name');
    const records = mmapsOf(status);
    assert.deepEqual(records.map((r) => r.fields.addr), executableStarts(pid), 'every executable mapping, in address order');
    assert.ok(records.every((r) => r.stale.length === 0), 'an idle process gives no reason to doubt its status');
  } finally {
    fx.child.kill();
  }
});

test('a path too long for the kernel is named //toolong, as the kernel names it, and never wraps a record size', async () => {
  const dir = tempDir('wrap');
  // The kernel's MMAP2 names a path of 4088 characters or more //toolong
  // (d_path into PATH_MAX - 8 bytes); 65431 would make a record of exactly
  // 65536 bytes, a size of 0 in its 16-bit header.
  const lengths = [4087, 4088, 4095, 65431, 70000];
  const names = lengths.map((length) => nameOfLength(`${dir}/${length}`, length));
  const fx = Proc.start(fixture('mapped_names'), [dir, ...names.map((name, i) => `${lengths[i]}/${name}`)], { stdin: true });
  const pid = Number((await fx.waitFor(/^ready (\d+)/))[1]);
  try {
    const records = mmapsOf(loadAddon().readProcStatus([pid]));
    assert.deepEqual(records.map((r) => r.fields.addr), executableStarts(pid), 'every executable mapping, in address order');
    const ours = records.map((r) => r.fields.filename as string).filter((name) => name.startsWith(dir) || name === '//toolong');
    assert.deepEqual(ours.sort(), [`${dir}/4087/${names[0]}`, '//toolong', '//toolong', '//toolong', '//toolong'].sort());
  } finally {
    fx.child.kill();
  }
});

test('the maps text and PROCMAP_QUERY name the same mappings alike: a newline, a path too long', async () => {
  const dir = tempDir('newline');
  const names = ['line\nbreak.bin', 'back\\slash.bin', nameOfLength(dir, 4088)];
  const fx = Proc.start(fixture('mapped_names'), [dir, ...names], { stdin: true });
  const pid = Number((await fx.waitFor(/^ready (\d+)/))[1]);
  try {
    const { readProcStatus } = loadAddon();
    const query = readProcStatus([pid], undefined, { procmapQuery: true });
    const text = readProcStatus([pid], undefined, { procmapQuery: false });
    assert.ok(query.procmapQuery && !text.procmapQuery, 'one read through each path');
    const key = (r: DecodedRecord): string => `${r.fields.addr} ${r.fields.len} ${r.fields.pgoff} ${r.fields.filename}`;
    const fromText = mmapsOf(text).map(key);
    assert.deepEqual(fromText, mmapsOf(query).map(key));
    assert.ok(fromText.some((k) => k.endsWith(` ${dir}/line\nbreak.bin`)), 'the newline as the kernel writes it, not \\012');
  } finally {
    fx.child.kill();
  }
});

test("a thread's namespaces are its own where it may have its own, its process's (pid, user) where it may not", async () => {
  const fx = Proc.start(fixture('thread_namespaces'), [], { stdin: true });
  const [pid, own, shared] = (await fx.waitFor(/^ready (\d+) (\d+) (\d+)/)).slice(1).map(Number);
  try {
    const index = indexRecords(new Uint8Array(loadAddon().readProcStatus([pid]).records), stream);
    const namespaces = Array.from({ length: index.count }, (_, k) => decodeRecord(index, k)).filter((r) => r.type === 'NAMESPACES');
    const inodes = (tid: number): string[] | undefined =>
      (namespaces.find((r) => r.tid === tid)?.fields.namespaces as Array<{ ino: string }> | undefined)?.map((link) => link.ino);
    const told = (tid: number): string[] => namespaceInodes(`/proc/${pid}/task/${tid}/ns`);
    for (const tid of [pid, own, shared]) assert.deepEqual(inodes(tid), told(tid), `thread ${tid}: what /proc tells of it`);
    const [leader, mine] = [told(pid), told(own)];
    assert.deepEqual(
      [0, 1, 2, 5, 6].map((i) => mine[i] !== leader[i]),
      [true, true, true, true, true],
      'the fixture thread has net, uts, ipc, mnt and cgroup namespaces of its own',
    );
  } finally {
    fx.child.kill();
  }
});

/**
 * A workqueue worker's name as /proc composes it on each read: the worker
 * ("kworker/1:2", "kworker/u8:0", "kworker/R-rcu_gp") then "+" or "-" and
 * the workqueue of the work it runs or last ran, which changes as it works.
 * The worker part alone stays while the thread lives.
 */
function workerIdentity(comm: string): string {
  return /^kworker\/(?:R-[^+]*?(?=[+-]|$)|u?\d+:\d+H?|dying)/.exec(comm)?.[0] ?? comm;
}

/** The start time in `pid`'s stat (field 22), or undefined once it is gone. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

test('kernel threads: each its FORK, NAMESPACES and COMM as /proc tells them, and no mappings', () => {
  const stats = fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => {
      try {
        const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const ns = Number(fields[6]) & 0x00200000 ? namespaceInodes(`/proc/${name}/ns`) : [];
        return { pid: Number(name), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ppid: Number(fields[1]), flags: Number(fields[6]), start: fields[19], ns };
      } catch {
        return undefined; // gone since the listing
      }
    });
  const PF_KTHREAD = 0x00200000;
  const PF_WQ_WORKER = 0x00000020;
  // The listing's order is the names' (1, 12588, 13, ...), so pool workers
  // (kworker/1:0H) that come and go are among these, beside rescuers.
  const kthreads = stats.filter((s) => s !== undefined && (s.flags & PF_KTHREAD) !== 0).slice(0, 8);
  assert.ok(kthreads.length > 1, 'this machine has kernel threads');
  const index = indexRecords(new Uint8Array(loadAddon().readProcStatus(kthreads.map((k) => k!.pid)).records), stream);
  const records = Array.from({ length: index.count }, (_, k) => decodeRecord(index, k));
  for (const k of kthreads) {
    const mine = records.filter((r) => r.pid === k!.pid);
    if (mine.length === 0) {
      // An idle pool worker exits: one that went between the test's read
      // and the reader's has no status, and must be gone indeed.
      assert.ok(k!.flags & PF_WQ_WORKER, `kernel thread ${k!.pid} (${k!.comm}) has status records`);
      assert.notEqual(startTimeOf(k!.pid), k!.start, `worker ${k!.pid} without status records is gone`);
      continue;
    }
    assert.deepEqual(mine.map((r) => r.type), ['FORK', 'NAMESPACES', 'COMM'], `kernel thread ${k!.pid}`);
    assert.equal(mine[0].fields.ppid, k!.ppid);
    assert.deepEqual((mine[1].fields.namespaces as Array<{ ino: string }>).map((link) => link.ino), k!.ns);
    // The two reads of a workqueue worker's name, the test's and the
    // reader's, may fall either side of a work item (a rescuer's, under
    // load): only the worker part of its name can be compared.
    if (k!.flags & PF_WQ_WORKER) assert.equal(workerIdentity(mine[2].fields.comm as string), workerIdentity(k!.comm), `worker ${k!.pid}`);
    else assert.equal(mine[2].fields.comm, k!.comm);
  }
});

/**
 * A procfs stand-in for `pid` in `dir`: its stat (with `state`, and two
 * threads, so the reader lists the task directory), its maps and ns as
 * links to the real ones, and a thread whose comm is a FIFO when `pause`:
 * the read then waits there until the test has changed what it likes.
 */
function standIn(pid: number, dir: string, opts: { pause: boolean; state?: string }): void {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  fields[0] = opts.state ?? fields[0]; // field 3
  fields[17] = '2'; // field 20, num_threads
  fs.mkdirSync(`${dir}/task/1`, { recursive: true });
  fs.writeFileSync(`${dir}/stat`, `${stat.slice(0, close + 2)}${fields.join(' ')}`);
  for (const link of ['maps', 'ns']) fs.symlinkSync(`/proc/${pid}/${link}`, `${dir}/${link}`);
  fs.symlinkSync(`/proc/${pid}/ns`, `${dir}/task/1/ns`);
  if (opts.pause) execFileSync('mkfifo', [`${dir}/task/1/comm`]);
  else fs.writeFileSync(`${dir}/task/1/comm`, 'other\n');
}

/**
 * Reads `pid`'s status from the procfs stand-in at `root`, running
 * `whilePaused` while the read waits on a thread's comm FIFO; it is told
 * which thread, as the scan visits threads in the order the directory lists.
 */
async function readPaused(root: string, pid: number, whilePaused: (tid: string) => void): Promise<DecodedRecord[]> {
  const engine = require.resolve('../../native/engine');
  const reader = Proc.start(process.execPath, [
    '-e',
    `const [root, pid] = process.argv.slice(1);
     const status = require(${JSON.stringify(engine)}).loadAddon().readProcStatus([Number(pid)], undefined, { procRoot: root });
     console.log('records ' + Buffer.from(status.records).toString('base64'));`,
    root,
    String(pid),
  ]);
  try {
    // A FIFO's writing end opens without waiting only once its reader is there: that thread is being read.
    const fifos = fs.readdirSync(`${root}/${pid}/task`).filter((tid) => fs.statSync(`${root}/${pid}/task/${tid}/comm`).isFIFO());
    let comm: { tid: string; fd: number } | undefined;
    while (!comm) {
      for (const tid of fifos) {
        try {
          comm = { tid, fd: fs.openSync(`${root}/${pid}/task/${tid}/comm`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK) };
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENXIO') throw e;
        }
      }
      if (reader.child.exitCode !== null) throw new Error(`the reader exited before it read a thread: ${reader.lines.join('\n')}`);
      if (!comm) await new Promise((r) => setTimeout(r, 5));
    }
    whilePaused(comm.tid);
    fs.writeSync(comm.fd, 'fx-thread\n');
    fs.closeSync(comm.fd);
    const [, base64] = await reader.waitFor(/^records (\S*)/);
    const index = indexRecords(new Uint8Array(Buffer.from(base64, 'base64')), stream);
    return Array.from({ length: index.count }, (_, k) => decodeRecord(index, k));
  } finally {
    reader.child.kill();
  }
}

async function startMapping(root: string, file: string): Promise<{ fx: Proc; pid: number }> {
  const fx = Proc.start(fixture('mapped_names'), [root, file], { stdin: true });
  return { fx, pid: Number((await fx.waitFor(/^ready (\d+)/))[1]) };
}

test("a thread that vanishes mid-scan marks its process's status stale", async () => {
  // A thread the scan listed, gone before the scan reads it. Real threads
  // that live a few hundred microseconds vanish under some scans, fewer on
  // a busy machine and sometimes none: the stand-in makes it happen each time.
  const root = tempDir('vanish');
  const { fx, pid } = await startMapping(root, 'vanish.bin');
  try {
    const pidDir = `${root}/${pid}`;
    standIn(pid, pidDir, { pause: true });
    // A second thread, its comm a FIFO too, so the scan waits at whichever of the two it reads first.
    fs.mkdirSync(`${pidDir}/task/2`);
    fs.symlinkSync(`/proc/${pid}/ns`, `${pidDir}/task/2/ns`);
    execFileSync('mkfifo', [`${pidDir}/task/2/comm`]);
    const records = await readPaused(root, pid, (reading) => fs.rmSync(`${pidDir}/task/${reading === '1' ? '2' : '1'}`, { recursive: true }));
    assert.ok(records.length > 0 && records.every((r) => r.pid === pid && r.statusOnly));
    // One vanished thread casts doubt on the whole scan of the process.
    assert.ok(records.every((r) => r.stale.includes('vanished') && !r.stale.includes('zombie')), JSON.stringify(records.find((r) => !r.stale.includes('vanished'))));
  } finally {
    fx.child.kill();
  }
});

test('a pid reused mid-read does not mix two processes: everything is read through the first one\'s handle', async () => {
  const root = tempDir('reuse');
  const victim = await startMapping(root, 'victim.bin');
  const impostor = await startMapping(root, 'impostor.bin');
  try {
    const pidDir = `${root}/${victim.pid}`;
    standIn(victim.pid, pidDir, { pause: true });
    standIn(impostor.pid, `${root}/next`, { pause: false });
    // While the read waits, the first process exits (procfs then finds
    // nothing at its handle, not even its stat, and its stat held open
    // reads nothing) and its pid is reused.
    const records = await readPaused(root, victim.pid, () => {
      fs.renameSync(pidDir, `${root}/exited`);
      fs.truncateSync(`${root}/exited/stat`);
      fs.rmSync(`${root}/exited/stat`);
      fs.renameSync(`${root}/next`, pidDir);
    });
    const files = records.filter((r) => r.type === 'MMAP2').map((r) => path.basename(r.fields.filename as string));
    assert.ok(files.includes('victim.bin') && !files.includes('impostor.bin'), `the first process's maps only: ${files}`);
    assert.ok(records.length > 0 && records.every((r) => r.stale.includes('vanished')), 'and marked: it went away while it was read');
  } finally {
    victim.fx.child.kill();
    impostor.fx.child.kill();
  }
});

test('a process that becomes a zombie mid-read, its maps read empty, is marked so', async () => {
  const root = tempDir('dying');
  const dying = await startMapping(root, 'dying.bin');
  try {
    const pidDir = `${root}/${dying.pid}`;
    standIn(dying.pid, pidDir, { pause: true, state: 'S' });
    // While the read waits, the process exits: its stat says Z, and its
    // maps, without an mm, read empty.
    const records = await readPaused(root, dying.pid, () => {
      const stat = fs.readFileSync(`${pidDir}/stat`, 'latin1');
      fs.writeFileSync(`${pidDir}/stat`, stat.replace(/\) S /, ') Z '));
      fs.rmSync(`${pidDir}/maps`);
      fs.writeFileSync(`${pidDir}/maps`, '');
    });
    assert.equal(records.filter((r) => r.type === 'MMAP2').length, 0);
    assert.ok(records.length > 0 && records.every((r) => r.stale.includes('zombie')), 'no maps says nothing of what it had mapped');
  } finally {
    dying.fx.child.kill();
  }
});
