// The Perfetto export, decoded with the same messages generated from
// Perfetto's .proto: a track for every process and thread, an instant event
// for every record at its time in its category, the records' fields, the
// region lifetimes of the model as slices, and the clock declared; and
// `sideband export` over a written file, with its errors.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { fromBinary } from '@bufbuild/protobuf';

import { BuiltinClock, TracePacket_SequenceFlags, TraceSchema, TrackEvent_Type } from '../../core/perfetto/gen/perfetto_trace_pb';
import { decodeRecord, Misc, parseAttr, PROC_IDS, RecordType, Stale, type RecordIndex, type StreamLayout } from '../../core/records';
import { indexRecords } from '../../core/recordStream';
import { regionLifetimes } from '../../core/lifetimes';
import { Timeline } from '../../core/timeline';
import { PerfDataWriter } from '../../node/perfdata/writer';
import { comm, concat, exit, fork, lost, mmap2, namespaces, sidebandAttr, syscallSample, tracepointAttr, userRecord, type Mapping, type Trailer } from '../fixtures/records';
import { testMeta } from '../fixtures/meta';
import { decodedTrace, perfettoTrace, type DecodedTrace } from '../fixtures/perfetto';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'bin', 'sideband.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-perfetto-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const KERNEL_ID = 1n;
const MUNMAP_ENTER = 11n;
const MUNMAP_EXIT = 12n;
const X86_64_MUNMAP = 11;
const stream: StreamLayout = {
  attrs: [
    { attr: parseAttr(sidebandAttr()), ids: [KERNEL_ID, ...PROC_IDS], name: 'dummy:u' },
    { attr: parseAttr(tracepointAttr(500)), ids: [MUNMAP_ENTER], name: 'syscalls:sys_enter_munmap' },
    { attr: parseAttr(tracepointAttr(501)), ids: [MUNMAP_EXIT], name: 'syscalls:sys_exit_munmap' },
  ],
};

const real = (pid: number, time: number, tid = pid): Trailer => ({ pid, tid, time, cpu: 1, id: KERNEL_ID });
const proc = (pid: number, time: number, stale = 0, tid = pid): Trailer => ({ pid, tid, time, cpu: 0, id: PROC_IDS[stale] });
const STATUS = Misc.USER | Misc.STATUS_ONLY;
const mapping = (addr: bigint, len: bigint, filename: string, pgoff = 0n): Mapping => ({ addr, len, pgoff, maj: 8, min: 1, ino: 42n, prot: 5, flags: 2, filename });

/**
 * Process 10 was there before the attach, with a thread 11 (a snapshot that
 * raced marks one mapping stale); it maps and unmaps a library, forks 20,
 * which execs; the kernel loses records; 20 exits.
 */
const records = [
  fork(proc(10, 1000), { pid: 1, tid: 1 }, RecordType.FORK, STATUS | Misc.EXEC_OR_DATA),
  fork(proc(10, 1001, 0, 11), { pid: 10, tid: 10 }, RecordType.FORK, STATUS),
  namespaces(proc(10, 1002), [{ dev: 4n, ino: 4026531836n }], STATUS),
  comm(proc(10, 1003), 'app', STATUS),
  comm(proc(10, 1004, 0, 11), 'worker', STATUS),
  mmap2(proc(10, 1005), mapping(0x400000n, 0x2000n, '/usr/bin/app', 0x1000n), STATUS),
  mmap2(proc(10, 1006, Stale.RACE), mapping(0x7e0000000000n, 0x1000n, '/usr/lib/libc.so.6'), STATUS),
  userRecord(RecordType.FINISHED_INIT),
  mmap2(real(10, 2000, 11), mapping(0x7f0000000000n, 0x3000n, '/tmp/libgone.so')),
  syscallSample({ ...real(10, 3000), id: MUNMAP_ENTER }, X86_64_MUNMAP, [0x7f0000000000n, 0x3000n]),
  syscallSample({ ...real(10, 3001), id: MUNMAP_EXIT }, X86_64_MUNMAP, [0n]),
  fork(real(20, 4000), { pid: 10, tid: 11 }),
  comm(real(20, 4100), 'child', Misc.USER | Misc.EXEC_OR_DATA),
  mmap2(real(20, 4200), mapping(0x400000n, 0x1000n, '/usr/bin/child')),
  lost(real(-1, 4500), KERNEL_ID, 7),
  exit(real(20, 5000), { pid: 10, tid: 11 }),
];
const meta = testMeta({
  snapshots: [{ index: 0, path: 'proc', processes: 1, records: 7, stale: 1, gone: 0, start: '1000', end: '1010' }],
  markers: [{ time: '4300', kind: 'stopped', label: 'breakpoint' }],
});
const index: RecordIndex = indexRecords(concat(records), stream);
const timeline = new Timeline(index);
const exported = perfettoTrace({ index, stream, meta });
const trace: DecodedTrace = decodedTrace(exported.bytes);

describe('the Perfetto export', () => {
  test('is a Trace that Perfetto\'s own messages decode, its packets on one sequence', () => {
    const decoded = fromBinary(TraceSchema, exported.bytes);
    assert.ok(decoded.packet.length > index.count);
    for (const p of decoded.packet) assert.deepEqual(p.optionalTrustedPacketSequenceId, { case: 'trustedPacketSequenceId', value: 1 });
    assert.deepEqual(exported.warnings, []);
  });

  test('declares CLOCK_MONOTONIC, the capture\'s clock, as every packet\'s and as the trace\'s own, in the sequence\'s first packet', () => {
    const [first, ...rest] = fromBinary(TraceSchema, exported.bytes).packet;
    assert.equal(first.sequenceFlags, TracePacket_SequenceFlags.SEQ_INCREMENTAL_STATE_CLEARED);
    assert.equal(first.tracePacketDefaults?.timestampClockId, BuiltinClock.MONOTONIC);
    assert.equal(first.data.case, 'clockSnapshot');
    const snapshot = first.data.value;
    assert.equal(snapshot.primaryTraceClock, BuiltinClock.MONOTONIC);
    assert.deepEqual(snapshot.clocks.map((c) => [c.clockId, c.timestamp]), [[BuiltinClock.MONOTONIC, 1000n]]);
    // The rest rely on those defaults: they say so, and override none.
    for (const p of rest) {
      assert.equal(p.sequenceFlags, TracePacket_SequenceFlags.SEQ_NEEDS_INCREMENTAL_STATE);
      assert.equal(p.timestampClockId, 0);
    }
  });

  test('interns its names and strings: each written once, in the interned data of the first packet that uses it, events and annotations naming them by iid', () => {
    const packets = fromBinary(TraceSchema, exported.bytes).packet;
    const written = new Map<string, number>();
    const count = (kind: string, iid: bigint): void => void written.set(`${kind} ${iid}`, (written.get(`${kind} ${iid}`) ?? 0) + 1);
    for (const p of packets) {
      const d = p.internedData;
      if (!d) continue;
      for (const kind of ['eventNames', 'eventCategories', 'debugAnnotationNames', 'debugAnnotationStringValues'] as const) for (const { iid } of d[kind]) count(kind, iid);
    }
    assert.ok(written.size > 0);
    for (const [entry, times] of written) assert.equal(times, 1, `${entry} interned ${times} times`);
    const events = packets.flatMap((p) => (p.data.case === 'trackEvent' ? [p.data.value] : []));
    for (const e of events) {
      assert.notEqual(e.nameField.case, 'name');
      assert.deepEqual(e.categories, []);
      for (const a of e.debugAnnotations) assert.equal(a.nameField.case, 'nameIid');
    }
    // Several records are COMMs: a name is written once, though used more often.
    const names = [...written.keys()].filter((entry) => entry.startsWith('eventNames')).length;
    assert.ok(events.filter((e) => e.nameField.case === 'nameIid').length > names);
  });

  test("a file on perf's own clock declares BUILTIN_CLOCK_PERF; events on two clocks are declared on the first's, with a warning", () => {
    const perfClock = sidebandAttr();
    new DataView(perfClock.buffer).setBigUint64(40, new DataView(perfClock.buffer).getBigUint64(40, true) & ~(1n << 25n), true);
    const onPerf: StreamLayout = { attrs: [{ attr: parseAttr(perfClock), ids: [KERNEL_ID], name: 'dummy:u' }] };
    const one = perfettoTrace({ index: indexRecords(concat([comm(real(10, 5), 'x')]), onPerf), stream: onPerf });
    assert.equal(one.clock, BuiltinClock.PERF);
    assert.deepEqual(one.warnings, []);
    const mixed: StreamLayout = { attrs: [...onPerf.attrs, { ...stream.attrs[0], ids: [2n] }] };
    const two = perfettoTrace({ index: indexRecords(concat([comm(real(10, 5), 'x')]), mixed), stream: mixed });
    assert.equal(two.clock, BuiltinClock.PERF);
    assert.equal(two.warnings.length, 1);
    assert.match(two.warnings[0], /not on one clock.*perf_clock, clockid 1.*Fix:/);
  });

  test('has a process track (pid, name) for every process and a thread track (pid, tid) for every thread, under its process', () => {
    const processes = [...trace.processes.values()].map((p) => `${p.pid} ${p.name}`).sort();
    assert.deepEqual(processes, ['10 app', '20 child']);
    const threads = [...trace.threads.values()].map((t) => `${t.pid}/${t.tid} ${t.name} under ${trace.processes.get(t.parent)?.pid}`).sort();
    assert.deepEqual(threads, ['10/10 app under 10', '10/11 worker under 10', '20/20 child under 20']);
    // Against the model: each of its lanes has its track.
    const lanes = timeline.lanes.filter((l) => l.kind !== 'global').map((l) => `${l.pid}/${l.tid}`).sort();
    assert.deepEqual([...trace.threads.values()].map((t) => `${t.pid}/${t.tid}`).sort(), lanes);
    // Descriptors come before the events that use them.
    const firstEvent = trace.order.indexOf('event');
    assert.ok(firstEvent > 0 && trace.order.lastIndexOf('descriptor') < firstEvent);
  });

  test('has an instant event for every record, at its time, on its thread\'s track, named by its type, in the category status-only or real', () => {
    const expected = Array.from({ length: index.count }, (_, i) => {
      const r = decodeRecord(index, i);
      const where = r.type === 'LOST' ? 'LOST records' : r.type === 'FINISHED_INIT' ? 'capture' : `${r.pid}/${r.tid}`;
      const name = r.type === 'SAMPLE' ? String(r.fields.event) : r.type;
      return `${r.time} ${where} ${name} ${r.statusOnly ? 'status-only' : 'real'}`;
    });
    const instants = trace.events.filter((e) => e.type === TrackEvent_Type.INSTANT && trace.named.get(e.track) !== 'debugger');
    const got = instants.map((e) => `${e.ts} ${trace.trackName(e.track)} ${e.name} ${e.categories.join(',')}`);
    assert.deepEqual(got.sort(), expected.sort());
    assert.equal(expected.filter((e) => e.endsWith('status-only')).length, 7);
  });

  test("each event carries its record's provenance, stale reasons and fields", () => {
    const args = (name: string, ts: bigint): Record<string, unknown> => {
      const e = trace.events.find((x) => x.name === name && x.ts === ts);
      assert.ok(e, `no ${name} at ${ts}`);
      return e.args;
    };
    assert.deepEqual(args('MMAP2', 1006n), {
      provenance: 'proc', stale: 'race', pid: 10n, tid: 10n, cpu: 0n,
      addr: '0x7e0000000000', len: '0x1000', end: '0x7e0000001000', pgoff: '0x0', data: false,
      maj: 8n, min: 1n, ino: '42', inoGeneration: '0', prot: 5n, flags: 2n, filename: '/usr/lib/libc.so.6',
    });
    assert.equal(args('MMAP2', 1005n).pgoff, '0x1000');
    assert.equal(args('MMAP2', 1005n).stale, undefined);
    assert.deepEqual(args('FORK', 4000n), { provenance: 'kernel', pid: 20n, tid: 20n, cpu: 1n, ppid: 10n, ptid: 11n, forkTime: 4000n, exec: false });
    assert.equal(args('COMM', 1004n).comm, 'worker');
    assert.deepEqual(args('NAMESPACES', 1002n).namespaces, [{ dev: '0x4', ino: '4026531836' }]);
    assert.deepEqual(args('syscalls:sys_enter_munmap', 3000n), { provenance: 'kernel', pid: 10n, tid: 10n, cpu: 1n, event: 'syscalls:sys_enter_munmap', addr: '0x7f0000000000', len: '0x3000' });
    assert.equal(args('LOST', 4500n).lost, 7n);
  });

  test("has the model's region lifetimes as slices on each process's mappings rows, which never overlap within a row", () => {
    for (const process of timeline.processes) {
      const expected = regionLifetimes(timeline, process).map((l) => `${l.from}-${Number.isFinite(l.to) ? l.to : timeline.endTime} ${l.filename}`);
      const slices = trace.slices.filter((s) => trace.named.get(s.track) === 'mappings' && trace.parentOf.get(s.track) === trace.processTrack(process.pid));
      assert.deepEqual(slices.map((s) => `${s.from}-${s.to} ${s.name}`).sort(), expected.sort(), `pid ${process.pid}`);
    }
    // What the scenario says: the library lived from its mmap to munmap's exit; the rest to their process's end.
    const gone = trace.slices.find((s) => s.name === '/tmp/libgone.so');
    assert.deepEqual([gone?.from, gone?.to, gone?.args.ended], [2000n, 3001n, 'unmapped at 3001 (munmap)']);
    const child = trace.slices.find((s) => s.name === '/usr/bin/child');
    assert.deepEqual([child?.from, child?.to, child?.args.ended], [4200n, 5000n, 'ended by the exit of the process']);
    const app = trace.slices.find((s) => s.name === '/usr/bin/app' && trace.parentOf.get(s.track) === trace.processTrack(10));
    assert.deepEqual([app?.to, app?.args.ended, app?.args.range], [5000n, 'mapped to the end of the capture', '0x400000-0x402000']);
    // Process 10's three lifetimes overlap: three rows.
    const rows = new Set(trace.slices.filter((s) => trace.parentOf.get(s.track) === trace.processTrack(10)).map((s) => s.track));
    assert.equal(rows.size, 3);
  });

  test('puts LOST records, the status snapshots and the debugger markers each on its own track', () => {
    assert.deepEqual(trace.events.filter((e) => trace.named.get(e.track) === 'LOST records').map((e) => [e.name, e.ts]), [['LOST', 4500n]]);
    const snapshots = trace.slices.filter((s) => trace.named.get(s.track) === 'status snapshots');
    assert.deepEqual(snapshots.map((s) => [s.name, s.from, s.to, s.args.stale]), [['snapshot 0 (proc)', 1000n, 1010n, 1n]]);
    const markers = trace.events.filter((e) => trace.named.get(e.track) === 'debugger');
    assert.deepEqual(markers.map((e) => [e.name, e.ts, e.args.label]), [['stopped', 4300n, 'breakpoint']]);
  });
});

describe('sideband export', () => {
  const file = path.join(tmp, 'capture.data');
  const writer = PerfDataWriter.open(file, { events: [{ attr: sidebandAttr(), ids: [KERNEL_ID, ...PROC_IDS], name: 'dummy:u' }] });
  writer.append(concat(records.filter((_, k) => k < 9 || k > 10)));
  writer.finish(meta);
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

  test('--perfetto -o writes the capture as a trace: its records, tracks and markers', () => {
    const out = path.join(tmp, 'capture.pftrace');
    const done = run('export', file, '--perfetto', '-o', out);
    assert.equal(done.status, 0, done.stderr);
    assert.match(done.stderr, /14 records written as a Perfetto trace to .*capture\.pftrace/);
    const written = decodedTrace(fs.readFileSync(out));
    assert.equal(written.events.filter((e) => e.type === TrackEvent_Type.INSTANT && e.categories.length).length, 14);
    assert.deepEqual([...written.processes.values()].map((p) => p.pid).sort(), [10, 20]);
    assert.equal(written.events.filter((e) => written.named.get(e.track) === 'debugger').length, 1);
  });

  test('bad arguments get one message naming what is missing, and exit status 2', () => {
    const cases: Array<[string[], RegExp]> = [
      [[file, '-o', path.join(tmp, 'x.pftrace')], /export needs the format to write: --perfetto/],
      [[file, '--perfetto'], /export needs an output file: -o OUT\.pftrace/],
      [['--perfetto', '-o', path.join(tmp, 'x.pftrace')], /export needs exactly one capture FILE/],
      [[file, file, '--perfetto', '-o', 'x'], /exactly one capture FILE, not/],
      [[file, '--perfetto', '--json', '-o', 'x'], /unknown export option --json/],
      [[file, '--perfetto', '-o'], /-o needs the trace file to write/],
    ];
    for (const [args, message] of cases) {
      const r = run('export', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  test('a missing capture or an unwritable output is an error naming the path and the fix, exit status 1', () => {
    const missing = run('export', path.join(tmp, 'none.data'), '--perfetto', '-o', path.join(tmp, 'y.pftrace'));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /error: cannot read .*none\.data: no such file\. Fix: check the path/);
    const unwritable = run('export', file, '--perfetto', '-o', path.join(tmp, 'no-such-dir', 'y.pftrace'));
    assert.equal(unwritable.status, 1);
    assert.match(unwritable.stderr, /error: cannot write .*y\.pftrace: .*Fix: choose a writable path/);
    const notCapture = path.join(tmp, 'text.data');
    fs.writeFileSync(notCapture, 'not a perf.data file at all, just text');
    const refused = run('export', notCapture, '--perfetto', '-o', path.join(tmp, 'z.pftrace'));
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /error: /);
    assert.ok(!fs.existsSync(path.join(tmp, 'z.pftrace')));
  });
});
