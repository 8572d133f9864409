// perf.data files that are cut short or contradict themselves, made by
// this test from files perf writes: each one is refused, naming its
// record's byte and field, or read up to its last whole record with a
// warning naming the byte. The same rule holds in the CLI (checked here),
// "Open perf.data…" and the language server, which all read through
// indexPerfDataFile's reader.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { RecordError, RecordType } from '../../core/records';
import { indexPerfDataFile } from '../../node/perfdata/reader';
import { dataSection, prng, recordPlaces, type Place } from '../fixtures/perfFile';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'bin', 'sideband.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const WORKLOAD = ['--', 'sh', '-c', 'ls / > /dev/null; exec /bin/true'];

function perfRecord(name: string, options: string[]): Buffer {
  const file = path.join(tmp, name);
  const r = spawnSync('perf', ['record', '-q', ...options, ...WORKLOAD], { cwd: tmp, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.toString());
  if (options.includes('-')) fs.writeFileSync(file, r.stdout);
  return fs.readFileSync(file);
}

const file = perfRecord('base.data', ['-o', 'base.data', '--namespaces']);
const compressed = perfRecord('z.data', ['-o', 'z.data', '-z']);
const pipe = perfRecord('pipe.data', ['-o', '-']);

function first(bytes: Buffer, type: number, start = dataSection(bytes).start, end = dataSection(bytes).end): Place {
  const place = recordPlaces(bytes, start, end).find((p) => p.type === type);
  assert.ok(place, `no record of type ${type}`);
  return place;
}

type Verdict = { refused: RecordError } | { truncated: string[]; records: number } | { whole: number };

let written = 0;
/** What reading `bytes` as a perf.data gives: refused, truncated (warnings), or whole (the record count). */
function verdict(bytes: Uint8Array): Verdict {
  const at = path.join(tmp, `v${written++ % 4}.data`);
  fs.writeFileSync(at, bytes);
  try {
    const read = indexPerfDataFile(at, 256);
    return read.warnings.length ? { truncated: read.warnings, records: read.index.count } : { whole: read.index.count };
  } catch (e) {
    if (e instanceof RecordError) return { refused: e };
    throw e;
  }
}

function refused(bytes: Uint8Array, field: string | RegExp, message: RegExp, byte?: number): void {
  const v = verdict(bytes);
  assert.ok('refused' in v, `not refused: ${JSON.stringify(v)}`);
  if (typeof field === 'string') assert.equal(v.refused.field, field);
  else assert.match(v.refused.field, field);
  assert.match(v.refused.message, message);
  if (byte !== undefined) assert.equal(v.refused.offset, byte, v.refused.message);
}

function truncated(bytes: Uint8Array, warning: RegExp): number {
  const v = verdict(bytes);
  assert.ok('truncated' in v, `not truncated: ${JSON.stringify(v)}`);
  assert.ok(v.truncated.some((w) => warning.test(w)), v.truncated.join('\n'));
  return v.records;
}

/** `bytes` with a little-endian value written at `at`. */
function patched(bytes: Buffer, at: number, value: number | bigint, width: 1 | 2 | 4 | 8): Buffer {
  const copy = Buffer.from(bytes);
  if (width === 1) copy.writeUInt8(Number(value), at);
  else if (width === 2) copy.writeUInt16LE(Number(value), at);
  else if (width === 4) copy.writeUInt32LE(Number(value), at);
  else copy.writeBigUInt64LE(BigInt(value), at);
  return copy;
}

const whole = verdict(file);

describe('a perf.data that contradicts itself is refused, naming the record, its byte and its field', () => {
  test('the files it starts from are read whole', () => {
    assert.ok('whole' in whole && whole.whole > 5, JSON.stringify(whole));
    assert.ok('whole' in verdict(compressed));
    assert.ok('whole' in verdict(pipe));
  });

  test('a record of size 0, in a file and in a pipe', () => {
    const comm = first(file, RecordType.COMM);
    refused(patched(file, comm.at + 6, 0, 2), 'header.size', /COMM record's header\.size is 0, less than its own 8-byte header/, comm.at);
    const pipeComm = first(pipe, RecordType.COMM, 16, pipe.byteLength);
    refused(patched(pipe, pipeComm.at + 6, 0, 2), 'header.size', /header\.size is 0/, pipeComm.at);
  });

  test('a kernel record of a size that is not a multiple of 8', () => {
    const comm = first(file, RecordType.COMM);
    refused(patched(file, comm.at + 6, comm.size - 4, 2), 'header.size', /COMM record's header\.size is \d+, not a multiple of 8/, comm.at);
  });

  test('a record that crosses the end of its data section', () => {
    const { start, end } = dataSection(file);
    const last = recordPlaces(file, start, end).at(-1)!;
    refused(patched(file, last.at + 6, last.size + 8, 2), 'header.size', new RegExp(`header\\.size of ${last.size + 8} bytes runs past the end of the data section at byte ${end}`), last.at);
  });

  test('attr_size 0, and an attr shorter than the attr_size says', () => {
    refused(patched(file, 16, 0, 8), 'header.attr_size', /attr_size is 0/);
    const attrs = Number(file.readBigUInt64LE(24));
    refused(patched(file, attrs + 4, 64, 4), 'attrs[0].size', /attrs\[0\]\.size is 64 but header\.attr_size leaves \d+ bytes/);
  });

  test("a pipe's HEADER_ATTR whose attr.size does not fit its record", () => {
    const attr = first(pipe, RecordType.HEADER_ATTR, 16, pipe.byteLength);
    refused(patched(pipe, attr.at + 8 + 4, attr.size, 4), 'HEADER_ATTR.attr.size', /attr\.size is \d+, which does not fit/, attr.at);
  });

  test('a huge nr_namespaces', () => {
    const ns = first(file, RecordType.NAMESPACES);
    refused(patched(file, ns.at + 16, 1n << 40n, 8), 'NAMESPACES.nr_namespaces', /nr_namespaces is 1099511627776, but its \d+ bytes hold 7 links/, ns.at);
  });

  test('strings without a terminator inside their record', () => {
    const comm = first(file, RecordType.COMM);
    const mmap2 = first(file, RecordType.MMAP2);
    // The name and its NUL padding, up to the 8-byte boundary where the sample_id trailer starts, all text.
    const unterminated = (p: Place, nameAt: number) => {
      const copy = Buffer.from(file);
      let nul = p.at + nameAt;
      while (copy[nul] !== 0) nul++;
      copy.fill(0x41, nul, p.at + nameAt + Math.ceil((nul - p.at - nameAt + 1) / 8) * 8);
      return copy;
    };
    refused(unterminated(comm, 16), 'COMM.comm', /COMM record's comm has no terminating NUL/, comm.at);
    refused(unterminated(mmap2, 72), 'MMAP2.filename', /MMAP2 record's filename has no terminating NUL/, mmap2.at);
  });

  test('a data offset past the end of the file', () => {
    refused(patched(file, 40, file.byteLength + 8, 8), 'header.data.offset', /outside the \d+-byte file/);
  });

  test('a COMPRESSED record whose payload is not zstd', () => {
    const z = first(compressed, RecordType.COMPRESSED);
    refused(patched(compressed, z.at + 8, 0x12345678, 4), 'COMPRESSED.data', /COMPRESSED record's data: the payload is not zstd: 0x12345678/, z.at);
  });

  test('a COMPRESSED record that decompresses to more than the file says one holds', () => {
    // The COMPRESSED feature (bit 27) holds u32 version, type, level, ratio, mmap_len: mmap_len shrunk to 64.
    const features = Buffer.from(compressed.subarray(72, 104));
    const bits = Array.from({ length: 256 }, (_, bit) => bit).filter((bit) => features[bit >> 3] & (1 << (bit & 7)));
    const table = dataSection(compressed).end;
    const section = Number(compressed.readBigUInt64LE(table + bits.indexOf(27) * 16));
    const z = first(compressed, RecordType.COMPRESSED);
    refused(patched(compressed, section + 16, 64, 4), 'COMPRESSED.data', /decompresses to more than 64 bytes/, z.at);
  });

  test('the CLI exits 1 with the message, after printing the records before the fault', () => {
    const ns = first(file, RecordType.NAMESPACES);
    const bad = path.join(tmp, 'cli-bad.data');
    fs.writeFileSync(bad, patched(file, ns.at + 16, 1n << 40n, 8));
    const r = spawnSync(process.execPath, [CLI, 'dump', '--json', bad], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`error: NAMESPACES record's nr_namespaces is 1099511627776.* \\(at byte ${ns.at} of ${bad}\\)`));
    const before = recordPlaces(file, dataSection(file).start, ns.at).filter((p) => p.type !== RecordType.SAMPLE && p.type < 64).length;
    assert.equal(r.stdout.split('\n').filter(Boolean).length, before + recordPlaces(file, dataSection(file).start, ns.at).filter((p) => p.type === RecordType.FINISHED_INIT).length);
  });

  test('sideband resolve refuses such a file as dump does, where the language server reads it too', () => {
    const comm = first(file, RecordType.COMM);
    const bad = path.join(tmp, 'resolve-bad.data');
    fs.writeFileSync(bad, patched(file, comm.at + 6, comm.size - 4, 2));
    const r = spawnSync(process.execPath, [CLI, 'resolve', bad, '--pid', '1', '0x1000'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`error: COMM record's header\\.size is \\d+, not a multiple of 8 .*\\(at byte ${comm.at} of ${bad}\\)`));
  });
});

describe('a perf.data that is only cut short is read up to its last whole record, with a warning naming the byte', () => {
  test('a cut at every byte of the header, ids and attrs is refused, naming what it cuts', () => {
    const { start } = dataSection(file);
    for (let length = 0; length < start; length++) refused(file.subarray(0, length), /^(header|header\.attrs|attrs\[\d+\]\.ids)$/, /file|header|past the end/);
    assert.equal(truncated(file.subarray(0, start), /data section should end at byte/), 0);
  });

  test('a cut at every byte of the last record', () => {
    const { start, end } = dataSection(file);
    const all = recordPlaces(file, start, end);
    const last = all.at(-1)!;
    const indexed = (last.type < 64 && last.type !== RecordType.SAMPLE) || last.type === RecordType.FINISHED_INIT;
    const before = 'whole' in whole ? whole.whole - (indexed ? 1 : 0) : -1;
    for (let length = last.at + 1; length < end; length++) {
      const records = truncated(file.subarray(0, length), new RegExp(`ends inside a record at byte ${last.at}: the records before it are read`));
      assert.equal(records, before, `cut at ${length}`);
    }
  });

  test('a cut at every byte of the last record of a pipe', () => {
    const all = recordPlaces(pipe, 16, pipe.byteLength);
    const last = all.at(-1)!;
    for (let length = last.at + 1; length < pipe.byteLength; length++) truncated(pipe.subarray(0, length), new RegExp(`ends inside a record at byte ${last.at}`));
  });

  test('a cut inside the features, or by one byte: the records are all read, and the warning names the byte', () => {
    const { end } = dataSection(file);
    const records = 'whole' in whole ? whole.whole : -1;
    assert.equal(truncated(file.subarray(0, file.byteLength - 1), new RegExp(`the file is truncated at byte ${file.byteLength - 1}: the section of feature \\d+ reaches up to byte ${file.byteLength}`)), records);
    assert.equal(truncated(file.subarray(0, end + 8), /feature table should end at byte/), records);
  });

  test('a -z file cut inside a COMPRESSED record', () => {
    const z = recordPlaces(compressed, dataSection(compressed).start, dataSection(compressed).end).filter((p) => p.type === RecordType.COMPRESSED).at(-1)!;
    truncated(compressed.subarray(0, z.at + 20), new RegExp(`ends inside a record at byte ${z.at}`));
  });
});

describe('mangled compressed and pipe input (fuzz, fixed seed)', () => {
  for (const [name, bytes, from] of [
    ['-z', compressed, dataSection(compressed).start],
    ['pipe', pipe, 16],
  ] as const) {
    test(`${name}: random bytes in the records give a verdict, never another exception`, () => {
      const random = prng(name.length * 104729);
      const verdicts = { refused: 0, truncated: 0, whole: 0 };
      for (let round = 0; round < 400; round++) {
        const mangled = Buffer.from(bytes);
        for (let n = 1 + Math.floor(random() * 3); n > 0; n--) mangled[from + Math.floor(random() * (bytes.byteLength - from))] = Math.floor(random() * 256);
        const v = verdict(mangled);
        verdicts['refused' in v ? 'refused' : 'truncated' in v ? 'truncated' : 'whole']++;
      }
      assert.ok(verdicts.refused > 0, JSON.stringify(verdicts));
    });
  }
});
