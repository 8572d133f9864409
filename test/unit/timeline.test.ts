import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Misc, PROC_IDS, RecordIndexBuilder, RecordType, Stale, StreamLayout, decodeRecord, inTimeOrder, parseAttr } from '../../core/records';
import { indexRecords } from '../../core/recordStream';
import { Timeline, protString, searchTime } from '../../core/timeline';
import { Body, Mapping, Trailer, comm, concat, exit, fork, lost, memorySource, mmap2, namespaces, record, sidebandAttr, userRecord } from '../fixtures/records';

const KERNEL_ID = 1n;
const IOCTL_ID = 99n;
const stream: StreamLayout = { attrs: [{ attr: parseAttr(sidebandAttr()), ids: [KERNEL_ID, IOCTL_ID] }] };
const real = (pid: number, time: number, tid = pid): Trailer => ({ pid, tid, time, cpu: 0, id: KERNEL_ID });
const proc = (pid: number, time: number, tid = pid, stale = 0): Trailer => ({ pid, tid, time, cpu: 0, id: PROC_IDS[stale] });
const ioctl = (pid: number, time: number, tid = pid): Trailer => ({ pid, tid, time, cpu: 0, id: IOCTL_ID });
const STATUS = Misc.STATUS_ONLY;
const mapping = (addr: bigint, len: bigint, filename: string, pgoff = 0n, prot = 5): Mapping => ({ addr, len, pgoff, maj: 8, min: 1, ino: 42n, prot, flags: 2, filename });

/** An MMAP2 carrying a build-id instead of maj/min/ino (misc bit 14). */
function mmap2BuildId(t: Trailer, addr: bigint, len: bigint, filename: string, buildId: number[]): Uint8Array {
  const id = [...buildId, ...new Array(20 - buildId.length).fill(0)];
  const body = new Body().u32(t.pid, t.tid).u64(addr, len, 0n).u32(buildId.length);
  for (let k = 0; k < 20; k += 4) body.u32(id[k] | (id[k + 1] << 8) | (id[k + 2] << 16) | (id[k + 3] << 24));
  body.u32(5, 2).string(filename);
  return record(RecordType.MMAP2, Misc.USER | (1 << 14), body, t);
}

const timelineOf = (records: Uint8Array[]): Timeline => new Timeline(indexRecords(concat(records), stream));

/**
 * A capture attached to pid 100 (threads 100, 101) at time 1000: its /proc
 * status, then real events: 100 forks 200, which forks 300 and starts a
 * thread 201; 200's leader exits before its thread.
 */
const capture = [
  fork(proc(100, 1000), { pid: 1, tid: 1 }, RecordType.FORK, STATUS | Misc.EXEC_OR_DATA),
  comm(proc(100, 1001), 'server', STATUS),
  fork(proc(100, 1002, 101), { pid: 100, tid: 100 }, RecordType.FORK, STATUS),
  comm(proc(100, 1003, 101), 'worker', STATUS),
  mmap2(proc(100, 1004), mapping(0x400000n, 0x1000n, '/usr/bin/server'), Misc.USER | STATUS),
  userRecord(RecordType.FINISHED_INIT),
  fork(real(200, 2000), { pid: 100, tid: 101 }),
  comm(real(200, 2100), 'child'),
  fork(real(200, 2200, 201), { pid: 200, tid: 200 }),
  fork(real(300, 2300), { pid: 200, tid: 200 }),
  lost(real(200, 2400), KERNEL_ID, 17),
  exit(real(200, 2500), { pid: 100, tid: 100 }),
  exit(real(200, 2600, 201), { pid: 100, tid: 100 }),
  namespaces(real(300, 2700), [{ dev: 4n, ino: 4026531833n }]),
];

describe('Timeline: processes and lanes', () => {
  const tl = timelineOf(capture);

  test('orders lanes global first, then each process, its threads, then its children', () => {
    assert.deepEqual(
      tl.laneOrder().map((l) => `${l.kind}:${l.pid}/${l.tid}`),
      ['global:-1/-1', 'process:100/100', 'thread:100/101', 'process:200/200', 'thread:200/201', 'process:300/300'],
    );
    assert.deepEqual(tl.laneOrder().map((l) => tl.depthOf(l)), [0, 0, 1, 1, 2, 2]);
  });

  test('tells status-only processes from ones forked during the capture', () => {
    const [p100, p200, p300] = tl.processes;
    assert.deepEqual(
      tl.processes.map((p) => [p.pid, p.ppid, p.origin, p.parent?.pid]),
      [
        [100, 1, 'status', undefined],
        [200, 100, 'forked', 100],
        [300, 200, 'forked', 200],
      ],
    );
    assert.equal(p100.forkExec, true);
    assert.equal(p200.forkExec, false);
    assert.equal(p200.forkTime, 2000);
    assert.equal(p300.firstTime, 2300);
  });

  test('a process exits with its last thread, though its leader went first', () => {
    const p200 = tl.processes[1];
    assert.equal(p200.lane.exitTime, 2500);
    assert.equal(p200.threads[0].exitTime, 2600);
    assert.equal(p200.exitTime, 2600);
    assert.ok(Number.isNaN(tl.processes[0].exitTime));
    assert.deepEqual(
      tl.exits.map((e) => [e.lane.tid, e.time]),
      [
        [200, 2500],
        [201, 2600],
      ],
    );
  });

  test('links real forks from the forking thread to the child, and not status FORKs', () => {
    assert.deepEqual(
      tl.forks.map((f) => [f.parent.tid, f.child.tid, f.time]),
      [
        [101, 200, 2000],
        [200, 201, 2200],
        [200, 300, 2300],
      ],
    );
  });

  test('keeps each lane time-sorted with a running count of its status-only records', () => {
    const main = tl.processes[0].lane;
    assert.deepEqual(Array.from(main.records, (i) => tl.records.time[i]), [1000, 1001, 1004]);
    assert.deepEqual(Array.from(main.statusBefore), [0, 1, 2, 3]);
    const p200 = tl.processes[1].lane;
    assert.deepEqual(Array.from(p200.statusBefore), [0, 0, 0, 0]);
    assert.equal(tl.statusOnly, 5);
    assert.equal(tl.startTime, 1000);
    assert.equal(tl.endTime, 2700);
  });

  test('puts LOST and FINISHED_INIT on the global lane and sums what was lost', () => {
    assert.deepEqual(Array.from(tl.global.records, (i) => tl.records.type[i]), [RecordType.FINISHED_INIT, RecordType.LOST]);
    assert.equal(tl.lost.length, 1);
    assert.equal(tl.lostRecords, 17);
    assert.equal(tl.finishedInit.length, 1);
  });

  test('keeps the names of each thread with their times', () => {
    const p100 = tl.processes[0];
    assert.deepEqual(
      tl.commHistory(p100.lane).map((c) => [c.comm, c.time, c.statusOnly]),
      [['server', 1001, true]],
    );
    assert.equal(tl.commAt(p100.threads[0], 5000), 'worker');
    // A thread with no COMM of its own goes by its process's name, a child before its COMM by its parent's.
    assert.equal(tl.commAt(tl.processes[1].threads[0], 5000), 'child');
    assert.equal(tl.commAt(tl.processes[1].lane, 2050), 'server');
    assert.equal(tl.commAt(tl.processes[2].lane, 5000), 'child');
    assert.equal(tl.processes[2].namespaces.length, 1);
  });
});

describe('Timeline: incremental update', () => {
  test('chunk by chunk, with records cut at chunk ends, gives the same model as all at once', () => {
    const bytes = concat(capture);
    const builder = new RecordIndexBuilder(stream);
    const tl = new Timeline();
    const source = memorySource(bytes);
    let fed = 0;
    // 40 bytes: never a whole number of records, so most chunks cut one.
    for (let end = 40; fed < bytes.byteLength; end += 40) {
      const chunk = bytes.slice(fed, Math.min(end, bytes.byteLength));
      fed += builder.add(chunk, fed);
      tl.update(builder.finish(source));
    }
    const whole = timelineOf(capture);
    assert.equal(tl.count, whole.count);
    assert.deepEqual(
      tl.laneOrder().map((l) => Array.from(l.records)),
      whole.laneOrder().map((l) => Array.from(l.records)),
    );
    assert.deepEqual(tl.forks.map((f) => f.record), whole.forks.map((f) => f.record));
  });

  test('refuses an index that shrank', () => {
    const tl = timelineOf(capture);
    assert.throws(() => tl.update(indexRecords(concat(capture.slice(0, 3)), stream)), /shrank/);
  });

  test('a record older than its lane last is inserted in time order, its status counted', () => {
    const tl = timelineOf([comm(real(7, 100), 'a'), comm(real(7, 300), 'b'), comm(proc(7, 200), 'c', STATUS)]);
    const lane = tl.processes[0].lane;
    assert.deepEqual(Array.from(lane.records, (i) => tl.records.time[i]), [100, 200, 300]);
    assert.deepEqual(Array.from(lane.statusBefore), [0, 0, 1, 1]);
    assert.equal(tl.commAt(lane, 250), 'c');
  });

  test('a pid forked again after its process exited is a new process', () => {
    const tl = timelineOf([
      fork(real(50, 100), { pid: 1, tid: 1 }),
      comm(real(50, 110), 'first'),
      exit(real(50, 200), { pid: 1, tid: 1 }),
      fork(real(50, 300), { pid: 1, tid: 1 }),
      comm(real(50, 310), 'second'),
    ]);
    assert.equal(tl.processes.length, 2);
    assert.equal(tl.processAt(50, 150), tl.processes[0]);
    assert.equal(tl.processAt(50, 400), tl.processes[1]);
    assert.equal(tl.commAt(tl.processes[1].lane, 400), 'second');
  });

  test('a tid created again after its thread exited is a new lane, in its own process too', () => {
    const tl = timelineOf([
      fork(real(50, 100), { pid: 1, tid: 1 }),
      fork(real(50, 110, 51), { pid: 50, tid: 50 }),
      comm(real(50, 120, 51), 'old-thread'),
      exit(real(50, 130, 51), { pid: 50, tid: 50 }),
      // The same process makes a thread that gets the exited one's tid.
      fork(real(50, 140, 51), { pid: 50, tid: 50 }),
      comm(real(50, 150, 51), 'new-thread'),
      exit(real(50, 160, 51), { pid: 50, tid: 50 }),
      exit(real(50, 200), { pid: 1, tid: 1 }),
      // A new process with the old pid makes a thread with the old tid.
      fork(real(50, 300), { pid: 1, tid: 1 }),
      fork(real(50, 310, 51), { pid: 50, tid: 50 }),
      comm(real(50, 320, 51), 'reborn-thread'),
    ]);
    assert.equal(tl.processes.length, 2);
    const [first, second] = tl.processes;
    assert.deepEqual(first.threads.map((lane) => tl.commAt(lane, lane.lastTime)), ['old-thread', 'new-thread']);
    assert.deepEqual(first.threads.map((lane) => [lane.firstTime, lane.exitTime]), [[110, 130], [140, 160]]);
    assert.deepEqual(second.threads.map((lane) => tl.commAt(lane, 400)), ['reborn-thread']);
    assert.ok(Number.isNaN(second.threads[0].exitTime), 'the new process\'s thread lives on');
    assert.equal(new Set(tl.lanes.map((lane) => lane.id)).size, tl.lanes.length);
  });
});

describe('Timeline: regionsAt', () => {
  const libc = mapping(0x7f0000000000n, 0x10000n, '/usr/lib/libc.so.6', 0x2000n);
  const records = [
    // Status from the ioctl at 1000, one /proc record marked raced.
    mmap2(ioctl(10, 1000), mapping(0x400000n, 0x2000n, '/usr/bin/app'), Misc.USER | STATUS),
    mmap2(proc(10, 1001, 10, Stale.RACE), libc, Misc.USER | STATUS),
    // A real mapping over the middle of libc at 2000: libc is cut in two.
    mmap2(real(10, 2000), mapping(0x7f0000004000n, 0x4000n, '/tmp/over', 0n, 3)),
    mmap2BuildId(real(10, 2100), 0x500000n, 0x1000n, '/usr/lib/libbuild.so', [0xde, 0xad, 0xbe, 0xef]),
    // 10 forks 20 (a copy of its maps), which then maps its own; 10 forks 30, which execs.
    fork(real(20, 3000), { pid: 10, tid: 10 }),
    mmap2(real(20, 3100), mapping(0x600000n, 0x1000n, '/usr/lib/child.so')),
    mmap2(real(10, 3200), mapping(0x700000n, 0x1000n, '/usr/lib/late-in-parent.so')),
    fork(real(30, 4000), { pid: 10, tid: 10 }),
    comm(real(30, 4100), 'exec-ed', Misc.EXEC_OR_DATA),
    mmap2(real(30, 4100), mapping(0x400000n, 0x3000n, '/usr/bin/new')),
    // Status FORK with FORK_EXEC: a process known from status starts empty.
    fork(proc(40, 5000), { pid: 10, tid: 10 }, RecordType.FORK, STATUS | Misc.EXEC_OR_DATA),
  ];
  const tl = timelineOf(records);
  const summary = (pid: number, t: number) => tl.regionsAt(pid, t).map((r) => `${r.start.toString(16)}-${r.end.toString(16)} ${r.filename}`);

  test('nothing before the first mapping, status-only ones from their own time', () => {
    assert.deepEqual(summary(10, 999), []);
    assert.deepEqual(summary(10, 1000), ['400000-402000 /usr/bin/app']);
    assert.deepEqual(summary(10, 1500), ['400000-402000 /usr/bin/app', '7f0000000000-7f0000010000 /usr/lib/libc.so.6']);
  });

  test('says which regions are status-only, their provenance and stale marks', () => {
    const [app, libcRegion] = tl.regionsAt(10, 1500);
    assert.deepEqual([app.statusOnly, app.provenance, app.stale], [true, 'ioctl', []]);
    assert.deepEqual([libcRegion.statusOnly, libcRegion.provenance, libcRegion.stale], [true, 'proc', ['race']]);
    assert.deepEqual([libcRegion.prot, libcRegion.maj, libcRegion.min, libcRegion.ino, libcRegion.pgoff], [5, 8, 1, '42', 0x2000n]);
    assert.equal(protString(libcRegion.prot, libcRegion.flags), 'r-xp');
  });

  test('a newer mapping replaces the part of an older one it overlaps, offsets kept right', () => {
    const regions = tl.regionsAt(10, 2000);
    assert.deepEqual(
      regions.map((r) => [r.start.toString(16), r.end.toString(16), r.filename, r.pgoff.toString(16), r.statusOnly]),
      [
        ['400000', '402000', '/usr/bin/app', '0', true],
        ['7f0000000000', '7f0000004000', '/usr/lib/libc.so.6', '2000', true],
        ['7f0000004000', '7f0000008000', '/tmp/over', '0', false],
        ['7f0000008000', '7f0000010000', '/usr/lib/libc.so.6', 'a000', true],
      ],
    );
    assert.equal(regions[2].provenance, 'kernel');
    assert.equal(protString(regions[2].prot, regions[2].flags), 'rw-p');
  });

  test('reads the build-id of an MMAP2 that carries one', () => {
    const region = tl.regionsAt(10, 2100).find((r) => r.filename === '/usr/lib/libbuild.so');
    assert.equal(region?.buildId, 'deadbeef');
    assert.equal(region?.maj, undefined);
  });

  test('a forked child has its parent maps as of the fork, then its own', () => {
    const child = summary(20, 3500);
    assert.ok(child.includes('400000-402000 /usr/bin/app'));
    assert.ok(child.includes('600000-601000 /usr/lib/child.so'));
    assert.ok(!child.some((r) => r.includes('late-in-parent')), 'a mapping the parent made after the fork is not the child');
    assert.ok(!summary(10, 3500).some((r) => r.includes('child.so')), 'nor the other way round');
    const inherited = tl.regionsAt(20, 3500).find((r) => r.filename === '/usr/bin/app');
    assert.equal(inherited?.inheritedFrom, 10);
    assert.equal(tl.regionsAt(20, 3500).find((r) => r.filename === '/usr/lib/child.so')?.inheritedFrom, undefined);
  });

  test('an exec starts an empty address space', () => {
    assert.ok(summary(30, 4050).includes('400000-402000 /usr/bin/app'), 'before its exec, the fork copy');
    assert.deepEqual(summary(30, 4200), ['400000-403000 /usr/bin/new']);
  });

  test('a FORK_EXEC status FORK inherits nothing', () => {
    assert.deepEqual(summary(40, 6000), []);
    assert.deepEqual(summary(999, 6000), []);
  });
});

test('searchTime finds the first record at or after a time, or after it', () => {
  const times = new Float64Array([10, 20, 20, 30]);
  const list = new Int32Array([0, 1, 2, 3]);
  assert.deepEqual([5, 10, 20, 25, 30, 35].map((t) => searchTime(list, times, t)), [0, 0, 1, 3, 3, 4]);
  assert.deepEqual([5, 10, 20, 25, 30, 35].map((t) => searchTime(list, times, t, true)), [0, 1, 3, 3, 4, 4]);
});

test('protString reads prot and the shared bit, and says when MMAP gave none', () => {
  assert.equal(protString(7, 1), 'rwxs');
  assert.equal(protString(1, 2), 'r--p');
  assert.equal(protString(undefined, undefined), '----');
});

describe("Timeline: perf's time-0 status", () => {
  // As a --threads directory read in file order gives it: real records (data.N) before the
  // status perf synthesized at time 0 (the header file's data), for the same process.
  const synthesized = (pid: number): Trailer => ({ pid, tid: pid, time: 0, cpu: 0, id: 0n });
  const tl = timelineOf([
    comm(real(400, 5000), 'renamed'),
    mmap2(real(400, 5100), mapping(0x500000n, 0x1000n, '/usr/lib/late.so')),
    comm(synthesized(400), 'daemon'),
    mmap2(synthesized(400), mapping(0x400000n, 0x1000n, '/usr/sbin/daemon')),
  ]);
  const lane = tl.processes[0].lane;

  test('is placed before the real records of its process, whatever the order read', () => {
    assert.deepEqual(lane.comms.map((i) => tl.records.time[i]), [0, 5000]);
    assert.equal(tl.commAt(lane, 4999), 'daemon');
    assert.equal(tl.commAt(lane, 5000), 'renamed');
    assert.deepEqual(tl.processes[0].mmaps.map((i) => tl.records.time[i]), [0, 5100]);
    assert.deepEqual(tl.regionsAt(400, 5000).map((r) => r.filename), ['/usr/sbin/daemon']);
  });

  test('leaves the capture start to the real records: the webview draws it there (displayTime)', () => {
    assert.equal(tl.startTime, 5000);
    assert.equal(tl.endTime, 5100);
  });
});

describe('Timeline: records read out of time order', () => {
  // As a perf pipe held them: the child's ring (its exec, mappings and exit) read before
  // the parent's (its fork of the child), as each ring is read in its own round.
  const child = [
    comm(real(600, 3000), 'ls', Misc.EXEC_OR_DATA),
    mmap2(real(600, 3100), mapping(0x400000n, 0x1000n, '/usr/bin/ls')),
    exit(real(600, 4000), { pid: 500, tid: 500 }),
  ];
  const parent = [comm(real(500, 1000), 'sh'), fork(real(600, 2000), { pid: 500, tid: 500 })];
  const shuffled = indexRecords(concat([...child, ...parent]), stream);

  test('in file order, the fork comes after the exit, and makes the child a second process', () => {
    assert.deepEqual(new Timeline(shuffled).processes.map((p) => p.pid), [600, 500, 600]);
  });

  test('in time order (inTimeOrder), the child is one process, forked by its parent, then exec\'d', () => {
    const ordered = inTimeOrder(shuffled);
    assert.deepEqual(Array.from(ordered.time), [1000, 2000, 3000, 3100, 4000]);
    const tl = new Timeline(ordered);
    assert.deepEqual(tl.processes.map((p) => `${p.pid}:${p.origin}`), ['500:seen', '600:forked']);
    assert.equal(tl.processes[1].parent?.pid, 500);
    assert.equal(tl.commAt(tl.processes[1].lane, 3500), 'ls');
    assert.equal(decodeRecord(ordered, 2).fields.comm, 'ls');
  });

  test('an index in time order already is given back as it is', () => {
    const ordered = inTimeOrder(shuffled);
    assert.equal(inTimeOrder(ordered), ordered);
  });
});
