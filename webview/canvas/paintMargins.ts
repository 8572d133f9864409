// Painting the margins around the plot: the gutter with each row's lane
// name, the time axis with its ticks and the labels of snapshots and
// debugger markers, and the rows' scrollbar.

import { Provenance } from '../../core/records';
import { relativeTime } from '../details';
import { drawReal, drawStatus } from '../marks';
import { formatDuration, tickStep } from '../viewport';
import { Frame, fitText } from './frame';
import { AXIS_HEIGHT, GUTTER_WIDTH, ROW_HEIGHT } from './layout';
import { partitionPoint } from '../../core/search';

/** Each row's lane: how its process is known, its name at the left edge and its pid or tid, indented by depth. */
export function paintGutter(f: Frame, first: number, last: number): void {
  const { ctx, palette: p, view, timeline: tl, layout } = f;
  ctx.fillStyle = p.background;
  ctx.fillRect(0, AXIS_HEIGHT, GUTTER_WIDTH, layout.height - AXIS_HEIGHT);
  ctx.fillStyle = p.border;
  ctx.fillRect(GUTTER_WIDTH - 1, AXIS_HEIGHT, 1, layout.height - AXIS_HEIGHT);
  ctx.textBaseline = 'middle';
  for (let row = first; row < last; row++) {
    const lane = layout.rows[row];
    const y = layout.rowCenter(row);
    if (f.selection?.lane === lane) {
      ctx.globalAlpha = 0.35;
      ctx.fillStyle = p.selection;
      ctx.fillRect(0, y - ROW_HEIGHT / 2 - 3, GUTTER_WIDTH - 1, ROW_HEIGHT);
      ctx.globalAlpha = 1;
    }
    const indent = 8 + Math.min(tl.depthOf(lane), 8) * 10;
    const exited = !Number.isNaN(lane.exitTime) && lane.exitTime < view.end;
    let x = indent;
    if (lane.kind === 'global') {
      ctx.font = `italic ${p.fontSize - 1}px ${p.font}`;
      ctx.fillStyle = p.muted;
      ctx.fillText(`lost & markers (${tl.lost.length} LOST)`, x, y);
      continue;
    }
    const process = lane.process!;
    if (lane.kind === 'process') {
      // How the process is known: from status (hollow), forked during the capture (filled).
      if (process.origin === 'status') drawStatus(ctx, x + 4, y, p.muted, Provenance.Ioctl, p);
      else if (process.origin === 'forked') drawReal(ctx, x + 4, y, p.green, p);
      x += 13;
    } else {
      ctx.fillStyle = p.muted;
      ctx.font = `${p.fontSize - 1}px ${p.font}`;
      ctx.fillText('↳', x, y);
      x += 13;
    }
    const id = String(lane.kind === 'process' ? lane.pid : lane.tid);
    ctx.font = `${p.fontSize - 1}px ${p.monoFont}`;
    const idWidth = ctx.measureText(id).width;
    ctx.fillStyle = p.muted;
    ctx.fillText(id, GUTTER_WIDTH - 8 - idWidth, y);
    ctx.font = `${lane.kind === 'process' ? '600 ' : ''}${p.fontSize - 1}px ${p.font}`;
    ctx.fillStyle = exited ? p.muted : p.foreground;
    // The name in force at the left edge, or the first the thread took of its own (not the one it inherited before it).
    const named = lane.comms.length ? tl.records.time[lane.comms[0]] : lane.firstTime;
    ctx.fillText(fitText(ctx, tl.commAt(lane, Math.max(view.start, named)) || '?', GUTTER_WIDTH - 16 - idWidth - x), x, y);
  }
}

/** Ticks from the capture start, the snapshots' and markers' labels, and in the corner the span shown and where it starts. */
export function paintAxis(f: Frame): void {
  const { ctx, palette: p, view, layout, origin } = f;
  ctx.fillStyle = p.background;
  ctx.fillRect(0, 0, layout.width, AXIS_HEIGHT);
  ctx.fillStyle = p.border;
  ctx.fillRect(0, AXIS_HEIGHT - 1, layout.width, 1);
  const step = tickStep(view.span, view.width);
  ctx.font = `11px ${p.font}`;
  ctx.textBaseline = 'alphabetic';
  ctx.strokeStyle = p.muted;
  ctx.lineWidth = 1;
  const first = Math.ceil((view.start - origin) / step);
  for (let k = first; origin + k * step <= view.end; k++) {
    const t = origin + k * step;
    const x = Math.round(GUTTER_WIDTH + view.x(t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, AXIS_HEIGHT - 6);
    ctx.lineTo(x, AXIS_HEIGHT - 1);
    ctx.stroke();
    const label = formatDuration(k * step, step);
    if (x + 3 + ctx.measureText(label).width > layout.width) break;
    ctx.fillStyle = p.muted;
    ctx.fillText(label, x + 3, AXIS_HEIGHT - 8);
  }
  // Labels of snapshots and markers on the axis' upper line.
  ctx.textBaseline = 'middle';
  for (const s of f.snapshots) {
    const x = GUTTER_WIDTH + view.x(s.start);
    if (x > layout.width || GUTTER_WIDTH + view.x(s.end) < GUTTER_WIDTH) continue;
    ctx.fillStyle = p.focus;
    ctx.fillText(`snapshot ${s.index} (${s.path})`, Math.max(GUTTER_WIDTH + 2, x + 2), 9);
  }
  paintMarkers(f);
  ctx.fillStyle = p.background;
  ctx.fillRect(0, 0, GUTTER_WIDTH - 1, AXIS_HEIGHT - 1);
  ctx.fillStyle = p.muted;
  ctx.font = `11px ${p.font}`;
  ctx.fillText(`${formatDuration(view.span, view.span / 100)} shown`, 8, 9);
  ctx.fillText(`from ${relativeTime(view.start, origin)}`, 8, AXIS_HEIGHT - 11);
}

/** Debugger stops and continues: a line across the rows, labelled on the axis. */
function paintMarkers(f: Frame): void {
  const { ctx, palette: p, view, layout } = f;
  ctx.font = `11px ${p.font}`;
  ctx.textBaseline = 'middle';
  const xs = f.markers.map((m) => Math.round(GUTTER_WIDTH + view.x(m.time)) + 0.5);
  // Each label has the room up to the next marker to its right: one sort, then a binary search per marker.
  const sorted = Float64Array.from(xs).sort();
  const nextRightOf = (x: number): number => {
    const next = partitionPoint(0, sorted.length, (k) => sorted[k] <= x);
    return next < sorted.length ? Math.min(layout.width, sorted[next]) : layout.width;
  };
  f.markers.forEach((m, k) => {
    const x = xs[k];
    if (x < GUTTER_WIDTH || x > layout.width) return;
    const room = nextRightOf(x) - x - 8;
    const color = m.kind === 'stopped' ? p.orange : m.kind === 'continued' ? p.green : p.foreground;
    ctx.strokeStyle = color;
    ctx.lineWidth = m.kind === 'stopped' ? 2 : 1;
    ctx.beginPath();
    ctx.moveTo(x, 4);
    ctx.lineTo(x, layout.height);
    ctx.stroke();
    ctx.fillStyle = color;
    ctx.fillText(fitText(ctx, m.label || m.kind, Math.min(160, room)), x + 4, 9);
  });
}

/** Where the rows shown are among all rows, when they do not all fit. */
export function paintScrollbar(f: Frame): void {
  const { ctx, palette: p, layout } = f;
  const visible = layout.visibleRows();
  const total = layout.rows.length;
  if (total <= visible) return;
  const track = layout.height - AXIS_HEIGHT;
  const h = Math.max(16, (visible / total) * track);
  const y = AXIS_HEIGHT + (f.view.firstRow / Math.max(1, total - visible)) * (track - h);
  ctx.globalAlpha = 0.5;
  ctx.fillStyle = p.muted;
  ctx.fillRect(layout.width - 5, y, 4, h);
  ctx.globalAlpha = 1;
}
