// The one binary search: everything sorted is searched with it (records by
// time, mappings by address, symbols, batches of the stream, what the
// canvas lays out).

/**
 * The first k in [lo, hi) for which `before(k)` is false, or hi when there is
 * none: `before` must hold for a leading part of the range and not after it.
 */
export function partitionPoint(lo: number, hi: number, before: (k: number) => boolean): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
