// `npm run bench`: our capture against perf on the measures of the issue,
// printed as a table of ratios and written to bench/results.json.
//
// The machine is noisy, so every row compares numbers measured in this run,
// and a bar not met is reported, not failed: the exit status is 0 unless a
// measure could not be taken at all.
//
//   node out/bench/run.js [--only <name>...]   e.g. --only webview
// With --only, the rows measured replace those of the same name in
// bench/results.json and the others stay.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { measureKeepingUp } from './keepup';
import { measureLoading } from './loading';
import { measureCompressed } from './compressed';
import { formatTable, INFO, type Result } from './results';
import { measureStatusEmission } from './status';
import { buildStorm } from './storm';
import { ensureWorkDir, progress, ROOT, sourcesNewerThanAddon } from './tools';
import { measureWebview } from './webview';
import { measureLiveLatency } from './live';
import { measureSymbols } from './symbols';
import { measureRegionTracepoints } from './regionTracepoints';
import { measureSampleHeavyCli } from './sampleHeavyCli';
import { measureSampleHeavyTimeline } from './sampleHeavyTimeline';
import { measureHostLoad } from './hostLoad';
import { measurePerfettoExport } from './perfettoExport';

const RESULTS = path.join(ROOT, 'bench', 'results.json');

/** Each measure, and whether it needs the native core (the addon and the storm program). */
const MEASURES: Array<[string, () => Result[] | Promise<Result[]>, { native: boolean }]> = [
  ['status emission', measureStatusEmission, { native: true }],
  ['loading a capture', measureLoading, { native: true }],
  // The storm program, recorded by perf -z.
  ['compressed', measureCompressed, { native: true }],
  ['keeping up', measureKeepingUp, { native: true }],
  ['webview', measureWebview, { native: false }],
  // The sample-heavy file (perf record --call-graph dwarf -a) through the host's file path into the webview.
  ['sample-heavy timeline', measureSampleHeavyTimeline, { native: false }],
  ['live latency', measureLiveLatency, { native: true }],
  // The storm captured in this process, as the extension host runs it; then 60 s with the language server following.
  ['host load', measureHostLoad, { native: true }],
  // The storm under our capture with and without the syscall tracepoints, and under perf's.
  ['region tracepoints', measureRegionTracepoints, { native: true }],
  // Needs the symbols addon and libc6-dbg, not the capture core.
  ['symbols', () => measureSymbols(), { native: false }],
  // perf's own file: perf record --call-graph dwarf -a, recorded once into bench/work.
  ['sample-heavy cli', measureSampleHeavyCli, { native: false }],
  // A written capture of 200,000 sideband records, exported by the CLI against its dump --json.
  ['perfetto export', measurePerfettoExport, { native: false }],
];

function selected(): typeof MEASURES {
  const at = process.argv.indexOf('--only');
  if (at < 0) return MEASURES;
  const names = process.argv.slice(at + 1);
  const chosen = MEASURES.filter(([name]) => names.includes(name));
  if (chosen.length === 0) throw new Error(`--only takes measure names: ${MEASURES.map(([name]) => name).join(', ')}`);
  return chosen;
}

/** The rows of an earlier run that this one did not measure again. */
function keptRows(measured: readonly Result[]): Result[] {
  if (!process.argv.includes('--only') || !fs.existsSync(RESULTS)) return [];
  const earlier = JSON.parse(fs.readFileSync(RESULTS, 'utf8')) as Result[];
  return earlier.filter((row) => !measured.some((r) => r.name === row.name));
}

async function main(): Promise<number> {
  const measures = selected();
  if (measures.some(([, , needs]) => needs.native)) {
    const stale = sourcesNewerThanAddon();
    if (stale.length)
      progress(`WARNING: ${stale.map((f) => path.relative(ROOT, f)).join(', ')} changed after the addon was built; run \`node-gyp build -C native\` to measure the current core`);
    ensureWorkDir();
    buildStorm();
  }
  const results: Result[] = [];
  const failed: string[] = [];
  for (const [name, measure] of measures) {
    const start = Date.now();
    try {
      results.push(...(await measure()));
    } catch (e) {
      failed.push(name);
      progress(`${name} could not be measured: ${(e as Error).message}`);
    }
    progress(`${name}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
  }
  fs.writeFileSync(RESULTS, `${JSON.stringify([...keptRows(results), ...results], null, 2)}\n`);
  process.stdout.write(`${formatTable(results)}\n`);
  const missed = results.filter((r) => r.bar !== INFO && !r.met).length;
  process.stdout.write(`\n${missed === 0 ? 'all bars met' : `${missed} bar(s) NOT MET`}; results in ${path.relative(process.cwd(), RESULTS)}\n`);
  if (failed.length) process.stdout.write(`NOT MEASURED: ${failed.join(', ')}\n`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (e: Error) => {
    progress(e.message);
    process.exitCode = 1;
  },
);
