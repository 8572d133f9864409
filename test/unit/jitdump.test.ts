// jitdump: the reader on generated dumps (whole, cut short, hostile, of the
// other byte order), the JIT regions and their ends in the timeline, and
// the loader that finds a process's dump through the MMAP of it.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { JitdumpError, JitRecord, parseJitdump, type JitCodeEvent } from '../../core/jitdump';
import { DumpWriter } from '../fixtures/jitdump';
import { PROC_IDS, parseAttr, type StreamLayout } from '../../core/records';
import { indexRecords } from '../../core/recordStream';
import { endedWords } from '../../core/regionEnd';
import { Timeline } from '../../core/timeline';
import { JitdumpLoader } from '../../node/jitdumps';
import { type Trailer, comm, concat, exit, fork, mmap2, namespaces, sidebandAttr } from '../fixtures/records';
import { Misc, RecordType } from '../../core/records';

const names = (events: JitCodeEvent[]): string[] => events.map((e) => (e.kind === 'load' ? `load ${e.name}@${e.codeAddr.toString(16)}` : e.kind === 'move' ? `move ${e.oldCodeAddr.toString(16)}>${e.newCodeAddr.toString(16)}` : 'close'));

describe('jitdump: the reader', () => {
  const whole = new DumpWriter()
    .load(5000, 0x1000n, 0x40n, 'JS:*add a.js:1:13', 1n)
    .other(JitRecord.CODE_DEBUG_INFO, 5100, 40)
    .other(JitRecord.CODE_UNWINDING_INFO, 5200, 64)
    .other(9, 5300, 8)
    .move(6000, 0x1000n, 0x3000n, 0x40n)
    .close(7000);

  test('reads the header and the loads, moves and close, passing over debug, unwinding and unknown records', () => {
    const dump = parseJitdump(whole.bytes(), 'jit-100.dump');
    assert.deepEqual({ ...dump.header, timestamp: String(dump.header.timestamp) }, { version: 1, elfMachine: 62, pid: 100, timestamp: '1700000000000000', flags: 0n, archTimestamp: false });
    assert.deepEqual(names(dump.events), ['load JS:*add a.js:1:13@1000', 'move 1000>3000', 'close']);
    assert.deepEqual(dump.events[0], { kind: 'load', time: 5000, pid: 100, tid: 100, codeAddr: 0x1000n, codeSize: 0x40n, codeIndex: 1n, name: 'JS:*add a.js:1:13' });
    assert.equal(dump.bytesRead, whole.bytes().byteLength);
    assert.equal(dump.problem, undefined);
  });

  test('a file of the other byte order reads the same', () => {
    const swapped = new DumpWriter(false).load(5000, 0x1000n, 0x40n, 'JS:*add a.js:1:13', 1n).move(6000, 0x1000n, 0x3000n, 0x40n);
    assert.deepEqual(names(parseJitdump(swapped.bytes(), 'jit-100.dump').events), ['load JS:*add a.js:1:13@1000', 'move 1000>3000']);
  });

  test('a file cut inside a record reads up to the last whole one, and says where it stopped', () => {
    const bytes = whole.bytes();
    const moveAt = bytes.byteLength - 16 - 64;
    for (const cut of [moveAt + 3, moveAt + 20, moveAt + 63]) {
      const dump = parseJitdump(bytes.subarray(0, cut), 'jit-100.dump');
      assert.deepEqual(names(dump.events), ['load JS:*add a.js:1:13@1000'], `cut at ${cut}`);
      assert.equal(dump.bytesRead, moveAt);
      assert.equal(dump.partial, true);
      assert.equal(dump.problem, `jit-100.dump: ends inside the record at byte ${moveAt} (cut short, or still being written); read the 4 whole records before it`);
    }
  });

  test('a file that is no jitdump, or of a newer version, is refused with one error naming the cause', () => {
    const elf = new Uint8Array(64);
    elf.set([0x7f, 0x45, 0x4c, 0x46]);
    assert.throws(() => parseJitdump(elf, 'x.dump'), new JitdumpError('x.dump is not a jitdump: it begins with 0x464c457f, not the magic "JiTD". Fix: give the jit-PID.dump a runtime wrote (node --perf-prof).'));
    assert.throws(() => parseJitdump(whole.bytes().subarray(0, 20), 'x.dump'), /x\.dump is 20 bytes, shorter than a jitdump header \(40\)/);
    const newer = whole.bytes().slice();
    newer[4] = 2;
    assert.throws(() => parseJitdump(newer, 'x.dump'), /x\.dump is jitdump version 2, newer than version 1/);
  });

  test('a record whose size contradicts it ends the read there, the records before it kept', () => {
    const tooSmall = new DumpWriter().load(5000, 0x1000n, 0x10n, 'f').claiming(JitRecord.CODE_LOAD, 30, 14).load(6000, 0x2000n, 0x10n, 'g');
    const dump = parseJitdump(tooSmall.bytes(), 'jit-100.dump');
    assert.deepEqual(names(dump.events), ['load f@1000']);
    assert.equal(dump.partial, false, 'a record that contradicts itself is damage, not a dump still being written');
    assert.match(dump.problem!, /the record at byte 114 \(type 0\) says it is 30 bytes, less than its 56 fixed ones: the file is corrupt; read the 1 whole records before it/);
    const zero = parseJitdump(new DumpWriter().claiming(7, 0, 0).load(1, 0x1000n, 1n, 'f').bytes(), 'jit-100.dump');
    assert.deepEqual(zero.events, [], 'a zero-sized record does not loop');
    assert.match(zero.problem!, /says it is 0 bytes, less than its 16 fixed ones/);
  });

  test('a code load whose name runs to the end of its record is refused there', () => {
    const bytes = new DumpWriter().load(5000, 0x1000n, 0n, 'name').bytes();
    bytes[bytes.byteLength - 1] = 0x41; // the name's NUL, the record's last byte
    assert.match(parseJitdump(bytes, 'jit-100.dump').problem!, /the code load at byte 40 has no NUL-terminated name within its 61 bytes/);
  });
});

const KERNEL_ID = 1n;
const stream: StreamLayout = { attrs: [{ attr: parseAttr(sidebandAttr()), ids: [KERNEL_ID] }] };
const real = (pid: number, time: number): Trailer => ({ pid, tid: pid, time, cpu: 0, id: KERNEL_ID });
const dumpMapping = (dir: string) => ({ addr: 0x7f0000000000n, len: 0x1000n, pgoff: 0n, maj: 8, min: 1, ino: 7n, prot: 5, flags: 2, filename: path.join(dir, 'jit-100.dump') });

/** Pid 100 forked at 1000, mapping its jitdump at 1500; it execs at `exec` and exits at `exitAt` when given. */
function processRecords(dir: string, end: { exec?: number; exitAt?: number } = {}): Uint8Array[] {
  const records = [fork(real(100, 1000), { pid: 1, tid: 1 }), mmap2(real(100, 1500), dumpMapping(dir))];
  if (end.exec !== undefined) records.push(comm(real(100, end.exec), 'other', Misc.EXEC_OR_DATA));
  if (end.exitAt !== undefined) records.push(exit(real(100, end.exitAt), { pid: 1, tid: 1 }));
  return records;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-jitdump-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
/** A directory holding jit-100.dump with `bytes`. */
function dumpDir(bytes: Uint8Array): string {
  const dir = path.join(tmp, String(dirs++));
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'jit-100.dump'), bytes);
  return dir;
}

/** The timeline of `records` with its jitdumps loaded; the problems the loader said. */
function loaded(records: Uint8Array[], attr = sidebandAttr()): { tl: Timeline; problems: string[] } {
  const tl = new Timeline(indexRecords(concat(records), stream));
  return { tl, problems: new JitdumpLoader().load(tl, [parseAttr(attr)]) };
}

const jitRows = (tl: Timeline, t: number): string[] => tl.regionsAt(100, t).filter((r) => r.provenance === 'jitdump').map((r) => `${r.start.toString(16)}-${r.end.toString(16)} ${r.filename}`);
const endedRows = (tl: Timeline, t: number): string[] =>
  tl
    .endedRegionsAt(100, t)
    .filter((r) => r.provenance === 'jitdump')
    .map((r) => `${r.start.toString(16)} ${r.filename}: ${endedWords(r.ended, String)}`);

describe('jitdump: JIT regions in time', () => {
  const dump = new DumpWriter()
    .load(2000, 0x1000n, 0x40n, 'JS:^f a.js:1:1')
    .load(2100, 0x2000n, 0x80n, 'JS:*g a.js:2:1')
    .move(3000, 0x1000n, 0x5000n, 0x40n)
    .load(3500, 0x2040n, 0x20n, 'JS:*h a.js:3:1')
    .close(4000)
    .load(4500, 0x8000n, 0x10n, 'JS:^k a.js:4:1');

  test('a load is a region from its time, named as the runtime named it, with provenance jitdump', () => {
    const dir = dumpDir(dump.bytes());
    const { tl, problems } = loaded(processRecords(dir));
    assert.deepEqual(problems, []);
    assert.deepEqual(jitRows(tl, 1999), []);
    assert.deepEqual(jitRows(tl, 2100), ['1000-1040 JS:^f a.js:1:1', '2000-2080 JS:*g a.js:2:1']);
    const region = tl.regionsAt(100, 2100).find((r) => r.provenance === 'jitdump')!;
    assert.equal(region.jitdump, path.join(dir, 'jit-100.dump'));
    assert.equal(region.time, 2000);
  });

  test('a move ends the code where it was and starts it where it went; code loaded over code replaces it; a close ends all', () => {
    const { tl } = loaded(processRecords(dumpDir(dump.bytes())));
    assert.deepEqual(jitRows(tl, 3000), ['2000-2080 JS:*g a.js:2:1', '5000-5040 JS:^f a.js:1:1']);
    assert.deepEqual(endedRows(tl, 3000), ['1000 JS:^f a.js:1:1: moved at 3000 (jitdump code move)']);
    assert.deepEqual(jitRows(tl, 3500), ['2040-2060 JS:*h a.js:3:1', '5000-5040 JS:^f a.js:1:1']);
    assert.deepEqual(endedRows(tl, 3500)[0], '2000 JS:*g a.js:2:1: replaced at 3500 (new JIT code loaded over it)');
    assert.deepEqual(jitRows(tl, 4000), []);
    assert.deepEqual(endedRows(tl, 4000).slice(0, 2), ['2040 JS:*h a.js:3:1: unloaded at 4000 (jitdump close)', '5000 JS:^f a.js:1:1: unloaded at 4000 (jitdump close)']);
    assert.deepEqual(jitRows(tl, 4500), ['8000-8010 JS:^k a.js:4:1'], 'code loaded after a close is there');
  });

  test("the process's exit, or its exec, ends its JIT code", () => {
    const exited = loaded(processRecords(dumpDir(dump.bytes()), { exitAt: 4700 })).tl;
    assert.deepEqual(jitRows(exited, 4600), ['8000-8010 JS:^k a.js:4:1']);
    assert.deepEqual(endedRows(exited, 4700)[0], '8000 JS:^k a.js:4:1: ended at 4700 (exit)');
    const execed = loaded(processRecords(dumpDir(dump.bytes()), { exec: 2500 })).tl;
    assert.deepEqual(jitRows(execed, 2500), []);
    assert.deepEqual(endedRows(execed, 2500), ['1000 JS:^f a.js:1:1: replaced at 2500 (exec)', '2000 JS:*g a.js:2:1: replaced at 2500 (exec)']);
  });
});

describe('jitdump: finding and reading the dump a process mapped', () => {
  test('a dump that ends inside a record gives its whole records; it is read again as it grows, and called cut short once its process exited', () => {
    const bytes = new DumpWriter().load(2000, 0x1000n, 0x40n, 'JS:^f a.js:1:1').load(2100, 0x2000n, 0x80n, 'JS:*g a.js:2:1').bytes();
    const dir = dumpDir(bytes.subarray(0, bytes.byteLength - 5));
    // While the process runs, its runtime has not written all of its last record yet: no problem.
    const tl = new Timeline(indexRecords(concat(processRecords(dir)), stream));
    const loader = new JitdumpLoader();
    assert.deepEqual(loader.load(tl, [parseAttr(sidebandAttr())]), []);
    assert.deepEqual(jitRows(tl, 2100), ['1000-1040 JS:^f a.js:1:1']);
    // The runtime writes on: the grown dump is read again.
    fs.writeFileSync(path.join(dir, 'jit-100.dump'), bytes);
    assert.deepEqual(loader.load(tl, [parseAttr(sidebandAttr())]), []);
    assert.deepEqual(jitRows(tl, 2100), ['1000-1040 JS:^f a.js:1:1', '2000-2080 JS:*g a.js:2:1']);
    // Once it exited, a dump that ends inside a record was cut short: said once.
    fs.writeFileSync(path.join(dir, 'jit-100.dump'), bytes.subarray(0, bytes.byteLength - 5));
    const exited = new Timeline(indexRecords(concat(processRecords(dir, { exitAt: 3000 })), stream));
    const problem = `${path.join(dir, 'jit-100.dump')}: ends inside the record at byte 175 (cut short, or still being written); read the 1 whole records before it`;
    assert.deepEqual(loader.load(exited, [parseAttr(sidebandAttr())]), [problem]);
    assert.deepEqual(jitRows(exited, 2100), ['1000-1040 JS:^f a.js:1:1']);
    assert.deepEqual(new JitdumpLoader().load(exited, [parseAttr(sidebandAttr())]), [problem], 'a new loader (a new look at the capture) says it again');
    assert.deepEqual(loader.load(exited, [parseAttr(sidebandAttr())]), [], 'the same loader does not');
  });

  test('a dump that is not one, or is gone, is one clear problem and no JIT code', () => {
    const dir = dumpDir(new Uint8Array(64));
    const notOne = loaded(processRecords(dir));
    assert.deepEqual(jitRows(notOne.tl, 5000), []);
    assert.deepEqual(notOne.problems, [`${path.join(dir, 'jit-100.dump')} is not a jitdump: it begins with 0x00000000, not the magic "JiTD". Fix: give the jit-PID.dump a runtime wrote (node --perf-prof).`]);
    const gone = loaded(processRecords(path.join(tmp, 'nowhere')));
    assert.equal(gone.problems.length, 1);
    assert.match(gone.problems[0], /^cannot read .*nowhere\/jit-100\.dump, the jitdump pid 100 mapped: ENOENT/);
  });

  test('arch timestamps, or a capture not on CLOCK_MONOTONIC, cannot be placed: refused with the reason and the fix', () => {
    const arch = loaded(processRecords(dumpDir(new DumpWriter(true, 100, 1n).load(2000, 0x1000n, 0x40n, 'f').bytes())));
    assert.deepEqual(jitRows(arch.tl, 5000), []);
    assert.match(arch.problems[0], /stamps its code with the CPU's time-stamp counter \(JITDUMP_FLAGS_ARCH_TIMESTAMP\).*Fix: /);
    const perfClock = sidebandAttr();
    new DataView(perfClock.buffer).setBigUint64(40, new DataView(perfClock.buffer).getBigUint64(40, true) & ~(1n << 25n), true);
    const other = loaded(processRecords(dumpDir(new DumpWriter().load(2000, 0x1000n, 0x40n, 'f').bytes())), perfClock);
    assert.deepEqual(jitRows(other.tl, 5000), []);
    assert.match(other.problems[0], /^the capture's times are not on CLOCK_MONOTONIC \(perf's default clock\).*Fix: capture with sideband, or perf record -k mono\.$/);
  });

  test('a process in another mount namespace that is gone: its path in ours is not read', () => {
    const dir = dumpDir(new DumpWriter().load(2000, 0x1000n, 0x40n, 'f').bytes());
    // The sixth link is the mount namespace: one that is not ours, nor any live process's.
    const links = Array.from({ length: 7 }, (_, k) => ({ dev: 4n, ino: k === 5 ? 1n : 4026531830n + BigInt(k) }));
    const { tl, problems } = loaded([...processRecords(dir), namespaces(real(100, 1600), links)]);
    assert.deepEqual(jitRows(tl, 5000), []);
    assert.match(problems[0], /^pid 100 wrote .*jit-100\.dump in another mount namespace, and no longer runs in it: our file at that path is not its dump/);
  });

  test('status-only MMAPs of a dump already known do not make it a second dump', () => {
    const dir = dumpDir(new DumpWriter().load(2000, 0x1000n, 0x40n, 'f').bytes());
    const again = mmap2({ pid: 100, tid: 100, time: 3000, cpu: 0, id: PROC_IDS[0] }, dumpMapping(dir), Misc.USER | Misc.STATUS_ONLY);
    const { tl, problems } = loaded([...processRecords(dir), again]);
    assert.deepEqual(problems, []);
    assert.deepEqual(jitRows(tl, 5000), ['1000-1040 f']);
    assert.equal(tl.records.type.filter((t) => t === RecordType.MMAP2).length, 2);
  });
});
