// How a region ended, in words: the regions panel, hovers, CodeLens and the
// CLI say it alike, each its moments its own way (the CLI in the
// nanoseconds --at takes), so each passes how.

import { type RegionEnd } from './timeline';

/**
 * "unmapped at +1.52 s (munmap)", "moved at … (mremap)", "no longer
 * executable at … (mprotect)", or, for a region a status snapshot found
 * missing, the interval it ended in: "gone between +0.80 s and +1.52 s
 * (found by a status snapshot)".
 */
export function endedWords(end: RegionEnd, at: (time: number) => string): string {
  switch (end.how) {
    case 'gone':
      return `gone between ${at(end.after)} and ${at(end.time)} (found by a status snapshot)`;
    case 'mremap':
      return `moved at ${at(end.time)} (mremap)`;
    case 'mprotect':
      return `no longer executable at ${at(end.time)} (mprotect)`;
    case 'exec':
      return `replaced at ${at(end.time)} (exec)`;
    case 'exit':
      return `ended at ${at(end.time)} (exit)`;
    case 'jit-move':
      return `moved at ${at(end.time)} (jitdump code move)`;
    case 'jit-close':
      return `unloaded at ${at(end.time)} (jitdump close)`;
    case 'jit-replaced':
      return `replaced at ${at(end.time)} (new JIT code loaded over it)`;
    default:
      return `unmapped at ${at(end.time)} (${end.how})`;
  }
}
