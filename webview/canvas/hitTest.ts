// What is under the pointer: the lane of the row, the time, and the nearest
// record shown there within a few pixels.

import { Lane, Timeline } from '../../core/timeline';
import { FilteredLanes } from '../lanes';
import { Viewport } from '../viewport';
import { AXIS_HEIGHT, GUTTER_WIDTH, ROW_HEIGHT, RowLayout, displayTime, searchDisplayTime } from './layout';

/** How near (px) the pointer must be to a mark to hover or select it. */
const HIT_SLOP = 7;

export interface Hit {
  /** The record nearest the pointer within HIT_SLOP pixels, or -1. */
  record: number;
  /** The lane of the row under the pointer; undefined over the axis, the gutter or below the last row. */
  lane: Lane | undefined;
  time: number;
}

/** What is at canvas position px, py (CSS pixels). */
export function hitTest(tl: Timeline | undefined, layout: RowLayout, view: Viewport, filter: FilteredLanes, px: number, py: number): Hit {
  const time = view.time(px - GUTTER_WIDTH);
  if (!tl || py < AXIS_HEIGHT || px < GUTTER_WIDTH) return { record: -1, lane: undefined, time };
  const row = Math.floor(view.firstRow + (py - AXIS_HEIGHT - 3) / ROW_HEIGHT);
  const lane = layout.rows[row];
  if (!lane) return { record: -1, lane: undefined, time };
  const { records } = filter.of(lane, tl.records);
  const k = searchDisplayTime(tl, records, time);
  let best = -1;
  let bestDistance = HIT_SLOP;
  for (const c of [k - 1, k]) {
    if (c < 0 || c >= records.length) continue;
    const distance = Math.abs(GUTTER_WIDTH + view.x(displayTime(tl, tl.records.time[records[c]])) - px);
    if (distance <= bestDistance) {
      best = records[c];
      bestDistance = distance;
    }
  }
  return { record: best, lane, time };
}
