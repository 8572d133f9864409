// The CLI over a perf.data far bigger than its sideband, as real ones are:
// a file made here of 300 MB of 8 KiB samples (the size of the user stacks
// `perf record --call-graph dwarf` takes) around a few thousand MMAP2s, so
// far apart that each lies in a block of the file of its own. `dump`,
// `regions` and `resolve` must each print all of the sideband while their
// peak RSS stays far under the file's size: memory is set by the sideband,
// never by the samples.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Misc, RecordType } from '../../core/records';
import { PerfDataWriter } from '../../node/perfdata/writer';
import { Body, SAMPLE_TYPE, comm, fork, mmap2, record, sidebandAttr, type Trailer } from '../fixtures/records';
import { testMeta } from '../fixtures/meta';
import { runMeasuringRss } from '../fixtures/maxRss';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'bin', 'sideband.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bigfile-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const FILE_BYTES = 300 << 20;
/**
 * Peak RSS the CLI may add to a bare Node's: far under the file, far over
 * what the CLI needs (about 35 MB). Measured above a bare Node run the same
 * way, because Node's own share is not fixed: once khugepaged has folded
 * the node binary's page cache into huge pages, every Node maps 2 MiB pages
 * of its text, 30 MB more of RSS, on one machine and not on a fresh one.
 */
const MAX_ADDED_RSS_BYTES = 64 << 20;
const SAMPLE_BYTES = 8 << 10;
/** 72 KiB of samples between two MMAP2s: more than the 64 KiB block the reader reads a record back in. */
const SAMPLES_BETWEEN = 9;
const PID = 4000;
const SIDEBAND_ID = 1n;
const SAMPLE_ID = 2n;
const RAW = 1n << 10n;
const BASE_TIME = 1_000_000_000;

/** A sample of the cycles-like event: id, tid, time, cpu, then RAW bytes filling it to SAMPLE_BYTES. */
function sample(): Uint8Array {
  const rawBytes = SAMPLE_BYTES - 8 - 32 - 4;
  const body = new Body().u64(SAMPLE_ID).u32(PID, PID).u64(BASE_TIME).u32(0, 0).u32(rawBytes, ...new Array<number>(rawBytes / 4).fill(0x5a5a5a5a));
  return record(RecordType.SAMPLE, Misc.USER, body);
}

function at(k: number): Trailer {
  return { pid: PID, tid: PID, time: BASE_TIME + k, cpu: 0, id: SIDEBAND_ID };
}

const mappingAddress = (k: number): bigint => 0x10000000n + BigInt(k) * 0x10000n;

const meta = testMeta({ tool: 'bigfile test', target: { pid: PID }, stopReason: 'exited' });

/** Writes the file; returns how many MMAP2s it has. */
function writeBigFile(file: string): number {
  const writer = PerfDataWriter.open(file, {
    events: [
      { attr: sidebandAttr(), ids: [SIDEBAND_ID], name: 'dummy:u' },
      { attr: sidebandAttr(SAMPLE_TYPE | RAW), ids: [SAMPLE_ID], name: 'cycles:u' },
    ],
  });
  writer.append(fork(at(0), { pid: 1, tid: 1 }));
  writer.append(comm(at(1), 'big'));
  const samples = new Uint8Array(SAMPLES_BETWEEN * SAMPLE_BYTES);
  const one = sample();
  for (let i = 0; i < SAMPLES_BETWEEN; i++) samples.set(one, i * SAMPLE_BYTES);
  let mappings = 0;
  for (let written = 0; written < FILE_BYTES; written += samples.byteLength) {
    writer.append(samples);
    writer.append(mmap2(at(2 + mappings), { addr: mappingAddress(mappings), len: 0x1000n, pgoff: 0n, maj: 8, min: 1, ino: BigInt(mappings + 1), prot: 5, flags: 2, filename: `/opt/bigfile/lib${mappings}.so` }));
    mappings++;
  }
  writer.finish(meta);
  return mappings;
}

describe('the CLI over a 300 MB sample-heavy file', () => {
  const file = path.join(tmp, 'big.data');
  let mappings = 0;
  let bareNodeRss = 0;
  before(() => {
    mappings = writeBigFile(file);
    const empty = path.join(tmp, 'empty.js');
    fs.writeFileSync(empty, '');
    bareNodeRss = runMeasuringRss(empty, []).maxRssBytes;
  });

  const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
  const withinMemory = (what: string, rss: number): void =>
    assert.ok(
      rss - bareNodeRss < MAX_ADDED_RSS_BYTES,
      `${what} peaked at ${mb(rss)} MB of RSS, ${mb(rss - bareNodeRss)} MB over a bare Node's, over a ${mb(fs.statSync(file).size)} MB file: more than ${mb(MAX_ADDED_RSS_BYTES)} MB`,
    );

  test('dump prints every sideband record, in memory far under the file', () => {
    const r = runMeasuringRss(CLI, ['dump', file]);
    assert.equal(r.status, 0, r.stderr);
    const types = r.stdout.trimEnd().split('\n').map((line) => line.split(' ')[4]);
    assert.deepEqual({ FORK: types.filter((t) => t === 'FORK').length, COMM: types.filter((t) => t === 'COMM').length, MMAP2: types.filter((t) => t === 'MMAP2').length, all: types.length }, { FORK: 1, COMM: 1, MMAP2: mappings, all: mappings + 2 });
    assert.match(r.stderr, new RegExp(`${mappings * SAMPLES_BETWEEN} SAMPLE`));
    withinMemory('dump', r.maxRssBytes);
  });

  test('regions lists every mapping, in memory far under the file', () => {
    const r = runMeasuringRss(CLI, ['regions', file, '--pid', String(PID)]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, mappings);
    assert.match(lines[mappings - 1], new RegExp(`^${mappingAddress(mappings - 1).toString(16)}-.* /opt/bigfile/lib${mappings - 1}\\.so$`));
    withinMemory('regions', r.maxRssBytes);
  });

  test('resolve finds the last mapping, in memory far under the file', () => {
    const last = mappings - 1;
    const r = runMeasuringRss(CLI, ['resolve', file, '--pid', String(PID), `0x${(mappingAddress(last) + 0x10n).toString(16)}`]);
    // The mapped file is not on this machine: resolve names it as what it could not read.
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, '??\n');
    assert.match(r.stderr, new RegExp(`/opt/bigfile/lib${last}\\.so`));
    withinMemory('resolve', r.maxRssBytes);
  });
});
