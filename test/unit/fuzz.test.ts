// The fuzzers' smoke in CI: each libFuzzer target of native/fuzz (ASan,
// UBSan) over its committed corpus, seeds and regressions, plus a bounded
// number of new inputs; the perf.data reader's properties
// and the ELF reader's (test/fuzz/) over theirs. Longer runs: npm run fuzz.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FUZZ = path.join(ROOT, 'native', 'fuzz');
const TARGETS = ['ring', 'proc_stat', 'proc_maps', 'symbols'];
// Inputs each target tries beyond its corpus: a second or two of each, on a loaded machine.
const RUNS = 2000;

function build(): void {
  const make = spawnSync('make', ['-s', '-j2', '-C', FUZZ], { encoding: 'utf8' });
  assert.equal(make.status, 0, `make -C native/fuzz failed:\n${make.stdout}${make.stderr}`);
}

for (const target of TARGETS) {
  test(`fuzz target ${target}: its corpus and ${RUNS} new inputs, with no crash, leak or sanitizer report`, () => {
    build();
    // New inputs go to the first directory, so the committed corpus stays as it is.
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `fuzz-${target}-`));
    const corpus = path.join(FUZZ, 'corpus', target);
    assert.ok(fs.readdirSync(corpus).length > 0, `no corpus in ${corpus}`);
    const run = spawnSync(
      path.join(ROOT, 'native', 'build', 'fuzz', target),
      [`-runs=${RUNS}`, '-seed=1', `-artifact_prefix=${scratch}/`, scratch, corpus],
      { encoding: 'utf8', timeout: 120_000 },
    );
    const out = `${run.stdout}${run.stderr}`;
    assert.equal(run.signal, null, `${target} did not finish (${run.signal}):\n${out.slice(-4000)}`);
    assert.equal(run.status, 0, `${target} found a crash; its input is in ${scratch}:\n${out.slice(-6000)}`);
    assert.match(out, new RegExp(`Done ${RUNS} runs`), out.slice(-2000));
  });
}

// Each TypeScript reader's properties, in a child, so a hang ends at this
// bound with the input it hung on left in work/case.data.
for (const [reader, script, runs, says, proves] of [
  ['the perf.data reader', 'perfdataReader.js', 150, /perfdata reader: 300 inputs/, 'throw nothing but RecordErrors naming their field, and a file cut in its records reads those that end by the cut'],
  ['the ELF reader', 'elfReader.js', 300, /ELF reader: 300 inputs/, 'throw nothing but SourceErrors naming their field'],
] as const) {
  test(`${reader}, fuzzed: its corpus and ${runs} inputs per property ${proves}`, () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-ts-'));
    const run = spawnSync(process.execPath, [path.join(ROOT, 'out', 'test', 'fuzz', script), '--runs', String(runs), '--seed', '1', '--work', work], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    const out = `${run.stdout}${run.stderr}`;
    assert.equal(run.signal, null, `${reader} hung on ${path.join(work, 'case.data')}:\n${out}`);
    assert.equal(run.status, 0, out);
    assert.match(out, says, out);
  });
}
