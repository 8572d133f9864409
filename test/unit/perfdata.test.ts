import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { Feature, PerfDataError, parsePerfData } from '../../core/perfdata/format';
import { HostInfo, readHostInfo } from '../../node/host';
import { PerfDataWriter } from '../../node/perfdata/writer';
import { SidebandMeta } from '../../core/perfdata/metadata';
import { indexPerfDataFile, readPerfData } from '../../node/perfdata/reader';
import { IndexFlag, Misc, PROC_IDS, Provenance, RecordError, RecordIndex, RecordType, Stale, decodeRecord, provenanceOf, staleReasons } from '../../core/records';
import { indexRecords } from '../../core/recordStream';
import { Trailer, comm, concat, exit, fork, lost, mmap2, namespaces, sidebandAttr } from '../fixtures/records';
import { namedEvents, prng } from '../fixtures/perfFile';
import { SIDEBAND_OPTIONS, perfScriptKeys, perfStats, recordKeys, type RecordFacts } from '../fixtures/perfOracle';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'perfdata-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const fixtures = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');

function perf(args: string[]) {
  const result = spawnSync('perf', args, { cwd: tmp, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (result.error) throw result.error;
  return result;
}

/** perf record in the temp dir; returns the path of its perf.data. */
function perfRecord(name: string, args: string[]): string {
  const file = path.join(tmp, name);
  const result = perf(['record', '-o', file, ...args]);
  assert.equal(result.status, 0, result.stderr);
  return file;
}

// --- A capture, as the native core would hand it over -----------------------------------

const KERNEL_IDS = [11n, 12n];
const IOCTL_ID = 77n;
/** What the CLI gives the writer: the kernel ids, then the id of the event that receives ioctl status. */
const CAPTURE_IDS = [...KERNEL_IDS, IOCTL_ID];
const BASE = 5_000_000_000_000; // 5000 s of CLOCK_MONOTONIC, in ns
const at = (pid: number, dt: number, cpu: number, id: bigint, tid = pid): Trailer => ({ pid, tid, time: BASE + dt, cpu, id });
const lib = (filename: string, addr: bigint) => ({ addr, len: 0x2000n, pgoff: 0x1000n, maj: 8, min: 1, ino: 99n, prot: 5, flags: 2, filename });
const nsLinks = Array.from({ length: 7 }, (_, i) => ({ dev: 4n, ino: 0xeffffff0n + BigInt(i) }));

/** In time order, in three batches: /proc status, kernel records, ioctl status and a loss. */
const batches: Uint8Array[][] = [
  [
    comm(at(4242, 0, 0, PROC_IDS[0]), 'app', Misc.STATUS_ONLY),
    mmap2(at(4242, 1, 0, PROC_IDS[Stale.RACE]), lib('/usr/bin/app', 0x400000n), Misc.USER | Misc.STATUS_ONLY),
    namespaces(at(4242, 2, 0, PROC_IDS[Stale.VANISHED | Stale.ZOMBIE]), nsLinks, Misc.STATUS_ONLY),
  ],
  [
    fork(at(4243, 1000, 1, KERNEL_IDS[0]), { pid: 4242, tid: 4242 }),
    comm(at(4243, 1100, 1, KERNEL_IDS[0]), 'worker thread', Misc.EXEC_OR_DATA),
    mmap2(at(4243, 1200, 1, KERNEL_IDS[1]), lib('/usr/lib/lib worker.so', 0x7f0000000000n)),
  ],
  [
    comm(at(4242, 2000, 0, IOCTL_ID), 'app', Misc.STATUS_ONLY),
    lost(at(4243, 2500, 1, KERNEL_IDS[1]), KERNEL_IDS[1], 5),
    exit(at(4243, 3000, 1, KERNEL_IDS[0]), { pid: 4242, tid: 4242 }),
  ],
];
const allRecords = concat(batches.flat());
/** What indexRecords must say of those records, in order. */
const expectedProvenance = [Provenance.Proc, Provenance.Proc, Provenance.Proc, Provenance.Kernel, Provenance.Kernel, Provenance.Kernel, Provenance.Ioctl, Provenance.Kernel, Provenance.Kernel];
const expectedStale = [[], ['race'], ['vanished', 'zombie'], [], [], [], [], [], []];
const expectedStatusOnly = [1, 1, 1, 0, 0, 0, 1, 0, 0];

/** Provenance, stale reasons and the STATUS_ONLY bits of misc, for each indexed record but FINISHED_INIT. */
function statusOf(index: RecordIndex) {
  const rows = Array.from({ length: index.count }, (_, i) => i).filter((i) => index.type[i] !== RecordType.FINISHED_INIT);
  return {
    provenance: rows.map((i) => provenanceOf(index.flags[i])),
    stale: rows.map((i) => staleReasons(index.flags[i])),
    statusOnly: rows.map((i) => index.flags[i] & IndexFlag.IS_STATUS),
    miscStatusOnly: rows.map((i) => (decodeRecord(index, i).misc & Misc.STATUS_ONLY ? 1 : 0)),
  };
}

const meta: SidebandMeta = {
  version: 1,
  tool: 'perf-sideband 0.1.0',
  ioctlId: String(IOCTL_ID),
  target: { pid: 4242, command: ['app', '--serve'] },
  ringPages: 512,
  cpus: [0, 1],
  namespaces: true,
  snapshots: [
    { index: 0, path: 'proc', processes: 1, records: 3, stale: 2, gone: 0, start: String(BASE - 10), end: String(BASE + 3) },
    { index: 1, path: 'ioctl', processes: 1, records: 1, stale: 0, gone: 0, start: String(BASE + 1999), end: String(BASE + 2001) },
  ],
  stats: { records: 9, statusRecords: 4, ioctlRecords: 1, procRecords: 3, lost: 5, lostRecords: 1 },
  warnings: [{ code: 'ERINGSHRUNK', message: 'rings shrunk from 512 to 256 pages per CPU — bursts may now lose records' }],
  stopReason: 'exited',
  exitStatus: 0,
};

const host: HostInfo = { hostname: 'test-host', osRelease: '6.1.0-test', arch: 'x86_64', cpusAvailable: 4, cpusOnline: 2, cmdline: ['sideband', 'record', '--', 'app', '--serve'] };

function writeCapture(name: string, finish = true): string {
  const file = path.join(tmp, name);
  const writer = PerfDataWriter.open(file, { events: [{ attr: sidebandAttr(), ids: CAPTURE_IDS, name: 'dummy:u' }], host });
  for (const batch of batches) writer.append(concat(batch));
  if (finish) writer.finish(meta);
  else writer.abandon();
  return file;
}

/** Our footer, the last 24 bytes of a finished file: where the JSON is, its length, and the magic. */
function footerOf(bytes: Uint8Array): { offset: bigint; length: bigint; magic: string } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = bytes.byteLength - 24;
  return { offset: view.getBigUint64(at, true), length: view.getBigUint64(at + 8, true), magic: Buffer.from(bytes.subarray(at + 16)).toString('latin1') };
}

/** The feature table of a finished file: one section per set bit. */
function featureSections(bytes: Uint8Array): Array<{ offset: bigint; size: bigint }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tableAt = Number(view.getBigUint64(40, true) + view.getBigUint64(48, true));
  return parsePerfData(bytes).features.map((_, i) => ({ offset: view.getBigUint64(tableAt + i * 16, true), size: view.getBigUint64(tableAt + i * 16 + 8, true) }));
}

/** The type of every record in a data section, walking header sizes only. */
function recordTypes(data: Uint8Array): number[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const types: number[] = [];
  for (let at = 0; at + 8 <= data.byteLength; at += view.getUint16(at + 6, true)) types.push(view.getUint32(at, true));
  return types;
}

// --- Comparing with what perf itself prints ---------------------------------------------

/** Keys of our index's records, to compare with perf script's (FINISHED_INIT has no line there). */
function ourKeys(index: RecordIndex): string[] {
  return recordKeys(Array.from({ length: index.count }, (_, i) => decodeRecord(index, i)).map((r) => ({ ...r, ...r.fields }) as RecordFacts));
}

function typeCounts(types: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const t of types) counts[RecordType[t]] = (counts[RecordType[t]] ?? 0) + 1;
  return counts;
}

// --- Tests -------------------------------------------------------------------------------

describe('PerfDataWriter → parsePerfData', () => {
  const file = writeCapture('round-trip.data');
  const parsed = readPerfData(file);

  test('keeps the attr, lists kernel, ioctl and /proc ids, and names the event', () => {
    assert.equal(parsed.attrs.length, 1);
    assert.deepEqual(parsed.attrs[0].attr.bytes, sidebandAttr());
    assert.deepEqual(parsed.attrs[0].ids, [...CAPTURE_IDS, ...PROC_IDS]);
    assert.equal(parsed.attrs[0].name, 'dummy:u');
    assert.deepEqual(parsed.warnings, []);
  });

  test('names the event first, then keeps the records as appended, then one FINISHED_ROUND', () => {
    assert.equal(parsed.data.byteOffset % 8, 0);
    const { names, records } = namedEvents(parsed.data);
    assert.deepEqual([...names], [[CAPTURE_IDS[0], 'dummy:u']]);
    assert.deepEqual(records.subarray(0, allRecords.byteLength), allRecords);
    assert.deepEqual(recordTypes(records.subarray(allRecords.byteLength)), [RecordType.FINISHED_ROUND]);
    const index = indexRecords(records, parsed.stream);
    assert.equal(index.count, batches.flat().length);
    assert.deepEqual(statusOf(index), { provenance: expectedProvenance, stale: expectedStale, statusOnly: expectedStatusOnly, miscStatusOnly: expectedStatusOnly });
    const recordsAt = parsed.dataOffset + records.byteOffset - parsed.data.byteOffset;
    assert.deepEqual(new Uint8Array(fs.readFileSync(file)).subarray(recordsAt, recordsAt + allRecords.byteLength), allRecords);
  });

  test('keeps the metadata and writes the features perf reads, and only those', () => {
    assert.deepEqual(parsed.meta, meta);
    assert.deepEqual(parsed.features, [
      Feature.HOSTNAME,
      Feature.OSRELEASE,
      Feature.VERSION,
      Feature.ARCH,
      Feature.NRCPUS,
      Feature.CMDLINE,
      Feature.EVENT_DESC,
      Feature.CLOCKID,
    ]);
    // perf 6.1 knows bits below 32 (HEADER_LAST_FEATURE); perf inject crashes on any other.
    const bits = new Uint8Array(fs.readFileSync(file)).subarray(72, 104);
    assert.deepEqual(Array.from(bits.subarray(4)), new Array(28).fill(0));
  });

  test('keeps the metadata in a trailer after the last feature section, found by the footer', () => {
    const bytes = new Uint8Array(fs.readFileSync(file));
    const footer = footerOf(bytes);
    assert.equal(footer.magic, 'SIDEBAN1');
    const json = JSON.stringify(meta);
    assert.equal(footer.length, BigInt(Buffer.byteLength(json)));
    assert.equal(footer.offset + footer.length, BigInt(bytes.byteLength - 24), 'the JSON ends where the footer starts');
    assert.equal(Buffer.from(bytes.subarray(Number(footer.offset), Number(footer.offset + footer.length))).toString('utf8'), json);
    const sections = featureSections(bytes);
    assert.equal(sections.length, 8);
    const featuresEnd = sections.reduce((end, s) => (s.offset + s.size > end ? s.offset + s.size : end), 0n);
    assert.ok(featuresEnd <= footer.offset, `features end at ${featuresEnd}, the JSON starts at ${footer.offset}`);
    assert.ok(footer.offset - featuresEnd < 8n, 'the JSON follows the last feature section');
  });

  test('perf report --header-only reads our features and complains of none', () => {
    const r = perf(['report', '-v', '--header-only', '-i', file]);
    assert.equal(r.status, 0);
    assert.doesNotMatch(r.stderr, /feature|SIDEBAN|unknown|invalid|error/i);
    assert.doesNotMatch(r.stdout, /unknown|invalid|error/i);
    // The missing features are the standard ones we do not write, and none other.
    const missing = /^# missing features: (.*)$/m.exec(r.stdout)?.[1].trim().split(/\s+/);
    assert.ok(missing, r.stdout);
    for (const ours of ['HOSTNAME', 'OSRELEASE', 'VERSION', 'ARCH', 'NRCPUS', 'CMDLINE', 'EVENT_DESC', 'CLOCKID']) assert.ok(!missing.includes(ours), ours);
    for (const line of [
      '# hostname : test-host',
      '# os release : 6.1.0-test',
      '# perf version : perf-sideband 0.1.0',
      '# arch : x86_64',
      '# nrcpus online : 2',
      '# nrcpus avail : 4',
      '# cmdline : sideband record -- app --serve',
      '# clockid frequency: 1000 MHz',
    ])
      assert.ok(r.stdout.includes(line), `${line} in\n${r.stdout}`);
    const ids = [...CAPTURE_IDS, ...PROC_IDS].join(', ');
    assert.match(r.stdout, new RegExp(`# event : name = dummy:u, , id = \\{ ${ids} \\}, type = 1, size = 128, config = 0x9, sample_type = TID\\|TIME\\|CPU\\|IDENTIFIER`));
  });

  test('perf script prints every record we wrote, without a warning: it ignores the trailer', () => {
    const r = perf(['script', ...SIDEBAND_OPTIONS, '-i', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.split('\n').filter((l) => l.includes('PERF_RECORD_')).length, batches.flat().length);
    assert.deepEqual(perfScriptKeys(r.stdout), ourKeys(indexRecords(parsed.data, parsed.stream)));
    assert.deepEqual(perfScriptKeys(r.stdout), [
      'COMM 4242/4242 app',
      'COMM 4242/4242 app',
      'COMM exec 4243/4243 worker thread',
      'EXIT 4243/4243 4242/4242',
      'FORK 4243/4243 4242/4242',
      'LOST 5',
      'MMAP2 4242/4242 0x400000 0x2000 0x1000 /usr/bin/app',
      'MMAP2 4243/4243 0x7f0000000000 0x2000 0x1000 /usr/lib/lib worker.so',
      'NAMESPACES 4242/4242 7',
    ]);
  });

  test('without --show-lost-events, perf script warns of the loss: the only warning, and a true one', () => {
    const r = perf(['script', '--show-task-events', '--show-mmap-events', '--show-namespace-events', '-i', file]);
    assert.equal(r.status, 0);
    assert.equal(r.stderr.trim().replace(/\s+/g, ' '), 'Warning: Processed 11 events and lost 1 chunks! Check IO/CPU overload!');
  });

  test('perf report --stats counts every record type', () => {
    const r = perf(['report', '--stats', '-i', file]);
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '');
    assert.deepEqual(perfStats(r.stdout), typeCounts(recordTypes(parsed.data)));
    assert.deepEqual(perfStats(r.stdout), { EVENT_UPDATE: 1, COMM: 3, EXIT: 1, FORK: 1, LOST: 1, MMAP2: 2, NAMESPACES: 1, FINISHED_ROUND: 1 });
  });

  test('the file is private to its owner, as perf record makes it', () => {
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });
});

describe('perf inject on our files', () => {
  // perf inject copies every set feature bit and indexes its own table with
  // it: our metadata used to be feature bit 250, and perf inject crashed.
  const input = writeCapture('inject-in.data');
  const output = path.join(tmp, 'inject-out.data');
  const r = perf(['inject', '-i', input, '-o', output]);

  test('rewrites the file without crashing or complaining', () => {
    assert.equal(r.signal, null, `perf inject died of ${r.signal}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
  });

  test('keeps misc and sample_id, so STATUS_ONLY, provenance and staleness survive', () => {
    const rewritten = readPerfData(output);
    assert.deepEqual(rewritten.warnings, []);
    const index = indexRecords(rewritten.data, rewritten.stream);
    assert.equal(index.truncatedAt, undefined);
    assert.deepEqual(statusOf(index), { provenance: expectedProvenance, stale: expectedStale, statusOnly: expectedStatusOnly, miscStatusOnly: expectedStatusOnly });
    assert.deepEqual(ourKeys(index), ourKeys(indexRecords(readPerfData(input).data, readPerfData(input).stream)));
    assert.deepEqual(Array.from(index.time), batches.flat().map((rec) => Number(new DataView(rec.buffer).getBigUint64(rec.byteLength - 24, true))));
  });

  test('drops our trailer: the rewritten file has perf\'s features only, and no metadata', () => {
    const bytes = new Uint8Array(fs.readFileSync(output));
    const rewritten = parsePerfData(bytes);
    assert.equal(rewritten.meta, undefined);
    assert.notEqual(footerOf(bytes).magic, 'SIDEBAN1');
    assert.ok(rewritten.features.every((bit) => bit < 32), rewritten.features.join());
    assert.equal(rewritten.attrs[0].name, 'dummy:u');
  });
});

describe('PerfDataWriter rounds and buffering', () => {
  // 150k 56-byte COMMs in one batch bigger than the write buffer, then
  // 4 KiB MMAP2s in small batches, so both round limits are reached.
  const comms = concat(Array.from({ length: 150_000 }, (_, i) => comm(at(1000 + (i % 7), i, i % 2, KERNEL_IDS[0]), 'c')));
  const bigName = `/opt/${'x'.repeat(4000)}`;
  const mmaps = Array.from({ length: 40 }, (_, b) =>
    concat(Array.from({ length: 50 }, (_, i) => mmap2(at(1000, 200_000 + b * 50 + i, 0, KERNEL_IDS[1]), lib(`${bigName}${b}-${i}`, 0x1000n * BigInt(i + 1))))),
  );
  const file = path.join(tmp, 'rounds.data');
  const writer = PerfDataWriter.open(file, { events: [{ attr: sidebandAttr(), ids: KERNEL_IDS, name: 'dummy:u' }], host });
  writer.append(comms);
  for (const batch of mmaps) writer.append(batch);
  writer.finish({ ...meta, ioctlId: undefined });
  const parsed = readPerfData(file);

  test('keeps every record, in order', () => {
    const index = indexRecords(parsed.data, parsed.stream);
    assert.equal(index.count, 150_000 + 2000);
    assert.equal(index.time[149_999], BASE + 149_999);
    assert.equal(decodeRecord(index, index.count - 1).fields.filename, `${bigName}39-49`);
    for (let i = 1; i < index.count; i++) assert.ok(index.time[i] >= index.time[i - 1]);
    assert.deepEqual(parsed.attrs[0].ids, [...KERNEL_IDS, ...PROC_IDS]);
  });

  test('ends a round at least every 65536 records or 4 MiB, and at the end', () => {
    const data = namedEvents(parsed.data).records;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let records = 0;
    let bytes = 0;
    let rounds = 0;
    for (let at = 0; at < data.byteLength; ) {
      const size = view.getUint16(at + 6, true);
      if (view.getUint32(at, true) === RecordType.FINISHED_ROUND) {
        rounds++;
        records = bytes = 0;
      } else {
        records++;
        bytes += size;
        assert.ok(records <= 65536 && bytes < (4 << 20) + 8192, `round too long at byte ${at}`);
      }
      at += size;
    }
    assert.equal(records, 0, 'the data ends with a FINISHED_ROUND');
    assert.ok(rounds >= 5, `${rounds} rounds`);
  });

  test('perf reads it all', () => {
    const r = perf(['report', '--stats', '-i', file]);
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '');
    assert.deepEqual(perfStats(r.stdout), typeCounts(recordTypes(parsed.data)));
  });
});

describe('unfinished and truncated files', () => {
  test('an abandoned capture reads to its last whole record, with a warning', () => {
    const file = writeCapture('abandoned.data', false);
    const parsed = readPerfData(file);
    assert.equal(parsed.warnings.length, 1);
    assert.match(parsed.warnings[0], /not properly finished/);
    assert.equal(parsed.meta, undefined);
    assert.deepEqual(parsed.features, []);
    const { records } = namedEvents(parsed.data);
    assert.deepEqual(records, allRecords);
    assert.deepEqual(parsed.attrs[0].ids, [...CAPTURE_IDS, ...PROC_IDS]);
    assert.equal(Buffer.from(fs.readFileSync(file)).indexOf('SIDEBAN1'), -1, 'no trailer before finish()');
    // Provenance needs no metadata: an interrupted capture still tells ioctl from /proc status.
    assert.deepEqual(statusOf(indexRecords(parsed.data, parsed.stream)), {
      provenance: expectedProvenance,
      stale: expectedStale,
      statusOnly: expectedStatusOnly,
      miscStatusOnly: expectedStatusOnly,
    });

    const index = indexRecords(records.subarray(0, allRecords.byteLength - 20), parsed.stream);
    assert.equal(index.count, batches.flat().length - 1);
    assert.equal(index.truncatedAt, allRecords.byteLength - batches[2][2].byteLength);
  });

  test('perf too sees that an abandoned capture was not finished', () => {
    const file = writeCapture('abandoned-for-perf.data', false);
    const r = perf(['script', ...SIDEBAND_OPTIONS, '-i', file]);
    // perf 6.1 warns and then reads nothing at all (session.c returns -1 for data_size 0).
    assert.match(r.stderr, /data size field is 0/);
  });

  test('a writer refuses to go on once finished or abandoned', () => {
    const writer = PerfDataWriter.open(path.join(tmp, 'closed.data'), { events: [{ attr: sidebandAttr(), ids: [], name: 'dummy:u' }], host });
    writer.finish(meta);
    assert.throws(() => writer.append(allRecords), (e: unknown) => e instanceof PerfDataError && e.field === 'writer');
    assert.throws(() => writer.finish(meta), PerfDataError);
    assert.throws(() => writer.abandon(), PerfDataError);
  });

  test('a file perf record left behind when killed: data.size 0 and feature bits set, but no features', () => {
    const parsed = readPerfData(path.join(fixtures, 'perf-killed.data'));
    assert.match(parsed.warnings.join('\n'), /not properly finished/);
    assert.ok(parsed.features.includes(Feature.EVENT_DESC));
    assert.equal(parsed.attrs[0].name, undefined);
    const index = indexRecords(parsed.data, parsed.stream);
    assert.equal(index.truncatedAt, undefined);
    assert.deepEqual(ourKeys(index), ['COMM 4961/4961 perf-exec']);
    assert.equal(provenanceOf(index.flags[0]), Provenance.Synthesized);
  });

  test('a finished file cut inside its data reads what remains, with a warning', () => {
    const whole = fs.readFileSync(writeCapture('to-cut.data'));
    const { data, dataOffset } = parsePerfData(whole);
    const names = data.byteLength - namedEvents(data).records.byteLength;
    const cutAt = dataOffset + names + allRecords.byteLength - 20;
    const parsed = parsePerfData(whole.subarray(0, cutAt));
    assert.equal(parsed.warnings.length, 1);
    assert.match(parsed.warnings[0], /truncated/);
    assert.equal(parsed.meta, undefined);
    const index = indexRecords(namedEvents(parsed.data).records, parsed.stream);
    assert.equal(index.count, batches.flat().length - 1);
    assert.equal(index.truncatedAt, allRecords.byteLength - batches[2][2].byteLength);
  });
});

describe('parsePerfData on files it cannot read', () => {
  const good = new Uint8Array(fs.readFileSync(writeCapture('good.data')));
  const parsedGood = parsePerfData(good);
  const u64At = (bytes: Uint8Array, at: number, value: bigint) => {
    const copy = bytes.slice();
    new DataView(copy.buffer).setBigUint64(at, value, true);
    return copy;
  };

  function rejects(bytes: Uint8Array, field: string, message: RegExp): void {
    assert.throws(
      () => parsePerfData(bytes),
      (e: unknown) => {
        assert.ok(e instanceof PerfDataError, `${e}`);
        assert.equal(e.field, field);
        assert.match(e.message, message);
        return true;
      },
    );
  }

  test('files that are not perf.data', () => {
    rejects(new TextEncoder().encode('#!/bin/sh\necho hello, this is not perf data\n'), 'header.magic', /not a perf\.data file/);
    rejects(new Uint8Array(0), 'header', /0 bytes, too short/);
    rejects(good.subarray(0, 100), 'header', /shorter than its 104-byte header.*re-record/);
    rejects(u64At(good, 0, 0x454c494646524550n), 'header.magic', /PERFFILE.*not supported/);
  });

  test('a big-endian file', () => {
    const swapped = good.slice();
    swapped.subarray(0, 8).reverse();
    rejects(swapped, 'header.magic', /big-endian/);
  });

  test('pipe mode, as perf record -o - writes it', () => {
    const r = spawnSync('sh', ['-c', 'perf record -o - -e dummy -- true > pipe.data'], { cwd: tmp, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // The file format's parser says what it is; openPerfData reads it as a stream.
    rejects(new Uint8Array(fs.readFileSync(path.join(tmp, 'pipe.data'))), 'header.size', /pipe format.*as a stream/);
  });

  test('a header of another size', () => {
    rejects(u64At(good, 8, 72n), 'header.size', /header.size is 72/);
  });

  test('attr_size too small or too large', () => {
    rejects(u64At(good, 16, 0n), 'header.attr_size', /attr_size is 0/);
    rejects(u64At(good, 16, 1n << 40n), 'header.attr_size', /outside/);
  });

  test('sections outside the file', () => {
    rejects(u64At(good, 24, BigInt(good.byteLength)), 'header.attrs', /reaches past the end/);
    rejects(u64At(good, 32, 1n << 52n), 'header.attrs', /reaches past the end/);
    rejects(u64At(good, 32, 1n << 60n), 'header.attrs.size', /larger than any file/);
    rejects(u64At(good, 40, BigInt(good.byteLength + 8)), 'header.data.offset', /outside/);
    rejects(u64At(good, 40, 8n), 'header.data.offset', /outside/);
  });

  test('attrs that do not match attr_size, or name no event', () => {
    rejects(u64At(good, 32, 100n), 'header.attrs.size', /not a positive multiple of attr_size 144/);
    rejects(u64At(good, 32, 0n), 'header.attrs.size', /names no whole event/);
    const attrsAt = Number(new DataView(good.buffer).getBigUint64(24, true));
    const wrongSize = good.slice();
    new DataView(wrongSize.buffer).setUint32(attrsAt + 4, 120, true);
    rejects(wrongSize, 'attrs[0].size', /attrs\[0\]\.size is 120/);
    rejects(u64At(good, attrsAt + 128, BigInt(good.byteLength)), 'attrs[0].ids', /reaches past the end/);
    rejects(u64At(good, attrsAt + 136, 12n), 'attrs[0].ids.size', /not a whole number/);
  });

  test('id arrays that overlap, as a hostile file would make them to multiply ids', () => {
    /** `count` copies of our attr, the id array of each covering the whole file. */
    const overlapping = (count: number) => {
      const size = 104 + count * 144;
      const bytes = new Uint8Array(size);
      const view = new DataView(bytes.buffer);
      bytes.set(new TextEncoder().encode('PERFILE2'));
      [104, 144, 104, count * 144, size, 0].forEach((v, i) => view.setBigUint64(8 + i * 8, BigInt(v), true));
      for (let i = 0, at = 104; i < count; i++, at += 144) {
        bytes.set(sidebandAttr(), at);
        view.setBigUint64(at + 136, BigInt(size - (size % 8)), true);
      }
      return bytes;
    };
    assert.equal(parsePerfData(overlapping(1)).attrs[0].ids.length, Math.floor((104 + 144) / 8));
    rejects(overlapping(1000), 'attrs[1].ids', /overlap/);
  });

  test('id arrays of more ids than any capture opens, in a file big enough to hold them', () => {
    // 512 MiB of zeros that are never written, so never faulted in: the
    // file's size allows 64 million ids, which as bigints would take GBs.
    // The child's small heap turns such an allocation into a failure.
    const child = spawnSync(
      process.execPath,
      [
        '--max-old-space-size=64',
        '-e',
        `
        const { parsePerfData } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'core', 'perfdata', 'format.js'))});
        const { sidebandAttr } = require(${JSON.stringify(path.join(__dirname, '..', 'fixtures', 'records.js'))});
        const size = 512 << 20;
        const bytes = new Uint8Array(size);
        const view = new DataView(bytes.buffer);
        bytes.set(new TextEncoder().encode('PERFILE2'));
        [104, 144, 104, 144, size, 0].forEach((v, i) => view.setBigUint64(8 + i * 8, BigInt(v), true));
        bytes.set(sidebandAttr(), 104);
        view.setBigUint64(104 + 128, 248n, true);
        view.setBigUint64(104 + 136, BigInt(size - 248), true);
        try {
          parsePerfData(bytes);
          console.log(JSON.stringify({ parsed: true }));
        } catch (e) {
          console.log(JSON.stringify({ name: e.name, field: e.field, message: e.message }));
        }
        `,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(child.status, 0, child.stderr);
    const outcome = JSON.parse(child.stdout);
    assert.equal(outcome.name, 'PerfDataError', child.stdout);
    assert.equal(outcome.field, 'attrs[0].ids.size');
    assert.match(outcome.message, /67108833 ids.*more than the \d+ .*re-record/);
  });

  test('a feature section outside the file is a warning naming the byte it should end at', () => {
    const view = new DataView(good.buffer);
    const tableAt = Number(view.getBigUint64(40, true) + view.getBigUint64(48, true));
    const eventDescEntry = tableAt + parsedGood.features.indexOf(Feature.EVENT_DESC) * 16;
    const size = view.getBigUint64(eventDescEntry + 8, true);
    const parsed = parsePerfData(u64At(good, eventDescEntry, BigInt(good.byteLength - 8)));
    assert.deepEqual(parsed.warnings, [
      `the file is truncated at byte ${good.byteLength}: the section of feature ${Feature.EVENT_DESC} reaches up to byte ${BigInt(good.byteLength - 8) + size}; the feature is ignored`,
    ]);
    assert.equal(parsed.attrs[0].name, undefined);
    assert.deepEqual(parsed.meta, meta);
  });

  test('a feature table outside the file is a file cut short: its records are read, with a warning naming the byte', () => {
    // Data that claims to end 8 bytes before the file does leaves no room for 8 feature sections.
    const parsed = parsePerfData(u64At(good, 48, BigInt(good.byteLength - parsedGood.dataOffset - 8)));
    assert.equal(parsed.meta, undefined);
    assert.deepEqual(parsed.warnings, [`the file is truncated: its feature table should end at byte ${good.byteLength - 8 + parsedGood.features.length * 16} but the file has ${good.byteLength}; its records are read, without the header features`]);
  });

  const footerAt = good.byteLength - 24;
  const goodFooter = footerOf(good);

  /** `good` with its JSON replaced by `json`, padded with spaces to the same length. */
  function replaceJson(json: string): Uint8Array {
    const bytes = good.slice();
    const { offset, length } = goodFooter;
    const replacement = new TextEncoder().encode(json);
    assert.ok(replacement.byteLength <= length);
    bytes.fill(0x20, Number(offset), Number(offset + length));
    bytes.set(replacement, Number(offset));
    return bytes;
  }

  test('metadata that is not JSON, or not ours, is a warning', () => {
    for (const [json, warning] of [
      ['{"version": 1, "tool": ', /not valid JSON/],
      ['[1, 2, 3]', /field "\(root\)"/],
      [JSON.stringify({ ...meta, version: 2 }), /field "version"/],
      [JSON.stringify({ ...meta, ioctlId: 'x' }), /field "ioctlId"/],
      [JSON.stringify({ ...meta, snapshots: [{ ...meta.snapshots[0], start: 5 }] }), /field "snapshots\[0\]\.start"/],
    ] as const) {
      const parsed = parsePerfData(replaceJson(json));
      assert.equal(parsed.meta, undefined);
      assert.equal(parsed.warnings.length, 1, json);
      assert.match(parsed.warnings[0], warning);
      // The records and their provenance do not depend on the metadata.
      assert.deepEqual(statusOf(indexRecords(parsed.data, parsed.stream)).provenance, expectedProvenance);
    }
  });

  test('a file that does not end in our footer has no metadata, and a warning naming the byte where the trailer should be', () => {
    const otherMagic = good.slice();
    otherMagic.set(new TextEncoder().encode('SIDEBAN2'), footerAt + 16);
    const featuresEnd = Number(goodFooter.offset);
    // Another tool's trailer, a copy cut short by its footer, or by one byte.
    for (const bytes of [otherMagic, good.subarray(0, footerAt), good.subarray(0, good.byteLength - 1)]) {
      const parsed = parsePerfData(bytes);
      assert.equal(parsed.meta, undefined);
      assert.deepEqual(parsed.warnings, [
        `the ${bytes.byteLength - featuresEnd} bytes after the file's last feature section (from byte ${featuresEnd}) are not a sideband trailer: the file was cut short, or another tool appended them; the capture's metadata is missing`,
      ]);
      assert.equal(parsed.attrs[0].name, 'dummy:u');
    }
  });

  test('a file of perf with nothing after its features has no metadata and no warning', () => {
    const perfOwn = good.subarray(0, Number(goodFooter.offset));
    const parsed = parsePerfData(perfOwn);
    assert.equal(parsed.meta, undefined);
    assert.deepEqual(parsed.warnings, []);
  });

  test('a footer whose offset or length leaves the trailer is a warning naming the field', () => {
    const dataEnd = BigInt(parsedGood.dataOffset + parsedGood.data.byteLength);
    const offsetAt = footerAt;
    const lengthAt = footerAt + 8;
    for (const [at, value, field] of [
      [offsetAt, dataEnd - 1n, 'offset'], // inside the data section
      [offsetAt, 0n, 'offset'],
      [offsetAt, BigInt(footerAt) + 1n, 'offset'], // inside the footer
      [offsetAt, BigInt(good.byteLength), 'offset'],
      [offsetAt, 1n << 63n, 'offset'],
      [offsetAt, 0xffff_ffff_ffff_ffffn, 'offset'],
      [lengthAt, goodFooter.length + 1n, 'length'], // into the footer
      [lengthAt, BigInt(good.byteLength), 'length'],
      [lengthAt, 0xffff_ffff_ffff_ffffn, 'length'],
    ] as const) {
      const parsed = parsePerfData(u64At(good, at, value));
      assert.equal(parsed.meta, undefined, `${field} ${value}`);
      assert.equal(parsed.warnings.length, 1, `${field} ${value}`);
      assert.match(parsed.warnings[0], new RegExp(`footer's ${field} is ${value}\\b.*metadata is missing`));
    }
    // At the bounds the trailer is still read: an empty JSON is not JSON, so that warning instead.
    assert.match(parsePerfData(u64At(u64At(good, lengthAt, 0n), offsetAt, BigInt(footerAt))).warnings.join(), /not valid JSON/);
    assert.match(parsePerfData(u64At(good, lengthAt, 0n)).warnings.join(), /not valid JSON/);
  });

  test('a file truncated in its data, or unfinished, is not searched for a footer', () => {
    // A valid trailer after the first 64 bytes of data, the rest of the data missing: not read.
    const keptEnd = parsedGood.dataOffset + 64;
    const json = good.subarray(Number(goodFooter.offset), footerAt);
    const footer = new Uint8Array(24);
    new DataView(footer.buffer).setBigUint64(0, BigInt(keptEnd), true);
    new DataView(footer.buffer).setBigUint64(8, BigInt(json.byteLength), true);
    footer.set(good.subarray(footerAt + 16), 16);
    const cut = parsePerfData(concat([good.subarray(0, keptEnd), json, footer]));
    assert.equal(cut.meta, undefined);
    assert.deepEqual(cut.warnings.map((w) => /truncated/.test(w)), [true]);
    // data.size 0: the data would reach to the end of the file, so there is no trailer after it.
    const unfinished = parsePerfData(u64At(good, 48, 0n));
    assert.equal(unfinished.meta, undefined);
    assert.deepEqual(unfinished.warnings.map((w) => /not properly finished/.test(w)), [true]);
  });

  test('the writer refuses metadata readers would ignore, and batches that are not whole records', () => {
    const file = path.join(tmp, 'refused.data');
    const writer = PerfDataWriter.open(file, { events: [{ attr: sidebandAttr(), ids: CAPTURE_IDS, name: 'dummy:u' }], host });
    assert.throws(() => writer.append(allRecords.subarray(0, allRecords.byteLength - 8)), (e: unknown) => e instanceof PerfDataError && e.field === 'records');
    assert.throws(() => writer.finish({ ...meta, ioctlId: '0x4d' }), (e: unknown) => e instanceof PerfDataError && e.field === 'meta.ioctlId');
    writer.append(allRecords);
    writer.finish(meta);
    assert.deepEqual(namedEvents(readPerfData(file).data).records.subarray(0, allRecords.byteLength), allRecords);
    const wrongAttr = sidebandAttr();
    new DataView(wrongAttr.buffer).setUint32(4, 120, true);
    assert.throws(() => PerfDataWriter.open(path.join(tmp, 'x.data'), { events: [{ attr: wrongAttr, ids: [], name: 'dummy:u' }], host }), (e: unknown) => e instanceof PerfDataError && e.field === 'attr.size');
  });
});

describe('parsePerfData on mangled files (fuzz, fixed seed)', () => {
  /** Parses and indexes and decodes everything; only RecordErrors may come out. */
  function readAll(bytes: Uint8Array): void {
    try {
      const parsed = parsePerfData(bytes);
      const index = indexRecords(parsed.data, parsed.stream);
      for (let i = 0; i < index.count; i++) decodeRecord(index, i);
    } catch (e) {
      if (!(e instanceof RecordError)) throw e;
    }
  }

  const ours = new Uint8Array(fs.readFileSync(writeCapture('fuzz.data')));
  const theirs = new Uint8Array(fs.readFileSync(perfRecord('fuzz-perf.data', ['-e', 'dummy', '--namespaces', '--', 'sh', '-c', 'exec /bin/true'])));

  for (const [name, file] of [
    ['ours', ours],
    ['perf record', theirs],
  ] as const) {
    test(`${name}: cut at every length of the header, attrs and ids, and in the data`, () => {
      const { dataOffset } = parsePerfData(file);
      for (let length = 0; length <= dataOffset + 256; length++) readAll(file.subarray(0, length));
      for (let length = dataOffset + 256; length <= file.byteLength; length += 7) readAll(file.subarray(0, length));
    });

    test(`${name}: random bytes at random places`, () => {
      const random = prng(name.length * 7919);
      const { dataOffset } = parsePerfData(file);
      for (let round = 0; round < 3000; round++) {
        const mangled = file.slice();
        const view = new DataView(mangled.buffer);
        for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
          // Mostly the header, attrs and ids, where a byte changes most.
          const limit = random() < 0.7 ? dataOffset : mangled.byteLength;
          const at = Math.floor(random() * limit);
          if (random() < 0.3 && at + 8 <= mangled.byteLength) view.setBigUint64(at, BigInt(Math.floor(random() * 2 ** 32)) << BigInt(Math.floor(random() * 33)), true);
          else mangled[at] = Math.floor(random() * 256);
        }
        readAll(mangled);
      }
    });
  }

  test('ours: random footer offsets and lengths are warnings, never errors', () => {
    const random = prng(4099);
    const footerAt = ours.byteLength - 24;
    const { offset, length } = footerOf(ours);
    const near = (v: bigint) => BigInt.asUintN(64, v + BigInt(Math.floor(random() * 64) - 32));
    let warned = 0;
    for (let round = 0; round < 3000; round++) {
      const mangled = ours.slice();
      const view = new DataView(mangled.buffer);
      const pick = (v: bigint) => {
        const r = random();
        if (r < 0.4) return near(v);
        if (r < 0.6) return near(BigInt(footerAt));
        if (r < 0.8) return BigInt(Math.floor(random() * 2 ** 32)) << BigInt(Math.floor(random() * 33));
        return BigInt.asUintN(64, -BigInt(Math.floor(random() * 64)));
      };
      if (random() < 0.7) view.setBigUint64(footerAt, pick(offset), true);
      if (random() < 0.7) view.setBigUint64(footerAt + 8, pick(length), true);
      if (random() < 0.2) mangled[Number(offset) + Math.floor(random() * Number(length))] = Math.floor(random() * 256);
      const parsed = parsePerfData(mangled); // the footer alone can only cost the metadata
      assert.ok(parsed.warnings.length <= 1, parsed.warnings.join('\n'));
      assert.equal(parsed.meta === undefined, parsed.warnings.length === 1);
      warned += parsed.warnings.length;
      readAll(mangled);
    }
    assert.ok(warned > 2000, `${warned} warnings`);
  });
});

describe('parsePerfData on files perf record wrote', () => {
  test('a sideband-only file with namespaces agrees with perf script', () => {
    const file = perfRecord('dummy.data', ['-e', 'dummy', '--namespaces', '--', 'sh', '-c', 'exec /bin/true']);
    const parsed = readPerfData(file);
    assert.deepEqual(parsed.warnings, []);
    assert.equal(parsed.attrs.length, 1);
    assert.equal(parsed.attrs[0].name, 'dummy');
    assert.ok(parsed.attrs[0].attr.sampleIdAll);
    assert.equal(parsed.meta, undefined);
    const index = indexRecords(parsed.data, parsed.stream);
    assert.equal(index.truncatedAt, undefined);
    const keys = ourKeys(index);
    assert.ok(keys.some((k) => /^COMM exec \d+\/\d+ true$/.test(k)), keys.join('\n'));
    assert.ok(keys.some((k) => /^NAMESPACES \d+\/\d+ 7$/.test(k)), keys.join('\n'));
    assert.ok(keys.some((k) => /^EXIT /.test(k)), keys.join('\n'));
    const r = perf(['script', ...SIDEBAND_OPTIONS, '-i', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(keys, perfScriptKeys(r.stdout));
    // perf's own status records, read from /proc when recording began, have time 0.
    for (let i = 0; i < index.count; i++)
      if (index.time[i] === 0 && index.type[i] !== RecordType.FINISHED_INIT) assert.equal(provenanceOf(index.flags[i]), Provenance.Synthesized);
    assert.ok(Array.from(index.flags).some((f) => provenanceOf(f) === Provenance.Synthesized));
  });

  test('a file with samples: samples are skipped, the sideband agrees with perf script', () => {
    const loop = 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done';
    const file = perfRecord('task-clock.data', ['-e', 'task-clock', '-c', '100000', '--', 'sh', '-c', loop]);
    const parsed = readPerfData(file);
    assert.deepEqual(parsed.warnings, []);
    assert.equal(parsed.attrs[0].name, 'task-clock');
    const index = indexRecords(parsed.data, parsed.stream);
    assert.ok(index.skipped > 10, `${index.skipped} skipped`);
    const r = perf(['script', ...SIDEBAND_OPTIONS, '-F', 'comm,pid,tid,time,event', '-i', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(ourKeys(index), perfScriptKeys(r.stdout));
    const stats = perfStats(perf(['report', '--stats', '-i', file]).stdout);
    const indexed = typeCounts(Array.from(index.type));
    for (const type of ['COMM', 'MMAP', 'MMAP2', 'EXIT', 'FORK']) assert.equal(indexed[type], stats[type], type);
    assert.ok(stats.SAMPLE > 10);
  });

  test('a file with several events names each and reads their records', () => {
    const file = perfRecord('multi.data', ['-e', 'dummy', '-e', 'task-clock', '-c', '100000', '--', 'sh', '-c', 'exec /bin/true']);
    const parsed = readPerfData(file);
    assert.deepEqual(
      parsed.attrs.map((a) => a.name),
      ['dummy', 'task-clock'],
    );
    assert.ok(parsed.attrs.every((a) => a.ids.length > 0));
    const index = indexRecords(parsed.data, parsed.stream);
    const r = perf(['script', ...SIDEBAND_OPTIONS, '-F', 'comm,pid,tid,time,event', '-i', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(ourKeys(index), perfScriptKeys(r.stdout));
  });
});

describe('readHostInfo', () => {
  test('describes this machine as perf record would', () => {
    const info = readHostInfo();
    assert.equal(info.hostname, os.hostname());
    assert.equal(info.osRelease, os.release());
    assert.equal(info.arch, os.machine());
    assert.ok(info.cpusOnline >= 1 && info.cpusAvailable >= info.cpusOnline);
    assert.deepEqual(info.cmdline, process.argv);
  });

  test('is what the writer uses when not given a host', () => {
    const file = path.join(tmp, 'this-host.data');
    const writer = PerfDataWriter.open(file, { events: [{ attr: sidebandAttr(), ids: KERNEL_IDS, name: 'dummy:u' }] });
    writer.finish(meta);
    const r = perf(['report', '--header-only', '-i', file]);
    assert.equal(r.stderr, '');
    assert.ok(r.stdout.includes(`# hostname : ${os.hostname()}`));
    assert.ok(r.stdout.includes(`# arch : ${os.machine()}`));
    assert.ok(r.stdout.includes(`# nrcpus online : ${readHostInfo().cpusOnline}`));
  });
});

describe('indexPerfDataFile', () => {
  test('streams the data section into the same index as reading it whole, records read back on demand', () => {
    const file = writeCapture('streamed.data');
    const whole = readPerfData(file);
    const expected = indexRecords(whole.data, whole.stream);
    // Chunks smaller than a record force records across chunk ends and a grown buffer.
    for (const chunkBytes of [64, 200, 4096, 4 << 20]) {
      const streamed = indexPerfDataFile(file, chunkBytes);
      assert.equal(streamed.index.count, expected.count, `chunk ${chunkBytes}`);
      for (const column of ['offset', 'size', 'type', 'flags', 'time', 'pid', 'tid', 'cpu', 'trailer'] as const)
        assert.deepEqual(streamed.index[column], expected[column], `${column}, chunk ${chunkBytes}`);
      for (let i = 0; i < expected.count; i++) assert.deepEqual(decodeRecord(streamed.index, i), decodeRecord(expected, i));
      assert.deepEqual(streamed.meta, whole.meta);
      assert.equal(streamed.index.truncatedAt, undefined);
    }
  });

  test('a file cut inside a record: indexed up to it, with the same warning', () => {
    const file = writeCapture('to-cut.data');
    const whole = readPerfData(file);
    const cut = path.join(tmp, 'cut.data');
    fs.writeFileSync(cut, fs.readFileSync(file).subarray(0, whole.dataOffset + whole.data.byteLength - 20));
    const expected = indexRecords(readPerfData(cut).data, whole.stream);
    const streamed = indexPerfDataFile(cut, 128);
    assert.ok(expected.truncatedAt !== undefined);
    assert.equal(streamed.index.truncatedAt, expected.truncatedAt);
    assert.equal(streamed.index.count, expected.count);
    assert.deepEqual(streamed.warnings, [...readPerfData(cut).warnings, `${cut} ends inside a record at byte ${whole.dataOffset + expected.truncatedAt!}: the records before it are read`]);
  });
});
