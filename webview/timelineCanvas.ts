// The timeline on a canvas: one row per process and thread, each record at
// its time, fork links, exits, renames, LOST records, snapshot windows and
// debugger markers, the selected process's region lifetimes, with zoom, pan,
// hover and selection.
//
// This holds the canvas' state and composes its parts (canvas/): the rows'
// layout, the painters in the order they paint, hit-testing, the tooltip and
// input. A frame draws only the rows in view.

import { Lane, Timeline } from '../core/timeline';
import { Frame, FrameStats, Marker, Selection } from './canvas/frame';
import { hitTest } from './canvas/hitTest';
import { TimelineInput } from './canvas/input';
import { AXIS_HEIGHT, GUTTER_WIDTH, ROW_HEIGHT, RowLayout, displayTime, laneOfRecord } from './canvas/layout';
import { paintAxis, paintGutter, paintScrollbar } from './canvas/paintMargins';
import { Lifetimes, bandMiddle, lifetimeAt, type Lifetime } from './canvas/paintLifetimes';
import { paintForks, paintLost, paintSelection, paintSnapshots } from './canvas/paintOverlays';
import { paintRow } from './canvas/paintRows';
import { Tooltip } from './canvas/tooltip';
import { endedWords } from '../core/regionEnd';
import { recordLines, relativeTime } from './details';
import { FilteredLanes } from './lanes';
import { type WireSnapshot } from '../protocol/webview';
import { Palette } from './theme';
import { Viewport } from './viewport';

export class TimelineCanvas {
  readonly view = new Viewport();
  readonly filter = new FilteredLanes();
  timeline: Timeline | undefined;
  snapshots: WireSnapshot[] = [];
  markers: Marker[] = [];
  selection: Selection | undefined;
  lastFrame: FrameStats = { records: 0, statusDrawn: 0, realDrawn: 0, lostDrawn: 0, ms: 0 };
  /** Called after each frame. */
  onFrame: (stats: FrameStats) => void = () => {};
  onSelect: (selection: Selection | undefined) => void = () => {};

  private readonly ctx: CanvasRenderingContext2D;
  private readonly layout = new RowLayout(this.view);
  private readonly tooltip: Tooltip;
  private frameRequested = false;
  private hovered = -1;
  private readonly lifetimes = new Lifetimes();
  /** The selected process's lifetimes as the last frame drew them, and the y of its row's centre. */
  private drawnLifetimes: { list: readonly Lifetime[]; y: number } | undefined;

  constructor(
    readonly canvas: HTMLCanvasElement,
    tooltip: HTMLElement,
    private palette: Palette,
  ) {
    const ctx = canvas.getContext('2d', { alpha: false });
    if (!ctx) throw new Error('this webview cannot draw on a canvas');
    this.ctx = ctx;
    this.tooltip = new Tooltip(tooltip);
    new TimelineInput({
      canvas,
      view: this.view,
      layout: this.layout,
      timeline: () => this.timeline,
      selection: () => this.selection,
      hit: (x, y) => hitTest(this.timeline, this.layout, this.view, this.filter, x, y),
      hover: (record, clientX, clientY) => this.hover(record, clientX, clientY),
      select: (selection) => this.select(selection),
      requestDraw: () => this.requestDraw(),
    });
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement ?? canvas);
    this.resize();
  }

  setTimeline(timeline: Timeline | undefined): void {
    this.timeline = timeline;
    this.selection = undefined;
    this.hovered = -1;
    this.snapshots = [];
    this.markers = [];
    this.view.reset();
    this.requestDraw();
  }

  setPalette(palette: Palette): void {
    this.palette = palette;
    this.requestDraw();
  }

  /** Capture start: the first record with a time, or an earlier snapshot's start. */
  get origin(): number {
    const tl = this.timeline;
    const first = tl && !Number.isNaN(tl.startTime) ? tl.startTime : Infinity;
    const snapshot = this.snapshots.length ? Math.min(...this.snapshots.map((s) => s.start)) : Infinity;
    const origin = Math.min(first, snapshot);
    return Number.isFinite(origin) ? origin : 0;
  }

  /** Schedules one redraw on the next animation frame, however many changes come before it. */
  requestDraw(): void {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.draw();
    });
  }

  /** Where record `i` is drawn, in client coordinates; undefined when it is not in view. */
  recordPosition(i: number): { x: number; y: number } | undefined {
    const tl = this.timeline;
    if (!tl || i < 0 || i >= tl.count) return undefined;
    const layout = this.layout;
    layout.update(tl);
    const row = layout.rowOf(laneOfRecord(tl, i));
    if (row === undefined) return undefined;
    const x = GUTTER_WIDTH + this.view.x(displayTime(tl, tl.records.time[i]));
    const y = layout.rowCenter(row);
    if (x < GUTTER_WIDTH || x > layout.width || y < AXIS_HEIGHT || y > layout.height) return undefined;
    const box = this.canvas.getBoundingClientRect();
    return { x: box.left + x, y: box.top + y };
  }

  /** The lifetime bands the last frame drew: each one's file, how it ended, and the client position of its middle. */
  lifetimeBands(): Array<{ filename: string; ended: string; x: number; y: number }> {
    const drawn = this.drawnLifetimes;
    const tl = this.timeline;
    if (!drawn || !tl) return [];
    const box = this.canvas.getBoundingClientRect();
    return drawn.list.map((l) => {
      const middle = bandMiddle({ view: this.view, timeline: tl }, l, drawn.y);
      return { filename: l.filename, ended: l.ended?.how ?? '', x: box.left + middle.x, y: box.top + middle.y };
    });
  }

  /** Shows a lane (scrolling it into view), centred on `time` (else its first record), and selects that moment. */
  reveal(lane: Lane, time?: number): void {
    const layout = this.layout;
    layout.update(this.timeline);
    const row = layout.rowOf(lane) ?? 0;
    const visible = layout.visibleRows();
    if (row < this.view.firstRow || row >= this.view.firstRow + visible - 1) this.view.scrollRows(row - this.view.firstRow - Math.floor(visible / 3), layout.rows.length, visible);
    const at = time ?? lane.firstTime;
    if (!Number.isNaN(at)) this.view.panBy(this.view.x(displayTime(this.timeline, at)) - this.view.width / 2);
    this.select({ lane, time: at, record: -1 });
  }

  select(selection: Selection | undefined): void {
    this.selection = selection;
    this.onSelect(selection);
    this.requestDraw();
  }

  /** Shows record `record` (-1: none) in the tooltip, and rings its mark; with no record there, a lifetime band under the pointer names its file. */
  private hover(record: number, clientX: number, clientY: number): void {
    const tl = this.timeline;
    const band = record < 0 && tl ? this.lifetimeAt(clientX, clientY) : undefined;
    if (band) this.tooltip.show(this.lifetimeLines(band), clientX, clientY);
    else if (record < 0 || !tl) this.tooltip.hide();
    else this.tooltip.show(recordLines(tl, record, this.origin), clientX, clientY);
    if (record !== this.hovered) {
      this.hovered = record;
      this.requestDraw();
    }
  }

  private lifetimeAt(clientX: number, clientY: number): Lifetime | undefined {
    const drawn = this.drawnLifetimes;
    if (!drawn || !this.timeline) return undefined;
    const box = this.canvas.getBoundingClientRect();
    return lifetimeAt({ view: this.view, timeline: this.timeline }, drawn.list, drawn.y, clientX - box.left, clientY - box.top);
  }

  /** A lifetime band's tooltip: the file, where, and from when until when. */
  private lifetimeLines(l: Lifetime): string[] {
    const at = (t: number): string => relativeTime(t, this.origin);
    const range = `${l.start.toString(16)}–${l.end.toString(16)}, mapped at ${at(l.from)}`;
    return [l.filename, range, l.ended ? endedWords(l.ended, at) : 'mapped to the end of the capture'];
  }

  private resize(): void {
    const { canvas, layout } = this;
    const box = (canvas.parentElement ?? canvas).getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    layout.width = Math.max(GUTTER_WIDTH + 50, Math.floor(box.width));
    layout.height = Math.max(AXIS_HEIGHT + ROW_HEIGHT, Math.floor(box.height));
    canvas.width = Math.round(layout.width * dpr);
    canvas.height = Math.round(layout.height * dpr);
    canvas.style.width = `${layout.width}px`;
    canvas.style.height = `${layout.height}px`;
    this.view.width = layout.width - GUTTER_WIDTH;
    this.requestDraw();
  }

  /** The region lifetimes of the selected process (a thread selected shows its process's), when its row is among the `rows` from `first`. */
  private selectedLifetimes(tl: Timeline, first: number, rows: number): readonly Lifetime[] {
    const lane = this.selection?.lane.process?.lane;
    const row = lane && this.layout.rowOf(lane);
    if (!lane || row === undefined || row < first || row >= first + rows) {
      this.drawnLifetimes = undefined;
      return [];
    }
    const list = this.lifetimes.of(tl, lane);
    this.drawnLifetimes = { list, y: this.layout.rowCenter(row) };
    return list;
  }

  private draw(): void {
    const began = performance.now();
    const { ctx, palette: p, layout, view } = this;
    const dpr = this.canvas.width / layout.width;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = p.background;
    ctx.fillRect(0, 0, layout.width, layout.height);
    const stats: FrameStats = { records: this.timeline?.count ?? 0, statusDrawn: 0, realDrawn: 0, lostDrawn: 0, ms: 0 };
    const tl = this.timeline;
    layout.update(tl);
    if (!tl || tl.count === 0) {
      ctx.fillStyle = p.muted;
      ctx.font = `${p.fontSize}px ${p.font}`;
      ctx.textBaseline = 'middle';
      ctx.textAlign = 'center';
      ctx.fillText(tl ? 'Waiting for records…' : 'No capture open', layout.width / 2, layout.height / 2);
      ctx.textAlign = 'start';
    } else {
      const origin = this.origin;
      // A capture of perf's time-0 status alone has no time of its own: it is drawn at the origin.
      const end = Number.isNaN(tl.endTime) ? origin : tl.endTime;
      view.setData(origin, this.markers.reduce((latest, m) => Math.max(latest, m.time), end));
      view.scrollRows(0, layout.rows.length, layout.visibleRows());
      const lifetimes = this.selectedLifetimes(tl, Math.floor(view.firstRow), layout.visibleRows() + 1);
      const frame: Frame = { ctx, palette: p, view, layout, timeline: tl, filter: this.filter, origin, snapshots: this.snapshots, markers: this.markers, selection: this.selection, lifetimes, hovered: this.hovered, stats };
      paintSnapshots(frame);
      const first = Math.floor(view.firstRow);
      const last = Math.min(layout.rows.length, first + layout.visibleRows() + 1);
      for (let row = first; row < last; row++) paintRow(frame, row);
      paintForks(frame, first, last);
      paintLost(frame);
      paintSelection(frame);
      paintGutter(frame, first, last);
      paintAxis(frame);
      paintScrollbar(frame);
    }
    if (!tl || tl.count === 0) this.drawnLifetimes = undefined;
    stats.ms = performance.now() - began;
    this.lastFrame = stats;
    this.onFrame(stats);
  }
}
