// Status snapshots of a target whose threads come and go as fast as it can
// make them, snapshot after snapshot until it exits, which it does while
// they go on: the capture goes on and ends cleanly, and each snapshot
// holds every record it counted, once, and every thread that lived through
// it, or says why not (its records marked stale).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { fixture, readCapture, sideband, tempDir } from './harness';

const IDLE_THREADS = 64;
const ROUNDS = 400; // of 8 threads each: a few seconds of churn on a loaded machine

test('threads made and ended at full speed during snapshots, and the target exiting among them: no crash, no record lost or twice', async () => {
  const dir = tempDir('thread-churn');
  const out = path.join(dir, 'churn.data');
  const capture = sideband(['capture', '--snapshot-every', '20', '-o', out, '--', fixture('thread_churn'), String(ROUNDS), String(IDLE_THREADS)]);
  assert.equal(await capture.exited, 0, capture.output);
  const { file, records } = readCapture(out);
  const meta = file.meta!;
  const pid = meta.target.pid;
  assert.equal(meta.stopReason, 'exited', 'the capture lasted until the target exited');
  const snapshots = meta.snapshots.filter((s) => s.index > 0);
  assert.ok(snapshots.length >= 5, `snapshots while the threads churned: ${snapshots.length}`);

  const status = records.filter((r) => r.statusOnly);
  assert.equal(status.length, meta.stats.statusRecords, 'the file holds every status record the capture counted');
  assert.equal(status.length, meta.snapshots.reduce((n, s) => n + s.records, 0), 'and each snapshot its count of them');

  // A thread that lived through a whole snapshot of its process is in it. The idle threads, the target's first, live to its end.
  const exitOf = new Map(records.filter((r) => !r.statusOnly && r.type === 'EXIT' && r.pid === pid).map((r) => [r.tid, r.time]));
  const threads = records.filter((r) => !r.statusOnly && r.type === 'FORK' && r.pid === pid && r.tid !== pid);
  assert.ok(threads.length >= IDLE_THREADS + ROUNDS * 8, `every thread's FORK: ${threads.length}`);
  let complete = 0;
  for (const s of snapshots) {
    const [start, end] = [Number(s.start), Number(s.end)];
    const mine = status.filter((r) => r.pid === pid && r.time >= start && r.time <= end);
    if (mine.length === 0) continue; // taken once the target was gone
    const keys = mine.map((r) => `${r.type} ${r.tid} ${String(r.fields.addr ?? '')}`);
    assert.equal(new Set(keys).size, keys.length, `snapshot ${s.index}: no record twice`);
    const forks = new Set(mine.filter((r) => r.type === 'FORK').map((r) => r.tid));
    const missing = threads.filter((f) => f.time < start && (exitOf.get(f.tid) ?? Infinity) > end && !forks.has(f.tid));
    if (missing.length === 0) complete++;
    else assert.ok(mine.every((r) => r.stale.length > 0), `snapshot ${s.index}: ${missing.length} threads that lived through it missing, and its records not marked stale`);
  }
  assert.ok(complete > 0, 'some snapshot read the whole process');
  fs.rmSync(dir, { recursive: true, force: true });
});
