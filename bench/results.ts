// One row per measure, as written to bench/results.json, and the table printed from them.

export interface Result {
  name: string;
  ours: number;
  peer: number;
  unit: string;
  /** As the bar states it (ours/peer, or peer/ours for speed-ups); null when undefined (0/0). */
  ratio: number | null;
  /** Human form of the bar, e.g. "<= 0.5"; "info" for rows that only inform. */
  bar: string;
  /** Whether the bar is met; always true for "info" rows, which have none. */
  met: boolean;
  /** What the numbers mean or what else was seen, for the reader of the table. */
  note?: string;
}

export const INFO = 'info';

/** A ratio, or null when both sides are zero (nothing to compare, and JSON has no NaN). */
export function ratioOf(numerator: number, denominator: number): number | null {
  if (denominator === 0) return numerator === 0 ? null : Infinity;
  return numerator / denominator;
}

function formatNumber(n: number | null): string {
  if (n === null) return '-';
  if (!Number.isFinite(n)) return 'inf';
  if (Number.isInteger(n)) return String(n);
  const digits = Math.abs(n) >= 100 ? 1 : Math.abs(n) >= 1 ? 2 : 3;
  return n.toFixed(digits);
}

function verdict(r: Result): string {
  if (r.bar === INFO) return 'info';
  return r.met ? 'MET' : 'NOT MET';
}

/** The results as an aligned text table, notes under the rows that have them. */
export function formatTable(results: readonly Result[]): string {
  const header = ['measure', 'ours', 'peer', 'unit', 'ratio', 'bar', 'verdict'];
  const rows = results.map((r) => [r.name, formatNumber(r.ours), formatNumber(r.peer), r.unit, formatNumber(r.ratio), r.bar, verdict(r)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const numeric = new Set([1, 2, 4]);
  const line = (cells: string[]): string =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  results.forEach((r, i) => {
    out.push(line(rows[i]));
    if (r.note) out.push(`    ${r.note}`);
  });
  return out.join('\n');
}
