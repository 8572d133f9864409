// A live capture's file, read while it is written: the language server
// follows it for hovers and CodeLens, so every batch the host has been given
// must already be in the file; the timelines follow it as 'written' says it
// grew.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';

import { indexPerfDataFile, openPerfData, readPerfData } from '../../node/perfdata/reader';
import { Recording } from '../../node/recording';
import { TimelineFollower } from '../../node/timelineFeed';
import { RecordType, copyRecords } from '../../core/records';
import { type HostMessage } from '../../protocol/webview';
import { namedEvents } from '../fixtures/perfFile';
import { tempDir } from './harness';

const dir = tempDir('recording');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The data section's records without the EVENT_UPDATEs and FINISHED_ROUNDs the writer adds for perf. */
function recordsOnDisk(file: string): Buffer {
  const data = namedEvents(readPerfData(file).data).records;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const kept: Uint8Array[] = [];
  for (let at = 0; at + 8 <= data.byteLength; ) {
    const size = view.getUint16(at + 6, true);
    if (view.getUint32(at, true) !== RecordType.FINISHED_ROUND) kept.push(data.subarray(at, at + size));
    at += size;
  }
  return Buffer.concat(kept);
}

test('every batch is in the file before the host sees it, however quiet the capture', async () => {
  // A quiet target, as a debuggee is: a few forks, far less than any write buffer holds.
  const output = path.join(dir, 'quiet.data');
  const recording = new Recording({ command: ['/bin/sh', '-c', 'for i in 1 2 3 4 5; do /bin/true; sleep 0.05; done'] }, output);
  const delivered: Uint8Array[] = [];
  const mismatches: string[] = [];
  // Registered after the recording's own listener, as the host's feeds are.
  recording.session.on('records', (batch) => {
    delivered.push(batch.slice());
    const want = Buffer.concat(delivered);
    const have = recordsOnDisk(output);
    if (!have.equals(want)) mismatches.push(`batch ${delivered.length}: ${want.byteLength} bytes delivered, ${have.byteLength} in the file`);
  });
  const result = await recording.run();
  assert.equal(result.stop.error, undefined);
  assert.ok(delivered.length > 0, 'the capture delivered records');
  assert.deepEqual(mismatches, [], 'the file held every delivered record at each delivery');
});

test("a timeline that follows the capture's file as 'written' says it grew gets every sideband record once, while the capture runs", async () => {
  const output = path.join(dir, 'followed.data');
  const recording = new Recording({ command: ['/bin/sh', '-c', 'for i in 1 2 3 4 5; do /bin/true; sleep 0.05; done'] }, output);
  const batches: Uint8Array[] = [];
  let follower: TimelineFollower | undefined;
  const sink = {
    post(message: HostMessage): void {
      if (message.type !== 'records') return;
      batches.push(new Uint8Array(message.bytes));
      // Acknowledged a turn later, as a webview does.
      const end = message.offset + message.bytes.byteLength;
      setImmediate(() => follower?.stored(end));
    },
  };
  // Batches the timeline had when the file last grew: the capture's last write is the finished file's.
  let beforeLastWrite = 0;
  recording.on('written', (end) => {
    beforeLastWrite = batches.length;
    if (follower) follower.grew(end);
    else follower = new TimelineFollower(openPerfData(output), sink, { title: 'followed', warnings: [], live: { end } });
  });
  const result = await recording.run();
  assert.equal(result.stop.error, undefined);
  assert.ok(follower, "'written' came once the file was created");
  follower.complete();
  assert.equal((await follower.done).end, 'read');
  assert.ok(beforeLastWrite > 0, 'records reached the timeline while the capture ran');
  assert.deepEqual(Buffer.concat(batches), Buffer.from(copyRecords(indexPerfDataFile(output).index, 0)), "the timeline's records are the file's sideband, every one once");
});
