// Which jitdumps a capture's processes mapped, and whether a dump's times can
// be placed among the capture's. A runtime that writes jit-PID.dump maps it
// executable so that perf sees an MMAP of it (V8 with --perf-prof does):
// that record says which process wrote which dump. The CLI and language
// server (node/jitdumps.ts) and the webview (webview/jitdumps.ts) read the
// dump each their own way; what they find and refuse is decided here.

import { type Jitdump, jitdumpPid } from './jitdump';
import { type EventAttr, RecordType } from './records';
import { mappedFilename, namespaceLinks } from './recordLayout';
import { type Timeline } from './timeline';

const CLOCK_MONOTONIC = 1;
/** Index of the mount namespace among a NAMESPACES record's links (the kernel's MNT_NS_INDEX). */
const MNT_NS_INDEX = 5;

/** A jitdump a process mapped: who, when, and the path as the process named it. */
export interface MappedJitdump {
  pid: number;
  /** The MMAP's time: it names the process among the generations of its pid. */
  time: number;
  filename: string;
  /** The inode of the process's mount namespace, when the capture recorded its namespaces: the path means something there. */
  mountNamespace?: bigint;
}

/** Finds the MMAPs of jitdumps in the records a timeline took, looking at each record once. */
export class JitdumpFinder {
  private scanned = 0;
  private readonly found: MappedJitdump[] = [];

  /** The jitdumps first mapped in the records `timeline` took since the last call. A status snapshot that lists a dump again is no new one. */
  newIn(timeline: Timeline): MappedJitdump[] {
    if (timeline.count === this.scanned) return [];
    const index = timeline.records;
    const fresh: MappedJitdump[] = [];
    for (let i = this.scanned; i < timeline.count; i++) {
      const type = index.type[i];
      if (type !== RecordType.MMAP && type !== RecordType.MMAP2) continue;
      const size = index.size[i];
      const filename = mappedFilename(index.source.record(index.offset[i], size), type === RecordType.MMAP2 ? 'mmap2' : 'mmap', size - index.trailer[i] * 4);
      if (jitdumpPid(filename) === undefined) continue;
      const pid = index.pid[i];
      const process = timeline.processAt(pid, index.time[i]);
      if (this.found.some((d) => d.pid === pid && d.filename === filename && timeline.processAt(pid, d.time) === process)) continue;
      const mapped: MappedJitdump = { pid, time: index.time[i], filename };
      const last = process?.namespaces[process.namespaces.length - 1];
      const mountNamespace = last === undefined ? undefined : namespaceLinks(index.source.record(index.offset[last], index.size[last]), index.size[last])[MNT_NS_INDEX]?.ino;
      if (mountNamespace !== undefined) mapped.mountNamespace = mountNamespace;
      this.found.push(mapped);
      fresh.push(mapped);
    }
    this.scanned = timeline.count;
    return fresh;
  }
}

/**
 * What is wrong with the records of `dump`, which `mapped` names, worth
 * telling: not a last record cut short while its process runs, as its
 * runtime has not flushed all of it yet.
 */
export function damageOf(dump: Jitdump, mapped: MappedJitdump, timeline: Timeline): string | undefined {
  const running = Number.isNaN(timeline.processAt(mapped.pid, mapped.time)?.exitTime ?? 0);
  return dump.partial && running ? undefined : dump.problem;
}

/**
 * Why the code of `dump` (read from `path`) cannot be placed in a capture
 * of events `attrs`, in a sentence with its fix; undefined when it can:
 * its times must be CLOCK_MONOTONIC's, as the capture's are.
 */
export function unplaceable(dump: Jitdump, attrs: readonly EventAttr[], path: string): string | undefined {
  if (dump.header.archTimestamp)
    return `${path} stamps its code with the CPU's time-stamp counter (JITDUMP_FLAGS_ARCH_TIMESTAMP), which cannot be placed on the capture's CLOCK_MONOTONIC times: its JIT code is not shown. Fix: run the runtime without arch timestamps (for the JVM agent, unset JITDUMP_USE_ARCH_TIMESTAMP).`;
  const clock = attrs.find((a) => !a.useClockid || a.clockid !== CLOCK_MONOTONIC);
  if (clock)
    return `the capture's times are not on CLOCK_MONOTONIC (${clock.useClockid ? `clock ${clock.clockid}` : "perf's default clock"}), the clock ${path} is stamped with: its JIT code is not shown. Fix: capture with sideband, or perf record -k mono.`;
  return undefined;
}
