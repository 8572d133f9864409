// `npm run bench`: our capture against perf on the measures of the issue,
// printed as a table of ratios and written to bench/results.json.
//
// The machine is noisy, so every row compares numbers measured in this run,
// and a bar not met is reported, not failed: the exit status is 0 unless a
// measure could not be taken at all.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { measureKeepingUp } from './keepup';
import { measureLoading } from './loading';
import { formatTable, INFO, type Result } from './results';
import { measureStatusEmission } from './status';
import { buildStorm } from './storm';
import { ensureWorkDir, progress, ROOT, sourcesNewerThanAddon } from './tools';

const RESULTS = path.join(ROOT, 'bench', 'results.json');

const MEASURES: Array<[string, () => Result[]]> = [
  ['status emission', measureStatusEmission],
  ['loading a capture', measureLoading],
  ['keeping up', measureKeepingUp],
];

function main(): number {
  const stale = sourcesNewerThanAddon();
  if (stale.length)
    progress(`WARNING: ${stale.map((f) => path.relative(ROOT, f)).join(', ')} changed after the addon was built; run \`node-gyp build -C native\` to measure the current core`);
  ensureWorkDir();
  buildStorm();
  const results: Result[] = [];
  const failed: string[] = [];
  for (const [name, measure] of MEASURES) {
    const start = Date.now();
    try {
      results.push(...measure());
    } catch (e) {
      failed.push(name);
      progress(`${name} could not be measured: ${(e as Error).message}`);
    }
    progress(`${name}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
  }
  fs.writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${formatTable(results)}\n`);
  const missed = results.filter((r) => r.bar !== INFO && !r.met).length;
  process.stdout.write(`\n${missed === 0 ? 'all bars met' : `${missed} bar(s) NOT MET`}; results in ${path.relative(process.cwd(), RESULTS)}\n`);
  if (failed.length) process.stdout.write(`NOT MEASURED: ${failed.join(', ')}\n`);
  return failed.length ? 1 : 0;
}

process.exitCode = main();
