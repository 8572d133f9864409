// A webview that stops reading while a live capture grows: the host keeps
// posting nothing past its bound of unacknowledged batches, the records wait
// in the file, and the host's memory stays what it was, however far the
// capture goes.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';

import { openPerfData } from '../../node/perfdata/reader';
import { Recording } from '../../node/recording';
import { MAX_BATCHES_IN_FLIGHT, TimelineFollower } from '../../node/timelineFeed';
import { type HostMessage } from '../../protocol/webview';
import { fixture, nameOfLength, tempDir } from './harness';

const dir = tempDir('stalled');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const MiB = 1 << 20;
// How far the capture grows while the webview reads nothing.
const GROWTH = 128 * MiB;

test(`a webview that never acknowledges: the capture's file grows by ${GROWTH / MiB} MiB, the host holds at most ${MAX_BATCHES_IN_FLIGHT} batches and its RSS stays bounded`, async () => {
  // A mapping whose path is 4000 characters makes each MMAP2 about 4 KiB: the file grows fast on few records.
  const mapped = path.join(dir, nameOfLength(dir, 4000));
  fs.mkdirSync(path.dirname(mapped), { recursive: true });
  fs.writeFileSync(mapped, Buffer.alloc(4096));
  const output = path.join(dir, 'stalled.data');
  const recording = new Recording({ command: [fixture('churn'), mapped] }, output);

  // A stalled webview: its channel keeps every message posted to it, and it acknowledges none.
  const held: HostMessage[] = [];
  const heldBytes = (): number => held.reduce((n, m) => n + (m.type === 'records' ? m.bytes.byteLength : 0), 0);
  let follower: TimelineFollower | undefined;
  let baseline = 0;
  let peakGrowth = 0;
  let firstEnd = 0;
  let lastEnd = 0;
  recording.on('written', (end) => {
    lastEnd = end;
    if (!follower) {
      follower = new TimelineFollower(openPerfData(output), { post: (m) => held.push(m) }, { title: 'stalled', warnings: [], live: { end } });
      firstEnd = end;
      baseline = process.memoryUsage().rss;
      return;
    }
    follower.grew(end);
    peakGrowth = Math.max(peakGrowth, process.memoryUsage().rss - baseline);
    if (end - firstEnd >= GROWTH) void recording.session.stop(true);
  });
  const result = await recording.run();
  assert.ok(follower, 'the file was followed');
  assert.ok(lastEnd - firstEnd >= GROWTH, `the capture grew by ${((lastEnd - firstEnd) / MiB).toFixed(0)} MiB while followed (${result.stop.error ?? result.stop.reason})`);
  const batches = held.filter((m) => m.type === 'records').length;
  assert.equal(batches, MAX_BATCHES_IN_FLIGHT, 'the batches the bound allows, and no more');
  assert.ok(heldBytes() <= MAX_BATCHES_IN_FLIGHT * 4 * MiB, `held for the webview: ${(heldBytes() / MiB).toFixed(1)} MiB`);
  assert.ok(peakGrowth < 64 * MiB, `the host's RSS grew by ${(peakGrowth / MiB).toFixed(1)} MiB at most, for ${((lastEnd - firstEnd) / MiB).toFixed(0)} MiB written`);
  follower.dispose();
  await follower.done;
});
