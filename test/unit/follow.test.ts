// The language server's model of a capture that grows while it is written:
// each refresh reads only the bytes written since the last, and the model
// ends equal to a whole read of the finished file; a replaced file is
// loaded afresh.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import { HEADER_SIZE } from '../../core/perfdata/format';
import { type SidebandMeta } from '../../core/perfdata/metadata';
import { RecordError, typeName, type RecordIndex } from '../../core/records';
import { RecordStreamReader } from '../../core/recordStream';
import { Timeline } from '../../core/timeline';
import { type HostInfo } from '../../node/host';
import { indexPerfDataFile, openPerfDataFile } from '../../node/perfdata/reader';
import { PerfDataWriter } from '../../node/perfdata/writer';
import { SourceResolver, type LoadedPerfData } from '../../node/symbols/resolver';
import { openSymbolizer } from '../../node/symbols/symbolizer';
import { readElfInfo } from '../../node/symbols/elf';
import { LanguageServer } from '../kernel/lsp';
import { comm, concat, exit, fork, mmap2, sidebandAttr, type Trailer } from '../fixtures/records';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'follow-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const FIXTURE_SOURCE = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'symbols_fixture.c');

const ID = 5n;
const BASE = 7_000_000_000_000;
const host: HostInfo = { hostname: 'test-host', osRelease: '6.1.0-test', arch: 'x86_64', cpusAvailable: 2, cpusOnline: 2, cmdline: ['sideband', 'record'] };
const meta: SidebandMeta = {
  version: 1,
  tool: 'perf-sideband 0.1.0',
  ioctlId: '0',
  target: { pid: 100, command: ['app'] },
  ringPages: 4,
  cpus: [0, 1],
  namespaces: false,
  snapshots: [],
  stats: { records: 0, statusRecords: 0, ioctlRecords: 0, procRecords: 0, lost: 0, lostRecords: 0 },
  warnings: [],
  stopReason: 'stopped',
};

/**
 * `processes` children of pid 100 forked from `pid`, each renamed, mapping
 * a library and exiting, at times from `time` on in steps of `dt` (a
 * negative step writes them out of time order, as perf's rounds may).
 */
function generation(pid: number, processes: number, time: number, dt = 10): Uint8Array {
  const records: Uint8Array[] = [];
  let t = time;
  const at = (p: number): Trailer => ({ pid: p, tid: p, time: (t += dt), cpu: p % 2, id: ID });
  for (let p = pid; p < pid + processes; p++) {
    records.push(
      fork(at(p), { pid: 100, tid: 100 }),
      comm(at(p), `worker-${p}`, 0x2000),
      mmap2(at(p), { addr: 0x7f0000000000n + BigInt(p) * 0x10000n, len: 0x2000n, pgoff: 0n, maj: 8, min: 1, ino: BigInt(p), prot: 5, flags: 2, filename: `/usr/lib/lib${p}.so` }),
      exit(at(p), { pid: 100, tid: 100 }),
    );
  }
  return concat(records);
}

/** Each record's type, time, pid and tid, in the model's order. */
function rows(index: RecordIndex): string[] {
  return Array.from({ length: index.count }, (_, i) => `${typeName(index.type[i])} ${index.time[i]} ${index.pid[i]} ${index.tid[i]}`);
}

/** What the model made of the records: processes, their lanes and regions. */
function modelOf(timeline: Timeline) {
  return {
    processes: timeline.processes.map((p) => `${p.pid} ${timeline.commAt(p.lane, timeline.endTime)} ${timeline.regionsAt(p.pid, timeline.lastMoment(p.pid)).length} regions`),
    lanes: timeline.lanes.length,
    forks: timeline.forks.length,
    exits: timeline.exits.length,
    startTime: timeline.startTime,
    endTime: timeline.endTime,
  };
}

/** The model equals that of the file read whole, as `sideband resolve` did before it followed files. */
function assertEqualsWholeRead(capture: LoadedPerfData, file: string, when: string): void {
  const whole = indexPerfDataFile(file).index;
  assert.ok(whole.count > 0, `${when}: the file has records`);
  assert.deepEqual(rows(capture.timeline.records), rows(whole), `${when}: every record once, in time order`);
  assert.deepEqual(modelOf(capture.timeline), modelOf(new Timeline(whole)), `${when}: the same model`);
}

/** The header of a finished file as it was before finish(): data.size 0 (perf's mark of a file being written) and no features. */
function unfinishedHeader(finished: Uint8Array): Buffer {
  const header = Buffer.from(finished.subarray(0, HEADER_SIZE));
  header.writeBigUInt64LE(0n, 48); // data.size
  header.fill(0, 72); // the features bitmap
  return header;
}

/** Bytes every RecordStreamReader of this process took in: a re-read of the file, by any path, adds to it. */
let indexedBytes = 0;
const commit = RecordStreamReader.prototype.commit;
before(() => {
  RecordStreamReader.prototype.commit = function (this: RecordStreamReader, size: number): void {
    indexedBytes += size;
    commit.call(this, size);
  };
});
after(() => {
  RecordStreamReader.prototype.commit = commit;
});

describe('a capture followed while it grows', () => {
  const resolver = new SourceResolver(openSymbolizer({ debugDirs: [] }));
  /** The capture as the server asks for it, and the bytes of records read to answer. */
  const look = (file: string): { capture: LoadedPerfData; read: number } => {
    const before = indexedBytes;
    const capture = resolver.capture(file);
    return { capture, read: indexedBytes - before };
  };
  const open = (file: string): PerfDataWriter => PerfDataWriter.open(file, { events: [{ attr: sidebandAttr(), ids: [ID], name: 'dummy:u' }], host });

  test('each refresh reads only the new bytes, the data section is read once in all, and the model equals a whole read of the finished file', () => {
    const file = path.join(tmp, 'growing.data');
    const writer = open(file);
    const first = look(file);
    let total = first.read;
    let size = fs.statSync(file).size;
    for (let step = 0; step < 5; step++) {
      writer.append(generation(1000 + step * 500, 500, BASE + step * 1e6));
      writer.flush();
      const { capture, read } = look(file);
      assert.ok(capture === first.capture, `step ${step}: the same capture, grown`);
      const grown = fs.statSync(file).size;
      assert.equal(read, grown - size, `step ${step}: only the bytes written since the last look are read`);
      assert.equal(look(file).read, 0, `step ${step}: a look at a file that did not grow reads nothing`);
      total += read;
      size = grown;
      assertEqualsWholeRead(capture, file, `step ${step}`);
    }
    writer.finish(meta);
    const finished = look(file);
    assert.ok(finished.capture === first.capture, 'the finished capture is the one followed');
    total += finished.read;
    assert.equal(total, openPerfDataFile(file).declaredBytes, 'over all looks, the data section was read once: not the features after it');
    assert.equal(look(file).read, 0, 'a finished capture is not read again');
    assertEqualsWholeRead(finished.capture, file, 'finished');
    assert.equal(finished.capture.bytesRead, total, 'the capture counts the bytes it read');
  });

  test('records cut across looks, and the end of the data section, are read whole and once', () => {
    // The finished file, then a copy of it that grows at odd offsets inside
    // records, its header saying unfinished until the last step, as a file
    // written a page at a time would.
    const source = path.join(tmp, 'whole.data');
    const writer = open(source);
    writer.append(generation(3000, 300, BASE));
    writer.finish(meta);
    const bytes = fs.readFileSync(source);
    const { dataStart, dataEnd } = openPerfDataFile(source);
    const unfinished = Buffer.from(bytes.subarray(0, dataStart));
    unfinished.set(unfinishedHeader(bytes));
    const file = path.join(tmp, 'copy.data');
    fs.writeFileSync(file, unfinished);
    let total = look(file).read;
    for (let at = dataStart; at < dataEnd; ) {
      const next = Math.min(dataEnd, at + 1237);
      fs.appendFileSync(file, bytes.subarray(at, next));
      total += look(file).read;
      at = next;
    }
    // finish() writes the features, then the header that says the data ends where they begin.
    fs.appendFileSync(file, bytes.subarray(dataEnd));
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, bytes, 0, HEADER_SIZE, 0);
    fs.closeSync(fd);
    const { capture, read } = look(file);
    total += read;
    assert.equal(total, dataEnd - dataStart, 'each byte of the data section read once, and nothing after it');
    assert.deepEqual(capture.timeline.records.truncatedAt, undefined, 'no record was cut');
    assertEqualsWholeRead(capture, file, 'finished');
  });

  test('a look caught between the features and the header of a finishing file fails once, and the next loads the file afresh', () => {
    const file = path.join(tmp, 'finishing.data');
    const writer = open(file);
    writer.append(generation(4000, 200, BASE));
    writer.flush();
    const followed = look(file).capture;
    writer.finish(meta);
    const finished = fs.readFileSync(file);
    // As a look would see the file before finish() wrote its header: the features after the data, the header as open() wrote it.
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, unfinishedHeader(finished), 0, HEADER_SIZE, 0);
    fs.closeSync(fd);
    assert.throws(() => resolver.capture(file), (e: unknown) => e instanceof RecordError && e.field === 'header.size');
    fs.writeFileSync(file, finished);
    const { capture } = look(file);
    assert.ok(capture !== followed, 'loaded afresh');
    assertEqualsWholeRead(capture, file, 'after the header');
  });

  test('records written out of time order, as perf writes rounds, give the model of the file read whole, sorted', () => {
    const file = path.join(tmp, 'unordered.data');
    const writer = open(file);
    writer.append(generation(5000, 100, BASE + 1e6));
    writer.flush();
    assertEqualsWholeRead(look(file).capture, file, 'in order');
    const size = fs.statSync(file).size;
    writer.append(generation(6000, 100, BASE + 5e5)); // earlier than the records before it
    writer.flush();
    const { capture, read } = look(file);
    assert.equal(read, fs.statSync(file).size - size, 'only the new bytes are read');
    assertEqualsWholeRead(capture, file, 'out of order');
    writer.append(generation(7000, 100, BASE + 2e6));
    writer.finish(meta);
    assertEqualsWholeRead(look(file).capture, file, 'finished');
  });

  test('a file replaced at its path (another inode, fewer bytes than were read, or rewritten once finished) is loaded afresh', () => {
    const file = path.join(tmp, 'replaced.data');
    const write = (to: string, pid: number, processes: number, finish = true): void => {
      const writer = open(to);
      writer.append(generation(pid, processes, BASE));
      if (finish) writer.finish(meta);
      else writer.abandon();
    };
    write(file, 8000, 300, false);
    const followed = look(file).capture;

    write(`${file}.next`, 9000, 400, false);
    fs.renameSync(`${file}.next`, file);
    const renamed = look(file);
    assert.ok(renamed.capture !== followed, 'another inode: loaded afresh');
    assertEqualsWholeRead(renamed.capture, file, 'another inode');

    write(file, 10000, 50); // truncated and rewritten in place: the same inode, smaller
    const smaller = look(file);
    assert.ok(smaller.capture !== renamed.capture, 'fewer bytes than were read: loaded afresh');
    assertEqualsWholeRead(smaller.capture, file, 'smaller');

    write(file, 11000, 300); // a finished file rewritten in place, larger
    const rewritten = look(file);
    assert.ok(rewritten.capture !== smaller.capture, 'a finished file that changed: loaded afresh');
    assertEqualsWholeRead(rewritten.capture, file, 'rewritten');
    assert.ok(rewritten.capture.timeline.processes.every((p) => p.pid >= 11000 || p.pid === 100), 'nothing of the files before');
  });

  test('where the functions of a source are mapped is asked again once the capture grew', async () => {
    const exe = path.join(tmp, 'fixture');
    const gcc = spawnSync('gcc', ['-g', '-O2', '-fPIE', '-pie', '-o', exe, FIXTURE_SOURCE, FIXTURE_SOURCE.replace('symbols_fixture.c', 'symbols_lib.c')], { encoding: 'utf8' });
    assert.equal(gcc.status, 0, gcc.stderr);
    const text = readElfInfo(exe).segments.find((s) => s.flags & 1)!;
    const pgoff = text.offset - (text.offset % 4096);
    const file = path.join(tmp, 'mapping.data');
    const writer = open(file);
    const at = (time: number): Trailer => ({ pid: 300, tid: 300, time: BASE + time, cpu: 0, id: ID });
    writer.append(concat([fork(at(1), { pid: 100, tid: 100 }), comm(at(2), 'fixture', 0x2000)]));
    writer.flush();
    assert.deepEqual(await resolver.mappingsOfSource(file, FIXTURE_SOURCE), [], 'nothing is mapped yet');
    const len = BigInt(Math.ceil((text.offset + text.filesz - pgoff) / 4096) * 4096);
    writer.append(mmap2(at(3), { addr: 0x555555554000n + BigInt(pgoff), len, pgoff: BigInt(pgoff), maj: 8, min: 1, ino: 1n, prot: 5, flags: 2, filename: exe }));
    writer.flush();
    const mapped = await resolver.mappingsOfSource(file, FIXTURE_SOURCE);
    assert.ok(
      mapped.some((m) => m.function.name === 'fixture_leaf' && m.pid === 300),
      `fixture_leaf is mapped in pid 300 once the MMAP2 is written: ${mapped.map((m) => m.function.name).join(', ')}`,
    );
  });

  test('the language server follows the capture it is shown and says what it holds of it', async () => {
    const file = path.join(tmp, 'served.data');
    const writer = open(file);
    writer.append(generation(12000, 200, BASE));
    writer.flush();
    const server = await LanguageServer.start({ capture: file });
    try {
      for (let step = 1; step <= 3; step++) {
        const stats = await server.captureStats();
        const { dataStart, dataEnd } = openPerfDataFile(file);
        assert.ok(stats, 'the server follows the capture');
        assert.equal(stats.path, file);
        assert.equal(stats.records, indexPerfDataFile(file).index.count, `step ${step}: every record`);
        assert.equal(stats.bytesRead, dataEnd - dataStart, `step ${step}: each byte of records read`);
        assert.ok(stats.indexBytes >= stats.records * 36 && stats.indexBytes < stats.records * 36 * 2 + 1024, `step ${step}: the index holds its columns, counted once: ${JSON.stringify(stats)}`);
        assert.ok(stats.arrayBuffersBytes >= stats.indexBytes && stats.rssBytes > stats.arrayBuffersBytes + stats.heapUsedBytes, `step ${step}: the server's memory: ${JSON.stringify(stats)}`);
        writer.append(generation(12000 + step * 200, 200, BASE + step * 1e6));
        writer.flush();
      }
    } finally {
      await server.stop();
      writer.abandon();
    }
  });
});
