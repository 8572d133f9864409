// The storm program (storm.c): building it, running it under a capture tool,
// and counting what of its records a perf.data file kept.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { readPerfData } from '../node/perfdata/reader';
import { decodeRecord, RecordType } from '../core/records';
import { indexRecords } from '../core/recordStream';
import { ROOT, run, WORK } from './tools';

export const STORM = path.join(WORK, 'storm');
/** The file the storm maps executable; the MMAP2 records of the storm name it. */
export const STORM_MAP = path.join(WORK, 'storm.map');
const STORM_REPORT = path.join(WORK, 'storm.report');
/** Every rename of the storm starts so (storm.c); the exec's own COMM is "storm". */
const STORM_COMM_PREFIX = 'storm-';

export function buildStorm(): void {
  run('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', STORM, path.join(ROOT, 'bench', 'storm.c')]);
}

/** A storm's command line for `iterations` iterations; read its report with readStormReport. */
export function stormCommand(iterations: number): string[] {
  fs.rmSync(STORM_REPORT, { force: true });
  return [STORM, String(iterations), STORM_MAP, STORM_REPORT];
}

export interface StormReport {
  pid: number;
  iterations: number;
  /** How long the iterations took, without the launching tool's start and end. */
  seconds: number;
}

/** What the last storm says it did. Each iteration must yield one MMAP2 and one COMM record. */
export function readStormReport(): StormReport {
  const text = fs.readFileSync(STORM_REPORT, 'utf8');
  const m = /^pid (\d+) iterations (\d+) ns (\d+)$/m.exec(text);
  if (!m) throw new Error(`the storm's report ${STORM_REPORT} is malformed: ${JSON.stringify(text)}`);
  return { pid: Number(m[1]), iterations: Number(m[2]), seconds: Number(m[3]) / 1e9 };
}

export interface FileCount {
  /** Indexed records of every kind, as the timeline would hold them. */
  records: number;
  /** The storm's own COMM and MMAP2 records, renames and maps of STORM_MAP, each counted once. */
  stormComm: number;
  stormMmap2: number;
  /** Storm records written more than once (same type and timestamp): perf 6.1 does that, rarely. */
  stormDuplicates: number;
  /** All COMM and MMAP2 records, the storm's or not: what `perf report --stats` counts. */
  comm: number;
  mmap2: number;
  /** Records the kernel said it dropped (sum of PERF_RECORD_LOST), and in how many LOST records. */
  kernelLost: number;
  lostRecords: number;
}

/** Counts, with our reader, the records of a perf.data file (ours or perf's) that concern `stormPid`. */
export function countRecords(file: string, stormPid: number): FileCount {
  const data = readPerfData(file);
  const index = indexRecords(data.data, data.stream);
  const mapName = fs.realpathSync(STORM_MAP);
  const count: FileCount = { records: index.count, stormComm: 0, stormMmap2: 0, stormDuplicates: 0, comm: 0, mmap2: 0, kernelLost: 0, lostRecords: 0 };
  // Timestamps of the storm's records, by type: the storm makes one of each
  // per iteration, microseconds apart, so a repeated timestamp is a duplicate.
  const commTimes = new Set<number>();
  const mmap2Times = new Set<number>();
  let stormRecords = 0;
  for (let i = 0; i < index.count; i++) {
    switch (index.type[i]) {
      case RecordType.COMM:
        count.comm++;
        if (index.pid[i] === stormPid && String(decodeRecord(index, i).fields.comm).startsWith(STORM_COMM_PREFIX)) {
          commTimes.add(index.time[i]);
          stormRecords++;
        }
        break;
      case RecordType.MMAP2:
        count.mmap2++;
        if (index.pid[i] === stormPid && decodeRecord(index, i).fields.filename === mapName) {
          mmap2Times.add(index.time[i]);
          stormRecords++;
        }
        break;
      case RecordType.LOST:
        count.lostRecords++;
        count.kernelLost += Number(decodeRecord(index, i).fields.lost);
        break;
    }
  }
  count.stormComm = commTimes.size;
  count.stormMmap2 = mmap2Times.size;
  count.stormDuplicates = stormRecords - commTimes.size - mmap2Times.size;
  return count;
}
