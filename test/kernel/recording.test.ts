// A live capture's file, written by the native core as it reads the rings:
// the host is only told how far the file has grown, and views read the
// records from the file (the timelines in the host, the language server in
// another process). So at every telling the file must hold whole records up
// to there, and a capture killed mid-write must leave a file that reads to
// its last whole record.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';

import { indexPerfDataFile, openPerfData, openPerfDataFile, readPerfData } from '../../node/perfdata/reader';
import { Recording } from '../../node/recording';
import { LoadedPerfData } from '../../node/symbols/resolver';
import { TimelineFollower } from '../../node/timelineFeed';
import { RecordType, copyRecords } from '../../core/records';
import { type HostMessage } from '../../protocol/webview';
import { CLI, sideband, tempDir } from './harness';

const dir = tempDir('recording');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The types of the records from file offset `from` to `to`, walked by their sizes; throws unless the walk ends exactly at `to`. */
function recordTypesBetween(file: string, from: number, to: number): number[] {
  const bytes = Buffer.alloc(to - from);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, bytes, 0, bytes.byteLength, from);
  } finally {
    fs.closeSync(fd);
  }
  const types: number[] = [];
  let at = 0;
  while (at < bytes.byteLength) {
    const size = bytes.readUInt16LE(at + 6);
    if (size < 8 || at + size > bytes.byteLength) throw new Error(`a record at file offset ${from + at} claims ${size} bytes, past the told end ${to}`);
    types.push(bytes.readUInt32LE(at));
    at += size;
  }
  return types;
}

test('the core writes the file: at every telling it holds whole records up to the told end, and the finished file holds each record once', async () => {
  // A quiet target, as a debuggee is: a few forks, far less than any write buffer holds.
  const output = path.join(dir, 'quiet.data');
  const recording = new Recording({ command: ['/bin/sh', '-c', 'for i in 1 2 3 4 5; do /bin/true; sleep 0.05; done'] }, output);
  const told: Array<{ end: number; types: number[] }> = [];
  let start = 0;
  recording.on('written', (end) => {
    start ||= openPerfDataFile(output).dataStart;
    told.push({ end, types: recordTypesBetween(output, start, end) });
  });
  const result = await recording.run();
  assert.equal(result.stop.error, undefined);
  assert.equal(result.writeError, undefined);
  assert.ok(told.length > 1, `the host was told of the file's growth more than once while the target ran (${told.length})`);
  for (let i = 1; i < told.length; i++) assert.ok(told[i].end > told[i - 1].end, 'each telling is of new records');
  // What the host was told last is every record: the finished file has those and its closing FINISHED_ROUND.
  const finished = readPerfData(output);
  const last = told[told.length - 1];
  assert.equal(finished.dataOffset + finished.data.byteLength, last.end + 8, 'the data section ends at the last told end, plus one FINISHED_ROUND');
  // The core counts what leaves its ordering queue; the file also has the EVENT_UPDATEs naming its events and perf's rounds.
  const counted = last.types.filter((t) => t !== RecordType.EVENT_UPDATE && t !== RecordType.FINISHED_ROUND).length;
  assert.equal(counted, result.stop.stats.records, 'the file holds every record the core counted, once');
  assert.ok(last.types.includes(RecordType.FORK) && last.types.includes(RecordType.EXIT), 'the forks and exits are there');
});

test('a capture killed mid-write (SIGKILL) leaves a file read up to its last whole record, that says it is unfinished', async () => {
  const output = path.join(dir, 'killed.data');
  // A target that keeps forking for some seconds, so the core is writing when the kill comes; it ends by itself.
  const capture = sideband(['capture', '-o', output, '--', '/bin/sh', '-c', 'for i in $(seq 4000); do /bin/true; done']);
  // Killed once the file holds some forks: the core wrote them, not this process.
  for (let i = 0; i < 400 && !(fs.existsSync(output) && fs.statSync(output).size > 64 << 10); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(fs.existsSync(output) && fs.statSync(output).size > 64 << 10, `the capture wrote its file: ${capture.output}`);
  // The target outlives a killed capture: it is killed too, or the test would wait out its forks.
  const pid = capture.child.pid!;
  const targets = fs.readdirSync(`/proc/${pid}/task`).flatMap((tid) => fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  capture.child.kill('SIGKILL');
  for (const target of targets) process.kill(target, 'SIGKILL');
  await capture.exited;
  const file = readPerfData(output);
  assert.equal(file.meta, undefined, 'no metadata: the capture never finished');
  assert.ok(file.warnings.some((w) => /not properly finished/.test(w)), `the reader says so: ${file.warnings.join('; ')}`);
  const { index } = indexPerfDataFile(output);
  assert.ok(index.type.filter((t) => t === RecordType.FORK).length > 10, 'the forks written before the kill are read');

  // A kill that cut the last record short: the same records, the part dropped.
  const cut = path.join(dir, 'killed-cut.data');
  const partFork = Buffer.alloc(16);
  partFork.writeUInt32LE(RecordType.FORK, 0);
  partFork.writeUInt16LE(48, 6); // of its 48 bytes, 16
  fs.writeFileSync(cut, Buffer.concat([fs.readFileSync(output), partFork]));
  const cutIndex = indexPerfDataFile(cut);
  assert.equal(cutIndex.index.count, index.count, 'read up to its last whole record');
  assert.ok(cutIndex.warnings.some((w) => /not properly finished/.test(w)));

  // The CLI says so once, and reads on.
  const dump = spawnSync(process.execPath, [CLI, 'dump', cut], { encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.equal(dump.status, 0, dump.stderr);
  assert.equal(dump.stderr.match(/not properly finished/g)?.length, 1, dump.stderr);
  assert.equal(dump.stdout.match(/ FORK /g)?.length, index.type.filter((t) => t === RecordType.FORK).length, 'every fork dumped');

  // Open perf.data: the timeline is told once, as it opens, and gets every record.
  const opened = openPerfData(cut);
  const posted: HostMessage[] = [];
  const follower: TimelineFollower = new TimelineFollower(
    opened,
    {
      post(message) {
        posted.push(message);
        if (message.type === 'records') setImmediate(() => follower.stored(message.offset + message.bytes.byteLength));
      },
    },
    { title: 'killed', warnings: opened.warnings },
  );
  assert.equal((await follower.done).end, 'read');
  const told = posted.flatMap((m) => (m.type === 'open' ? m.warnings : [])).filter((w) => /not properly finished/.test(w));
  assert.equal(told.length, 1, 'the timeline says so once');
  const records = Buffer.concat(posted.flatMap((m) => (m.type === 'records' ? [Buffer.from(m.bytes)] : [])));
  assert.deepEqual(records, Buffer.from(copyRecords(cutIndex.index, 0)));

  // The language server's model reads it too: its processes, up to the last whole record.
  const loaded = LoadedPerfData.load(cut);
  assert.equal(loaded.timeline.count, index.count);
  assert.ok(loaded.timeline.processes.length > 10);
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
