// The shapes records are drawn with, shared by the timeline and its legend
// so the legend shows exactly what the canvas draws. Status-only records and
// real ones differ in shape and fill, not only in color, so they stay apart
// in high contrast and for readers who do not tell the theme's colors apart:
//   real record          filled circle
//   status (ioctl)       hollow diamond
//   status (/proc)       hollow diamond with a dot
//   perf's synthesized   hollow square
//   possibly stale       a "!" beside the mark
//   LOST                 filled downward triangle, and a dashed line across all lanes

import { Provenance } from '../core/records';
import { Kind } from './lanes';
import { Palette } from './theme';

export const MARK_RADIUS = 4.5;

export function kindColor(palette: Palette, kind: Kind): string {
  switch (kind) {
    case 'FORK':
      return palette.green;
    case 'EXIT':
      return palette.red;
    case 'COMM':
      return palette.yellow;
    case 'MMAP':
      return palette.blue;
    case 'UNMAP':
      return palette.orange;
    case 'NAMESPACES':
      return palette.purple;
    case 'LOST':
      return palette.red;
    default:
      return palette.foreground;
  }
}

export function drawReal(ctx: CanvasRenderingContext2D, x: number, y: number, color: string, palette: Palette): void {
  ctx.beginPath();
  ctx.arc(x, y, MARK_RADIUS - 0.5, 0, Math.PI * 2);
  ctx.fillStyle = color;
  ctx.fill();
  if (palette.contrast) {
    ctx.lineWidth = 1;
    ctx.strokeStyle = palette.contrast;
    ctx.stroke();
  }
}

export function drawStatus(ctx: CanvasRenderingContext2D, x: number, y: number, color: string, provenance: Provenance, palette: Palette): void {
  const r = MARK_RADIUS + 0.5;
  ctx.beginPath();
  if (provenance === Provenance.Synthesized) {
    ctx.rect(x - r + 1, y - r + 1, 2 * r - 2, 2 * r - 2);
  } else {
    ctx.moveTo(x, y - r);
    ctx.lineTo(x + r, y);
    ctx.lineTo(x, y + r);
    ctx.lineTo(x - r, y);
    ctx.closePath();
  }
  // Hollow: the background shows through, so lines under the mark do not fill it.
  ctx.fillStyle = palette.background;
  ctx.fill();
  ctx.lineWidth = 1.75;
  ctx.strokeStyle = color;
  ctx.stroke();
  if (provenance === Provenance.Proc) {
    ctx.fillStyle = color;
    ctx.fillRect(x - 1, y - 1, 2, 2);
  }
}

export function drawStale(ctx: CanvasRenderingContext2D, x: number, y: number, palette: Palette): void {
  ctx.fillStyle = palette.red;
  ctx.font = `bold 10px ${palette.font}`;
  ctx.textBaseline = 'middle';
  ctx.fillText('!', x + MARK_RADIUS + 1.5, y - MARK_RADIUS);
}

export function drawLost(ctx: CanvasRenderingContext2D, x: number, y: number, palette: Palette): void {
  const r = MARK_RADIUS + 1;
  ctx.beginPath();
  ctx.moveTo(x - r, y - r * 0.8);
  ctx.lineTo(x + r, y - r * 0.8);
  ctx.lineTo(x, y + r);
  ctx.closePath();
  ctx.fillStyle = palette.red;
  ctx.fill();
  if (palette.contrast) {
    ctx.lineWidth = 1;
    ctx.strokeStyle = palette.contrast;
    ctx.stroke();
  }
}

/**
 * Many records in one column of pixels: a filled bar above the lane's
 * middle for the real ones and a hollow diamond below it for status ones,
 * each growing with the log of its count.
 */
export function drawAggregate(ctx: CanvasRenderingContext2D, x: number, y: number, width: number, real: number, status: number, palette: Palette, halfHeight: number): void {
  if (real > 0) {
    const h = Math.min(halfHeight, 2 + Math.log2(1 + real) * 1.2);
    ctx.fillStyle = palette.foreground;
    ctx.fillRect(x, y - h, width - 1, h);
  }
  if (status > 0) {
    const r = Math.min(halfHeight * 0.6, 1.5 + Math.log2(1 + status) * 0.5);
    const cx = x + (width - 1) / 2;
    const cy = y + 1.5 + r;
    ctx.beginPath();
    ctx.moveTo(cx, cy - r);
    ctx.lineTo(cx + r, cy);
    ctx.lineTo(cx, cy + r);
    ctx.lineTo(cx - r, cy);
    ctx.closePath();
    ctx.lineWidth = 1.2;
    ctx.strokeStyle = palette.orange;
    ctx.stroke();
  }
}
