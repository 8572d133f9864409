// The timeline model: who existed when, and what each one had mapped.
//
// Pure TypeScript over a RecordIndex (records.ts), no Node and no DOM, so the
// webview, the extension host and the CLI all read a capture the same way.
// It is incremental: `update(index)` takes the records the index gained since
// the last call, so a live capture costs per batch, not per redraw. Per
// record it stores an int or two (never an object), so a million records
// stay a few megabytes on top of the index.

import { IndexFlag, Misc, PROVENANCE_NAMES, RecordIndex, RecordType, StaleReason, callSyscall, isCallExit, provenanceOf, staleReasons } from './records';
import { HEADER, commName, lostCount, mappedFilename, mappedRange, mmap2File, recordMisc, syscallArg, syscallReturn, taskFields } from './recordLayout';
import { partitionPoint } from './search';
import { type JitCodeEvent } from './jitdump';

// Per-lane and per-process lists of record indices are plain arrays of small
// integers, not typed arrays: a capture has a list or three per thread, most
// hold a handful of records, and V8 takes about a microsecond to make each
// typed array (and then tracks it for the collector), which dominated loading
// a capture of a hundred thousand short-lived processes. Arrays of small
// integers are as fast to index, and 4 bytes an element in Chromium.

export type LaneKind = 'global' | 'process' | 'thread';

/** One row of the timeline: a process's main thread, another thread, or the global row. */
export interface Lane {
  /** Stable: lanes are numbered in the order they appear and never renumbered. */
  readonly id: number;
  readonly kind: LaneKind;
  readonly pid: number;
  readonly tid: number;
  /** The process of a process or thread lane. */
  readonly process: ProcessInfo | undefined;
  /** Indices of the lane's records, sorted by time. */
  readonly records: number[];
  /** statusBefore[k]: how many of the lane's first k records are status-only (length records.length + 1), so any range's mix is two loads. */
  readonly statusBefore: number[];
  /** The lane's COMM records, sorted by time: the thread's names. */
  readonly comms: number[];
  firstTime: number;
  lastTime: number;
  /** Time of the thread's EXIT; NaN while it lives. */
  exitTime: number;
}

/**
 * How the capture learned of a process: from a status-only record (it
 * existed before the capture attached), from a real FORK during the capture,
 * or only from its later records (perf's synthesized status, or none).
 */
export type ProcessOrigin = 'status' | 'forked' | 'seen';

export interface ProcessInfo {
  readonly pid: number;
  /** -1 when no FORK said. */
  ppid: number;
  parent: ProcessInfo | undefined;
  readonly children: ProcessInfo[];
  /** The main thread's lane (tid = pid). */
  readonly lane: Lane;
  /** The other threads' lanes, in the order they appeared. */
  readonly threads: Lane[];
  origin: ProcessOrigin;
  /** The FORK that made it (-1: none seen), its time, and whether it carries FORK_EXEC (a fresh image, not a copy of the parent's). */
  forkRecord: number;
  forkTime: number;
  forkExec: boolean;
  firstTime: number;
  lastTime: number;
  /** When its last known thread exited; NaN while any lives. */
  exitTime: number;
  /** COMM records with COMM_EXEC, by time: each starts a new address space. */
  readonly execs: number[];
  /** MMAP and MMAP2 records, by time. */
  readonly mmaps: number[];
  /** The exits of its successful munmap, mremap, mprotect and brk calls, by time (Timeline.entryOf has their arguments). */
  readonly mapChanges: number[];
  /** The status FORKs of its main thread, by time: each begins a status snapshot of it. */
  readonly snapshots: number[];
  /** NAMESPACES records of any of its threads, by time. */
  readonly namespaces: number[];
}

export interface ForkLink {
  record: number;
  time: number;
  parent: Lane;
  child: Lane;
}

export interface ExitMark {
  record: number;
  time: number;
  lane: Lane;
}

export interface CommChange {
  record: number;
  time: number;
  comm: string;
  exec: boolean;
  statusOnly: boolean;
}

/** One mapping of a process at a moment, from the MMAP/MMAP2 record that made it. */
export interface Region {
  start: bigint;
  end: bigint;
  /** File offset of `start`: a mapping cut on its left by a newer one keeps the offset of what remains. */
  pgoff: bigint;
  /** PROT_* and MAP_* bits (MMAP2 only). */
  prot?: number;
  flags?: number;
  filename: string;
  maj?: number;
  min?: number;
  ino?: string;
  buildId?: string;
  /** MMAP_DATA: a data mapping, not an executable one. */
  data: boolean;
  statusOnly: boolean;
  /** 'jitdump': JIT code its runtime's jitdump placed (setJitCode), named in `filename`, with no record of ours (`record` -1). */
  provenance: (typeof PROVENANCE_NAMES)[number] | 'jitdump';
  stale: StaleReason[];
  record: number;
  time: number;
  /** Set when a fork copied this mapping from the parent: the parent's pid. */
  inheritedFrom?: number;
  /** JIT code: the jitdump that told of it. */
  jitdump?: string;
}

/**
 * How a region (or a part of one) stopped being mapped: by the syscall
 * whose exit is `record`, by an exec or the process's exit, or (`gone`)
 * found missing by the status snapshot whose first mapping is `record`:
 * somewhere after `after`, the last time it was known mapped, and by `time`.
 * `mprotect` ends a region as an executable one only: what lost PROT_EXEC.
 * JIT code ends by its jitdump (`record` -1): moved (JIT_CODE_MOVE), all of
 * it unloaded (JIT_CODE_CLOSE), or replaced by code loaded over it, which
 * its runtime could only do once it had freed it.
 */
export type RegionEnd =
  | { how: 'munmap' | 'mremap' | 'mprotect' | 'brk' | 'exec' | 'exit' | 'jit-move' | 'jit-close' | 'jit-replaced'; time: number; record: number }
  | { how: 'gone'; after: number; time: number; record: number };

export interface EndedRegion extends Region {
  ended: RegionEnd;
}

/** First index in `list` (record indices sorted by time) whose time is >= t (or > t when `after`). */
export function searchTime(list: ArrayLike<number>, times: Float64Array, t: number, after = false): number {
  return partitionPoint(0, list.length, (k) => {
    const v = times[list[k]];
    return v < t || (after && v === t);
  });
}

export class Timeline {
  readonly lanes: Lane[] = [];
  /** LOST and FINISHED_INIT records, and any record with no process. */
  readonly global: Lane;
  /** Every process, in the order it appeared; a reused pid is a new entry. */
  readonly processes: ProcessInfo[] = [];
  readonly forks: ForkLink[] = [];
  readonly exits: ExitMark[] = [];
  /** LOST records, by time. */
  readonly lost: number[] = [];
  readonly finishedInit: number[] = [];
  /** Records the kernel said it lost (the sum of the LOST records' counts). */
  lostRecords = 0;
  statusOnly = 0;
  /** Records taken from the index so far. */
  count = 0;
  /** Time of the first record with a time (perf's synthesized status has 0); NaN before any. */
  startTime = NaN;
  endTime = NaN;
  /** Bumped whenever a lane or a parent link is added, so views know to recompute the lane order. */
  topology = 0;
  /** Bumped whenever setJitCode gives a process JIT code, so views know to recompute its regions. */
  jitCodeVersion = 0;
  /** The entry sample of each mapping syscall's exit in a ProcessInfo's mapChanges, which holds its arguments. */
  readonly entryOf = new Map<number, number>();

  private index: RecordIndex | undefined;
  private readonly byPid = new Map<number, ProcessInfo>();
  private readonly byTid = new Map<number, Lane>();
  /** Earlier processes of a reused pid, oldest first, for questions about a past moment (byPid has the newest). */
  private readonly earlier = new Map<number, ProcessInfo[]>();
  private order: Lane[] | undefined;
  private orderTopology = -1;
  /** What each mapping record says, decoded once: replays ask again and again. */
  private readonly fields = new Map<number, RegionFields>();
  /** The last mapping syscall each thread entered, until its exit comes. */
  private readonly entered = new Map<number, number>();
  /** What each process's JIT runtime told of its code, by time (setJitCode). */
  private readonly jitCode = new Map<ProcessInfo, JitCode>();

  constructor(index?: RecordIndex) {
    this.global = this.newLane('global', -1, -1, undefined);
    if (index) this.update(index);
  }

  get records(): RecordIndex {
    if (!this.index) throw new Error('the timeline has no records yet');
    return this.index;
  }

  /**
   * Takes the records `index` has beyond those already taken. The index must
   * be the same stream, grown (RecordIndexBuilder.finish after more add()s).
   * Returns how many records were new.
   */
  update(index: RecordIndex): number {
    if (index.count < this.count) throw new Error(`the index shrank from ${this.count} to ${index.count} records: a new stream needs a new Timeline`);
    this.index = index;
    const { type, time, flags } = index;
    const first = this.count;
    for (let i = first; i < index.count; i++) {
      const t = time[i];
      if (t > 0) {
        if (!(t >= this.startTime)) this.startTime = t;
        if (!(t <= this.endTime)) this.endTime = t;
      }
      if (flags[i] & IndexFlag.IS_STATUS) this.statusOnly++;
      switch (type[i]) {
        case RecordType.FORK:
          this.takeFork(i);
          break;
        case RecordType.EXIT:
          this.takeExit(i);
          break;
        case RecordType.COMM:
          this.takeComm(i);
          break;
        case RecordType.MMAP:
        case RecordType.MMAP2: {
          const lane = this.laneOf(i);
          if (lane.process) pushByTime(lane.process.mmaps, i, time);
          break;
        }
        case RecordType.NAMESPACES: {
          const lane = this.laneOf(i);
          if (lane.process) pushByTime(lane.process.namespaces, i, time);
          break;
        }
        case RecordType.SAMPLE:
          this.takeSyscall(i);
          break;
        case RecordType.LOST:
          this.place(this.global, i);
          pushByTime(this.lost, i, time);
          this.lostRecords += this.lostCount(i);
          break;
        case RecordType.FINISHED_INIT:
          this.place(this.global, i);
          this.finishedInit.push(i);
          break;
        default:
          this.laneOf(i);
      }
    }
    this.count = index.count;
    return this.count - first;
  }

  /**
   * Lanes in display order: the global lane, then each process tree depth
   * first (a process, its threads, then its children), roots and siblings
   * in the order they appeared. Stable as records arrive: a new lane is
   * inserted, the others keep their relative order.
   */
  laneOrder(): Lane[] {
    if (this.order && this.orderTopology === this.topology) return this.order;
    const order: Lane[] = [this.global];
    const visit = (p: ProcessInfo): void => {
      order.push(p.lane, ...p.threads);
      for (const child of p.children) visit(child);
    };
    for (const p of this.processes) if (!p.parent) visit(p);
    this.order = order;
    this.orderTopology = this.topology;
    return order;
  }

  /** Nesting depth of a lane in the process tree (0 for roots and the global lane). */
  depthOf(lane: Lane): number {
    let depth = lane.kind === 'thread' ? 1 : 0;
    for (let p = lane.process?.parent; p; p = p.parent) depth++;
    return depth;
  }

  /** The process `pid` was at time `t`: the newest generation of that pid that existed by then (else the oldest). */
  processAt(pid: number, t: number): ProcessInfo | undefined {
    const newest = this.byPid.get(pid);
    const earlier = this.earlier.get(pid);
    if (!newest || !earlier || newest.firstTime <= t) return newest;
    for (let k = earlier.length - 1; k >= 0; k--) if (earlier[k].firstTime <= t) return earlier[k];
    return earlier[0];
  }

  /**
   * The moment to ask about `pid` when none is given: the end of the
   * capture, or the last moment of a process that exited before it (after
   * its exit nothing is mapped). NaN for a pid the capture never saw.
   */
  lastMoment(pid: number): number {
    const process = this.byPid.get(pid);
    if (!process) return NaN;
    return Number.isNaN(process.exitTime) ? this.endTime : process.exitTime - 1;
  }

  /** The thread's name at time `t`: its last COMM by then; before any, what it inherited. */
  commAt(lane: Lane, t: number): string {
    const comms = lane.comms;
    const at = searchTime(comms, this.records.time, t, true);
    if (at > 0) return this.commOf(comms[at - 1]);
    // Before its first COMM a thread goes by its process's name, and a forked process by its parent's at the fork.
    const process = lane.process;
    if (lane.kind === 'thread' && process) return this.commAt(process.lane, t);
    if (process?.parent && process.origin === 'forked') return this.commAt(process.parent.lane, Math.min(t, process.forkTime));
    return comms.length ? this.commOf(comms[0]) : '';
  }

  /** Every name a thread had, with when and how it got it. */
  commHistory(lane: Lane): CommChange[] {
    const index = this.records;
    return lane.comms.map((i) => ({
      record: i,
      time: index.time[i],
      comm: this.commOf(i),
      exec: (this.misc(i) & Misc.EXEC_OR_DATA) !== 0,
      statusOnly: (index.flags[i] & IndexFlag.IS_STATUS) !== 0,
    }));
  }

  commOf(record: number): string {
    const index = this.records;
    if (index.type[record] !== RecordType.COMM) return '';
    const size = index.size[record];
    return commName(index.source.record(index.offset[record], size), size - index.trailer[record] * 4);
  }

  /**
   * The mappings process `pid` had at time `t`, sorted by address: its
   * MMAP/MMAP2 records up to `t` from its last exec on (an exec replaces the
   * address space; before any exec, a process forked during the capture
   * starts with its parent's mappings at the fork, as fork copies them,
   * unless the FORK carries FORK_EXEC, as status FORKs do), less what its
   * munmap, mremap, mprotect and brk calls changed, less what a later status
   * snapshot no longer listed; none once the process has exited. A newer
   * mapping replaces what it overlaps of older ones. Status-only records
   * count from their own time, the moment the snapshot read them.
   */
  regionsAt(pid: number, t: number): Region[] {
    const process = this.processAt(pid, t);
    if (!process) return [];
    const regions = this.regionsOf(this.replay(process, t).pieces);
    const jit = this.jitCode.get(process);
    if (!jit) return regions;
    // JIT code lies inside the anonymous mapping that holds it: listed with it, by address, the mapping first.
    return [...regions, ...this.replayJit(process, jit, t).live.map((piece) => jitRegion(piece, jit.dump))].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }

  /** What process `pid` had mapped before `t` and no longer had at `t`, each with how it ended: the latest end first, then by address. */
  endedRegionsAt(pid: number, t: number): EndedRegion[] {
    const process = this.processAt(pid, t);
    if (!process) return [];
    const { ended } = this.replay(process, t, true);
    const regions: EndedRegion[] = this.regionsOf(ended.map((e) => e.piece)).map((region, k) => ({ ...region, ended: ended[k].end }));
    const jit = this.jitCode.get(process);
    if (jit) for (const { piece, end } of this.replayJit(process, jit, t).ended) regions.push({ ...jitRegion(piece, jit.dump), ended: end });
    return regions.sort((a, b) => b.ended.time - a.ended.time);
  }

  /**
   * Gives the process `pid` was at `at` (when it mapped its jitdump) the
   * code loads, moves and closes its runtime wrote to `dump`, replacing what
   * an earlier read of that dump gave. Their times must be on the capture's
   * clock. Returns whether the capture has that process.
   */
  setJitCode(pid: number, at: number, dump: string, events: readonly JitCodeEvent[]): boolean {
    const process = this.processAt(pid, at);
    if (!process) return false;
    // A runtime writes in time order under its lock; a copy in order costs nothing when it did.
    this.jitCode.set(process, { dump, events: [...events].sort((a, b) => a.time - b.time) });
    this.jitCodeVersion++;
    return true;
  }

  /**
   * Plays a process's JIT code up to `t`: each load places code, over
   * whatever it overlaps (the runtime freed that first); a move takes code
   * elsewhere; a close, an exec and the process's exit end all of it.
   */
  private replayJit(process: ProcessInfo, jit: JitCode, t: number): { live: JitPiece[]; ended: Array<{ piece: JitPiece; end: RegionEnd }> } {
    const time = this.records.time;
    const live: JitPiece[] = [];
    const ended: Array<{ piece: JitPiece; end: RegionEnd }> = [];
    const endAll = (end: RegionEnd): void => {
      for (const piece of live.splice(0)) ended.push({ piece, end });
    };
    /** Puts `piece` in place (live stays sorted and disjoint); what it overlaps ends. */
    const place = (piece: JitPiece): void => {
      const lo = partitionPoint(0, live.length, (k) => live[k].end <= piece.start);
      let hi = lo;
      while (hi < live.length && live[hi].start < piece.end) hi++;
      for (const old of live.splice(lo, hi - lo, piece)) ended.push({ piece: old, end: { how: 'jit-replaced', time: piece.time, record: -1 } });
    };
    const execs = process.execs.filter((i) => time[i] <= t);
    let nextExec = 0;
    for (const event of jit.events) {
      if (event.time > t) break;
      for (; nextExec < execs.length && time[execs[nextExec]] <= event.time; nextExec++) endAll({ how: 'exec', time: time[execs[nextExec]], record: execs[nextExec] });
      switch (event.kind) {
        case 'load':
          if (event.codeSize > 0n) place({ start: event.codeAddr, end: event.codeAddr + event.codeSize, name: event.name, time: event.time });
          break;
        case 'move': {
          const at = partitionPoint(0, live.length, (k) => live[k].start < event.oldCodeAddr);
          const old = live[at];
          // Code we never saw loaded has no name to move.
          if (!old || old.start !== event.oldCodeAddr) break;
          live.splice(at, 1);
          ended.push({ piece: old, end: { how: 'jit-move', time: event.time, record: -1 } });
          place({ start: event.newCodeAddr, end: event.newCodeAddr + event.codeSize, name: old.name, time: event.time });
          break;
        }
        case 'close':
          endAll({ how: 'jit-close', time: event.time, record: -1 });
          break;
      }
    }
    for (; nextExec < execs.length; nextExec++) endAll({ how: 'exec', time: time[execs[nextExec]], record: execs[nextExec] });
    if (t >= process.exitTime) endAll({ how: 'exit', time: process.exitTime, record: -1 });
    return { live, ended };
  }

  private regionsOf(pieces: Piece[]): Region[] {
    return pieces.map((piece) => {
      const fields = this.regionFields(piece.record);
      const region: Region = { ...fields, start: piece.start, end: piece.end, pgoff: piece.pgoff };
      if (piece.prot !== undefined) region.prot = piece.prot;
      if (piece.inheritedFrom !== undefined) region.inheritedFrom = piece.inheritedFrom;
      return region;
    });
  }

  /**
   * Plays a process's mapping history up to `t`: its parent's mappings at
   * the fork, then its mappings, syscalls, execs and status snapshots in
   * time order. `ended` (when asked) lists what ended on the way, in order.
   */
  private replay(process: ProcessInfo, t: number, keepEnded = false): { pieces: Piece[]; ended: EndedPiece[] } {
    const index = this.records;
    const { time } = index;
    const ended: EndedPiece[] = [];
    const end = (gone: Piece[], how: RegionEnd): void => {
      if (keepEnded) for (const piece of gone) ended.push({ piece, end: how });
    };
    let pieces: Piece[] = [];
    if (process.parent && process.origin === 'forked' && !process.forkExec) {
      const parentPid = process.parent.pid;
      pieces = this.replay(process.parent, Math.min(t, process.forkTime)).pieces.map((p) => ({ ...p, inheritedFrom: p.inheritedFrom ?? parentPid }));
    }
    const upTo = (list: number[]): number[] => list.slice(0, searchTime(list, time, t, true));
    const events = [...upTo(process.mmaps), ...upTo(process.mapChanges), ...upTo(process.execs), ...upTo(process.snapshots)].sort((a, b) => time[a] - time[b] || a - b);
    for (const i of events) {
      switch (index.type[i]) {
        case RecordType.MMAP:
        case RecordType.MMAP2:
          this.map(pieces, i);
          break;
        case RecordType.COMM:
          end(pieces, { how: 'exec', time: time[i], record: i });
          pieces = [];
          break;
        case RecordType.FORK:
          this.reconcile(process, pieces, i, t, end);
          break;
        case RecordType.SAMPLE:
          this.applySyscall(pieces, i, end);
          break;
      }
    }
    if (t >= process.exitTime) {
      end(pieces, { how: 'exit', time: process.exitTime, record: -1 });
      pieces = [];
    }
    return { pieces, ended };
  }

  /** Lays a mapping record over the pieces; a status record that says again what a piece says only confirms it. */
  private map(pieces: Piece[], i: number): void {
    const index = this.records;
    const range = mappedRange(index.source.record(index.offset[i], index.size[i]));
    const t = index.time[i];
    if (index.flags[i] & IndexFlag.IS_STATUS) {
      const at = partitionPoint(0, pieces.length, (k) => pieces[k].start < range.start);
      const same = pieces[at];
      if (same && same.start === range.start && same.end === range.end && same.pgoff === range.pgoff && this.sameMapping(same, i)) {
        same.seen = t;
        return;
      }
    }
    overlay(pieces, { ...range, record: i, seen: t });
  }

  /** Whether record `i` maps the same file, with the same protection, as `piece` holds. */
  private sameMapping(piece: Piece, i: number): boolean {
    const was = this.regionFields(piece.record);
    const now = this.regionFields(i);
    return was.filename === now.filename && (piece.prot ?? was.prot) === now.prot && was.data === now.data;
  }

  /** A successful mapping syscall's exit: what it unmapped, moved or protected. */
  private applySyscall(pieces: Piece[], exit: number, end: (gone: Piece[], how: RegionEnd) => void): void {
    const index = this.records;
    const entry = this.entryOf.get(exit);
    if (entry === undefined) return;
    const args = index.source.record(index.offset[entry], index.size[entry]);
    const arg = (k: number): bigint => syscallArg(args, index.rawAt[entry], k);
    const ret = syscallReturn(index.source.record(index.offset[exit], index.size[exit]), index.rawAt[exit]);
    const t = index.time[exit];
    const how = callSyscall(index.call[exit]);
    const ending = { how, time: t, record: exit } as const;
    switch (how) {
      case 'munmap':
        end(carve(pieces, arg(0), arg(0) + pageUp(arg(1))), ending);
        break;
      case 'mprotect': {
        const [start, len, prot] = [arg(0), pageUp(arg(1)), Number(arg(2))];
        for (const piece of carve(pieces, start, start + len)) {
          // Losing PROT_EXEC takes a region out of the executable view, as no MMAP2 comes for it.
          if (!this.regionFields(piece.record).data && !(prot & PROT_EXEC)) end([piece], ending);
          else overlay(pieces, { ...piece, prot });
        }
        break;
      }
      case 'mremap': {
        const [from, oldLen, newLen, flags] = [arg(0), pageUp(arg(1)), pageUp(arg(2)), Number(arg(3))];
        if (oldLen === 0n) break; // a second mapping of shared pages, which the kernel tells as an MMAP2 if at all
        const taken = flags & MREMAP_DONTUNMAP ? clip(pieces, from, from + oldLen) : carve(pieces, from, from + oldLen);
        const to = BigInt.asUintN(64, ret);
        const moved = taken.map((p) => ({ ...p, start: p.start - from + to, end: p.end - from + to, seen: t }));
        const kept = clip(moved, to, to + newLen);
        // Grown in place or moved: the last piece runs on to the new length.
        const last = kept[kept.length - 1];
        if (last && newLen > oldLen && last.end === to + oldLen) last.end = to + newLen;
        // What left the old range ended there: all of it when it moved, the cut tail when it shrank in place.
        if (!(flags & MREMAP_DONTUNMAP)) end(to !== from ? taken : clip(taken, from + newLen, from + oldLen), ending);
        end(carve(pieces, to, to + newLen), ending);
        for (const piece of kept) overlay(pieces, piece);
        break;
      }
      case 'brk': {
        // The heap is a data mapping, held only where the capture recorded those.
        const heap = pieces.find((p) => this.regionFields(p.record).filename === '[heap]');
        const newEnd = BigInt.asUintN(64, ret);
        if (!heap || newEnd <= heap.start) break;
        if (newEnd < heap.end) end(carve(pieces, newEnd, heap.end), ending);
        else heap.end = newEnd;
        break;
      }
    }
  }

  /**
   * A status snapshot of the process begins with status FORK `fork`: what
   * it no longer lists of the pieces mapped before it ended somewhere
   * between the last time each was known mapped and the snapshot's read.
   * A snapshot that raced with the process (stale marks), or read no maps,
   * proves nothing; nor does one whose maps come after `t`.
   */
  private reconcile(process: ProcessInfo, pieces: Piece[], fork: number, t: number, end: (gone: Piece[], how: RegionEnd) => void): void {
    const index = this.records;
    const { time, flags } = index;
    const next = searchTime(process.snapshots, time, time[fork], true);
    const until = next < process.snapshots.length ? time[process.snapshots[next]] : Infinity;
    const listed: number[] = [];
    for (let k = searchTime(process.mmaps, time, time[fork]); k < process.mmaps.length; k++) {
      const i = process.mmaps[k];
      if (time[i] >= until) break;
      if (!(flags[i] & IndexFlag.IS_STATUS)) continue;
      if (flags[i] & IndexFlag.STALE_MASK) return;
      listed.push(i);
    }
    if (listed.length === 0 || time[listed[0]] > t) return;
    const withData = listed.some((i) => this.regionFields(i).data);
    const ranges = listed.map((i) => mappedRange(index.source.record(index.offset[i], index.size[i]))).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    for (const piece of [...pieces]) {
      if (!withData && this.regionFields(piece.record).data) continue;
      let from = piece.start;
      for (const range of ranges) {
        if (range.end <= from) continue;
        if (range.start >= piece.end) break;
        if (range.start > from) end(carve(pieces, from, range.start), { how: 'gone', after: piece.seen, time: time[listed[0]], record: listed[0] });
        from = range.end > from ? range.end : from;
        if (from >= piece.end) break;
      }
      if (from < piece.end) end(carve(pieces, from, piece.end), { how: 'gone', after: piece.seen, time: time[listed[0]], record: listed[0] });
    }
  }

  private regionFields(i: number): RegionFields {
    let fields = this.fields.get(i);
    if (!fields) this.fields.set(i, (fields = this.decodeRegionFields(i)));
    return fields;
  }

  private decodeRegionFields(i: number): RegionFields {
    const index = this.records;
    const size = index.size[i];
    const bytes = index.source.record(index.offset[i], size);
    const flags = index.flags[i];
    const mmap2 = index.type[i] === RecordType.MMAP2;
    const region: RegionFields = {
      filename: mappedFilename(bytes, mmap2 ? 'mmap2' : 'mmap', size - index.trailer[i] * 4),
      data: (recordMisc(bytes) & Misc.EXEC_OR_DATA) !== 0,
      statusOnly: (flags & IndexFlag.IS_STATUS) !== 0,
      provenance: PROVENANCE_NAMES[provenanceOf(flags)],
      stale: staleReasons(flags),
      record: i,
      time: index.time[i],
    };
    if (mmap2) {
      const file = mmap2File(bytes);
      region.prot = file.prot;
      region.flags = file.flags;
      if ('buildId' in file) {
        region.buildId = file.buildId;
      } else {
        region.maj = file.maj;
        region.min = file.min;
        region.ino = file.ino.toString();
      }
    }
    return region;
  }

  private newLane(kind: LaneKind, pid: number, tid: number, process: ProcessInfo | undefined): Lane {
    const lane: Lane = { id: this.lanes.length, kind, pid, tid, process, records: [], statusBefore: [0], comms: [], firstTime: NaN, lastTime: NaN, exitTime: NaN };
    this.lanes.push(lane);
    this.topology++;
    return lane;
  }

  private newProcess(pid: number, origin: ProcessOrigin, t: number): ProcessInfo {
    const process = {
      pid,
      ppid: -1,
      parent: undefined,
      children: [],
      threads: [],
      origin,
      forkRecord: -1,
      forkTime: NaN,
      forkExec: false,
      firstTime: t,
      lastTime: t,
      exitTime: NaN,
      execs: [],
      mmaps: [],
      mapChanges: [],
      snapshots: [],
      namespaces: [],
    } as Omit<ProcessInfo, 'lane'> as ProcessInfo;
    (process as { lane: Lane }).lane = this.newLane('process', pid, pid, process);
    const replaced = this.byPid.get(pid);
    if (replaced) {
      const earlier = this.earlier.get(pid);
      if (earlier) earlier.push(replaced);
      else this.earlier.set(pid, [replaced]);
    }
    this.processes.push(process);
    this.byPid.set(pid, process);
    this.byTid.set(pid, process.lane);
    return process;
  }

  /** The lane record `i` belongs to, made when it is the first of its thread; the record is placed on it. */
  private laneOf(i: number): Lane {
    const index = this.records;
    const pid = index.pid[i];
    const tid = index.tid[i];
    if (pid < 0 || tid < 0) return this.place(this.global, i);
    const statusOnly = (index.flags[i] & IndexFlag.IS_STATUS) !== 0;
    let lane = this.byTid.get(tid);
    // A lane of an earlier process of a reused pid is not this process's.
    if (!lane || lane.pid !== pid || lane.process !== this.byPid.get(pid)) {
      let process = this.byPid.get(pid);
      if (!process) process = this.newProcess(pid, statusOnly ? 'status' : 'seen', index.time[i]);
      if (tid === pid) lane = process.lane;
      else {
        lane = this.newLane('thread', pid, tid, process);
        process.threads.push(lane);
        this.byTid.set(tid, lane);
      }
    }
    return this.place(lane, i);
  }

  private place(lane: Lane, i: number): Lane {
    const index = this.records;
    const t = index.time[i];
    const status = index.flags[i] & IndexFlag.IS_STATUS ? 1 : 0;
    const { records, statusBefore } = lane;
    if (records.length === 0 || index.time[records[records.length - 1]] <= t) {
      records.push(i);
      statusBefore.push(statusBefore[statusBefore.length - 1] + status);
    } else {
      // Rare: a record older than the lane's last (a merge that was not in
      // time order). Insert it in place and recount the mix from there.
      const at = searchTime(records, index.time, t, true);
      records.splice(at, 0, i);
      statusBefore.push(0);
      for (let k = at; k < records.length; k++) statusBefore[k + 1] = statusBefore[k] + (index.flags[records[k]] & IndexFlag.IS_STATUS ? 1 : 0);
    }
    if (!(t >= lane.firstTime)) lane.firstTime = t;
    if (!(t <= lane.lastTime)) lane.lastTime = t;
    const process = lane.process;
    if (process) {
      if (!(t >= process.firstTime)) process.firstTime = t;
      if (!(t <= process.lastTime)) process.lastTime = t;
    }
    return lane;
  }

  private takeFork(i: number): void {
    const index = this.records;
    const bytes = index.source.record(index.offset[i], index.size[i]);
    const { pid, ppid, tid, ptid } = taskFields(bytes);
    const t = index.time[i];
    const statusOnly = (index.flags[i] & IndexFlag.IS_STATUS) !== 0;
    const exec = (recordMisc(bytes) & Misc.EXEC_OR_DATA) !== 0;
    if (pid === tid) {
      // A process: new, or a pid reused after its earlier process exited.
      let process = this.byPid.get(pid);
      if (process && !Number.isNaN(process.exitTime)) process = undefined;
      if (!process) process = this.newProcess(pid, statusOnly ? 'status' : 'forked', t);
      else if (!statusOnly && process.origin === 'seen') process.origin = 'forked';
      if (statusOnly) pushByTime(process.snapshots, i, index.time);
      // A later snapshot's status FORK tells of a process known already: it does not make it anew.
      if (!statusOnly || process.forkRecord < 0) {
        process.forkRecord = i;
        process.forkTime = t;
        process.forkExec = exec;
      }
      const parent = ppid !== pid ? this.byPid.get(ppid) : undefined;
      if (ppid !== pid) process.ppid = ppid;
      if (parent && parent !== process && !process.parent && !isAncestor(process, parent)) {
        process.parent = parent;
        parent.children.push(process);
        this.topology++;
      }
      this.place(process.lane, i);
      const parentLane = parent && (this.byTid.get(ptid) ?? parent.lane);
      if (parentLane && parentLane.process === parent && !statusOnly) this.forks.push({ record: i, time: t, parent: parentLane, child: process.lane });
      return;
    }
    // A thread made with the tid of one that exited is a new thread: its own lane.
    const earlier = this.byTid.get(tid);
    if (!statusOnly && earlier && earlier.exitTime <= t) this.byTid.delete(tid);
    const child = this.laneOf(i);
    const parentLane = this.byTid.get(ptid);
    if (parentLane && parentLane !== child && !statusOnly) this.forks.push({ record: i, time: t, parent: parentLane, child });
  }

  private takeExit(i: number): void {
    const lane = this.laneOf(i);
    const t = this.records.time[i];
    lane.exitTime = t;
    this.exits.push({ record: i, time: t, lane });
    const process = lane.process;
    // A process ends with its last thread, which need not be its first (the leader may exit early).
    if (process && [process.lane, ...process.threads].every((l) => !Number.isNaN(l.exitTime))) process.exitTime = t;
  }

  private takeComm(i: number): void {
    const lane = this.laneOf(i);
    const { time } = this.records;
    pushByTime(lane.comms, i, time);
    if (lane.process && this.misc(i) & Misc.EXEC_OR_DATA) pushByTime(lane.process.execs, i, time);
  }

  /** A mapping syscall's sample: an entry waits for its exit; a successful exit changes its process's mappings. */
  private takeSyscall(i: number): void {
    const index = this.records;
    const lane = this.laneOf(i);
    const call = index.call[i];
    const tid = index.tid[i];
    if (!isCallExit(call)) {
      this.entered.set(tid, i);
      return;
    }
    const entry = this.entered.get(tid);
    this.entered.delete(tid);
    // No entry: the call began before the capture, or its sample was lost.
    if (entry === undefined || index.call[entry] !== call - 1 || !lane.process) return;
    // A failed call changed nothing (brk returns the break it kept).
    if (callSyscall(call) !== 'brk' && syscallReturn(index.source.record(index.offset[i], index.size[i]), index.rawAt[i]) < 0n) return;
    this.entryOf.set(i, entry);
    pushByTime(lane.process.mapChanges, i, index.time);
  }

  private lostCount(i: number): number {
    return lostCount(this.records.source.record(this.records.offset[i], this.records.size[i]));
  }

  private misc(i: number): number {
    return recordMisc(this.records.source.record(this.records.offset[i], HEADER.end));
  }
}

function isAncestor(candidate: ProcessInfo, of: ProcessInfo): boolean {
  for (let p: ProcessInfo | undefined = of; p; p = p.parent) if (p === candidate) return true;
  return false;
}

/** Appends record `i` to a time-sorted list, inserting it in place when it is older than the last. */
function pushByTime(list: number[], i: number, times: Float64Array): void {
  if (list.length === 0 || times[list[list.length - 1]] <= times[i]) list.push(i);
  else list.splice(searchTime(list, times, times[i], true), 0, i);
}

/** A process's jitdump and what it said, by time. */
interface JitCode {
  dump: string;
  events: readonly JitCodeEvent[];
}

/** JIT code while it is replayed: where it is, its name, and since when it is there. */
interface JitPiece {
  start: bigint;
  end: bigint;
  name: string;
  time: number;
}

function jitRegion(piece: JitPiece, dump: string): Region {
  return { start: piece.start, end: piece.end, pgoff: 0n, filename: piece.name, data: false, statusOnly: false, provenance: 'jitdump', stale: [], record: -1, time: piece.time, jitdump: dump };
}

/** What a region's record says, the same for every piece of it. */
type RegionFields = Omit<Region, 'start' | 'end' | 'pgoff' | 'inheritedFrom'>;

/** A mapping, or what is left of it, while regions are computed. */
interface Piece {
  start: bigint;
  end: bigint;
  pgoff: bigint;
  record: number;
  /** The last time it was known mapped: its record's, a snapshot's that listed it again, or a move's. */
  seen: number;
  /** Set by an mprotect since the record. */
  prot?: number;
  inheritedFrom?: number;
}

interface EndedPiece {
  piece: Piece;
  end: RegionEnd;
}

const PROT_EXEC = 4;
const MREMAP_DONTUNMAP = 4;
/** The kernel rounds a length up to whole pages; 4 KiB, the size of x86-64's and most arm64 kernels' pages. */
const PAGE = 4096n;
const pageUp = (len: bigint): bigint => (len + PAGE - 1n) & ~(PAGE - 1n);

/** The parts of `pieces` (sorted by start, disjoint) inside [start, end), as copies, offsets kept right. */
function clip(pieces: readonly Piece[], start: bigint, end: bigint): Piece[] {
  const parts: Piece[] = [];
  for (const p of pieces) {
    if (p.end <= start || p.start >= end) continue;
    const from = p.start > start ? p.start : start;
    parts.push({ ...p, start: from, end: p.end < end ? p.end : end, pgoff: p.pgoff + (from - p.start) });
  }
  return parts;
}

/** Cuts [start, end) out of `pieces` (sorted by start, disjoint), leaving the parts on either side; returns what was cut. */
function carve(pieces: Piece[], start: bigint, end: bigint): Piece[] {
  const lo = partitionPoint(0, pieces.length, (k) => pieces[k].end <= start);
  let hi = lo;
  while (hi < pieces.length && pieces[hi].start < end) hi++;
  const cut = clip(pieces.slice(lo, hi), start, end);
  const kept: Piece[] = [];
  for (const old of pieces.slice(lo, hi)) {
    if (old.start < start) kept.push({ ...old, end: start });
    if (old.end > end) kept.push({ ...old, start: end, pgoff: old.pgoff + (end - old.start) });
  }
  pieces.splice(lo, hi - lo, ...kept);
  return cut;
}

/** Lays `top` over `pieces` (sorted by start, disjoint): what it overlaps is cut away, leaving the parts on either side. */
function overlay(pieces: Piece[], top: Piece): void {
  carve(pieces, top.start, top.end);
  pieces.splice(partitionPoint(0, pieces.length, (k) => pieces[k].start < top.start), 0, top);
}

/**
 * A moment of a capture as the CLI takes it: nanoseconds on the capture's
 * clock (the `time` that `dump --json` prints), or `+SECONDS` from its first
 * record (`startTime`). Undefined when the text is neither.
 */
export function parseMoment(text: string, startTime: number): number | undefined {
  const relative = /^\+(\d+(?:\.\d*)?|\.\d+)$/.exec(text);
  if (relative) return startTime + Math.round(Number(relative[1]) * 1e9);
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/** An address as /proc/PID/maps writes it, or with 0x; undefined when it is not one. */
export function parseAddress(text: string): bigint | undefined {
  const hex = /^(?:0x)?([0-9a-f]{1,16})$/i.exec(text.trim())?.[1];
  return hex === undefined ? undefined : BigInt(`0x${hex}`);
}

/** Bits of an MMAP2 prot as /proc/PID/maps writes them, with p/s from the flags. */
export function protString(prot: number | undefined, flags: number | undefined): string {
  if (prot === undefined) return '----';
  const MAP_SHARED = 1;
  return `${prot & 1 ? 'r' : '-'}${prot & 2 ? 'w' : '-'}${prot & 4 ? 'x' : '-'}${flags !== undefined && flags & MAP_SHARED ? 's' : 'p'}`;
}
