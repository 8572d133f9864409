// Measure 1: emitting status records, per record, against perf's synthesis.

import { loadAddon } from '../native/engine';
import { INFO, ratioOf, type Result } from './results';
import { PERF, progress, run } from './tools';

const WARMUP_SNAPSHOTS = 50;
const TIMED_SNAPSHOTS = 500;

interface OurStatus {
  usPerRecord: number;
  recordsPerSnapshot: number;
  processes: number;
}

/**
 * Mean time per record of a /proc status snapshot of every process on the
 * machine, as the core times it (its own clock around the reads, as perf's
 * bench times only the synthesis): total time over total records.
 */
function measureOurs(): OurStatus {
  const { readProcStatus } = loadAddon();
  for (let i = 0; i < WARMUP_SNAPSHOTS; i++) readProcStatus();
  let nanoseconds = 0;
  let records = 0;
  let processes = 0;
  for (let i = 0; i < TIMED_SNAPSHOTS; i++) {
    const r = readProcStatus();
    nanoseconds += r.nanoseconds;
    records += r.count;
    processes += r.processes;
  }
  return { usPerRecord: nanoseconds / records / 1000, recordsPerSnapshot: records / TIMED_SNAPSHOTS, processes: processes / TIMED_SNAPSHOTS };
}

interface PerfSynthesis {
  usPerEvent: number;
  events: number;
}

/** The first "Average time per event" of `perf bench internals synthesize` and its event count. */
function measurePerf(args: string[]): PerfSynthesis {
  const { stdout } = run(PERF, ['bench', 'internals', 'synthesize', ...args]);
  const perEvent = /Average time per event ([\d.]+) usec/.exec(stdout);
  const events = /Average num\. events: ([\d.]+)/.exec(stdout);
  if (!perEvent || !events) throw new Error(`perf bench internals synthesize ${args.join(' ')} printed no per-event time:\n${stdout}`);
  return { usPerEvent: Number(perEvent[1]), events: Number(events[1]) };
}

export function measureStatusEmission(): Result[] {
  progress(`status emission: ${TIMED_SNAPSHOTS} snapshots of every process`);
  const ours = measureOurs();
  progress('status emission: perf bench internals synthesize --st, then --mt -m 1 -M 1');
  // The first block of --st: synthesis without data mmaps, as our capture asks for none.
  const single = measurePerf(['--st']);
  const machine = measurePerf(['--mt', '-m', '1', '-M', '1']);
  const oursNote = `ours: mean of ${TIMED_SNAPSHOTS} warm snapshots, ${ours.recordsPerSnapshot.toFixed(0)} records from ${ours.processes.toFixed(0)} processes each`;
  const singleRatio = ratioOf(ours.usPerRecord, single.usPerEvent);
  return [
    {
      name: 'status emission per record',
      ours: ours.usPerRecord,
      peer: single.usPerEvent,
      unit: 'us/record',
      ratio: singleRatio,
      bar: '<= 0.5',
      met: singleRatio !== null && singleRatio <= 0.5,
      note: `${oursNote}; perf --st: ${single.events} events of its own process`,
    },
    {
      name: 'status emission vs perf machine-wide',
      ours: ours.usPerRecord,
      peer: machine.usPerEvent,
      unit: 'us/record',
      ratio: ratioOf(ours.usPerRecord, machine.usPerEvent),
      bar: INFO,
      met: true,
      note: `perf --mt -m 1 -M 1: ${machine.events} events of every process, one thread`,
    },
  ];
}
