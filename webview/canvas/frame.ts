// One frame of the timeline as its painters see it: what it is drawn from,
// what it counts, and the strokes several painters share (the plot area's
// clip, the ring around a focused mark, a label cut to fit).

import { Lane, Timeline } from '../../core/timeline';
import { FilteredLanes } from '../lanes';
import { MARK_RADIUS } from '../marks';
import { type MarkerKind } from '../../core/perfdata/metadata';
import { type WireSnapshot } from '../../protocol/webview';
import { Palette } from '../theme';
import { type Lifetime } from './paintLifetimes';
import { Viewport } from '../viewport';
import { AXIS_HEIGHT, GUTTER_WIDTH, RowLayout } from './layout';
import { partitionPoint } from '../../core/search';

export interface Selection {
  lane: Lane;
  time: number;
  /** The record selected, or -1 when a moment of a lane was. */
  record: number;
}

export interface Marker {
  time: number;
  kind: MarkerKind;
  label: string;
}

/** What the last frame drew, for the status line and the test hook. */
export interface FrameStats {
  records: number;
  statusDrawn: number;
  realDrawn: number;
  lostDrawn: number;
  ms: number;
}

export interface Frame {
  readonly ctx: CanvasRenderingContext2D;
  readonly palette: Palette;
  readonly view: Viewport;
  readonly layout: RowLayout;
  readonly timeline: Timeline;
  readonly filter: FilteredLanes;
  /** Capture start, the zero of the axis. */
  readonly origin: number;
  readonly snapshots: readonly WireSnapshot[];
  readonly markers: readonly Marker[];
  readonly selection: Selection | undefined;
  /** The region lifetimes of the selected process, drawn in its row. */
  readonly lifetimes: readonly Lifetime[];
  /** The record under the pointer, or -1. */
  readonly hovered: number;
  /** Counted as the painters draw. */
  readonly stats: FrameStats;
}

/** Saves the context and clips it to the plot area, right of the gutter and below the axis; the caller restores it. */
export function clipToPlot(f: Frame): void {
  const { ctx, layout } = f;
  ctx.save();
  ctx.beginPath();
  ctx.rect(GUTTER_WIDTH, AXIS_HEIGHT, layout.width - GUTTER_WIDTH, layout.height - AXIS_HEIGHT);
  ctx.clip();
}

/** A ring around the mark at x, y: the hovered or the selected record. */
export function ring(ctx: CanvasRenderingContext2D, x: number, y: number, color: string): void {
  ctx.beginPath();
  ctx.arc(x, y, MARK_RADIUS + 3.5, 0, Math.PI * 2);
  ctx.lineWidth = 2;
  ctx.strokeStyle = color;
  ctx.stroke();
}

/** `text`, cut with an ellipsis to fit `width` pixels in the current font. */
export function fitText(ctx: CanvasRenderingContext2D, text: string, width: number): string {
  if (ctx.measureText(text).width <= width) return text;
  // The longest prefix that fits with its ellipsis: longer prefixes are wider.
  const fits = partitionPoint(1, text.length + 1, (length) => ctx.measureText(`${text.slice(0, length)}…`).width <= width) - 1;
  return fits === 0 ? '' : `${text.slice(0, fits)}…`;
}
