// The `sample-heavy file: CLI dump` rows: `sideband dump` of a
// `perf record --call-graph dwarf -a` file of at least 400 MB, its peak
// RSS against a fixed bar and its time against `perf script` showing the
// same sideband, each run to /dev/null, alternating, best of 3.

import * as fs from 'node:fs';

import { runMeasuringRss } from '../test/fixtures/maxRss';
import { ratioOf, type Result } from './results';
import { sampleHeavyFile } from './sampleHeavy';
import { PERF, progress, run, SIDEBAND } from './tools';

const RUNS = 3;
const MAX_RSS_BAR_MB = 200;

export function measureSampleHeavyCli(): Result[] {
  const file = sampleHeavyFile();
  const fileMB = fs.statSync(file).size / 2 ** 20;
  const devNull = fs.openSync('/dev/null', 'w');
  const perfSeconds: number[] = [];
  const perfNoCallchainSeconds: number[] = [];
  const ours: { seconds: number; rssMB: number }[] = [];
  try {
    const perfScript = (extra: string[]): number => run(PERF, ['script', '--show-task-events', '--show-mmap-events', ...extra, '-i', file], { stdio: ['ignore', devNull, 'pipe'] }).seconds;
    for (let i = 0; i < RUNS; i++) {
      const start = process.hrtime.bigint();
      const r = runMeasuringRss(SIDEBAND, ['dump', file], 'ignore');
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (r.status !== 0) throw new Error(`sideband dump ${file} failed (exit ${r.status}): ${r.stderr.trim()}`);
      ours.push({ seconds, rssMB: r.maxRssBytes / 2 ** 20 });
      perfSeconds.push(perfScript([]));
      perfNoCallchainSeconds.push(perfScript(['-G']));
    }
  } finally {
    fs.closeSync(devNull);
  }
  const rssMB = Math.max(...ours.map((o) => o.rssMB));
  const seconds = Math.min(...ours.map((o) => o.seconds));
  const perf = Math.min(...perfSeconds);
  const perfNoCallchain = Math.min(...perfNoCallchainSeconds);
  progress(`sample-heavy file: dump of ${fileMB.toFixed(0)} MB in ${seconds.toFixed(2)} s, peak RSS ${rssMB.toFixed(0)} MB; perf script ${perf.toFixed(2)} s, with -G ${perfNoCallchain.toFixed(2)} s`);
  return [
    {
      name: 'sample-heavy file: CLI dump max RSS',
      ours: rssMB,
      peer: MAX_RSS_BAR_MB,
      unit: 'MB',
      ratio: ratioOf(rssMB, MAX_RSS_BAR_MB),
      bar: `<= 1 (ours/${MAX_RSS_BAR_MB} MB)`,
      met: rssMB <= MAX_RSS_BAR_MB,
      note: `the most of ${RUNS} runs of \`sideband dump\` > /dev/null (VmHWM, the peak RSS since its exec, reported by the process as it exits) on a ${fileMB.toFixed(0)} MB \`perf record --call-graph dwarf -a\` file; peer: the bar`,
    },
    {
      name: 'sample-heavy file: CLI dump time',
      ours: seconds,
      peer: perf,
      unit: 's',
      ratio: ratioOf(seconds, perf),
      bar: '<= 1',
      met: seconds <= perf,
      note: `best of ${RUNS}, alternating, each > /dev/null; peer: \`perf script --show-task-events --show-mmap-events\`, which also prints every sample with its call chain, unwound from the sample's user stack by DWARF; with -G (no call chains) it takes ${perfNoCallchain.toFixed(2)} s`,
    },
  ];
}
