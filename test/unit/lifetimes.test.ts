// Region lifetimes in the timeline model: what munmap, mremap, mprotect, brk,
// exec and exit end, as their tracepoints tell it, and what a later status
// snapshot finds gone where no tracepoint told.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Misc, PROC_IDS, RecordType, Stale, StreamLayout, decodeRecord, parseAttr } from '../../core/records';
import { indexRecords } from '../../core/recordStream';
import { Timeline, parseMoment, type Region } from '../../core/timeline';
import { endedWords } from '../../core/regionEnd';
import { Body, Mapping, Trailer, concat, eventName, exit, fork, mmap2, record, sidebandAttr, syscallSample, tracepointAttr } from '../fixtures/records';

const KERNEL_ID = 1n;
const SYSCALLS = ['munmap', 'mremap', 'mprotect', 'brk'] as const;
/** Tracepoint event ids: sys_enter_X is 11 + 2k, sys_exit_X 12 + 2k. */
const enterId = (call: (typeof SYSCALLS)[number]): bigint => BigInt(11 + 2 * SYSCALLS.indexOf(call));
const exitId = (call: (typeof SYSCALLS)[number]): bigint => enterId(call) + 1n;
const X86_64_NR = { munmap: 11, mremap: 25, mprotect: 10, brk: 12 };

const tracepoints = SYSCALLS.flatMap((call, k) => [
  { attr: parseAttr(tracepointAttr(500 + 2 * k)), ids: [enterId(call)], name: `syscalls:sys_enter_${call}` },
  { attr: parseAttr(tracepointAttr(501 + 2 * k)), ids: [exitId(call)], name: `syscalls:sys_exit_${call}` },
]);
const stream: StreamLayout = { attrs: [{ attr: parseAttr(sidebandAttr()), ids: [KERNEL_ID, ...PROC_IDS], name: 'dummy:u' }, ...tracepoints] };

const real = (pid: number, time: number, tid = pid): Trailer => ({ pid, tid, time, cpu: 0, id: KERNEL_ID });
const proc = (pid: number, time: number, stale = 0): Trailer => ({ pid, tid: pid, time, cpu: 0, id: PROC_IDS[stale] });
const STATUS = Misc.USER | Misc.STATUS_ONLY;
const mapping = (addr: bigint, len: bigint, filename: string, pgoff = 0n, prot = 5): Mapping => ({ addr, len, pgoff, maj: 8, min: 1, ino: 42n, prot, flags: 2, filename });
const snapshotFork = (pid: number, time: number, stale = 0): Uint8Array => fork(proc(pid, time, stale), { pid: 1, tid: 1 }, RecordType.FORK, STATUS | Misc.EXEC_OR_DATA);

/** A syscall as its two samples: the entry with its arguments at `time`, the exit with `ret` just after. */
function syscall(pid: number, time: number, call: (typeof SYSCALLS)[number], args: bigint[], ret: bigint, tid = pid): Uint8Array[] {
  return [
    syscallSample({ pid, tid, time, cpu: 0, id: enterId(call) }, X86_64_NR[call], args),
    syscallSample({ pid, tid, time: time + 1, cpu: 0, id: exitId(call) }, X86_64_NR[call], [ret]),
  ];
}

const timelineOf = (records: Uint8Array[], layout = stream): Timeline => new Timeline(indexRecords(concat(records), layout));
const maps = (regions: Region[]): string[] => regions.map((r) => `${r.start.toString(16)}-${r.end.toString(16)} ${r.pgoff.toString(16)} ${r.filename}`);

describe('Timeline: what the mapping syscalls end', () => {
  const records = [
    snapshotFork(10, 1000),
    mmap2(proc(10, 1001), mapping(0x400000n, 0x2000n, '/usr/bin/app'), STATUS),
    mmap2(proc(10, 1001), mapping(0x7f0000000000n, 0x3000n, '/tmp/libgone.so'), STATUS),
    ...syscall(10, 2000, 'munmap', [0x7f0000000000n, 0x3000n], 0n),
    // Fails with EINVAL: nothing changes.
    ...syscall(10, 2100, 'munmap', [0x400001n, 0x1000n], -22n),
    mmap2(real(10, 3000), mapping(0x500000n, 0x4000n, '/tmp/code')),
    // The middle page loses PROT_EXEC: the region splits, and that page leaves the executable view.
    ...syscall(10, 3100, 'mprotect', [0x501000n, 0x1000n, 1n], 0n),
    // The last two pages move to 0x600000 and grow by one (MREMAP_MAYMOVE | MREMAP_FIXED), from thread 11.
    ...syscall(10, 3200, 'mremap', [0x502000n, 0x2000n, 0x3000n, 3n, 0x600000n], 0x600000n, 11),
    // The app's second page is unmapped by a length that is not whole pages.
    ...syscall(10, 3300, 'munmap', [0x401000n, 0x10n], 0n),
    exit(real(10, 4900, 11), { pid: 10, tid: 10 }),
    exit(real(10, 5000), { pid: 1, tid: 1 }),
  ];
  const tl = timelineOf(records);

  test('the index keeps the syscall samples, decoded with their event', () => {
    const index = tl.records;
    const samples = Array.from({ length: index.count }, (_, i) => i).filter((i) => index.type[i] === RecordType.SAMPLE);
    assert.equal(samples.length, 10);
    const entry = decodeRecord(index, samples[0]);
    assert.deepEqual([entry.pid, entry.tid, entry.time], [10, 10, 2000]);
    assert.deepEqual(entry.fields, { event: 'syscalls:sys_enter_munmap', addr: '0x7f0000000000', len: '0x3000' });
    assert.deepEqual(decodeRecord(index, samples[3]).fields, { event: 'syscalls:sys_exit_munmap', ret: '-22' });
  });

  test('munmap ends what it unmaps, at its exit', () => {
    assert.ok(maps(tl.regionsAt(10, 2000)).includes('7f0000000000-7f0000003000 0 /tmp/libgone.so'));
    assert.deepEqual(maps(tl.regionsAt(10, 2001)), ['400000-402000 0 /usr/bin/app']);
    const [gone] = tl.endedRegionsAt(10, 2001);
    assert.equal(gone.filename, '/tmp/libgone.so');
    assert.deepEqual(gone.ended, { how: 'munmap', time: 2001, record: gone.ended.record });
    assert.equal(tl.records.type[gone.ended.record], RecordType.SAMPLE);
  });

  test('a failed call changes nothing', () => {
    assert.deepEqual(maps(tl.regionsAt(10, 2500)), ['400000-402000 0 /usr/bin/app']);
    assert.equal(tl.endedRegionsAt(10, 2500).length, 1);
  });

  test('mprotect splits a region, and the part that lost PROT_EXEC leaves the executable view', () => {
    assert.deepEqual(maps(tl.regionsAt(10, 3101)), ['400000-402000 0 /usr/bin/app', '500000-501000 0 /tmp/code', '502000-504000 2000 /tmp/code']);
    const [lost] = tl.endedRegionsAt(10, 3101);
    assert.deepEqual([lost.start, lost.end, lost.pgoff, lost.ended.how], [0x501000n, 0x502000n, 0x1000n, 'mprotect']);
  });

  test('mremap moves a region, and a grown one runs on in the file', () => {
    const regions = tl.regionsAt(10, 3201);
    assert.deepEqual(maps(regions), ['400000-402000 0 /usr/bin/app', '500000-501000 0 /tmp/code', '600000-603000 2000 /tmp/code']);
    assert.equal(regions[2].time, 3000, 'the moved region is still the one its MMAP2 made');
    const [moved] = tl.endedRegionsAt(10, 3201);
    assert.deepEqual([moved.start, moved.end, moved.ended.how, moved.ended.time], [0x502000n, 0x504000n, 'mremap', 3201]);
  });

  test('a length is rounded up to whole pages, as the kernel does', () => {
    assert.deepEqual(maps(tl.regionsAt(10, 3301)).slice(0, 1), ['400000-401000 0 /usr/bin/app']);
  });

  test('the exit ends every region; what ended is listed latest first', () => {
    assert.deepEqual(tl.regionsAt(10, 5000), []);
    const ended = tl.endedRegionsAt(10, 5000);
    assert.deepEqual(
      ended.map((r) => `${r.ended.how}@${r.ended.time} ${r.start.toString(16)}`),
      ['exit@5000 400000', 'exit@5000 500000', 'exit@5000 600000', 'munmap@3301 401000', 'mremap@3201 502000', 'mprotect@3101 501000', 'munmap@2001 7f0000000000'],
    );
  });

  test('an exit whose entry the capture never saw changes nothing', () => {
    const orphan = timelineOf([
      snapshotFork(20, 1000),
      mmap2(proc(20, 1001), mapping(0x400000n, 0x1000n, '/usr/bin/app'), STATUS),
      syscallSample({ pid: 20, tid: 20, time: 2000, cpu: 0, id: exitId('munmap') }, X86_64_NR.munmap, [0n]),
    ]);
    assert.deepEqual(maps(orphan.regionsAt(20, 3000)), ['400000-401000 0 /usr/bin/app']);
  });

  test('mremap shrinking in place ends the tail; with MREMAP_DONTUNMAP the old range stays', () => {
    const remapped = timelineOf([
      snapshotFork(35, 1000),
      mmap2(proc(35, 1001), mapping(0x500000n, 0x3000n, '/tmp/a'), STATUS),
      mmap2(proc(35, 1001), mapping(0x700000n, 0x1000n, '/tmp/b'), STATUS),
      ...syscall(35, 2000, 'mremap', [0x500000n, 0x3000n, 0x1000n, 0n, 0n], 0x500000n),
      // MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP
      ...syscall(35, 3000, 'mremap', [0x700000n, 0x1000n, 0x1000n, 7n, 0x900000n], 0x900000n),
    ]);
    assert.deepEqual(maps(remapped.regionsAt(35, 2001)), ['500000-501000 0 /tmp/a', '700000-701000 0 /tmp/b']);
    assert.deepEqual(remapped.endedRegionsAt(35, 2001).map((r) => [r.start, r.end, r.ended.how]), [[0x501000n, 0x503000n, 'mremap']]);
    assert.deepEqual(maps(remapped.regionsAt(35, 3001)), ['500000-501000 0 /tmp/a', '700000-701000 0 /tmp/b', '900000-901000 0 /tmp/b']);
    assert.equal(remapped.endedRegionsAt(35, 3001).length, 1);
  });

  test('an exec ends the old image', () => {
    const execed = timelineOf([
      snapshotFork(30, 1000),
      mmap2(proc(30, 1001), mapping(0x400000n, 0x1000n, '/usr/bin/old'), STATUS),
      record(RecordType.COMM, Misc.EXEC_OR_DATA, new Body().u32(30, 30).string('new'), real(30, 2000)),
      mmap2(real(30, 2001), mapping(0x400000n, 0x1000n, '/usr/bin/new')),
    ]);
    assert.deepEqual(maps(execed.regionsAt(30, 2001)), ['400000-401000 0 /usr/bin/new']);
    assert.deepEqual(execed.endedRegionsAt(30, 2001).map((r) => [r.filename, r.ended.how, r.ended.time]), [['/usr/bin/old', 'exec', 2000]]);
  });
});

describe('Timeline: what a later status snapshot no longer lists', () => {
  const libA = mapping(0x7f0000000000n, 0x1000n, '/usr/lib/libA.so');
  const libB = mapping(0x7f1000000000n, 0x4000n, '/usr/lib/libB.so');
  const libC = mapping(0x7f2000000000n, 0x1000n, '/usr/lib/libC.so');
  const app = mapping(0x400000n, 0x1000n, '/usr/bin/app');
  const records = [
    snapshotFork(40, 1000),
    mmap2(proc(40, 1001), app, STATUS),
    mmap2(proc(40, 1001), libA, STATUS),
    mmap2(proc(40, 1001), libB, STATUS),
    mmap2(real(40, 1500), libC),
    // 40 forks 41, which gets a copy of its mappings.
    fork(real(41, 1600), { pid: 40, tid: 40 }),
    // Snapshot 2: libA is gone; libB is listed only in its first page.
    snapshotFork(40, 2000),
    snapshotFork(41, 2000),
    mmap2(proc(40, 2002), app, STATUS),
    mmap2(proc(40, 2002), { ...libB, len: 0x1000n }, STATUS),
    mmap2(proc(40, 2002), libC, STATUS),
    mmap2(proc(41, 2003), app, STATUS),
    // Snapshot 3 raced with the process: what it lacks proves nothing.
    snapshotFork(40, 3000),
    mmap2(proc(40, 3002, Stale.RACE), app, STATUS),
  ];
  const tl = timelineOf(records);

  test('a region the snapshot lacks is gone by it, since the last time it was known mapped', () => {
    assert.ok(maps(tl.regionsAt(40, 2001)).includes('7f0000000000-7f0000001000 0 /usr/lib/libA.so'), 'until the snapshot read the maps');
    assert.deepEqual(maps(tl.regionsAt(40, 2002)), ['400000-401000 0 /usr/bin/app', '7f1000000000-7f1000001000 0 /usr/lib/libB.so', '7f2000000000-7f2000001000 0 /usr/lib/libC.so']);
    const ended = tl.endedRegionsAt(40, 2002);
    assert.deepEqual(
      ended.map((r) => [r.filename, r.start.toString(16), r.end.toString(16), r.ended.how, r.ended.how === 'gone' ? r.ended.after : -1, r.ended.time]),
      [
        ['/usr/lib/libB.so', '7f1000001000', '7f1000004000', 'gone', 1001, 2002],
        ['/usr/lib/libA.so', '7f0000000000', '7f0000001000', 'gone', 1001, 2002],
      ].reverse(),
    );
  });

  test('what the snapshot lists again keeps its own record', () => {
    const lib = tl.regionsAt(40, 2500).find((r) => r.filename === '/usr/lib/libC.so');
    assert.deepEqual([lib?.statusOnly, lib?.provenance, lib?.time], [false, 'kernel', 1500]);
  });

  test('a snapshot with stale records ends nothing', () => {
    assert.equal(tl.regionsAt(40, 3500).length, 3);
    assert.equal(tl.endedRegionsAt(40, 3500).length, 2);
  });

  test("a forked child keeps its parent's mappings from the fork, through a later snapshot's status FORK", () => {
    assert.deepEqual(maps(tl.regionsAt(41, 1700)), ['400000-401000 0 /usr/bin/app', '7f0000000000-7f0000001000 0 /usr/lib/libA.so', '7f1000000000-7f1000004000 0 /usr/lib/libB.so', '7f2000000000-7f2000001000 0 /usr/lib/libC.so']);
    assert.deepEqual(maps(tl.regionsAt(41, 2003)), ['400000-401000 0 /usr/bin/app']);
    assert.equal(tl.processes.find((p) => p.pid === 41)?.forkTime, 1600);
  });
});

describe('syscall samples are read by their event names', () => {
  const munmapOf = [
    fork(proc(50, 1000), { pid: 1, tid: 1 }, RecordType.FORK, STATUS | Misc.EXEC_OR_DATA),
    mmap2(proc(50, 1001), mapping(0x7f0000000000n, 0x1000n, '/usr/lib/x.so'), STATUS),
    ...syscall(50, 2000, 'munmap', [0x7f0000000000n, 0x1000n], 0n),
  ];
  const unnamed: StreamLayout = { attrs: stream.attrs.map(({ attr, ids }) => ({ attr, ids })) };

  test('without names, samples stay unread', () => {
    const tl = timelineOf(munmapOf, unnamed);
    assert.equal(tl.regionsAt(50, 3000).length, 1);
    assert.equal(tl.records.skippedByType.SAMPLE, 2);
  });

  test('EVENT_UPDATE records at the start of the data name them, as a file still being written tells', () => {
    const names = stream.attrs.map((a) => eventName(a.ids[0], a.name!));
    const tl = timelineOf([...names, ...munmapOf], unnamed);
    assert.deepEqual(tl.regionsAt(50, 3000), []);
    assert.equal(tl.endedRegionsAt(50, 3000)[0].ended.how, 'munmap');
  });

  test('a sample too short for its fields is refused, naming them', () => {
    const short = syscallSample({ pid: 50, tid: 50, time: 2000, cpu: 0, id: enterId('mremap') }, X86_64_NR.mremap, [1n, 2n]);
    assert.throws(() => timelineOf([short]), /sys_enter_mremap sample's raw data is 36 bytes, too short for the 56 bytes of its fields/);
  });
});

describe('moments, as the CLI takes and says them', () => {
  test('nanoseconds on the capture clock, or +SECONDS from its first record', () => {
    assert.equal(parseMoment('35223713788000', 1000), 35223713788000);
    assert.equal(parseMoment('+1.5', 1000), 1_500_001_000);
    assert.equal(parseMoment('+.25', 0), 250_000_000);
    for (const bad of ['', '1.5', '-3', '+', '+1e3', '0x10', 'soon']) assert.equal(parseMoment(bad, 0), undefined, bad);
  });

  test('how a region ended, in the nanoseconds --at takes', () => {
    assert.equal(endedWords({ how: 'munmap', time: 2520000000, record: 3 }, String), 'unmapped at 2520000000 (munmap)');
    assert.equal(endedWords({ how: 'gone', after: 1800000000, time: 2520000000, record: 3 }, String), 'gone between 1800000000 and 2520000000 (found by a status snapshot)');
  });

  test('the moment asked of by default: the end, or the last moment of a process that exited', () => {
    const tl = timelineOf([
      snapshotFork(60, 1000),
      snapshotFork(61, 1000),
      mmap2(real(61, 1500), mapping(0x400000n, 0x1000n, '/usr/bin/x')),
      exit(real(61, 2000), { pid: 1, tid: 1 }),
      mmap2(real(60, 3000), mapping(0x400000n, 0x1000n, '/usr/bin/y')),
    ]);
    assert.equal(tl.lastMoment(60), 3000);
    assert.equal(tl.lastMoment(61), 1999);
    assert.deepEqual(maps(tl.regionsAt(61, tl.lastMoment(61))), ['400000-401000 0 /usr/bin/x']);
    assert.ok(Number.isNaN(tl.lastMoment(62)));
  });
});
