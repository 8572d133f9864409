// Region lifetimes: each executable file-backed region of a process, and
// each function of JIT code its jitdump placed, from when it was mapped to
// when it ended (or to the end of the capture), as the
// timeline draws them and the Perfetto export writes them.

import { type EndedRegion, type ProcessInfo, type Region, type RegionEnd, type Timeline } from './timeline';

export interface RegionLifetime {
  filename: string;
  start: bigint;
  end: bigint;
  /** When it was mapped (its record's time, at least the process's start) and until when: its end, or Infinity while it is mapped (to the end of the capture). */
  from: number;
  to: number;
  /** How it ended, but for the process's exit, which ends all it had (`to` is then the exit's time). */
  ended?: RegionEnd;
}

const fileBacked = (filename: string): boolean => filename.startsWith('/');

/** The lifetimes of a process's executable file-backed regions and jitdump code, by when they were mapped, then by address. */
export function regionLifetimes(tl: Timeline, process: ProcessInfo): RegionLifetime[] {
  const born = Number.isNaN(process.forkTime) ? process.lane.firstTime : process.forkTime;
  const regions: Array<Region | EndedRegion> = Number.isNaN(process.exitTime)
    ? [...tl.regionsAt(process.pid, tl.endTime), ...tl.endedRegionsAt(process.pid, tl.endTime)]
    : tl.endedRegionsAt(process.pid, process.exitTime);
  const ended = (r: Region | EndedRegion): RegionEnd | undefined => ('ended' in r && r.ended.how !== 'exit' ? r.ended : undefined);
  return regions
    .filter((r) => !r.data && (fileBacked(r.filename) || r.provenance === 'jitdump'))
    .map((r): RegionLifetime => {
      const end = ended(r);
      return { filename: r.filename, start: r.start, end: r.end, from: Math.max(r.time, born), to: 'ended' in r ? r.ended.time : Infinity, ...(end ? { ended: end } : {}) };
    })
    .sort((a, b) => a.from - b.from || Number(a.start - b.start));
}

/**
 * A row for each lifetime (sorted by `from`), so that lifetimes in one row
 * do not overlap in time: the lowest row free by its start. Past `rows`
 * rows, the top one takes the rest, overlapping.
 */
export function lifetimeRows(lifetimes: readonly RegionLifetime[], rows = Infinity): number[] {
  const freeFrom: number[] = [];
  return lifetimes.map((l) => {
    let row = freeFrom.findIndex((t) => t <= l.from);
    if (row < 0 || row >= rows) row = Math.min(freeFrom.length, rows - 1);
    freeFrom[row] = Math.max(freeFrom[row] ?? -Infinity, l.to);
    return row;
  });
}
