// The canvas' one binary search, for the sorted lists that are not record
// indices (fork links by time, marker positions, the prefixes of a label);
// lists of record indices are searched by the model's searchTime.

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
