// Measure 3: keeping up with a storm of sideband records at several ring
// sizes: what each tool's file lacks of what the storm produced.

import * as path from 'node:path';

import { DEFAULT_RING_PAGES } from '../native/engine';
import { ratioOf, type Result } from './results';
import { countRecords, readStormReport, stormCommand, type FileCount } from './storm';
import { PERF, progress, run, SIDEBAND, WORK } from './tools';

/** About a second of storm at full speed. */
const ITERATIONS = 200_000;
const RING_PAGES = [1, 4, 16, 64, DEFAULT_RING_PAGES];
/** Losses at small rings vary several-fold between identical runs here: each row is a median. */
const TRIALS = 7;
const OURS_FILE = path.join(WORK, 'keepup-ours.data');
const PERF_FILE = path.join(WORK, 'keepup-perf.data');

interface Capture {
  /** Storm records (one MMAP2 and one COMM per iteration) missing from the file. */
  missing: number;
  expected: number;
  count: FileCount;
}

function captureStorm(tool: 'ours' | 'perf', pages: number): Capture {
  const storm = stormCommand(ITERATIONS);
  // The sideband alone, as perf -e dummy records it: the tracepoints' samples would share the rings.
  if (tool === 'ours') run(process.execPath, [SIDEBAND, 'capture', '-o', OURS_FILE, '--ring-pages', String(pages), '--no-region-tracepoints', '--', ...storm]);
  else run(PERF, ['record', '-q', '-e', 'dummy', '-m', String(pages), '-o', PERF_FILE, '--', ...storm]);
  const report = readStormReport();
  const count = countRecords(tool === 'ours' ? OURS_FILE : PERF_FILE, report.pid);
  const expected = 2 * report.iterations;
  return { missing: expected - count.stormComm - count.stormMmap2, expected, count };
}

/** Rate of the storm alone, to show what "full speed" was in this run. */
function stormRecordsPerSecond(): number {
  const [storm, ...args] = stormCommand(ITERATIONS);
  const { seconds } = run(storm, args);
  return (2 * readStormReport().iterations) / seconds;
}

/** perf's own count of a file's records: COMM, MMAP2 and LOST records, per `perf report --stats`. */
function perfReportStats(file: string): { comm: number; mmap2: number; lostRecords: number } {
  const { stdout } = run(PERF, ['report', '--stats', '-i', file]);
  const events = (name: string): number => Number(new RegExp(`^\\s*${name} events:\\s+(\\d+)`, 'm').exec(stdout)?.[1] ?? 0);
  return { comm: events('COMM'), mmap2: events('MMAP2'), lostRecords: events('LOST') };
}

function pagesName(pages: number): string {
  return `${pages} page${pages === 1 ? '' : 's'}`;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Per run: storm records missing; the kernel's LOST totals, which can fall
 * short of them when the ring overflowed at the very end (the kernel reports
 * a loss only with the next record that fits); and duplicates, if any.
 */
function runsNote(captures: readonly Capture[]): string {
  const list = (f: (c: Capture) => number): string => `[${captures.map(f).join(', ')}]`;
  const duplicates = captures.some((c) => c.count.stormDuplicates > 0) ? `, duplicated ${list((c) => c.count.stormDuplicates)}` : '';
  return `missing ${list((c) => c.missing)}, kernel LOST ${list((c) => c.count.kernelLost)} in ${list((c) => c.count.lostRecords)} LOST records${duplicates}`;
}

export function measureKeepingUp(): Result[] {
  const rate = stormRecordsPerSecond();
  progress(`keeping up: the storm alone makes ${Math.round(rate)} records/s`);
  const results: Result[] = [];
  for (const pages of RING_PAGES) {
    progress(`keeping up: ${pagesName(pages)}, ${TRIALS} runs of ours and of perf, alternating`);
    const ours: Capture[] = [];
    const perf: Capture[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      ours.push(captureStorm('ours', pages));
      perf.push(captureStorm('perf', pages));
    }
    const oursMissing = median(ours.map((c) => c.missing));
    const perfMissing = median(perf.map((c) => c.missing));
    const isDefault = pages === DEFAULT_RING_PAGES;
    const expected = new Set([...ours, ...perf].map((c) => c.expected));
    results.push({
      name: `keeping up, ${pagesName(pages)}${isDefault ? ' (our default)' : ''}`,
      ours: oursMissing,
      peer: perfMissing,
      unit: 'lost records',
      ratio: ratioOf(oursMissing, perfMissing),
      bar: isDefault ? '= 0 and <= perf' : '<= perf',
      met: oursMissing <= perfMissing && (!isDefault || oursMissing === 0),
      note: `median of ${TRIALS} runs of ${[...expected].join('/')} storm records; ours: ${runsNote(ours)}; perf: ${runsNote(perf)}${pages === RING_PAGES[0] ? `; storm alone: ${Math.round(rate / 1000)}k records/s` : ''}`,
    });
    if (pages === RING_PAGES[0]) {
      // Once, where perf drops records: does our reader count perf's file as perf does?
      const last = perf[perf.length - 1].count;
      const stats = perfReportStats(PERF_FILE);
      const ourCount = last.comm + last.mmap2 + last.lostRecords;
      const perfCount = stats.comm + stats.mmap2 + stats.lostRecords;
      results.push({
        name: `perf's file, ${pagesName(pages)}: our count vs perf report --stats`,
        ours: ourCount,
        peer: perfCount,
        unit: 'records',
        ratio: ratioOf(ourCount, perfCount),
        bar: '= 1 (check)',
        met: ourCount === perfCount,
        note: `COMM ${last.comm} vs ${stats.comm}, MMAP2 ${last.mmap2} vs ${stats.mmap2}, LOST ${last.lostRecords} vs ${stats.lostRecords}`,
      });
    }
  }
  return results;
}
