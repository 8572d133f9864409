// The sample-heavy file of the `sample-heavy file:` rows: what a real
// perf.data mostly is, `perf record --call-graph dwarf -a`, at least 400 MB
// of user stacks around a little sideband. Recorded once into bench/work and
// kept while it is big enough.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { PERF, WORK, ensureWorkDir, progress, run } from './tools';

export const SAMPLE_HEAVY_BYTES = 400 << 20;

/**
 * The workload: every CPU kept busy (so every sample carries a user stack),
 * while a shell forks and execs short programs (so the file has sideband
 * among the samples), for `seconds`.
 */
function workload(seconds: number): string {
  return [
    `end=$(( $(date +%s) + ${seconds} ))`,
    `for c in $(seq $(nproc)); do ( while [ $(date +%s) -lt $end ]; do :; done ) & done`,
    `while [ $(date +%s) -lt $end ]; do ls / >/dev/null; sleep 0.01; done`,
    'wait',
  ].join('; ');
}

/** The path of a `perf record --call-graph dwarf -a` file of at least SAMPLE_HEAVY_BYTES, recorded if there is none. */
export function sampleHeavyFile(): string {
  ensureWorkDir();
  const file = path.join(WORK, 'sample-heavy.data');
  if (fs.existsSync(file) && fs.statSync(file).size >= SAMPLE_HEAVY_BYTES) return file;
  for (let seconds = 8; seconds <= 64; seconds *= 2) {
    progress(`recording ${seconds} s of perf record --call-graph dwarf -a into ${path.relative(process.cwd(), file)}`);
    run(PERF, ['record', '-q', '--call-graph', 'dwarf', '-a', '-m', '8192', '-o', file, '--', '/bin/sh', '-c', workload(seconds)], { stdio: ['ignore', 'ignore', 'pipe'] });
    const size = fs.statSync(file).size;
    if (size >= SAMPLE_HEAVY_BYTES) return file;
    progress(`${(size / 2 ** 20).toFixed(0)} MB is under ${SAMPLE_HEAVY_BYTES / 2 ** 20} MB: recording longer`);
  }
  throw new Error(`perf record --call-graph dwarf -a did not reach ${SAMPLE_HEAVY_BYTES / 2 ** 20} MB in 64 s: is perf_event_paranoid above 0 for -a?`);
}
