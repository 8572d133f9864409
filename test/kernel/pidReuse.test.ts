// Pid reuse during a capture, made real and certain: the fixture gives its
// second child the pid of its first, just reaped (clone3's set_tid, as
// root). The timeline must see two processes, each its lane, lifetime,
// name and mappings, and so must what reads the timeline (`sideband regions`).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { indexPerfDataFile } from '../../node/perfdata/reader';
import { Timeline } from '../../core/timeline';
import { CLI, fixture, sideband, tempDir } from './harness';

test('a process made with the pid of one that exited during the capture is a new lane, with its own lifetime, name and mappings', async () => {
  const dir = tempDir('reuse');
  const [first, second] = ['first.bin', 'second.bin'].map((name) => path.join(dir, name));
  for (const file of [first, second]) fs.writeFileSync(file, Buffer.alloc(4096));
  const output = path.join(dir, 'reuse.data');
  const capture = sideband(['capture', '-o', output, '--', fixture('reuse'), first, second]);
  assert.equal(await capture.exited, 0, capture.output);
  const pid = Number(/^pid (\d+)/m.exec(capture.output)?.[1]);
  assert.ok(pid > 0, `the fixture reused a pid: ${capture.output}`);

  const timeline = new Timeline(indexPerfDataFile(output).index);
  const generations = timeline.processes.filter((p) => p.pid === pid);
  assert.equal(generations.length, 2, 'two processes with the one pid');
  const [older, newer] = generations;
  assert.notEqual(older.lane.id, newer.lane.id, 'each its own lane');
  assert.equal(timeline.lanes.filter((lane) => lane.tid === pid).length, 2);
  assert.ok(older.exitTime < newer.forkTime, `the first ended (${older.exitTime}) before the second began (${newer.forkTime})`);
  assert.ok(older.lane.lastTime < newer.lane.firstTime, "no record of one on the other's lane");
  assert.equal(older.parent, newer.parent, 'both children of the fixture');
  assert.deepEqual([older, newer].map((p) => timeline.commAt(p.lane, p.lane.lastTime)), ['first', 'second']);

  const mine = (t: number): string[] =>
    timeline
      .regionsAt(pid, t)
      .map((r) => r.filename)
      .filter((name) => name.startsWith(dir));
  assert.deepEqual(mine(older.exitTime - 1), [first], "the first's mapping, while it lived");
  assert.deepEqual(mine(newer.exitTime - 1), [second], "the second's only: the first's did not carry over");

  // Downstream: the CLI asks the timeline about a pid at a moment, and gets the process of that moment.
  const regions = (t: number): string => spawnSync(process.execPath, [CLI, 'regions', output, '--pid', String(pid), '--at', String(t)], { encoding: 'utf8' }).stdout;
  assert.ok(regions(older.exitTime - 1).includes(first) && !regions(older.exitTime - 1).includes(second));
  assert.ok(regions(newer.exitTime - 1).includes(second) && !regions(newer.exitTime - 1).includes(first));
  fs.rmSync(dir, { recursive: true, force: true });
});
