// The timeline on a canvas: one row per process and thread, each record at
// its time, fork links, exits, renames, LOST records, snapshot windows and
// debugger markers, with zoom, pan, hover and selection.
//
// Drawing costs what is on screen, not what was captured: only the rows in
// view are drawn, and a row's records are found by binary search in its
// time-sorted list. When a row has more records in view than fit as marks,
// each column of pixels gets one aggregate mark whose status/real mix comes
// from the row's running status counts: two binary searches per column, not
// one step per record.

import { Flag, Provenance, RecordType, provenanceOf } from '../native/lib/records';
import { ForkLink, Lane, Timeline, searchTime } from '../native/lib/timeline';
import { recordLines, relativeTime } from './details';
import { FilteredLanes, ShownRecords, kindOf } from './lanes';
import { MARK_RADIUS, drawAggregate, drawLost, drawReal, drawStale, drawStatus, kindColor } from './marks';
import type { MarkerKind, WireSnapshot } from './protocol';
import { Palette } from './theme';
import { Viewport, formatDuration, tickStep } from './viewport';

export const AXIS_HEIGHT = 36;
export const ROW_HEIGHT = 26;
export const GUTTER_WIDTH = 190;
/** Width of an aggregate column; a row with fewer records in view than columns draws each one. */
const COLUMN = 5;
/** How near (px) the pointer must be to a mark to hover or select it. */
const HIT_SLOP = 7;

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
  private width = 0;
  private height = 0;
  private frameRequested = false;
  private hovered = -1;
  private drag: { x: number; y: number; moved: boolean; pointer: number } | undefined;
  private rows: Lane[] = [];
  /** Row of each lane, by lane id (-1: none). */
  private rowOfLane = new Int32Array(0);
  private rowsTopology = -1;
  private rowsTimeline: Timeline | undefined;

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly tooltip: HTMLElement,
    private palette: Palette,
  ) {
    const ctx = canvas.getContext('2d', { alpha: false });
    if (!ctx) throw new Error('this webview cannot draw on a canvas');
    this.ctx = ctx;
    canvas.tabIndex = 0;
    canvas.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    canvas.addEventListener('pointerdown', (e) => this.onPointerDown(e));
    canvas.addEventListener('pointermove', (e) => this.onPointerMove(e));
    canvas.addEventListener('pointerup', (e) => this.onPointerUp(e));
    canvas.addEventListener('pointerleave', () => this.setHover(-1, 0, 0));
    canvas.addEventListener('keydown', (e) => this.onKey(e));
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
    this.updateRows();
    const lane = this.laneOfRecord(i);
    const row = lane && this.rowOf(lane);
    if (row === undefined) return undefined;
    const x = GUTTER_WIDTH + this.view.x(this.displayTime(tl.records.time[i]));
    const y = this.rowCenter(row);
    if (x < GUTTER_WIDTH || x > this.width || y < AXIS_HEIGHT || y > this.height) return undefined;
    const box = this.canvas.getBoundingClientRect();
    return { x: box.left + x, y: box.top + y };
  }

  /** Shows a lane (scrolling it into view), centred on `time` (else its first record), and selects that moment. */
  reveal(lane: Lane, time?: number): void {
    this.updateRows();
    const row = this.rowOf(lane) ?? 0;
    const visible = this.visibleRows();
    if (row < this.view.firstRow || row >= this.view.firstRow + visible - 1) this.view.scrollRows(row - this.view.firstRow - Math.floor(visible / 3), this.rows.length, visible);
    const at = time ?? lane.firstTime;
    if (!Number.isNaN(at)) this.view.panBy(this.view.x(this.displayTime(at)) - this.view.width / 2);
    this.select({ lane, time: at, record: -1 });
  }

  select(selection: Selection | undefined): void {
    this.selection = selection;
    this.onSelect(selection);
    this.requestDraw();
  }

  private resize(): void {
    const box = (this.canvas.parentElement ?? this.canvas).getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.width = Math.max(GUTTER_WIDTH + 50, Math.floor(box.width));
    this.height = Math.max(AXIS_HEIGHT + ROW_HEIGHT, Math.floor(box.height));
    this.canvas.width = Math.round(this.width * dpr);
    this.canvas.height = Math.round(this.height * dpr);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.height}px`;
    this.view.width = this.width - GUTTER_WIDTH;
    this.requestDraw();
  }

  private visibleRows(): number {
    return Math.max(1, Math.floor((this.height - AXIS_HEIGHT) / ROW_HEIGHT));
  }

  private rowCenter(row: number): number {
    return AXIS_HEIGHT + (row - this.view.firstRow) * ROW_HEIGHT + ROW_HEIGHT / 2 + 3;
  }

  private updateRows(): void {
    const tl = this.timeline;
    if (!tl) {
      this.rows = [];
      this.rowOfLane = new Int32Array(0);
      return;
    }
    if (this.rowsTimeline === tl && this.rowsTopology === tl.topology) return;
    this.rows = tl.laneOrder();
    const rowOfLane = new Int32Array(tl.lanes.length).fill(-1);
    this.rows.forEach((lane, row) => (rowOfLane[lane.id] = row));
    this.rowOfLane = rowOfLane;
    this.rowsTopology = tl.topology;
    this.rowsTimeline = tl;
  }

  private rowOf(lane: Lane): number | undefined {
    const row = lane.id < this.rowOfLane.length ? this.rowOfLane[lane.id] : -1;
    return row < 0 ? undefined : row;
  }

  private laneOfRecord(i: number): Lane | undefined {
    const tl = this.timeline;
    if (!tl) return undefined;
    const index = tl.records;
    if (index.type[i] === RecordType.LOST || index.type[i] === RecordType.FINISHED_INIT || index.pid[i] < 0) return tl.global;
    const process = tl.processAt(index.pid[i], index.time[i]);
    if (!process) return tl.global;
    return process.lane.tid === index.tid[i] ? process.lane : (process.threads.find((l) => l.tid === index.tid[i]) ?? process.lane);
  }

  /** perf's synthesized records carry time 0: they are drawn at the capture start. */
  private displayTime(t: number): number {
    const start = this.timeline?.startTime;
    return start !== undefined && t < start ? start : t;
  }

  /** First position in `list` whose display time is >= t (or > t when `after`). */
  private search(list: readonly number[], t: number, after = false): number {
    const tl = this.timeline!;
    const start = tl.startTime;
    if (t < start || (t === start && !after)) return 0;
    return searchTime(list, tl.records.time, t, after);
  }

  private draw(): void {
    const began = performance.now();
    const { ctx, palette: p } = this;
    const dpr = this.canvas.width / this.width;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = p.background;
    ctx.fillRect(0, 0, this.width, this.height);
    const stats: FrameStats = { records: this.timeline?.count ?? 0, statusDrawn: 0, realDrawn: 0, lostDrawn: 0, ms: 0 };
    const tl = this.timeline;
    this.updateRows();
    if (!tl || tl.count === 0) {
      ctx.fillStyle = p.muted;
      ctx.font = `${p.fontSize}px ${p.font}`;
      ctx.textBaseline = 'middle';
      ctx.textAlign = 'center';
      ctx.fillText(tl ? 'Waiting for records…' : 'No capture open', this.width / 2, this.height / 2);
      ctx.textAlign = 'start';
    } else {
      this.view.setData(Math.min(this.origin, tl.startTime), this.markers.reduce((end, m) => Math.max(end, m.time), tl.endTime));
      this.view.scrollRows(0, this.rows.length, this.visibleRows());
      this.drawSnapshots();
      const first = Math.floor(this.view.firstRow);
      const last = Math.min(this.rows.length, first + this.visibleRows() + 1);
      for (let row = first; row < last; row++) this.drawRow(row, stats);
      this.drawForks(tl.forks, first, last);
      this.drawLost(stats);
      this.drawSelection();
      this.drawGutter(first, last);
      this.drawAxis();
      this.drawScrollbar();
    }
    stats.ms = performance.now() - began;
    this.lastFrame = stats;
    this.onFrame(stats);
  }

  private plotClip(): void {
    const { ctx } = this;
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER_WIDTH, AXIS_HEIGHT, this.width - GUTTER_WIDTH, this.height - AXIS_HEIGHT);
    ctx.clip();
  }

  private drawSnapshots(): void {
    const { ctx, palette: p, view } = this;
    this.plotClip();
    for (const s of this.snapshots) {
      const x0 = GUTTER_WIDTH + view.x(s.start);
      const x1 = Math.max(x0 + 2, GUTTER_WIDTH + view.x(s.end));
      ctx.globalAlpha = 0.14;
      ctx.fillStyle = p.focus;
      ctx.fillRect(x0, AXIS_HEIGHT, x1 - x0, this.height - AXIS_HEIGHT);
      ctx.globalAlpha = 0.6;
      ctx.strokeStyle = p.focus;
      ctx.lineWidth = 1;
      ctx.setLineDash([2, 3]);
      ctx.beginPath();
      ctx.moveTo(x0 + 0.5, AXIS_HEIGHT);
      ctx.lineTo(x0 + 0.5, this.height);
      ctx.moveTo(x1 - 0.5, AXIS_HEIGHT);
      ctx.lineTo(x1 - 0.5, this.height);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.globalAlpha = 1;
    ctx.restore();
  }

  private drawRow(row: number, stats: FrameStats): void {
    const tl = this.timeline!;
    const { ctx, palette: p } = this;
    const lane = this.rows[row];
    const y = this.rowCenter(row);
    const top = y - ROW_HEIGHT / 2 - 3;
    const selected = this.selection?.lane === lane;
    if (selected) {
      ctx.globalAlpha = 0.35;
      ctx.fillStyle = p.selection;
      ctx.fillRect(0, top, this.width, ROW_HEIGHT);
      ctx.globalAlpha = 1;
    }
    ctx.fillStyle = p.grid;
    ctx.globalAlpha = 0.35;
    ctx.fillRect(GUTTER_WIDTH, top + ROW_HEIGHT - 1, this.width - GUTTER_WIDTH, 1);
    ctx.globalAlpha = 1;
    this.plotClip();
    this.drawLifeLine(lane, y);
    const shown = this.filter.of(lane, tl.records);
    this.drawRenames(lane, top);
    this.drawRecords(shown, y, stats);
    ctx.restore();
  }

  /** A thin line while the thread lives: dashed before its first record when it existed before the capture. */
  private drawLifeLine(lane: Lane, y: number): void {
    if (lane.kind === 'global' || Number.isNaN(lane.firstTime)) return;
    const tl = this.timeline!;
    const { ctx, palette: p, view } = this;
    const process = lane.process!;
    const born = this.displayTime(lane.kind === 'process' && !Number.isNaN(process.forkTime) ? process.forkTime : lane.firstTime);
    const ends = Number.isNaN(lane.exitTime) ? tl.endTime : lane.exitTime;
    const x0 = GUTTER_WIDTH + view.x(born);
    const x1 = GUTTER_WIDTH + view.x(ends);
    ctx.strokeStyle = p.muted;
    ctx.lineWidth = 1;
    if (process.origin === 'status') {
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(GUTTER_WIDTH + Math.max(0, view.x(this.origin)), y + 0.5);
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
  private drawRenames(lane: Lane, top: number): void {
    if (this.filter.current.hiddenKinds.has('COMM')) return;
    const tl = this.timeline!;
    const { ctx, palette: p, view } = this;
    const comms = lane.comms;
    if (comms.length === 0) return;
    const times = tl.records.time;
    // The name in force at the left edge is written there too, while the thread lives.
    let k = this.search(comms, view.start);
    if (k > 0 && !(lane.exitTime < view.start)) k--;
    const end = this.search(comms, view.end, true);
    ctx.font = `10px ${p.font}`;
    ctx.textBaseline = 'top';
    let freeFrom = -Infinity;
    // Names that cannot be written are passed over by binary search, not one
    // by one, so a thread renamed a million times costs a few per pixel.
    const skipTo = (x: number): number => this.search(comms, view.time(x - GUTTER_WIDTH)) - 1;
    for (let drawn = 0; k < end && drawn < 200; k++) {
      const i = comms[k];
      const status = (tl.records.flags[i] & Flag.STATUS_ONLY) !== 0;
      if (!this.filter.shows(tl.records, i)) continue;
      const at = GUTTER_WIDTH + view.x(this.displayTime(times[i]));
      const x = Math.max(GUTTER_WIDTH + 2, at + 6);
      if (x < freeFrom) {
        k = Math.max(k, skipTo(freeFrom - 6));
        continue;
      }
      const nextX = k + 1 < comms.length ? GUTTER_WIDTH + view.x(this.displayTime(times[comms[k + 1]])) : Infinity;
      const room = Math.min(nextX, this.width) - x - 4;
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

  private drawRecords(shown: ShownRecords, y: number, stats: FrameStats): void {
    const tl = this.timeline!;
    const { ctx, palette: p, view } = this;
    const { records, statusBefore } = shown;
    const index = tl.records;
    const slop = (view.span / view.width) * MARK_RADIUS * 2;
    const lo = this.search(records, view.start - slop);
    const hi = this.search(records, view.end + slop, true);
    if (hi <= lo) return;
    if (hi - lo <= view.width / COLUMN) {
      for (let k = lo; k < hi; k++) {
        const i = records[k];
        const x = GUTTER_WIDTH + view.x(this.displayTime(index.time[i]));
        const f = index.flags[i];
        const kind = kindOf(index.type[i]);
        const provenance = provenanceOf(f);
        if (kind === 'LOST') {
          drawLost(ctx, x, y, p);
          stats.realDrawn++;
        } else if (f & Flag.STATUS_ONLY || provenance !== 0) {
          drawStatus(ctx, x, y, kindColor(p, kind), provenance, p);
          if (f & Flag.STATUS_ONLY) stats.statusDrawn++;
          else stats.realDrawn++;
        } else {
          drawReal(ctx, x, y, kindColor(p, kind), p);
          stats.realDrawn++;
        }
        if (f & Flag.STALE_MASK) drawStale(ctx, x, y, p);
        if (i === this.hovered) this.ring(x, y, p.focus);
      }
      return;
    }
    // Aggregate: one mark per column, from the running status counts.
    let from = lo;
    for (let cx = 0; cx < view.width; cx += COLUMN) {
      const to = Math.min(hi, Math.max(from, this.search(records, view.time(cx + COLUMN))));
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

  private ring(x: number, y: number, color: string): void {
    const { ctx } = this;
    ctx.beginPath();
    ctx.arc(x, y, MARK_RADIUS + 3.5, 0, Math.PI * 2);
    ctx.lineWidth = 2;
    ctx.strokeStyle = color;
    ctx.stroke();
  }

  /**
   * A fork as a line from the forking thread's row to the child's, arrowed at
   * the child. When only one end is in view, a short stub at that end says
   * where the other is, rather than a line across every row between.
   */
  private drawForks(forks: ForkLink[], first: number, last: number): void {
    if (this.filter.current.hiddenKinds.has('FORK') || !this.filter.current.real) return;
    const { ctx, palette: p, view } = this;
    const lo = searchBy(forks, view.start);
    const hi = searchBy(forks, view.end, true);
    // Beyond a few per column of pixels more lines only thicken the same strokes.
    const stride = Math.max(1, Math.floor((hi - lo) / (view.width * 2)));
    const stub = ROW_HEIGHT * 0.45;
    this.plotClip();
    ctx.strokeStyle = p.green;
    ctx.fillStyle = p.green;
    ctx.lineWidth = 1;
    for (let k = lo; k < hi; k += stride) {
      const link = forks[k];
      const from = this.rowOf(link.parent);
      const to = this.rowOf(link.child);
      if (from === undefined || to === undefined) continue;
      const fromShown = from >= first && from < last;
      const toShown = to >= first && to < last;
      if (!fromShown && !toShown) continue;
      const x = Math.round(GUTTER_WIDTH + view.x(link.time)) + 0.5;
      const y0 = this.rowCenter(from);
      const y1 = this.rowCenter(to);
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
  private drawLost(stats: FrameStats): void {
    if (this.filter.current.hiddenKinds.has('LOST')) return;
    const tl = this.timeline!;
    const { ctx, palette: p, view } = this;
    const lost = tl.lost;
    const lo = this.search(lost, view.start);
    const hi = this.search(lost, view.end, true);
    this.plotClip();
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
      ctx.lineTo(x, this.height);
      stats.lostDrawn++;
    }
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.globalAlpha = 1;
    ctx.restore();
  }

  /** Debugger stops and continues: a line across the rows, labelled on the axis. */
  private drawMarkers(): void {
    const { ctx, palette: p, view } = this;
    ctx.font = `11px ${p.font}`;
    ctx.textBaseline = 'middle';
    const xs = this.markers.map((m) => Math.round(GUTTER_WIDTH + view.x(m.time)) + 0.5);
    // Each label has the room up to the next marker to its right: one sort, then a binary search per marker.
    const sorted = Float64Array.from(xs).sort();
    const nextRightOf = (x: number): number => {
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (sorted[mid] <= x) lo = mid + 1;
        else hi = mid;
      }
      return lo < sorted.length ? Math.min(this.width, sorted[lo]) : this.width;
    };
    this.markers.forEach((m, k) => {
      const x = xs[k];
      if (x < GUTTER_WIDTH || x > this.width) return;
      const room = nextRightOf(x) - x - 8;
      const color = m.kind === 'stopped' ? p.orange : m.kind === 'continued' ? p.green : p.foreground;
      ctx.strokeStyle = color;
      ctx.lineWidth = m.kind === 'stopped' ? 2 : 1;
      ctx.beginPath();
      ctx.moveTo(x, 4);
      ctx.lineTo(x, this.height);
      ctx.stroke();
      ctx.fillStyle = color;
      ctx.fillText(fitText(ctx, m.label || m.kind, Math.min(160, room)), x + 4, 9);
    });
  }

  private drawSelection(): void {
    const s = this.selection;
    const tl = this.timeline!;
    if (!s) return;
    const { ctx, palette: p, view } = this;
    const x = Math.round(GUTTER_WIDTH + view.x(this.displayTime(s.time))) + 0.5;
    this.plotClip();
    ctx.strokeStyle = p.focus;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x, AXIS_HEIGHT);
    ctx.lineTo(x, this.height);
    ctx.stroke();
    const row = this.rowOf(s.lane);
    if (s.record >= 0 && s.record < tl.count && row !== undefined) this.ring(x, this.rowCenter(row), p.focus);
    ctx.restore();
  }

  private drawGutter(first: number, last: number): void {
    const tl = this.timeline!;
    const { ctx, palette: p, view } = this;
    ctx.fillStyle = p.background;
    ctx.fillRect(0, AXIS_HEIGHT, GUTTER_WIDTH, this.height - AXIS_HEIGHT);
    ctx.fillStyle = p.border;
    ctx.fillRect(GUTTER_WIDTH - 1, AXIS_HEIGHT, 1, this.height - AXIS_HEIGHT);
    ctx.textBaseline = 'middle';
    for (let row = first; row < last; row++) {
      const lane = this.rows[row];
      const y = this.rowCenter(row);
      if (this.selection?.lane === lane) {
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

  private drawAxis(): void {
    const { ctx, palette: p, view } = this;
    ctx.fillStyle = p.background;
    ctx.fillRect(0, 0, this.width, AXIS_HEIGHT);
    ctx.fillStyle = p.border;
    ctx.fillRect(0, AXIS_HEIGHT - 1, this.width, 1);
    const origin = this.origin;
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
      if (x + 3 + ctx.measureText(label).width > this.width) break;
      ctx.fillStyle = p.muted;
      ctx.fillText(label, x + 3, AXIS_HEIGHT - 8);
    }
    // Labels of snapshots and markers on the axis' upper line.
    ctx.textBaseline = 'middle';
    for (const s of this.snapshots) {
      const x = GUTTER_WIDTH + view.x(s.start);
      if (x > this.width || GUTTER_WIDTH + view.x(s.end) < GUTTER_WIDTH) continue;
      ctx.fillStyle = p.focus;
      ctx.fillText(`snapshot ${s.index} (${s.path})`, Math.max(GUTTER_WIDTH + 2, x + 2), 9);
    }
    this.drawMarkers();
    ctx.fillStyle = p.background;
    ctx.fillRect(0, 0, GUTTER_WIDTH - 1, AXIS_HEIGHT - 1);
    ctx.fillStyle = p.muted;
    ctx.font = `11px ${p.font}`;
    ctx.fillText(`${formatDuration(view.span, view.span / 100)} shown`, 8, 9);
    ctx.fillText(`from ${relativeTime(view.start, origin)}`, 8, AXIS_HEIGHT - 11);
  }

  private drawScrollbar(): void {
    const visible = this.visibleRows();
    const total = this.rows.length;
    if (total <= visible) return;
    const { ctx, palette: p } = this;
    const track = this.height - AXIS_HEIGHT;
    const h = Math.max(16, (visible / total) * track);
    const y = AXIS_HEIGHT + (this.view.firstRow / Math.max(1, total - visible)) * (track - h);
    ctx.globalAlpha = 0.5;
    ctx.fillStyle = p.muted;
    ctx.fillRect(this.width - 5, y, 4, h);
    ctx.globalAlpha = 1;
  }

  /** The record nearest the pointer within HIT_SLOP pixels, or -1; and the lane and time under it. */
  private hit(px: number, py: number): { record: number; lane: Lane | undefined; time: number } {
    const tl = this.timeline;
    const time = this.view.time(px - GUTTER_WIDTH);
    if (!tl || py < AXIS_HEIGHT || px < GUTTER_WIDTH) return { record: -1, lane: undefined, time };
    const row = Math.floor(this.view.firstRow + (py - AXIS_HEIGHT - 3) / ROW_HEIGHT);
    const lane = this.rows[row];
    if (!lane) return { record: -1, lane: undefined, time };
    const { records } = this.filter.of(lane, tl.records);
    const k = this.search(records, time);
    let best = -1;
    let bestDistance = HIT_SLOP;
    for (const c of [k - 1, k]) {
      if (c < 0 || c >= records.length) continue;
      const distance = Math.abs(GUTTER_WIDTH + this.view.x(this.displayTime(tl.records.time[records[c]])) - px);
      if (distance <= bestDistance) {
        best = records[c];
        bestDistance = distance;
      }
    }
    return { record: best, lane, time };
  }

  private setHover(record: number, clientX: number, clientY: number): void {
    const tl = this.timeline;
    const tip = this.tooltip;
    if (record < 0 || !tl) {
      tip.hidden = true;
    } else {
      tip.replaceChildren(
        ...recordLines(tl, record, this.origin).map((line, k) => {
          const div = document.createElement('div');
          div.textContent = line;
          if (k === 0) div.className = 'tip-title';
          return div;
        }),
      );
      tip.hidden = false;
      const box = tip.getBoundingClientRect();
      tip.style.left = `${Math.min(clientX + 14, window.innerWidth - box.width - 4)}px`;
      tip.style.top = `${clientY + 16 + box.height > window.innerHeight ? clientY - box.height - 8 : clientY + 16}px`;
    }
    if (record !== this.hovered) {
      this.hovered = record;
      this.requestDraw();
    }
  }

  private local(e: MouseEvent): { x: number; y: number } {
    const box = this.canvas.getBoundingClientRect();
    return { x: e.clientX - box.left, y: e.clientY - box.top };
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    const scale = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? this.height : 1;
    const dx = e.deltaX * scale;
    const dy = e.deltaY * scale;
    const { x } = this.local(e);
    if (e.ctrlKey || e.metaKey) this.view.zoomAt(Math.max(0, x - GUTTER_WIDTH), Math.exp(-dy * 0.002));
    else if (e.shiftKey || x < GUTTER_WIDTH) this.view.scrollRows((dy || dx) / ROW_HEIGHT, this.rows.length, this.visibleRows());
    else this.view.panBy(dx || dy);
    this.requestDraw();
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    this.canvas.focus();
    const { x, y } = this.local(e);
    this.drag = { x, y, moved: false, pointer: e.pointerId };
    this.canvas.setPointerCapture(e.pointerId);
  }

  private onPointerMove(e: PointerEvent): void {
    const { x, y } = this.local(e);
    const drag = this.drag;
    if (drag) {
      if (!drag.moved && Math.hypot(x - drag.x, y - drag.y) < 3) return;
      drag.moved = true;
      this.view.panBy(drag.x - x);
      this.view.scrollRows((drag.y - y) / ROW_HEIGHT, this.rows.length, this.visibleRows());
      drag.x = x;
      drag.y = y;
      this.setHover(-1, 0, 0);
      this.requestDraw();
      return;
    }
    this.setHover(this.hit(x, y).record, e.clientX, e.clientY);
  }

  private onPointerUp(e: PointerEvent): void {
    const drag = this.drag;
    this.drag = undefined;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    if (!drag || drag.moved) return;
    const { x, y } = this.local(e);
    const hit = this.hit(x, y);
    if (!hit.lane) return;
    const tl = this.timeline!;
    this.select(hit.record >= 0 ? { lane: hit.lane, time: tl.records.time[hit.record], record: hit.record } : { lane: hit.lane, time: hit.time, record: -1 });
  }

  /** Keys zoom about the selected moment when it is in view, else about the middle. */
  private zoomPivot(): number {
    const s = this.selection;
    const x = s ? this.view.x(this.displayTime(s.time)) : NaN;
    return x >= 0 && x <= this.view.width ? x : this.view.width / 2;
  }

  private onKey(e: KeyboardEvent): void {
    const view = this.view;
    const visible = this.visibleRows();
    switch (e.key) {
      case '+':
      case '=':
        view.zoomAt(this.zoomPivot(), 1.5);
        break;
      case '-':
      case '_':
        view.zoomAt(this.zoomPivot(), 1 / 1.5);
        break;
      case 'ArrowLeft':
        view.panBy(-view.width / 10);
        break;
      case 'ArrowRight':
        view.panBy(view.width / 10);
        break;
      case 'ArrowUp':
        view.scrollRows(-1, this.rows.length, visible);
        break;
      case 'ArrowDown':
        view.scrollRows(1, this.rows.length, visible);
        break;
      case 'PageUp':
        view.scrollRows(-visible, this.rows.length, visible);
        break;
      case 'PageDown':
        view.scrollRows(visible, this.rows.length, visible);
        break;
      case 'Home':
        view.reset();
        break;
      case 'Escape':
        this.select(undefined);
        break;
      default:
        return;
    }
    e.preventDefault();
    this.requestDraw();
  }
}

/** First position in the time-sorted fork links at or after t (after t when `after`). */
function searchBy(list: readonly ForkLink[], t: number, after = false): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = list[mid].time;
    if (v < t || (after && v === t)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** `text`, cut with an ellipsis to fit `width` pixels in the current font. */
function fitText(ctx: CanvasRenderingContext2D, text: string, width: number): string {
  if (ctx.measureText(text).width <= width) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (ctx.measureText(`${text.slice(0, mid)}…`).width <= width) lo = mid;
    else hi = mid - 1;
  }
  return lo === 0 ? '' : `${text.slice(0, lo)}…`;
}
