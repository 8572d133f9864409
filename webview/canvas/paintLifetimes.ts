// The selected process's region lifetimes, in its row: a thin band per
// executable file-backed region, and per function of JIT code its jitdump
// placed, from when it was mapped to when it ended (or to the end of the
// capture), so one sees when a library came and went.
//
// Only the selected process's, and computed again only when its mapping
// history grew: a frame otherwise costs one pass over its few regions.

import { type EndedRegion, type Lane, type Region, type RegionEnd, type Timeline } from '../../core/timeline';
import { type Frame } from './frame';
import { GUTTER_WIDTH, ROW_HEIGHT, displayTime } from './layout';

export interface Lifetime {
  filename: string;
  start: bigint;
  end: bigint;
  /** When it was mapped (its record's time, at least the process's start) and until when: its end, or Infinity while it is mapped (drawn to the end of the capture). */
  from: number;
  to: number;
  ended?: RegionEnd;
  /** Its line in the row, from the bottom: lifetimes that do not overlap in time share one. */
  track: number;
}

/** Bands are this thick, one pixel apart, stacked up from the row's bottom, under the row's marks. */
const BAND = 2;
const TRACK = BAND + 1;
/** Tracks a row holds; more regions at once are drawn in the top one. */
const TRACKS = 7;

const fileBacked = (filename: string): boolean => filename.startsWith('/');

export class Lifetimes {
  private lane: Lane | undefined;
  private history = '';
  private list: Lifetime[] = [];

  /** The lifetimes of the process of `lane` (none for the global lane). */
  of(tl: Timeline, lane: Lane): Lifetime[] {
    const process = lane.process;
    if (!process || lane.kind !== 'process') return [];
    // Not the capture's end: the lifetimes of a process whose mappings did not change stay as they were while others' records come.
    const history = `${process.exitTime} ${process.mmaps.length} ${process.mapChanges.length} ${process.execs.length} ${process.snapshots.length} ${tl.jitCodeVersion}`;
    if (lane === this.lane && history === this.history) return this.list;
    this.lane = lane;
    this.history = history;
    const born = Number.isNaN(process.forkTime) ? lane.firstTime : process.forkTime;
    // At its exit, all a process had mapped ended; the exit is drawn by its life line, so those bands are not shown as ended.
    const regions: Array<Region | EndedRegion> = Number.isNaN(process.exitTime)
      ? [...tl.regionsAt(process.pid, tl.endTime), ...tl.endedRegionsAt(process.pid, tl.endTime)]
      : tl.endedRegionsAt(process.pid, process.exitTime);
    const ended = (r: Region | EndedRegion): RegionEnd | undefined => ('ended' in r && r.ended.how !== 'exit' ? r.ended : undefined);
    const list = regions
      .filter((r) => !r.data && (fileBacked(r.filename) || r.provenance === 'jitdump'))
      .map((r): Lifetime => {
        const end = ended(r);
        return { filename: r.filename, start: r.start, end: r.end, from: Math.max(r.time, born), to: 'ended' in r ? r.ended.time : Infinity, ...(end ? { ended: end } : {}), track: 0 };
      })
      .sort((a, b) => a.from - b.from || Number(a.start - b.start));
    // Each band on the lowest track free by its start.
    const freeFrom: number[] = [];
    for (const l of list) {
      let track = freeFrom.findIndex((t) => t <= l.from);
      if (track < 0 || track >= TRACKS) track = Math.min(freeFrom.length, TRACKS - 1);
      freeFrom[track] = Math.max(freeFrom[track] ?? -Infinity, l.to);
      l.track = track;
    }
    this.list = list;
    return list;
  }
}

/** The y of a track's band in a row centred at `y`. */
const bandTop = (y: number, track: number): number => y + ROW_HEIGHT / 2 - 4 - TRACK * track - BAND;

/** Draws the bands in a row centred at `y`; the caller has clipped to the plot. */
export function paintLifetimes(f: Frame, lifetimes: readonly Lifetime[], y: number): void {
  const { ctx, palette: p, view, timeline: tl } = f;
  for (const l of lifetimes) {
    const x0 = GUTTER_WIDTH + view.x(displayTime(tl, l.from));
    const x1 = GUTTER_WIDTH + view.x(displayTime(tl, Math.min(l.to, tl.endTime)));
    ctx.fillStyle = l.ended ? p.muted : p.blue;
    ctx.globalAlpha = l.ended ? 0.6 : 0.8;
    ctx.fillRect(x0, bandTop(y, l.track), Math.max(1, x1 - x0), BAND);
  }
  ctx.globalAlpha = 1;
}

/** The canvas position of the middle of a lifetime's band, in a row centred at `y`. */
export function bandMiddle(f: Pick<Frame, 'view' | 'timeline'>, l: Lifetime, y: number): { x: number; y: number } {
  const { view, timeline: tl } = f;
  const x0 = GUTTER_WIDTH + view.x(displayTime(tl, l.from));
  const x1 = GUTTER_WIDTH + view.x(displayTime(tl, Math.min(l.to, tl.endTime)));
  return { x: (x0 + x1) / 2, y: bandTop(y, l.track) + BAND / 2 };
}

/** The lifetime whose band is at canvas position px, py of a row centred at `y`, if any: the latest mapped of those overlapping there. */
export function lifetimeAt(f: Pick<Frame, 'view' | 'timeline'>, lifetimes: readonly Lifetime[], y: number, px: number, py: number): Lifetime | undefined {
  const { view, timeline: tl } = f;
  let found: Lifetime | undefined;
  for (const l of lifetimes) {
    const top = bandTop(y, l.track);
    if (py < top - 1 || py > top + BAND + 1) continue;
    const x0 = GUTTER_WIDTH + view.x(displayTime(tl, l.from));
    const x1 = GUTTER_WIDTH + view.x(displayTime(tl, Math.min(l.to, tl.endTime)));
    if (px >= x0 - 1 && px <= Math.max(x0 + 1, x1) + 1) found = l;
  }
  return found;
}
