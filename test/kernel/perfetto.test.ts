// The Perfetto export of a real capture: the lifetimes fixture attached to
// (so it has status-only records from /proc) with periodic snapshots, its
// library loaded and unloaded, exported by `sideband export --perfetto` and
// decoded with Perfetto's own messages: every process and thread has a
// track, every record an instant at its time in its category, the model's
// lifetimes are its slices, on the fixture's own CLOCK_MONOTONIC.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import { BuiltinClock, TraceSchema, TrackEvent_Type } from '../../core/perfetto/gen/perfetto_trace_pb';
import { fromBinary } from '@bufbuild/protobuf';
import { regionLifetimes } from '../../core/lifetimes';
import { decodeRecord } from '../../core/records';
import { Timeline } from '../../core/timeline';
import { indexPerfDataFile } from '../../node/perfdata/reader';
import { decodedTrace } from '../fixtures/perfetto';
import { Proc, sideband } from './harness';
import { lifetimesDir, momentsOf } from './lifetimes';

async function exportedCapture() {
  const { dir, program } = lifetimesDir('perfetto');
  const file = path.join(dir, 'capture.data');
  const out = path.join(dir, 'capture.pftrace');
  const target = Proc.start(program, [dir, '--wait', '--step-ms', '100']);
  const pid = target.child.pid!;
  const capture = sideband(['capture', '--pid', String(pid), '--snapshot-every', '100', '-o', file]);
  await capture.waitFor(/attached/);
  fs.writeFileSync(path.join(dir, 'go'), '');
  assert.equal(await target.exited, 0, target.output);
  assert.equal(await capture.exited, 0, capture.output);
  const exported = sideband(['export', file, '--perfetto', '-o', out]);
  assert.equal(await exported.exited, 0, exported.output);
  const indexed = indexPerfDataFile(file);
  return { dir, pid, indexed, timeline: new Timeline(indexed.index), bytes: fs.readFileSync(out), output: exported.output };
}

describe('the Perfetto export of a real capture', () => {
  const exported = exportedCapture();

  test('declares CLOCK_MONOTONIC, the capture\'s clock, and warns of nothing', async () => {
    const { bytes, output } = await exported;
    const [first] = fromBinary(TraceSchema, bytes).packet;
    assert.equal(first.tracePacketDefaults?.timestampClockId, BuiltinClock.MONOTONIC);
    assert.equal(first.data.case === 'clockSnapshot' && first.data.value.primaryTraceClock, BuiltinClock.MONOTONIC);
    assert.doesNotMatch(output, /warning/);
  });

  test('every process and thread of the capture has its track, each thread under its process', async () => {
    const { bytes, timeline, pid } = await exported;
    const trace = decodedTrace(bytes);
    const lanes = timeline.lanes.filter((l) => l.kind !== 'global');
    assert.deepEqual([...trace.threads.values()].map((t) => `${t.pid}/${t.tid}`).sort(), lanes.map((l) => `${l.pid}/${l.tid}`).sort());
    for (const t of trace.threads.values()) assert.equal(trace.processes.get(t.parent)?.pid, t.pid);
    assert.deepEqual([...trace.processes.values()].map((p) => p.pid).sort(), timeline.processes.map((p) => p.pid).sort());
    assert.equal([...trace.processes.values()].find((p) => p.pid === pid)?.name, 'lifetimes');
  });

  test('every record has an instant event at its time on its thread\'s track, the status-only ones in their category', async () => {
    const { bytes, indexed } = await exported;
    const trace = decodedTrace(bytes);
    const { index } = indexed;
    const expected: string[] = [];
    let status = 0;
    for (let i = 0; i < index.count; i++) {
      const r = decodeRecord(index, i);
      const where = r.pid < 0 || r.type === 'LOST' ? (r.type === 'LOST' ? 'LOST records' : 'capture') : `${r.pid}/${r.tid}`;
      expected.push(`${r.time} ${where} ${r.type === 'SAMPLE' ? r.fields.event : r.type} ${r.statusOnly ? 'status-only' : 'real'}`);
      if (r.statusOnly) status++;
    }
    const instants = trace.events.filter((e) => e.type === TrackEvent_Type.INSTANT && e.categories.length);
    assert.deepEqual(instants.map((e) => `${e.ts} ${trace.trackName(e.track)} ${e.name} ${e.categories.join(',')}`).sort(), expected.sort());
    assert.ok(status > 0 && status < index.count, `${status} status-only records of ${index.count}`);
  });

  test("the target's region lifetimes are the model's, and libgone.so's slice spans the moments the fixture loaded and unloaded it", async () => {
    const { bytes, timeline, pid, dir } = await exported;
    const trace = decodedTrace(bytes);
    const process = timeline.processes.find((p) => p.pid === pid)!;
    const processTrack = trace.processTrack(pid);
    const slices = trace.slices.filter((s) => trace.named.get(s.track) === 'mappings' && trace.parentOf.get(s.track) === processTrack);
    const expected = regionLifetimes(timeline, process).map((l) => `${l.from}-${Number.isFinite(l.to) ? l.to : timeline.endTime} ${l.filename}`);
    assert.deepEqual(slices.map((s) => `${s.from}-${s.to} ${s.name}`).sort(), expected.sort());
    // The fixture's moments are on CLOCK_MONOTONIC too: it dlopens libgone.so before moment 0 and dlcloses it before moment 1.
    const moments = momentsOf(dir);
    const gone = slices.find((s) => s.name.endsWith('/libgone.so'));
    assert.ok(gone, 'a slice for libgone.so');
    assert.ok(Number(gone.from) < moments[0].time, `mapped at ${gone.from}, before moment 0 at ${moments[0].time}`);
    assert.ok(Number(gone.to) > moments[0].time && Number(gone.to) < moments[1].time, `unmapped at ${gone.to}, between moments 0 and 1 (${moments[0].time}, ${moments[1].time})`);
    assert.match(String(gone.args.ended), /^unmapped at \d+ \(munmap\)$/);
  });

  test("the capture's status snapshots are slices on their own track", async () => {
    const { bytes, indexed } = await exported;
    const trace = decodedTrace(bytes);
    const snapshots = trace.slices.filter((s) => trace.named.get(s.track) === 'status snapshots');
    assert.ok(indexed.meta && indexed.meta.snapshots.length > 1, 'the capture took periodic snapshots');
    assert.deepEqual(snapshots.map((s) => [s.from, s.to]), indexed.meta.snapshots.map((s) => [BigInt(s.start), BigInt(s.end)]));
  });
});
