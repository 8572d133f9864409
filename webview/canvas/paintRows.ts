// Painting one lane's row: its band, the line of its life, the names it took
// and its records' marks; for the selected process, under them, its region
// lifetimes.
//
// A row costs what is in view, not what was captured: its records are found
// by binary search in its time-sorted list. When more are in view than fit as
// marks, each column of pixels gets one aggregate mark whose status/real mix
// comes from the row's running status counts: two binary searches per
// column, not one step per record.

import { IndexFlag, provenanceOf } from '../../core/records';
import { Lane } from '../../core/timeline';
import { ShownRecords, kindOf } from '../lanes';
import { MARK_RADIUS, drawAggregate, drawLost, drawReal, drawStale, drawStatus, kindColor } from '../marks';
import { Frame, clipToPlot, fitText, ring } from './frame';
import { paintLifetimes } from './paintLifetimes';
import { GUTTER_WIDTH, ROW_HEIGHT, displayTime, searchDisplayTime } from './layout';

/** Width of an aggregate column; a row with fewer records in view than columns draws each one. */
const COLUMN = 5;

export function paintRow(f: Frame, row: number): void {
  const { ctx, palette: p, layout } = f;
  const lane = layout.rows[row];
  const y = layout.rowCenter(row);
  const top = y - ROW_HEIGHT / 2 - 3;
  const selected = f.selection?.lane === lane;
  if (selected) {
    ctx.globalAlpha = 0.35;
    ctx.fillStyle = p.selection;
    ctx.fillRect(0, top, layout.width, ROW_HEIGHT);
    ctx.globalAlpha = 1;
  }
  ctx.fillStyle = p.grid;
  ctx.globalAlpha = 0.35;
  ctx.fillRect(GUTTER_WIDTH, top + ROW_HEIGHT - 1, layout.width - GUTTER_WIDTH, 1);
  ctx.globalAlpha = 1;
  clipToPlot(f);
  if (lane === f.selection?.lane.process?.lane) paintLifetimes(f, f.lifetimes, y);
  paintLifeLine(f, lane, y);
  const shown = f.filter.of(lane, f.timeline.records);
  paintRenames(f, lane, top);
  paintRecords(f, shown, y);
  ctx.restore();
}

/** A thin line while the thread lives: dashed before its first record when it existed before the capture. */
function paintLifeLine(f: Frame, lane: Lane, y: number): void {
  if (lane.kind === 'global' || Number.isNaN(lane.firstTime)) return;
  const { ctx, palette: p, view, timeline: tl } = f;
  const process = lane.process!;
  const born = displayTime(tl, lane.kind === 'process' && !Number.isNaN(process.forkTime) ? process.forkTime : lane.firstTime);
  const ends = Number.isNaN(lane.exitTime) ? tl.endTime : lane.exitTime;
  const x0 = GUTTER_WIDTH + view.x(born);
  const x1 = GUTTER_WIDTH + view.x(ends);
  ctx.strokeStyle = p.muted;
  ctx.lineWidth = 1;
  if (process.origin === 'status') {
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(GUTTER_WIDTH + Math.max(0, view.x(f.origin)), y + 0.5);
    ctx.lineTo(x0, y + 0.5);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.beginPath();
  ctx.moveTo(x0, y + 0.5);
  ctx.lineTo(x1, y + 0.5);
  ctx.stroke();
  if (!Number.isNaN(lane.exitTime)) {
    // An exit ends the line with a bar.
    ctx.strokeStyle = p.red;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x1, y - 7);
    ctx.lineTo(x1, y + 7);
    ctx.stroke();
  }
}

/** Each name the thread took, written where it took it, as far as the next one leaves room. */
function paintRenames(f: Frame, lane: Lane, top: number): void {
  if (f.filter.current.hiddenKinds.has('COMM')) return;
  const { ctx, palette: p, view, timeline: tl, layout } = f;
  const comms = lane.comms;
  if (comms.length === 0) return;
  const times = tl.records.time;
  // The name in force at the left edge is written there too, while the thread lives.
  let k = searchDisplayTime(tl, comms, view.start);
  if (k > 0 && !(lane.exitTime < view.start)) k--;
  const end = searchDisplayTime(tl, comms, view.end, true);
  ctx.font = `10px ${p.font}`;
  ctx.textBaseline = 'top';
  let freeFrom = -Infinity;
  // Names that cannot be written are passed over by binary search, not one
  // by one, so a thread renamed a million times costs a few per pixel.
  const skipTo = (x: number): number => searchDisplayTime(tl, comms, view.time(x - GUTTER_WIDTH)) - 1;
  for (let drawn = 0; k < end && drawn < 200; k++) {
    const i = comms[k];
    const status = (tl.records.flags[i] & IndexFlag.IS_STATUS) !== 0;
    if (!f.filter.shows(tl.records, i)) continue;
    const at = GUTTER_WIDTH + view.x(displayTime(tl, times[i]));
    const x = Math.max(GUTTER_WIDTH + 2, at + 6);
    if (x < freeFrom) {
      k = Math.max(k, skipTo(freeFrom - 6));
      continue;
    }
    const nextX = k + 1 < comms.length ? GUTTER_WIDTH + view.x(displayTime(tl, times[comms[k + 1]])) : Infinity;
    const room = Math.min(nextX, layout.width) - x - 4;
    if (room < 14) {
      // Crowded: only the last name of each column of pixels can have room.
      k = Math.max(k, skipTo(Math.floor(at) + 1) - 1);
      continue;
    }
    const text = fitText(ctx, tl.commOf(i), room);
    ctx.fillStyle = status ? p.muted : p.yellow;
    ctx.fillText(text, x, top + 1);
    freeFrom = x + ctx.measureText(text).width + 6;
    drawn++;
  }
}

/** The row's records in view, one mark each, or one aggregate mark per column when they are too many. */
function paintRecords(f: Frame, shown: ShownRecords, y: number): void {
  const { ctx, palette: p, view, timeline: tl, stats } = f;
  const { records, statusBefore } = shown;
  const index = tl.records;
  const slop = (view.span / view.width) * MARK_RADIUS * 2;
  const lo = searchDisplayTime(tl, records, view.start - slop);
  const hi = searchDisplayTime(tl, records, view.end + slop, true);
  if (hi <= lo) return;
  if (hi - lo <= view.width / COLUMN) {
    for (let k = lo; k < hi; k++) {
      const i = records[k];
      const x = GUTTER_WIDTH + view.x(displayTime(tl, index.time[i]));
      const flags = index.flags[i];
      const kind = kindOf(index.type[i]);
      const provenance = provenanceOf(flags);
      if (kind === 'LOST') {
        drawLost(ctx, x, y, p);
        stats.realDrawn++;
      } else if (flags & IndexFlag.IS_STATUS || provenance !== 0) {
        drawStatus(ctx, x, y, kindColor(p, kind), provenance, p);
        if (flags & IndexFlag.IS_STATUS) stats.statusDrawn++;
        else stats.realDrawn++;
      } else {
        drawReal(ctx, x, y, kindColor(p, kind), p);
        stats.realDrawn++;
      }
      if (flags & IndexFlag.STALE_MASK) drawStale(ctx, x, y, p);
      if (i === f.hovered) ring(ctx, x, y, p.focus);
    }
    return;
  }
  // Aggregate: one mark per column, from the running status counts.
  let from = lo;
  for (let cx = 0; cx < view.width; cx += COLUMN) {
    const to = Math.min(hi, Math.max(from, searchDisplayTime(tl, records, view.time(cx + COLUMN))));
    const count = to - from;
    if (count > 0) {
      const status = statusBefore[to] - statusBefore[from];
      drawAggregate(ctx, GUTTER_WIDTH + cx, y, COLUMN, count - status, status, p, ROW_HEIGHT / 2 - 3);
      stats.statusDrawn += status;
      stats.realDrawn += count - status;
    }
    from = to;
  }
}
