// The Perfetto export on a worker thread, as the extension runs it: the
// same trace as on the caller's thread, its progress, its errors as the
// kinds the caller handles, and a cancel that leaves no partial trace.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { FileError } from '../../node/fileError';
import { ExportCancelled, exportPerfettoOnThread } from '../../node/perfettoExportThread';
import { indexPerfDataFile } from '../../node/perfdata/reader';
import { decodedTrace, perfettoTrace } from '../fixtures/perfetto';
import { writeSidebandCapture } from '../fixtures/sidebandCapture';

const WORKER = path.join(__dirname, '..', '..', 'node', 'perfettoWorker.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-perfetto-thread-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Enough records for several reports of progress (one each 10,000).
const RECORDS = 30_000;
const capture = path.join(tmp, 'capture.data');
writeSidebandCapture(capture, RECORDS);

describe('the Perfetto export on a worker thread', () => {
  test('writes the trace the caller\'s thread would, reporting its progress up to every record', async () => {
    const out = path.join(tmp, 'thread.pftrace');
    const reports: Array<[number, number]> = [];
    const exported = await exportPerfettoOnThread(capture, out, { workerScript: WORKER, progress: (records, of) => reports.push([records, of]) });
    assert.equal(exported.records, RECORDS);
    const bytes = fs.readFileSync(out);
    assert.equal(exported.bytes, bytes.byteLength);
    const indexed = indexPerfDataFile(capture);
    const here = decodedTrace(perfettoTrace({ index: indexed.index, stream: indexed.stream, meta: indexed.meta }).bytes);
    const there = decodedTrace(bytes);
    assert.deepEqual(there.events, here.events);
    assert.deepEqual(there.slices, here.slices);
    assert.deepEqual(reports, [[10_000, RECORDS], [20_000, RECORDS], [30_000, RECORDS], [RECORDS, RECORDS]]);
  });

  test('cancelled midway, stops and leaves no partial trace', async () => {
    const out = path.join(tmp, 'cancelled.pftrace');
    const cancel = new AbortController();
    const run = exportPerfettoOnThread(capture, out, { workerScript: WORKER, signal: cancel.signal, progress: () => cancel.abort() });
    await assert.rejects(run, ExportCancelled);
    assert.equal(fs.existsSync(out), false);
  });

  test('a missing capture is the FileError the caller\'s thread would throw, naming the path and the fix', async () => {
    const missing = path.join(tmp, 'missing.data');
    await assert.rejects(exportPerfettoOnThread(missing, path.join(tmp, 'x.pftrace'), { workerScript: WORKER }), (e: unknown) => {
      assert.ok(e instanceof FileError);
      assert.equal(e.code, 'ENOENT');
      assert.equal(e.path, missing);
      assert.match(e.message, /Fix: check the path/);
      return true;
    });
  });

  test('an unwritable output is a FileError, and leaves nothing behind', async () => {
    const out = path.join(tmp, 'no-such-dir', 'x.pftrace');
    await assert.rejects(exportPerfettoOnThread(capture, out, { workerScript: WORKER }), (e: unknown) => e instanceof FileError && e.code === 'ENOENT' && /Fix: choose a writable path/.test(e.message));
    assert.equal(fs.existsSync(out), false);
  });
});
