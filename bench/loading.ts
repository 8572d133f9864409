// Measure 2: loading a capture of a million sideband records into the
// timeline's form, against `perf script` reading the same file.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { indexPerfDataFile } from '../node/perfdata/reader';
import { INFO, ratioOf, type Result } from './results';
import { countRecords, readStormReport, stormCommand } from './storm';
import { bestSeconds, PERF, progress, run, WORK } from './tools';

const FILE = path.join(WORK, 'storm.data');
const MIN_RECORDS = 1_000_000;
/** Two records per iteration: this leaves room over MIN_RECORDS for perf's own. */
const ITERATIONS = 520_000;
/** perf record's ring, doubled until it loses nothing. */
const FIRST_RING_PAGES = 8192;
const MAX_RING_PAGES = 65536;
const OUR_RUNS = 5;
const PERF_RUNS = 3;

/** Records the storm file with perf, with a ring large enough that the file is whole. */
function recordStormFile(): { pages: number; records: number } {
  for (let pages = FIRST_RING_PAGES; pages <= MAX_RING_PAGES; pages *= 2) {
    progress(`loading: perf record -m ${pages} of ${ITERATIONS} storm iterations`);
    run(PERF, ['record', '-q', '-e', 'dummy', '-m', String(pages), '-o', FILE, '--', ...stormCommand(ITERATIONS)]);
    const storm = readStormReport();
    const count = countRecords(FILE, storm.pid);
    const missing = 2 * storm.iterations - count.stormComm - count.stormMmap2;
    const complete = count.kernelLost === 0 && missing === 0;
    if (complete && count.records >= MIN_RECORDS) return { pages, records: count.records };
    if (complete) throw new Error(`${FILE} holds ${count.records} records, fewer than ${MIN_RECORDS}: raise ITERATIONS`);
    progress(`loading: perf missed ${missing} storm records (kernel LOST ${count.kernelLost}) at -m ${pages}; doubling the ring`);
  }
  throw new Error(`perf record lost records even with -m ${MAX_RING_PAGES}`);
}

/** Our reader: the file into the timeline's columns, every record indexed. */
function loadWithOurReader(): number {
  return indexPerfDataFile(FILE).index.count;
}

export function measureLoading(): Result[] {
  const file = recordStormFile();
  const bytes = fs.statSync(FILE).size;

  progress(`loading: our reader, best of ${OUR_RUNS}`);
  let indexed = 0;
  const ours = bestSeconds(OUR_RUNS, () => (indexed = loadWithOurReader()));
  if (indexed !== file.records) throw new Error(`our reader indexed ${indexed} records of ${FILE}, but ${file.records} when counting`);
  // A reference for any reader: the file's bytes read into a fresh buffer, then copied once.
  const copy = bestSeconds(OUR_RUNS, () => new Uint8Array(fs.readFileSync(FILE)));

  progress(`loading: perf script, best of ${PERF_RUNS}`);
  const devNull = fs.openSync('/dev/null', 'w');
  let perf: number;
  try {
    perf = bestSeconds(PERF_RUNS, () =>
      run(PERF, ['script', '--show-task-events', '--show-mmap-events', '--show-namespace-events', '-i', FILE], { stdio: ['ignore', devNull, 'pipe'] }),
    );
  } finally {
    fs.closeSync(devNull);
  }

  const speedUp = ratioOf(perf, ours);
  const megabytes = bytes / 1e6;
  return [
    {
      name: 'loading a capture',
      ours: ours * 1000,
      peer: perf * 1000,
      unit: 'ms',
      ratio: speedUp,
      bar: '>= 20 (perf/ours)',
      met: speedUp !== null && speedUp >= 20,
      note: `${file.records} records, ${megabytes.toFixed(1)} MB (perf record -m ${file.pages}, nothing lost); ours: indexPerfDataFile (the data section streamed through a 2 MiB buffer into the timeline's columns; records read back on demand); perf: perf script of task, mmap and namespace events > /dev/null`,
    },
    {
      name: 'reader throughput vs plain copy',
      ours: megabytes / ours,
      peer: megabytes / copy,
      unit: 'MB/s',
      ratio: ratioOf(megabytes / ours, megabytes / copy),
      bar: INFO,
      met: true,
      note: 'plain copy: fs.readFileSync, then new Uint8Array of it',
    },
  ];
}
