// How the pointer and the keys move the timeline: the wheel zooms (with Ctrl
// or Cmd), scrolls rows (with Shift, or over the gutter) or pans; a drag pans
// and scrolls; a click selects; keys zoom, pan, scroll, show everything and
// clear the selection.

import { Timeline } from '../../core/timeline';
import { Viewport } from '../viewport';
import { Selection } from './frame';
import { Hit } from './hitTest';
import { GUTTER_WIDTH, ROW_HEIGHT, RowLayout, displayTime } from './layout';

/** What input reads and acts on. */
export interface InputTarget {
  readonly canvas: HTMLCanvasElement;
  readonly view: Viewport;
  readonly layout: RowLayout;
  timeline(): Timeline | undefined;
  selection(): Selection | undefined;
  /** What is at canvas position x, y. */
  hit(x: number, y: number): Hit;
  /** Hovers record `record` (-1: none) with the pointer at client x, y. */
  hover(record: number, clientX: number, clientY: number): void;
  select(selection: Selection | undefined): void;
  requestDraw(): void;
}

export class TimelineInput {
  private drag: { x: number; y: number; moved: boolean } | undefined;

  constructor(private readonly target: InputTarget) {
    const canvas = target.canvas;
    // Focusable, for the keys.
    canvas.tabIndex = 0;
    canvas.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    canvas.addEventListener('pointerdown', (e) => this.onPointerDown(e));
    canvas.addEventListener('pointermove', (e) => this.onPointerMove(e));
    canvas.addEventListener('pointerup', (e) => this.onPointerUp(e));
    canvas.addEventListener('pointerleave', () => target.hover(-1, 0, 0));
    canvas.addEventListener('keydown', (e) => this.onKey(e));
  }

  /** The event's position on the canvas, in CSS pixels. */
  private local(e: MouseEvent): { x: number; y: number } {
    const box = this.target.canvas.getBoundingClientRect();
    return { x: e.clientX - box.left, y: e.clientY - box.top };
  }

  private onWheel(e: WheelEvent): void {
    const { view, layout } = this.target;
    e.preventDefault();
    const scale = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? layout.height : 1;
    const dx = e.deltaX * scale;
    const dy = e.deltaY * scale;
    const { x } = this.local(e);
    if (e.ctrlKey || e.metaKey) view.zoomAt(Math.max(0, x - GUTTER_WIDTH), Math.exp(-dy * 0.002));
    else if (e.shiftKey || x < GUTTER_WIDTH) view.scrollRows((dy || dx) / ROW_HEIGHT, layout.rows.length, layout.visibleRows());
    else view.panBy(dx || dy);
    this.target.requestDraw();
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    const canvas = this.target.canvas;
    canvas.focus();
    const { x, y } = this.local(e);
    this.drag = { x, y, moved: false };
    canvas.setPointerCapture(e.pointerId);
  }

  private onPointerMove(e: PointerEvent): void {
    const { view, layout } = this.target;
    const { x, y } = this.local(e);
    const drag = this.drag;
    if (drag) {
      if (!drag.moved && Math.hypot(x - drag.x, y - drag.y) < 3) return;
      drag.moved = true;
      view.panBy(drag.x - x);
      view.scrollRows((drag.y - y) / ROW_HEIGHT, layout.rows.length, layout.visibleRows());
      drag.x = x;
      drag.y = y;
      this.target.hover(-1, 0, 0);
      this.target.requestDraw();
      return;
    }
    this.target.hover(this.target.hit(x, y).record, e.clientX, e.clientY);
  }

  private onPointerUp(e: PointerEvent): void {
    const canvas = this.target.canvas;
    const drag = this.drag;
    this.drag = undefined;
    if (canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
    if (!drag || drag.moved) return;
    const { x, y } = this.local(e);
    const hit = this.target.hit(x, y);
    if (!hit.lane) return;
    const tl = this.target.timeline()!;
    this.target.select(hit.record >= 0 ? { lane: hit.lane, time: tl.records.time[hit.record], record: hit.record } : { lane: hit.lane, time: hit.time, record: -1 });
  }

  /** Keys zoom about the selected moment when it is in view, else about the middle. */
  private zoomPivot(): number {
    const { view } = this.target;
    const s = this.target.selection();
    const x = s ? view.x(displayTime(this.target.timeline(), s.time)) : NaN;
    return x >= 0 && x <= view.width ? x : view.width / 2;
  }

  private onKey(e: KeyboardEvent): void {
    const { view, layout } = this.target;
    const rows = layout.rows.length;
    const visible = layout.visibleRows();
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
        view.scrollRows(-1, rows, visible);
        break;
      case 'ArrowDown':
        view.scrollRows(1, rows, visible);
        break;
      case 'PageUp':
        view.scrollRows(-visible, rows, visible);
        break;
      case 'PageDown':
        view.scrollRows(visible, rows, visible);
        break;
      case 'Home':
        view.reset();
        break;
      case 'Escape':
        this.target.select(undefined);
        break;
      default:
        return;
    }
    e.preventDefault();
    this.target.requestDraw();
  }
}
