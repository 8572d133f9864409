// The legend, which is also the filter: each shape and each record kind the
// timeline draws, with a checkbox where it can be hidden. Swatches are drawn
// by the timeline's own mark functions, so they cannot drift apart.

import { Provenance } from '../core/records';
import { el } from './dom';
import { Filter, KINDS, Kind } from './lanes';
import { drawAggregate, drawLost, drawReal, drawStale, drawStatus, kindColor } from './marks';
import { Palette } from './theme';

type Swatch = (ctx: CanvasRenderingContext2D, palette: Palette) => void;

const KIND_LABELS: Record<Kind, string> = {
  FORK: 'fork',
  EXIT: 'exit',
  COMM: 'comm',
  MMAP: 'mmap',
  UNMAP: 'munmap · mremap · mprotect · brk',
  NAMESPACES: 'namespaces',
  LOST: 'lost',
  other: 'other',
};

export class Legend {
  readonly element: HTMLElement;
  private readonly swatches: Array<[HTMLCanvasElement, Swatch]> = [];
  private statusOnly = true;
  private real = true;
  private readonly hidden = new Set<Kind>();

  constructor(
    private palette: Palette,
    private readonly changed: (filter: Filter) => void,
  ) {
    this.element = el('div', { id: 'legend', role: 'group', 'aria-label': 'Legend and filters' });
    const origins = el('div', { className: 'legend-group' });
    origins.append(
      this.toggle('real records', 'filter-real', (c, p) => drawReal(c, 8, 8, p.blue, p), (on) => (this.real = on)),
      this.toggle('status-only (ioctl)', 'filter-status', (c, p) => drawStatus(c, 8, 8, p.blue, Provenance.Ioctl, p), (on) => (this.statusOnly = on)),
      this.item('status-only from /proc', (c, p) => drawStatus(c, 8, 8, p.blue, Provenance.Proc, p)),
      this.item("perf's synthesized", (c, p) => drawStatus(c, 8, 8, p.blue, Provenance.Synthesized, p)),
      this.item('possibly stale', (c, p) => {
        drawStatus(c, 6, 9, p.blue, Provenance.Proc, p);
        drawStale(c, 5, 9, p);
      }),
      this.item('many: real / status', (c, p) => {
        drawAggregate(c, 2, 8, 5, 40, 0, p, 7);
        drawAggregate(c, 9, 8, 5, 0, 40, p, 7);
      }),
    );
    const kinds = el('div', { className: 'legend-group' });
    for (const kind of KINDS) {
      const swatch: Swatch = kind === 'LOST' ? (c, p) => drawLost(c, 8, 8, p) : (c, p) => drawReal(c, 8, 8, kindColor(p, kind), p);
      kinds.append(
        this.toggle(KIND_LABELS[kind], `filter-${kind.toLowerCase()}`, swatch, (on) => {
          if (on) this.hidden.delete(kind);
          else this.hidden.add(kind);
        }),
      );
    }
    this.element.append(origins, kinds);
    this.paint();
  }

  setPalette(palette: Palette): void {
    this.palette = palette;
    this.paint();
  }

  private item(label: string, swatch: Swatch): HTMLElement {
    const span = el('span', { className: 'legend-item' });
    span.append(this.canvas(swatch), el('span', {}, label));
    return span;
  }

  private toggle(label: string, id: string, swatch: Swatch, set: (on: boolean) => void): HTMLElement {
    const wrapper = el('label', { className: 'legend-item toggle' });
    const box = el('input', { id, type: 'checkbox' }) as HTMLInputElement;
    box.checked = true;
    box.addEventListener('change', () => {
      set(box.checked);
      this.changed({ statusOnly: this.statusOnly, real: this.real, hiddenKinds: new Set(this.hidden) });
    });
    wrapper.append(box, this.canvas(swatch), el('span', {}, label));
    return wrapper;
  }

  private canvas(swatch: Swatch): HTMLCanvasElement {
    const canvas = el('canvas', { className: 'swatch', 'aria-hidden': 'true' }) as HTMLCanvasElement;
    this.swatches.push([canvas, swatch]);
    return canvas;
  }

  private paint(): void {
    const dpr = window.devicePixelRatio || 1;
    for (const [canvas, swatch] of this.swatches) {
      canvas.width = 16 * dpr;
      canvas.height = 16 * dpr;
      const ctx = canvas.getContext('2d');
      if (!ctx) continue;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, 16, 16);
      swatch(ctx, this.palette);
    }
  }
}
