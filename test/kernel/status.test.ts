// The /proc status reader on its own, against processes whose state moves.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadAddon } from '../../native/lib/engine';
import { decodeRecord, indexRecords, parseAttr, type StreamLayout } from '../../native/lib/records';
import { sidebandAttr } from '../fixtures/records';
import { fixture, Proc } from './harness';

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
