// The `perfetto export` row: `sideband export --perfetto` of a written
// capture of N sideband records (processes that fork threads, name them,
// map libraries and exit), its time and peak RSS against `sideband dump
// --json` of the same file, the nearest peer that reads it all and writes
// every record out, measured in the same run, best of 3.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { writeSidebandCapture } from '../test/fixtures/sidebandCapture';
import { runMeasuringRss } from '../test/fixtures/maxRss';
import { ratioOf, type Result } from './results';
import { ensureWorkDir, progress, SIDEBAND, WORK } from './tools';

const RECORDS = 200_000;
const RUNS = 3;
interface Run {
  seconds: number;
  rssMB: number;
}

function timed(args: readonly string[]): Run {
  const start = process.hrtime.bigint();
  const r = runMeasuringRss(SIDEBAND, args, 'ignore');
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`sideband ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return { seconds, rssMB: r.maxRssBytes / 2 ** 20 };
}

export function measurePerfettoExport(): Result[] {
  ensureWorkDir();
  const file = path.join(WORK, 'perfetto-export.data');
  const out = path.join(WORK, 'perfetto-export.pftrace');
  writeSidebandCapture(file, RECORDS);
  const ours: Run[] = [];
  const dump: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    ours.push(timed(['export', file, '--perfetto', '-o', out]));
    dump.push(timed(['dump', file, '--json']));
  }
  const best = (runs: Run[]): Run => ({ seconds: Math.min(...runs.map((r) => r.seconds)), rssMB: Math.max(...runs.map((r) => r.rssMB)) });
  const o = best(ours);
  const d = best(dump);
  const traceMB = fs.statSync(out).size / 2 ** 20;
  fs.rmSync(out);
  progress(`perfetto export: ${RECORDS} records in ${o.seconds.toFixed(2)} s, peak RSS ${o.rssMB.toFixed(0)} MB, ${traceMB.toFixed(1)} MB trace; dump --json ${d.seconds.toFixed(2)} s, ${d.rssMB.toFixed(0)} MB`);
  const note = `best of ${RUNS} runs of \`sideband export --perfetto\` (the whole CLI, Node's start included) on a written capture of ${RECORDS} sideband records, a ${traceMB.toFixed(1)} MB trace; peer: \`sideband dump --json\` > /dev/null of the same file, in the same run`;
  return [
    { name: `perfetto export: ${RECORDS} records time`, ours: o.seconds, peer: d.seconds, unit: 's', ratio: ratioOf(o.seconds, d.seconds), bar: 'info', met: true, note },
    { name: `perfetto export: ${RECORDS} records max RSS`, ours: o.rssMB, peer: d.rssMB, unit: 'MB', ratio: ratioOf(o.rssMB, d.rssMB), bar: 'info', met: true, note: `the most of the same runs (VmHWM, reported by each process as it exits)` },
  ];
}
