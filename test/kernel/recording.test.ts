// A live capture's file, read by another process while it is written: the
// language server follows it for hovers and CodeLens, so every batch the
// host has been given must already be in the file.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';

import { readPerfData } from '../../node/perfdata/reader';
import { Recording } from '../../node/recording';
import { RecordType } from '../../core/records';
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
