// Measure: reading `perf record -z`: our zstd (fzstd behind ZstdStream, fed
// payload by payload as the record reader feeds it) against `zstd -d` of
// the same payloads, and the whole -z file indexed against perf script.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ZstdStream } from '../core/perfdata/zstd';
import { compressedPayloads } from '../test/fixtures/perfFile';
import { indexPerfDataFile } from '../node/perfdata/reader';
import { INFO, ratioOf, type Result } from './results';
import { stormCommand } from './storm';
import { bestSeconds, PERF, progress, run, WORK } from './tools';

const FILE = path.join(WORK, 'storm-z.data');
const PAYLOAD = path.join(WORK, 'storm-z.zst');
const ITERATIONS = 200_000;
const RING_PAGES = 16384;
const RUNS = 5;

/**
 * `zstd -d` of the payloads to /dev/null. perf never ends its frame, so
 * zstd says "premature end" and exits 1 after writing everything: that
 * one error is expected.
 */
function zstdSeconds(): number {
  const devNull = fs.openSync('/dev/null', 'w');
  try {
    return bestSeconds(RUNS, () => {
      const r = spawnSync('zstd', ['-d', '-q', '-f', '-c', PAYLOAD], { stdio: ['ignore', devNull, 'pipe'], encoding: 'utf8' });
      if (r.error) throw new Error(`cannot run zstd: ${r.error.message}. Fix: apt-get install zstd`);
      if (r.status !== 0 && !/premature end/.test(r.stderr)) throw new Error(`zstd -d failed: ${r.stderr.trim()}`);
    });
  } finally {
    fs.closeSync(devNull);
  }
}

export function measureCompressed(): Result[] {
  progress(`compressed: perf record -z of ${ITERATIONS} storm iterations`);
  run(PERF, ['record', '-q', '-z', '-e', 'dummy', '-m', String(RING_PAGES), '-o', FILE, '--', ...stormCommand(ITERATIONS)]);
  const payloads = compressedPayloads(fs.readFileSync(FILE));
  fs.writeFileSync(PAYLOAD, Buffer.concat(payloads));
  const compressedBytes = payloads.reduce((n, p) => n + p.byteLength, 0);

  progress(`compressed: ours and zstd -d, best of ${RUNS}`);
  let decompressed = 0;
  const ours = bestSeconds(RUNS, () => {
    const stream = new ZstdStream();
    decompressed = 0;
    for (const payload of payloads) for (const part of stream.push(payload, 1 << 30)) decompressed += part.byteLength;
  });
  const zstd = zstdSeconds();

  let records = 0;
  const indexed = bestSeconds(RUNS, () => (records = indexPerfDataFile(FILE).index.count));
  const devNull = fs.openSync('/dev/null', 'w');
  let perf: number;
  try {
    perf = bestSeconds(3, () => run(PERF, ['script', '--show-task-events', '--show-mmap-events', '-i', FILE], { stdio: ['ignore', devNull, 'pipe'] }));
  } finally {
    fs.closeSync(devNull);
  }
  const megabytes = decompressed / 1e6;
  return [
    {
      name: 'zstd: decompressing perf -z',
      ours: megabytes / ours,
      peer: megabytes / zstd,
      unit: 'MB/s',
      ratio: ratioOf(zstd, ours),
      bar: INFO,
      met: true,
      note: `${payloads.length} COMPRESSED records, ${(compressedBytes / 1e6).toFixed(1)} MB to ${megabytes.toFixed(1)} MB; ours: fzstd (pure JavaScript) through ZstdStream's frame checks, payload by payload; peer: zstd -d of the same payloads, a process started included; ratio: ours/zstd speed`,
    },
    {
      name: 'loading a -z capture',
      ours: indexed * 1000,
      peer: perf * 1000,
      unit: 'ms',
      ratio: ratioOf(perf, indexed),
      bar: INFO,
      met: true,
      note: `${records} records indexed; ours: indexPerfDataFile (decompressed sideband kept in memory); perf: perf script of task and mmap events > /dev/null; ratio: perf/ours time`,
    },
  ];
}
