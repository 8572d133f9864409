// Every perf.data that perf writes with its common options, made by perf
// in the test run, read by `sideband dump --json` and checked against perf
// itself: the count of each sideband type against `perf report --stats`,
// and each record's subject and fields against `perf script`.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { RecordType, copyRecords, decodeRecord, type RecordIndex } from '../../core/records';
import { SYSCALL_ARGS, type MappingSyscall } from '../../core/recordLayout';
import { indexRecords } from '../../core/recordStream';
import { Timeline } from '../../core/timeline';
import { ZstdStream } from '../../core/perfdata/zstd';
import { indexPerfDataFile, openPerfData, readRecords, recordReader } from '../../node/perfdata/reader';
import { compressedPayloads, dataSection, recordPlaces } from '../fixtures/perfFile';
import { SIDEBAND_OPTIONS, perfScriptKeys, perfStats, recordKeys, type RecordFacts } from '../fixtures/perfOracle';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'bin', 'sideband.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'perfcorpus-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A workload with forks, execs and mmaps: a shell that runs two programs. */
const WORKLOAD = ['--', 'sh', '-c', 'ls / > /dev/null; exec /bin/true'];
/** The sideband types `perf report --stats` counts. */
const SIDEBAND_TYPES = ['FORK', 'EXIT', 'COMM', 'MMAP', 'MMAP2', 'NAMESPACES', 'CGROUP'];

function run(command: string, args: string[], input?: Buffer) {
  const r = spawnSync(command, args, { cwd: tmp, input, maxBuffer: 512 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), raw: r.stdout };
}

function perfRecord(name: string, options: string[]): string {
  const file = path.join(tmp, name);
  const r = run('perf', ['record', '-q', '-o', file, ...options, ...WORKLOAD]);
  assert.equal(r.status, 0, r.stderr);
  return file;
}

/** `sideband dump --json` of a file (or of `input` on standard input for '-'): its records, and what it said. */
function dump(file: string, input?: Buffer): { records: RecordFacts[]; stderr: string } {
  const r = run(process.execPath, [CLI, 'dump', '--json', file], input);
  assert.equal(r.status, 0, r.stderr);
  return { records: r.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as RecordFacts), stderr: r.stderr };
}

function countsOf(records: RecordFacts[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of SIDEBAND_TYPES) {
    const n = records.filter((r) => r.type === type).length;
    if (n) counts[type] = n;
  }
  return counts;
}

/** What perf makes of `file`: its sideband counts, and the keys of the records perf script prints. */
function perfSays(file: string): { counts: Record<string, number>; keys: string[] } {
  const stats = run('perf', ['report', '--stats', '-i', file]);
  assert.equal(stats.status, 0, stats.stderr);
  const all = perfStats(stats.stdout);
  const counts: Record<string, number> = {};
  for (const type of SIDEBAND_TYPES) if (all[type]) counts[type] = all[type];
  const script = run('perf', ['script', ...SIDEBAND_OPTIONS, '-F', 'comm,pid,tid,time,event', '-i', file]);
  assert.equal(script.status, 0, script.stderr);
  return { counts, keys: perfScriptKeys(script.stdout) };
}

function agreesWithPerf(file: string, read: { records: RecordFacts[]; stderr: string } = dump(file)): void {
  const perf = perfSays(file);
  assert.ok(Object.keys(perf.counts).length > 0, `perf reports no sideband in ${file}`);
  assert.deepEqual(countsOf(read.records), perf.counts);
  assert.deepEqual(recordKeys(read.records), perf.keys);
  assert.doesNotMatch(read.stderr, /warning|error/, read.stderr);
}

const OPTIONS: Array<[string, string[]]> = [
  ['default', []],
  ['-z (zstd)', ['-z']],
  ['--namespaces', ['--namespaces']],
  ['--switch-events', ['--switch-events']],
  ['--buildid-mmap', ['--buildid-mmap']],
  ['--all-cgroups', ['--all-cgroups']],
  ['--call-graph dwarf', ['--call-graph', 'dwarf']],
  ['a tracepoint', ['-e', 'sched:sched_process_exec']],
  ['-k mono', ['-k', 'mono']],
  ['--synth=no', ['--synth=no']],
  ['-s', ['-s']],
  ['-a', ['-a']],
  ['-z --namespaces --call-graph dwarf', ['-z', '--namespaces', '--call-graph', 'dwarf']],
];

describe('sideband dump of what perf record writes agrees with perf', () => {
  OPTIONS.forEach(([name, options], k) => {
    test(name, () => agreesWithPerf(perfRecord(`opt${k}.data`, options)));
  });

  test('-z: the sideband comes out of COMPRESSED records, which the note counts', () => {
    const { stderr } = dump(perfRecord('z-note.data', ['-z']));
    assert.match(stderr, /records of types we do not show: .*\d+ COMPRESSED/);
  });

  test('--threads: a directory of data.N files, merged in time order', () => {
    const dir = perfRecord('threads.data', ['--threads']);
    assert.ok(fs.statSync(dir).isDirectory());
    assert.ok(fs.readdirSync(dir).filter((n) => /^data\.\d+$/.test(n)).length > 0);
    const read = dump(dir);
    agreesWithPerf(dir, read);
    const times = read.records.map((r) => (r as unknown as { time: number }).time);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    // The header file, as a file dialog picks it, reads the same.
    assert.deepEqual(dump(path.join(dir, 'data')).records, read.records);
    // The timeline's index is in time order too, so a child's fork comes before its exec.
    const index = indexPerfDataFile(dir).index;
    assert.ok(index.time.every((t, i) => i === 0 || t >= index.time[i - 1]));
    const pids = new Timeline(index).processes.map((p) => p.pid);
    assert.equal(new Set(pids).size, pids.length, `one process per pid: ${pids}`);
  });

  test('-z --threads', () => agreesWithPerf(perfRecord('zthreads.data', ['-z', '--threads'])));

  test('perf inject -b: HEADER_BUILD_ID records that are not 8-aligned', () => {
    const input = perfRecord('to-inject.data', []);
    const output = path.join(tmp, 'injected.data');
    const r = run('perf', ['inject', '-b', '-i', input, '-o', output]);
    assert.equal(r.status, 0, r.stderr);
    const { stderr } = dump(output);
    assert.match(stderr, /\d+ HEADER_BUILD_ID/);
    // One at least does not end on 8 bytes, or the test proves nothing.
    assert.ok(recordPlaces(fs.readFileSync(output)).some((p) => p.type === RecordType.HEADER_BUILD_ID && p.size % 8 !== 0));
    agreesWithPerf(output);
  });

  test('pipe mode saved to a file', () => {
    const file = path.join(tmp, 'pipe.data');
    const r = run('perf', ['record', '-q', '-o', '-', ...WORKLOAD]);
    assert.equal(r.status, 0, r.stderr);
    fs.writeFileSync(file, r.raw);
    agreesWithPerf(file);
  });

  test('pipe mode on standard input: perf record -o - | sideband dump -', () => {
    const file = path.join(tmp, 'stdin.data');
    const script = `perf record -q -o - ${WORKLOAD.slice(1).map((a) => `'${a}'`).join(' ')} | tee ${file} | ${process.execPath} ${CLI} dump --json -`;
    const out = execFileSync('sh', ['-c', script], { cwd: tmp, maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    const records = out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as RecordFacts);
    agreesWithPerf(file, { records, stderr: '' });
  });

  test('pipe mode, compressed (which perf 6.1 cannot read back): the records of the workload are there', () => {
    const r = run('perf', ['record', '-q', '-z', '-o', '-', ...WORKLOAD]);
    assert.equal(r.status, 0, r.stderr);
    const { records, stderr } = dump('-', r.raw);
    assert.match(stderr, /\d+ COMPRESSED/);
    const shell = records.find((x) => x.type === 'COMM' && x.comm === 'sh' && x.exec);
    assert.ok(shell, 'the COMM of the exec of sh');
    assert.ok(records.some((x) => x.type === 'COMM' && x.comm === 'true' && x.exec && x.pid === shell.pid));
    assert.ok(records.some((x) => x.type === 'MMAP2' && x.filename === '/usr/bin/true' && x.pid === shell.pid));
    assert.ok(records.some((x) => x.type === 'FORK' && x.ppid === shell.pid), 'the fork of ls');
    assert.ok(records.some((x) => x.type === 'EXIT' && x.pid === shell.pid));
  });
});

describe("the mapping syscalls' tracepoints, as perf records them", () => {
  const EVENTS = ['munmap', 'mremap', 'mprotect', 'brk'].flatMap((call) => ['-e', `syscalls:sys_enter_${call}`, '-e', `syscalls:sys_exit_${call}`]);
  /** tid, event and the numbers of each sample, as perf script prints them: a call's arguments or its return value. */
  function perfSamples(file: string): string[] {
    const script = run('perf', ['script', '-F', 'tid,event,trace', '-i', file]);
    assert.equal(script.status, 0, script.stderr);
    return script.stdout
      .split('\n')
      .filter((line) => line.includes('syscalls:'))
      .map((line) => {
        const m = /^\s*(\d+)\s+(syscalls:\S+):(.*)$/.exec(line);
        assert.ok(m, line);
        return `${m[1]} ${m[2]} ${[...m[3].matchAll(/0x[0-9a-f]+/g)].map((n) => BigInt(n[0]).toString(16)).join(' ')}`;
      });
  }
  /** The same of our records, in time order as perf script prints them (dump prints a stream's records as they come). */
  function ourSamples(records: RecordFacts[]): string[] {
    return records
      .filter((r) => r.type === 'SAMPLE')
      .sort((a, b) => (a as unknown as { time: number }).time - (b as unknown as { time: number }).time)
      .map((r) => {
        const fields = r as unknown as Record<string, string>;
        const call = /^syscalls:sys_(?:enter|exit)_(\w+)$/.exec(fields.event)?.[1] as MappingSyscall;
        const numbers = fields.ret !== undefined ? [BigInt.asUintN(64, BigInt(fields.ret))] : SYSCALL_ARGS[call].map((arg) => BigInt(fields[arg]));
        return `${r.tid} ${fields.event} ${numbers.map((n) => n.toString(16)).join(' ')}`;
      });
  }

  for (const [name, options] of [
    ['file, with call chains', ['-g']],
    ['pipe', ['-o', '-']],
  ] as const) {
    test(`${name}: every sample, with its arguments or return value, as perf script prints them`, () => {
      const file = path.join(tmp, `syscalls-${name.split(',')[0]}.data`);
      const r = run('perf', ['record', '-q', ...(options[0] === '-o' ? [] : ['-o', file]), ...options, ...EVENTS, ...WORKLOAD]);
      assert.equal(r.status, 0, r.stderr);
      if (options[0] === '-o') fs.writeFileSync(file, r.raw);
      const expected = perfSamples(file);
      assert.ok(expected.some((line) => line.includes('sys_exit_munmap')) && expected.some((line) => line.includes('sys_enter_mprotect')), expected.join('\n'));
      // Each thread's calls in time order; threads may interleave differently at equal times.
      const byThread = (lines: string[]): string[] => [...lines].sort((a, b) => parseInt(a) - parseInt(b));
      assert.deepEqual(byThread(ourSamples(dump(file).records)), byThread(expected));
    });
  }
});

describe("what Open perf.data sends a webview: the sideband alone", () => {
  const decoded = (index: RecordIndex) => Array.from({ length: index.count }, (_, i) => decodeRecord(index, i));

  for (const [name, options] of [
    ['a sample-heavy -z file', ['-z', '--call-graph', 'dwarf']],
    ['a --threads directory', ['--threads', '--call-graph', 'dwarf']],
  ] as const) {
    test(`${name}: batches taken as the chunks are read hold every sideband record once, and no sample`, () => {
      const file = perfRecord(`feed-${name.length}.data`, [...options]);
      const opened = openPerfData(file);
      const reader = recordReader(opened);
      const batches: Uint8Array[] = [];
      let sent = 0;
      // As FileFeed does: after each chunk, the records indexed since the last batch.
      for (const _ of readRecords(opened, reader, 4096)) {
        const index = reader.index();
        batches.push(copyRecords(index, sent));
        sent = index.count;
      }
      const index = reader.index();
      assert.ok(index.skippedByType.SAMPLE > 0, 'the file has samples');
      const stream = new Uint8Array(batches.reduce((n, b) => n + b.byteLength, 0));
      batches.reduce((at, b) => (stream.set(b, at), at + b.byteLength), 0);
      // The webview indexes the batches with the file's events: the same records, none a sample.
      const received = indexRecords(stream, reader.stream);
      assert.deepEqual(decoded(received), decoded(index));
      assert.equal(received.skipped, 0);
      assert.ok(!Array.from(received.type).includes(RecordType.SAMPLE));
      assert.equal(stream.byteLength, index.size.reduce((n, size) => n + size, 0));
    });
  }
});

describe('a -z file whose zstd blocks span COMPRESSED records', () => {
  // A large ring read at once compresses to more than one record holds: perf splits it, mid-block.
  const file = (() => {
    const out = path.join(tmp, 'spanning.data');
    const r = run('perf', ['record', '-q', '-z', '-e', 'dummy', '-m', '1024', '-o', out, '--', 'sh', '-c', 'for i in $(seq 1500); do /bin/true; done']);
    assert.equal(r.status, 0, r.stderr);
    return out;
  })();

  test('zstd gets the payloads whole, however the caller reuses its buffer', () => {
    const all = compressedPayloads(fs.readFileSync(file));
    assert.ok(all.some((p) => p.byteLength >= 65000), 'a COMPRESSED record filled to its limit, so a block spans two');
    const expected = Buffer.concat(new ZstdStream().push(Buffer.concat(all), 1 << 30));
    // Each payload as a view into one scratch buffer, overwritten before the next: as the reader's buffer is.
    const scratch = new Uint8Array(Math.max(...all.map((p) => p.byteLength)));
    const stream = new ZstdStream();
    const parts: Uint8Array[] = [];
    for (const p of all) {
      scratch.fill(0xee);
      scratch.set(p);
      parts.push(...stream.push(scratch.subarray(0, p.byteLength), 1 << 30).map((part) => part.slice()));
    }
    assert.ok(expected.byteLength > 0);
    assert.ok(Buffer.concat(parts).equals(expected));
  });

  test('the reader gives the same records whatever its chunk size, as perf counts them', () => {
    const counts = [4096, 65536, 8 << 20].map((chunk) => indexPerfDataFile(file, chunk).index.count);
    assert.equal(new Set(counts).size, 1, `records by chunk size: ${counts}`);
    agreesWithPerf(file);
  });
});

describe('COMPRESSED2, as perf after 6.14 writes it', () => {
  /**
   * A -z file of perf 6.1 with each COMPRESSED record rewritten as perf
   * 6.15 writes COMPRESSED2 (tools/lib/perf/include/perf/event.h): a u64
   * data_size after the header, the payload, zeros up to 8 bytes. The data
   * section's size and the feature offsets move with it.
   */
  function asCompressed2(file: string): Buffer {
    const bytes = fs.readFileSync(file);
    const { start, end } = dataSection(bytes);
    const parts: Buffer[] = [bytes.subarray(0, start)];
    for (const { at, type, size } of recordPlaces(bytes)) {
      if (type !== RecordType.COMPRESSED) {
        parts.push(bytes.subarray(at, at + size));
        continue;
      }
      const payload = bytes.subarray(at + 8, at + size);
      const record = Buffer.alloc(Math.ceil((16 + payload.byteLength) / 8) * 8);
      record.writeUInt32LE(RecordType.COMPRESSED2, 0);
      record.writeUInt16LE(record.byteLength, 6);
      record.writeBigUInt64LE(BigInt(payload.byteLength), 8);
      payload.copy(record, 16);
      parts.push(record);
    }
    const data = Buffer.concat(parts.slice(1));
    const moved = data.byteLength - (end - start);
    const rest = Buffer.from(bytes.subarray(end));
    // The feature table follows the data section; each entry's offset moves by what the data grew.
    const features = Array.from({ length: 256 }, (_, bit) => bit).filter((bit) => bytes[72 + (bit >> 3)] & (1 << (bit & 7)));
    for (let k = 0; k < features.length; k++) rest.writeBigUInt64LE(rest.readBigUInt64LE(k * 16) + BigInt(moved), k * 16);
    const header = Buffer.from(parts[0]);
    header.writeBigUInt64LE(BigInt(data.byteLength), 48);
    return Buffer.concat([header, data, rest]);
  }

  test('reads the same records as the COMPRESSED file it was made from', () => {
    const file = perfRecord('for-compressed2.data', ['-z', '--namespaces']);
    const rewritten = path.join(tmp, 'compressed2.data');
    fs.writeFileSync(rewritten, asCompressed2(file));
    const ours = dump(rewritten);
    assert.deepEqual(ours.records, dump(file).records);
    assert.match(ours.stderr, /\d+ COMPRESSED2/);
    assert.doesNotMatch(ours.stderr, /warning/);
  });

  test('a data_size larger than its record is refused, naming the field', () => {
    const file = path.join(tmp, 'compressed2-bad.data');
    const bytes = asCompressed2(perfRecord('for-compressed2-bad.data', ['-z']));
    const { at, size } = recordPlaces(bytes).find((p) => p.type === RecordType.COMPRESSED2)!;
    bytes.writeBigUInt64LE(BigInt(size), at + 8);
    fs.writeFileSync(file, bytes);
    const r = run(process.execPath, [CLI, 'dump', file]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`error: COMPRESSED2's data_size is \\d+, more than the \\d+ bytes its record holds \\(at byte ${at} of `));
  });
});
