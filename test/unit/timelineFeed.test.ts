// The host's file path into a timeline (node/timelineFeed.ts): a follower
// reads a perf.data, live while PerfDataWriter appends to it, and posts a
// sink the sideband alone, every record once, never more than
// MAX_BATCHES_IN_FLIGHT batches ahead of what the sink acknowledged.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { RecordType, copyRecords } from '../../core/records';
import { type HostInfo } from '../../node/host';
import { indexPerfDataFile, openPerfData } from '../../node/perfdata/reader';
import { PerfDataWriter } from '../../node/perfdata/writer';
import { MAX_BATCHES_IN_FLIGHT, TimelineFollower, type FollowOptions } from '../../node/timelineFeed';
import { type HostMessage } from '../../protocol/webview';
import { SAMPLE_TYPE, comm, concat, exit, fork, lost, mmap2, sidebandAttr, syscallSample, type Trailer } from '../fixtures/records';
import { testMeta } from '../fixtures/meta';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'timeline-feed-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const host: HostInfo = { hostname: 'test-host', osRelease: '6.1.0-test', arch: 'x86_64', cpusAvailable: 2, cpusOnline: 2, cmdline: ['test'] };
const SIDEBAND_ID = 1n;
const CLOCK_ID = 2n;
/** A cpu-clock event whose samples carry RAW: the bulk of the file, as user stacks are of `perf record --call-graph dwarf`. */
const clockAttr = (() => {
  const attr = sidebandAttr(SAMPLE_TYPE | (1n << 10n));
  new DataView(attr.buffer).setBigUint64(8, 0n, true); // PERF_COUNT_SW_CPU_CLOCK
  return attr;
})();
const EVENTS = [
  { attr: sidebandAttr(), ids: [SIDEBAND_ID], name: 'dummy:u' },
  { attr: clockAttr, ids: [CLOCK_ID], name: 'cpu-clock' },
];
const meta = testMeta();

let clock = 1e12;
const at = (pid: number, id = SIDEBAND_ID): Trailer => ({ pid, tid: pid, time: (clock += 10), cpu: 0, id });

/** A process's life in the sideband, with `samples` of 2 KiB each among it; `lane` keeps pids apart. */
function life(lane: number, samples: number): Uint8Array {
  const pid = 1000 + lane;
  const parts = [fork(at(pid), { pid: 1, tid: 1 }), comm(at(pid), `worker-${lane}`)];
  for (let k = 0; k < samples; k++) parts.push(syscallSample(at(pid, CLOCK_ID), 0, new Array(256).fill(lane)));
  parts.push(mmap2(at(pid), { addr: 0x400000n + BigInt(lane) * 0x1000n, len: 0x1000n, pgoff: 0n, maj: 8, min: 1, ino: 42n, prot: 5, flags: 2, filename: `/usr/lib/lib${lane}.so` }));
  if (lane % 5 === 0) parts.push(lost(at(pid), SIDEBAND_ID, lane));
  parts.push(exit(at(pid), { pid: 1, tid: 1 }));
  return concat(parts);
}

/** A sink that keeps what it is posted, acknowledging each batch a turn later (as a webview does) while `acking`. */
class TestSink {
  readonly messages: HostMessage[] = [];
  acking = true;
  follower?: TimelineFollower;
  private received = 0;

  post(message: HostMessage): void {
    this.messages.push(message);
    if (message.type !== 'records') return;
    assert.equal(message.offset, this.received, 'each batch starts where the one before ended');
    this.received += message.bytes.byteLength;
    if (this.acking) this.ack();
  }

  /** Acknowledges everything received, a turn from now. */
  ack(): void {
    const end = this.received;
    setImmediate(() => this.follower?.stored(end));
  }

  get batches(): Uint8Array[] {
    return this.messages.flatMap((m) => (m.type === 'records' ? [new Uint8Array(m.bytes)] : []));
  }

  get records(): Uint8Array {
    return concat(this.batches);
  }
}

function follow(file: string, sink: TestSink, options: Partial<FollowOptions> = {}): TimelineFollower {
  const follower = new TimelineFollower(openPerfData(file), sink, { title: 'test', warnings: [], ...options });
  sink.follower = follower;
  return follower;
}

/** The sideband of a finished file, as indexPerfDataFile reads it: what a timeline must be sent. */
const sidebandOf = (file: string): Uint8Array => copyRecords(indexPerfDataFile(file).index, 0);

const turns = async (n: number): Promise<void> => {
  for (let k = 0; k < n; k++) await new Promise((resolve) => setImmediate(resolve));
};

/** The types of the records in a stream of them. */
function typesOf(records: Uint8Array): number[] {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  const types: number[] = [];
  for (let offset = 0; offset < records.byteLength; offset += view.getUint16(offset + 6, true)) types.push(view.getUint32(offset, true));
  return types;
}

describe('a timeline following a perf.data file', () => {
  test('a live file that grows while it is read: the sink gets every sideband record once, in order, and nothing past what was written', async () => {
    const file = path.join(tmp, 'live.data');
    const writer = PerfDataWriter.open(file, { events: EVENTS, host });
    const sink = new TestSink();
    // Small chunks, so records span chunks and the file grows between the reads of one range.
    const follower = follow(file, sink, { live: { end: writer.written }, chunkBytes: 3000 });
    follower.post({ type: 'stats', stats: { records: 0, statusRecords: 0, lost: 0 } });
    for (let lane = 0; lane < 60; lane++) {
      writer.append(life(lane, lane % 3));
      writer.flush();
      // Told of every other write: the follower reads up to what it was told, then the rest when told.
      if (lane % 2 === 1) follower.grew(writer.written);
      // Sometimes a turn, so a read is in flight when the next write lands; sometimes several writes at once.
      if (lane % 7 < 3) await turns(1);
    }
    await turns(50);
    const whileLive = sink.batches.length;
    writer.finish(meta);
    follower.grew(writer.written);
    follower.complete();
    assert.deepEqual(await follower.done, { end: 'read', warnings: [] });
    assert.deepEqual(sink.records, sidebandOf(file), "the sink's records are the file's sideband, record for record, none twice");
    assert.deepEqual(
      sink.messages.slice(0, 2).map((m) => m.type),
      ['open', 'stats'],
      "'open' comes first, and what was posted before it right after it",
    );
    assert.equal(sink.messages.filter((m) => m.type === 'open').length, 1);
    assert.ok(whileLive > 10, `the records came as the file grew, ${whileLive} batches before it was finished`);
  });

  test('a live file opened late is read in chunks that let the host run between them, then followed', async () => {
    const file = path.join(tmp, 'late.data');
    const writer = PerfDataWriter.open(file, { events: EVENTS, host });
    for (let lane = 0; lane < 200; lane++) writer.append(life(lane, 1));
    writer.flush();
    let ticks = 0;
    let ticking = true;
    const tick = (): void => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const ticksAtBatch: number[] = [];
    const sink = new TestSink();
    const post = sink.post.bind(sink);
    sink.post = (message) => {
      if (message.type === 'records') ticksAtBatch.push(ticks);
      post(message);
    };
    const follower = follow(file, sink, { live: { end: writer.written }, chunkBytes: 8192 });
    await turns(100);
    const before = sink.batches.length;
    writer.append(life(500, 0));
    writer.finish(meta);
    follower.grew(writer.written);
    follower.complete();
    await follower.done;
    ticking = false;
    assert.ok(before > 5, `what existed came in ${before} batches`);
    for (let k = 1; k < before; k++) assert.ok(ticksAtBatch[k] > ticksAtBatch[k - 1], `the host ran between batch ${k - 1} and batch ${k}`);
    assert.deepEqual(sink.records, sidebandOf(file), 'then what was written after, every record once');
  });

  for (const live of [true, false]) {
    test(`a sink that stops acknowledging gets at most ${MAX_BATCHES_IN_FLIGHT} batches however much the file grows, and the rest once it acknowledges (${live ? 'live' : 'a whole file'})`, async () => {
      const file = path.join(tmp, `stalled-${live}.data`);
      const writer = PerfDataWriter.open(file, { events: EVENTS, host });
      for (let lane = 0; lane < 100; lane++) writer.append(life(lane, 1));
      if (live) writer.flush();
      else writer.finish(meta);
      const sink = new TestSink();
      sink.acking = false;
      let read = 0;
      const follower = follow(file, sink, { ...(live ? { live: { end: writer.written } } : {}), chunkBytes: 4096, progress: (bytes) => (read = bytes) });
      await turns(200);
      assert.equal(sink.batches.length, MAX_BATCHES_IN_FLIGHT, 'the batches the bound allows, and no more');
      if (live) {
        const stalledAt = read;
        for (let lane = 100; lane < 400; lane++) writer.append(life(lane, 1));
        writer.flush();
        follower.grew(writer.written);
        await turns(200);
        assert.equal(sink.batches.length, MAX_BATCHES_IN_FLIGHT, 'the file grew, the sink still has no more');
        assert.equal(read, stalledAt, 'and nothing more was read from the file: the records wait there');
        writer.finish(meta);
        follower.grew(writer.written);
        follower.complete();
      }
      sink.acking = true;
      sink.ack();
      assert.equal((await follower.done).end, 'read');
      assert.deepEqual(sink.records, sidebandOf(file), 'once acknowledged, every record arrived, once');
    });
  }

  for (const live of [true, false]) {
    test(`samples never cross: only the sideband's bytes are posted (${live ? 'live' : 'a whole file'})`, async () => {
      const file = path.join(tmp, `samples-${live}.data`);
      const writer = PerfDataWriter.open(file, { events: EVENTS, host });
      for (let lane = 0; lane < 40; lane++) writer.append(life(lane, 50));
      writer.finish(meta);
      const sink = new TestSink();
      const follower = follow(file, sink, live ? { live: { end: writer.written } } : {});
      follower.complete();
      await follower.done;
      const sideband = sidebandOf(file);
      const indexed = indexPerfDataFile(file).index;
      assert.equal(indexed.skippedByType.SAMPLE, 40 * 50, 'the file is mostly samples');
      assert.ok(fs.statSync(file).size > 20 * sideband.byteLength);
      const posted = sink.messages.reduce((n, m) => n + (m.type === 'records' ? m.bytes.byteLength : 0), 0);
      assert.equal(posted, sideband.byteLength, 'the bytes posted are the sideband bytes');
      assert.ok(!typesOf(sink.records).includes(RecordType.SAMPLE), 'no sample among them');
      assert.deepEqual(sink.records, sideband);
    });
  }
});
