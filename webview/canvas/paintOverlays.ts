// Painting what crosses the rows of the plot area: snapshot windows, fork
// links from row to row, LOST lines and the selected moment.

import { ForkLink } from '../../core/timeline';
import { MARK_RADIUS } from '../marks';
import { Frame, clipToPlot, ring } from './frame';
import { AXIS_HEIGHT, GUTTER_WIDTH, ROW_HEIGHT, displayTime, searchDisplayTime } from './layout';
import { partitionPoint } from '../../core/search';

/** Each status snapshot's window, shaded between dashed edges. */
export function paintSnapshots(f: Frame): void {
  const { ctx, palette: p, view, layout } = f;
  clipToPlot(f);
  for (const s of f.snapshots) {
    const x0 = GUTTER_WIDTH + view.x(s.start);
    const x1 = Math.max(x0 + 2, GUTTER_WIDTH + view.x(s.end));
    ctx.globalAlpha = 0.14;
    ctx.fillStyle = p.focus;
    ctx.fillRect(x0, AXIS_HEIGHT, x1 - x0, layout.height - AXIS_HEIGHT);
    ctx.globalAlpha = 0.6;
    ctx.strokeStyle = p.focus;
    ctx.lineWidth = 1;
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(x0 + 0.5, AXIS_HEIGHT);
    ctx.lineTo(x0 + 0.5, layout.height);
    ctx.moveTo(x1 - 0.5, AXIS_HEIGHT);
    ctx.lineTo(x1 - 0.5, layout.height);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.globalAlpha = 1;
  ctx.restore();
}

/** First position in the time-sorted fork links at or after t (after t when `after`). */
function searchForks(forks: readonly ForkLink[], t: number, after = false): number {
  return partitionPoint(0, forks.length, (k) => forks[k].time < t || (after && forks[k].time === t));
}

/**
 * A fork as a line from the forking thread's row to the child's, arrowed at
 * the child. When only one end is in view, a short stub at that end says
 * where the other is, rather than a line across every row between.
 */
export function paintForks(f: Frame, first: number, last: number): void {
  if (f.filter.current.hiddenKinds.has('FORK') || !f.filter.current.real) return;
  const { ctx, palette: p, view, layout } = f;
  const forks = f.timeline.forks;
  const lo = searchForks(forks, view.start);
  const hi = searchForks(forks, view.end, true);
  // Beyond a few per column of pixels more lines only thicken the same strokes.
  const stride = Math.max(1, Math.floor((hi - lo) / (view.width * 2)));
  const stub = ROW_HEIGHT * 0.45;
  clipToPlot(f);
  ctx.strokeStyle = p.green;
  ctx.fillStyle = p.green;
  ctx.lineWidth = 1;
  for (let k = lo; k < hi; k += stride) {
    const link = forks[k];
    const from = layout.rowOf(link.parent);
    const to = layout.rowOf(link.child);
    if (from === undefined || to === undefined) continue;
    const fromShown = from >= first && from < last;
    const toShown = to >= first && to < last;
    if (!fromShown && !toShown) continue;
    const x = Math.round(GUTTER_WIDTH + view.x(link.time)) + 0.5;
    const y0 = layout.rowCenter(from);
    const y1 = layout.rowCenter(to);
    const dir = y1 > y0 ? 1 : -1;
    const head = y1 - dir * (MARK_RADIUS + 1);
    ctx.beginPath();
    ctx.moveTo(x, toShown ? (fromShown ? y0 : head - dir * stub) : y0);
    ctx.lineTo(x, fromShown && !toShown ? y0 + dir * stub : head - dir * 4);
    ctx.stroke();
    if (toShown) {
      ctx.beginPath();
      ctx.moveTo(x - 3, head - dir * 5);
      ctx.lineTo(x + 3, head - dir * 5);
      ctx.lineTo(x, head);
      ctx.closePath();
      ctx.fill();
    }
  }
  ctx.restore();
}

/** LOST records cross every row: what was lost may have belonged to any of them. */
export function paintLost(f: Frame): void {
  if (f.filter.current.hiddenKinds.has('LOST')) return;
  const { ctx, palette: p, view, timeline: tl, layout } = f;
  const lost = tl.lost;
  const lo = searchDisplayTime(tl, lost, view.start);
  const hi = searchDisplayTime(tl, lost, view.end, true);
  clipToPlot(f);
  ctx.strokeStyle = p.red;
  ctx.globalAlpha = 0.7;
  ctx.lineWidth = 1;
  ctx.setLineDash([4, 3]);
  ctx.beginPath();
  let lastX = -1;
  for (let k = lo; k < hi; k++) {
    const x = Math.round(GUTTER_WIDTH + view.x(tl.records.time[lost[k]])) + 0.5;
    if (x === lastX) continue;
    lastX = x;
    ctx.moveTo(x, AXIS_HEIGHT);
    ctx.lineTo(x, layout.height);
    f.stats.lostDrawn++;
  }
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.globalAlpha = 1;
  ctx.restore();
}

/** The selected moment as a line down the plot, and a ring on the selected record. */
export function paintSelection(f: Frame): void {
  const s = f.selection;
  const tl = f.timeline;
  if (!s) return;
  const { ctx, palette: p, view, layout } = f;
  const x = Math.round(GUTTER_WIDTH + view.x(displayTime(tl, s.time))) + 0.5;
  clipToPlot(f);
  ctx.strokeStyle = p.focus;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(x, AXIS_HEIGHT);
  ctx.lineTo(x, layout.height);
  ctx.stroke();
  const row = layout.rowOf(s.lane);
  if (s.record >= 0 && s.record < tl.count && row !== undefined) ring(ctx, x, layout.rowCenter(row), p.focus);
  ctx.restore();
}
