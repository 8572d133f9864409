// The selected process's region lifetimes, in its row: a thin band per
// executable file-backed region, and per function of JIT code its jitdump
// placed, from when it was mapped to when it ended (or to the end of the
// capture), so one sees when a library came and went.
//
// Only the selected process's, and computed again only when its mapping
// history grew: a frame otherwise costs one pass over its few regions.

import { lifetimeRows, regionLifetimes, type RegionLifetime } from '../../core/lifetimes';
import { type Lane, type Timeline } from '../../core/timeline';
import { type Frame } from './frame';
import { GUTTER_WIDTH, ROW_HEIGHT, displayTime } from './layout';

/** A lifetime as its row draws it: on its line, from the bottom (lifetimes that do not overlap in time share one). */
export type Lifetime = RegionLifetime & { track: number };

/** Bands are this thick, one pixel apart, stacked up from the row's bottom, under the row's marks. */
const BAND = 2;
const TRACK = BAND + 1;
/** Tracks a row holds; more regions at once are drawn in the top one. */
const TRACKS = 7;

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
    // A region ended by the process's exit is not shown as ended: the exit is drawn by its life line.
    const lifetimes = regionLifetimes(tl, process);
    const tracks = lifetimeRows(lifetimes, TRACKS);
    this.list = lifetimes.map((l, k) => ({ ...l, track: tracks[k] }));
    return this.list;
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
