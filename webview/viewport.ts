// The visible window of time and of lanes, and the interactions that move it.
// Times are nanoseconds on the capture's clock; x is in CSS pixels from the
// left of the plot area.

/** Narrowest window: a few hundred nanoseconds is below any record spacing worth telling apart. */
const MIN_SPAN = 200;

export class Viewport {
  start = 0;
  end = 1;
  /** Width of the plot area in CSS pixels. */
  width = 1;
  /** Index of the first lane row shown, fractional while scrolling. */
  firstRow = 0;
  /** Whether the user has moved the view: until then it follows the data as it grows. */
  moved = false;
  private dataStart = 0;
  private dataEnd = 1;

  get span(): number {
    return this.end - this.start;
  }

  x(t: number): number {
    return ((t - this.start) / (this.end - this.start)) * this.width;
  }

  time(x: number): number {
    return this.start + (x / this.width) * (this.end - this.start);
  }

  /** The extent of the data; the view follows it until the user moves the view. */
  setData(start: number, end: number): void {
    // A small margin either side, so the first and last records are not cut by the edges.
    const margin = Math.max(MIN_SPAN, (end - start) * 0.02);
    this.dataStart = start - margin;
    this.dataEnd = end + margin;
    if (!this.moved) this.fit();
  }

  fit(): void {
    this.start = this.dataStart;
    this.end = this.dataEnd;
  }

  reset(): void {
    this.moved = false;
    this.firstRow = 0;
    this.fit();
  }

  /** Zooms by `factor` (> 1 zooms in) keeping the time under `x` where it is. */
  zoomAt(x: number, factor: number): void {
    const pivot = this.time(x);
    const span = Math.min(Math.max(this.span / factor, MIN_SPAN), (this.dataEnd - this.dataStart) * 4);
    const left = (x / this.width) * span;
    this.start = pivot - left;
    this.end = this.start + span;
    this.clamp();
    this.moved = true;
  }

  /** Moves the view right by `dx` pixels' worth of time (negative: left). */
  panBy(dx: number): void {
    const dt = (dx / this.width) * this.span;
    this.start += dt;
    this.end += dt;
    this.clamp();
    this.moved = true;
  }

  scrollRows(rows: number, rowCount: number, visibleRows: number): void {
    this.firstRow = Math.min(Math.max(0, this.firstRow + rows), Math.max(0, rowCount - visibleRows));
  }

  /** Keeps some data in view: the window may not leave the data entirely. */
  private clamp(): void {
    const span = this.span;
    if (this.end < this.dataStart + span * 0.1) {
      this.end = this.dataStart + span * 0.1;
      this.start = this.end - span;
    }
    if (this.start > this.dataEnd - span * 0.1) {
      this.start = this.dataEnd - span * 0.1;
      this.end = this.start + span;
    }
  }
}

/** A tick step of 1, 2 or 5 times a power of ten, giving about `pixels` between ticks. */
export function tickStep(span: number, width: number, pixels = 90): number {
  const raw = (span / width) * pixels;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/**
 * A duration in the unit that reads best for its size, with as many decimals
 * as `precision` (ns) asks: formatDuration(1_500_000, 1e5) is "1.5 ms".
 */
export function formatDuration(ns: number, precision = 1): string {
  if (ns === 0) return '0';
  const units: Array<[number, string]> = [
    [1e9, 's'],
    [1e6, 'ms'],
    [1e3, 'µs'],
    [1, 'ns'],
  ];
  const [scale, unit] = units.find(([s]) => Math.max(Math.abs(ns), precision) >= s) ?? units[3];
  const decimals = Math.max(0, Math.min(6, Math.ceil(Math.log10(scale / precision) - 1e-9)));
  return `${(ns / scale).toFixed(decimals)} ${unit}`;
}
