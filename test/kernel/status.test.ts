// The /proc status reader on its own, against processes whose state moves.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';

import { loadAddon, type ProcStatusResult } from '../../native/lib/engine';
import { decodeRecord, indexRecords, parseAttr, type DecodedRecord, type StreamLayout } from '../../native/lib/records';
import { sidebandAttr } from '../fixtures/records';
import { fixture, Proc, tempDir } from './harness';

const stream: StreamLayout = { attrs: [{ attr: parseAttr(sidebandAttr()), ids: [] }] };

test('a thread that vanishes mid-scan marks its process\'s status stale', async () => {
  const churn = Proc.start(fixture('thread_churn'), ['32']);
  const pid = Number((await churn.waitFor(/^ready (\d+)/))[1]);
  try {
    const { readProcStatus } = loadAddon();
    let vanished = 0;
    for (let i = 0; i < 40; i++) {
      const status = readProcStatus([pid]);
      const index = indexRecords(new Uint8Array(status.records), stream);
      const records = Array.from({ length: index.count }, (_, k) => decodeRecord(index, k));
      assert.ok(records.length > 0 && records.every((r) => r.pid === pid && r.statusOnly));
      const marked = records.filter((r) => r.stale.length > 0);
      if (marked.length === 0) continue;
      vanished++;
      // One vanished thread casts doubt on the whole scan of the process.
      assert.equal(marked.length, records.length);
      assert.ok(records.every((r) => r.stale.includes('vanished') && !r.stale.includes('zombie')), JSON.stringify(marked[0]));
      assert.equal(status.stale, records.length);
    }
    assert.ok(vanished > 0, 'threads living a few hundred microseconds vanish under a scan');
  } finally {
    churn.child.kill();
  }
});

/** A name under the fixture's directory whose absolute path is `length` characters long. */
function nameOfLength(dir: string, length: number): string {
  const parts: string[] = [];
  let used = dir.length + 1;
  while (length - used > 255) {
    parts.push('d'.repeat(200));
    used += 201;
  }
  parts.push('f'.repeat(length - used));
  return parts.join('/');
}

/** The executable mappings /proc/PID/maps lists, by start address, but the gate area. */
function executableStarts(pid: number): string[] {
  return fs
    .readFileSync(`/proc/${pid}/maps`, 'latin1')
    .split('\n')
    .filter((line) => /^\S+ ..x. /.test(line) && !line.endsWith('[vsyscall]'))
    .map((line) => `0x${line.slice(0, line.indexOf('-'))}`);
}

function mmapsOf(status: ProcStatusResult): DecodedRecord[] {
  const index = indexRecords(new Uint8Array(status.records), stream);
  return Array.from({ length: index.count }, (_, k) => decodeRecord(index, k)).filter((r) => r.type === 'MMAP2');
}

test('a mapping whose path exceeds PATH_MAX does not end the snapshot of the maps after it', async () => {
  const dir = tempDir('toolong');
  const fx = Proc.start(fixture('mapped_names'), [dir, nameOfLength(dir, 4500)], { stdin: true });
  const pid = Number((await fx.waitFor(/^ready (\d+)/))[1]);
  try {
    const status = loadAddon().readProcStatus([pid]);
    assert.ok(status.procmapQuery, 'this kernel answers PROCMAP_QUERY, which refuses such a name');
    const records = mmapsOf(status);
    assert.deepEqual(records.map((r) => r.fields.addr), executableStarts(pid), 'every executable mapping, in address order');
    assert.ok(records.every((r) => r.stale.length === 0), 'an idle process gives no reason to doubt its status');
  } finally {
    fx.child.kill();
  }
});
