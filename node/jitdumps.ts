// The jitdumps of a capture's processes, read into its timeline. A runtime
// that writes jit-PID.dump maps it executable so that perf sees an MMAP of
// it (V8 with --perf-prof does): that record tells which process wrote
// which dump, and the file is read from there, through the process's own
// root when it lives in another mount namespace.

import * as fs from 'node:fs';

import { type EventAttr, RecordType } from '../core/records';
import { JitdumpError, jitdumpPid, parseJitdump, type Jitdump } from '../core/jitdump';
import { mappedFilename, namespaceLinks } from '../core/recordLayout';
import { type Timeline } from '../core/timeline';

const CLOCK_MONOTONIC = 1;
/** Index of the mount namespace among a NAMESPACES record's links (the kernel's MNT_NS_INDEX). */
const MNT_NS_INDEX = 5;

/** A jitdump a process mapped: who, when, and the path as the process named it. */
interface MappedDump {
  pid: number;
  time: number;
  filename: string;
  /** How much of the file was last given to the timeline. */
  appliedBytes: number;
}

/**
 * Reads the jitdumps each timeline's processes mapped and gives their code
 * to it, again when a dump has grown. One per capture: it remembers how far
 * each timeline's records were looked through, and says each problem once.
 */
export class JitdumpLoader {
  private readonly found = new WeakMap<Timeline, { scanned: number; dumps: MappedDump[] }>();
  private readonly told = new Set<string>();

  /**
   * Finds the jitdumps mapped in the records `timeline` took since the last
   * call and (re)reads those that grew. Returns the problems met, each
   * once: a capture not on CLOCK_MONOTONIC, a dump that cannot be read or
   * placed, one read only up to a damaged record.
   */
  load(timeline: Timeline, attrs: readonly EventAttr[]): string[] {
    let state = this.found.get(timeline);
    if (!state) this.found.set(timeline, (state = { scanned: 0, dumps: [] }));
    this.scan(timeline, state);
    const problems: string[] = [];
    const say = (problem: string): void => {
      if (this.told.has(problem)) return;
      this.told.add(problem);
      problems.push(problem);
    };
    if (state.dumps.length === 0) return problems;
    const clock = attrs.find((a) => !a.useClockid || a.clockid !== CLOCK_MONOTONIC);
    if (clock) {
      say(`the capture's times are not on CLOCK_MONOTONIC (${clock.useClockid ? `clock ${clock.clockid}` : "perf's default clock"}), the clock jitdumps are stamped with: the JIT code of ${state.dumps.map((d) => d.filename).join(', ')} is not shown. Fix: capture with sideband, or perf record -k mono.`);
      return problems;
    }
    for (const mapped of state.dumps) {
      const read = readableDump(timeline, mapped);
      if ('problem' in read) {
        say(read.problem);
        continue;
      }
      let size: number;
      try {
        size = fs.statSync(read.path).size;
      } catch (e) {
        say(`cannot read ${read.path}, the jitdump pid ${mapped.pid} mapped: ${(e as Error).message}. Fix: read the capture where the runtime wrote its dump, before it is removed.`);
        continue;
      }
      if (size === mapped.appliedBytes) continue;
      let dump: Jitdump;
      try {
        dump = parseJitdump(fs.readFileSync(read.path), read.path);
      } catch (e) {
        if (!(e instanceof JitdumpError) && !(e as NodeJS.ErrnoException).code) throw e;
        say(e instanceof JitdumpError ? e.message : `cannot read ${read.path}: ${(e as Error).message}`);
        continue;
      }
      mapped.appliedBytes = size;
      if (dump.header.archTimestamp) {
        say(`${read.path} stamps its code with the CPU's time-stamp counter (JITDUMP_FLAGS_ARCH_TIMESTAMP), which cannot be placed on the capture's CLOCK_MONOTONIC times: its JIT code is not shown. Fix: run the runtime without arch timestamps (for the JVM agent, unset JITDUMP_USE_ARCH_TIMESTAMP).`);
        continue;
      }
      if (dump.problem) say(dump.problem);
      timeline.setJitCode(mapped.pid, mapped.time, read.path, dump.events);
    }
    return problems;
  }

  /** Looks through the records the timeline took since the last scan for MMAPs of a jitdump. */
  private scan(timeline: Timeline, state: { scanned: number; dumps: MappedDump[] }): void {
    if (timeline.count === state.scanned) return;
    const index = timeline.records;
    for (let i = state.scanned; i < timeline.count; i++) {
      const type = index.type[i];
      if (type !== RecordType.MMAP && type !== RecordType.MMAP2) continue;
      const size = index.size[i];
      const filename = mappedFilename(index.source.record(index.offset[i], size), type === RecordType.MMAP2 ? 'mmap2' : 'mmap', size - index.trailer[i] * 4);
      if (jitdumpPid(filename) === undefined) continue;
      const pid = index.pid[i];
      // A status snapshot lists the dump again: the process maps it once.
      if (!state.dumps.some((d) => d.pid === pid && d.filename === filename && timeline.processAt(pid, d.time) === timeline.processAt(pid, index.time[i])))
        state.dumps.push({ pid, time: index.time[i], filename, appliedBytes: -1 });
    }
    state.scanned = timeline.count;
  }
}

/**
 * Where to read the dump `mapped` names. In our mount namespace, its path;
 * in another (its NAMESPACES record says), the same path under
 * /proc/PID/root while that process lives there still, else a problem: our
 * file at that path would be another's.
 */
function readableDump(timeline: Timeline, mapped: MappedDump): { path: string } | { problem: string } {
  const process = timeline.processAt(mapped.pid, mapped.time);
  const index = timeline.records;
  const last = process?.namespaces[process.namespaces.length - 1];
  if (last === undefined) return { path: mapped.filename };
  const theirs = namespaceLinks(index.source.record(index.offset[last], index.size[last]), index.size[last])[MNT_NS_INDEX]?.ino;
  if (theirs === undefined || theirs === mountNamespace('self')) return { path: mapped.filename };
  if (mountNamespace(String(mapped.pid)) === theirs) return { path: `/proc/${mapped.pid}/root${mapped.filename}` };
  return {
    problem: `pid ${mapped.pid} wrote ${mapped.filename} in another mount namespace, and no longer runs in it: our file at that path is not its dump, so its JIT code is not shown. Fix: read the capture while the process runs, or copy its dump out of its container.`,
  };
}

/** The inode of a process's mount namespace; undefined when it is gone or hidden from us. */
function mountNamespace(pid: string): bigint | undefined {
  try {
    return fs.statSync(`/proc/${pid}/ns/mnt`, { bigint: true }).ino;
  } catch {
    return undefined;
  }
}
