// Measure: what recording the syscall tracepoints of region changes costs
// the target. The storm maps and unmaps a page per iteration; its own
// clock times its iterations under each tool: ours without and with the
// tracepoints, and the storm alone against `perf record -e
// 'syscalls:sys_*_munmap'`, which records the same samples of it.

import * as path from 'node:path';

import { ratioOf, type Result } from './results';
import { readStormReport, stormCommand } from './storm';
import { PERF, progress, run, SIDEBAND, WORK } from './tools';

const ITERATIONS = 200_000;
const RUNS = 5;
const OURS_FILE = path.join(WORK, 'region-tracepoints.data');
const PERF_FILE = path.join(WORK, 'region-tracepoints-perf.data');

type Setting = 'ours without' | 'ours with' | 'alone' | 'perf';

/** The storm's iterations per second under one setting. */
function rate(setting: Setting): number {
  const storm = stormCommand(ITERATIONS);
  if (setting === 'alone') run(storm[0], storm.slice(1));
  else if (setting === 'perf') run(PERF, ['record', '-q', '-e', 'syscalls:sys_*_munmap', '-o', PERF_FILE, '--', ...storm]);
  else run(process.execPath, [SIDEBAND, 'capture', '-o', OURS_FILE, ...(setting === 'ours without' ? ['--no-region-tracepoints'] : []), '--', ...storm]);
  const report = readStormReport();
  return report.iterations / report.seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export function measureRegionTracepoints(): Result[] {
  const settings: Setting[] = ['ours without', 'ours with', 'alone', 'perf'];
  const rates = new Map<Setting, number[]>(settings.map((s) => [s, []]));
  progress(`region tracepoints: ${RUNS} alternating runs of ${ITERATIONS} storm iterations under each setting`);
  // Alternating, so that the machine's drift falls on every setting alike.
  for (let i = 0; i < RUNS; i++) for (const setting of settings) rates.get(setting)!.push(rate(setting));
  const [without, withTracepoints, alone, perf] = settings.map((s) => median(rates.get(s)!));
  const ours = without / withTracepoints;
  const peer = alone / perf;
  const k = (n: number): string => `${(n / 1000).toFixed(0)}k`;
  return [
    {
      name: 'region tracepoints: target slowdown',
      ours,
      peer,
      unit: 'x slower',
      ratio: ratioOf(ours, peer),
      bar: '<= 1',
      met: ours <= peer,
      note: `mmap+munmap iterations/s, medians of ${RUNS}: ours ${k(without)} without the tracepoints, ${k(withTracepoints)} with them; the storm ${k(alone)} alone, ${k(perf)} under perf record -e 'syscalls:sys_*_munmap'`,
    },
  ];
}
