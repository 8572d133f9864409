// From a capture's regions to source, and back: the sideband language
// server's work, which `sideband resolve` shares so scripts and CI check the
// same code. A region names a file and where it was mapped; the file's load
// segments turn a runtime address into the file's own address, and the
// symbolizer (libdw, else llvm-symbolizer, else ELF symbols) turns that into
// function, file and line. JIT code resolves to the name its runtime's
// jitdump gave it (node/jitdumps.ts), else through the /tmp/perf-PID.map
// the runtime writes. Which file a region's path names depends on the
// target's mount namespace (targetFiles.ts): every answer says which was read.

import * as fs from 'node:fs';

import { fileAddress, runtimeAddress } from './elf';
import { JitdumpLoader } from '../jitdumps';
import { PerfDataFollower } from '../perfdata/follow';
import { PerfMap } from './perfmap';
import { type FetchWatch } from './debuginfod';
import { type FunctionRange, type SourceFrame } from '../../native/symbols';
import { type ModuleSymbols, type Symbolizer } from './symbolizer';
import { fileOfRegion, perfMapOf, targetIn, type FileToRead, type Target } from './targetFiles';
import { Timeline, type EndedRegion, type Region, type RegionEnd } from '../../core/timeline';
import { endedWords } from '../../core/regionEnd';
import { SourceError, sourceErrorOf, type SourceErrorCode } from '../../core/sourceError';
import { inTimeOrder, inTimeOrderFrom, indexColumnBytes } from '../../core/records';

/** The part of a region the resolver needs. */
export interface RegionRef {
  start: bigint;
  end: bigint;
  pgoff: bigint;
  filename: string;
  /** The build-id the MMAP2 record carries, when it does: the file read must have it. */
  buildId?: string;
  /** 'jitdump': JIT code, named in `filename`. */
  provenance?: Region['provenance'];
}

export interface Resolution {
  /** Innermost first: inlined functions, then the function they are inlined into. */
  frames: SourceFrame[];
  /** Why there are no frames, and what would give some. */
  error?: string;
  code?: SourceErrorCode;
  /** The part of the file or request at fault, when one is. */
  field?: string;
  /** The file read for it, when one was. */
  read?: FileToRead;
}

export interface RegionSourceFiles {
  files: string[];
  /** The file read for them, when one was. */
  read?: FileToRead;
  /** Why the files cannot be listed, and how to fix that. */
  missing?: string;
  code?: SourceErrorCode;
  field?: string;
}

/** An answer without frames. */
const unresolved = (code: SourceErrorCode, error: string): Resolution => ({ frames: [], error, code });
/** The answers for an error met on the way: its code, and its field when it has one (sourceErrorOf leaves out an absent one). */
const unresolvedBy = (e: unknown): Resolution => {
  const { message, ...why } = sourceErrorOf(e);
  return { frames: [], error: message, ...why };
};
const unlistedBy = (e: unknown): RegionSourceFiles => {
  const { message, ...why } = sourceErrorOf(e);
  return { files: [], missing: message, ...why };
};

/** Where a function of a source file is mapped at the end of a capture, or was mapped before it. */
export interface FunctionMapping {
  function: FunctionRange;
  pid: number;
  comm: string;
  start: bigint;
  end: bigint;
  region: Region;
  /** The region's record time relative to the capture's first record, in ns. */
  since: number;
  /** Set when the region was no longer mapped at the end: how it ended, its times relative to the capture's first record, as `since`. */
  ended?: RegionEnd;
  /** The file its function was read from. */
  read: FileToRead;
}

/**
 * A capture file and its model, which follow the file as it grows (a live
 * capture is written as it runs): each refresh reads only the bytes written
 * since the last (node/perfdata/follow.ts) and adds their records to the
 * model. Our captures are written in time order, so the model takes the
 * new records as they come; a file that is not (perf's, ordered only within
 * each round) has its model built from the whole index in time order.
 */
export class LoadedPerfData {
  private ordered = true;
  private readonly jitdumps = new JitdumpLoader();
  /** What kept the jitdumps of the capture's processes from the model, each once. */
  readonly jitdumpProblems: string[] = [];

  private constructor(
    private readonly file: PerfDataFollower,
    private model: Timeline,
  ) {
    this.take();
  }

  static load(path: string): LoadedPerfData {
    return new LoadedPerfData(new PerfDataFollower(path), new Timeline());
  }

  get path(): string {
    return this.file.path;
  }

  get timeline(): Timeline {
    return this.model;
  }

  /** Bytes of records read from the file so far, each once. */
  get bytesRead(): number {
    return this.file.bytesRead;
  }

  /** Bytes the index's columns hold, and those of its copy in time order when the model needed one. */
  get indexBytes(): number {
    return indexColumnBytes(this.file.reader.index()) + (this.ordered ? 0 : indexColumnBytes(this.model.records));
  }

  /**
   * This, with the records written since; or a fresh load when the path
   * holds another file now (node/perfdata/follow.ts says when), or the look
   * failed: a file finished between the look at its header and the read of
   * its new bytes has its features read as records, which the reader
   * refuses. It holds them unconsumed, so every later look fails the same
   * way and loads afresh; the fresh load throws what is really wrong.
   */
  refreshed(): LoadedPerfData {
    let growth;
    try {
      growth = this.file.look();
    } catch {
      return LoadedPerfData.load(this.path);
    }
    if (growth === 'replaced') return LoadedPerfData.load(this.path);
    if (growth === 'grew') this.take();
    return this;
  }

  /** The regions of `pid` at `time`; by default at the end of the capture, or at the last moment of a process that exited. */
  regionsOf(pid: number, time = this.timeline.lastMoment(pid)): Region[] {
    return this.timeline.regionsAt(pid, time);
  }

  /** Takes the records the index gained into the model. */
  private take(): void {
    const index = this.file.reader.index();
    if (this.ordered && inTimeOrderFrom(index, this.model.count)) {
      this.model.update(index);
    } else {
      this.ordered = false;
      this.model = new Timeline(inTimeOrder(index));
    }
    this.jitdumpProblems.push(...this.jitdumps.load(this.model, this.file.reader.stream.attrs.map((a) => a.attr)));
  }
}

/** Regions with no file behind them hold code only when it was generated at run time. */
function isAnonymous(filename: string): boolean {
  return filename === '' || filename === '//anon' || filename.startsWith('[anon') || filename.startsWith('/memfd:');
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

export class SourceResolver {
  private readonly captures = new Map<string, LoadedPerfData>();
  /** By the path read: one pid can name two maps, in our namespace and in the target's. */
  private readonly perfMaps = new Map<string, PerfMap>();
  /** The answers of mappingsOfSource for each capture, as of the number of records its model had. */
  private readonly mappings = new WeakMap<LoadedPerfData, { records: number; bySource: Map<string, Promise<FunctionMapping[]>> }>();

  constructor(readonly symbolizer: Symbolizer) {}

  /** The capture at `path`, as of now. */
  capture(path: string): LoadedPerfData {
    const known = this.captures.get(path);
    const capture = known ? known.refreshed() : LoadedPerfData.load(path);
    this.captures.set(path, capture);
    return capture;
  }

  /** Forgets captures not in `keep`. */
  retain(keep: string[]): void {
    for (const path of this.captures.keys()) if (!keep.includes(path)) this.captures.delete(path);
  }

  /**
   * Resolves addresses of `pid` in `region`, in one batch per file. The
   * capture tells the process's namespaces once it is gone: without one,
   * only the running process can. A debug file missing here is fetched from
   * debuginfod when it is on, told to `watch`.
   */
  async resolveIn(pid: number, addresses: bigint[], region: RegionRef, capturePath?: string, watch?: FetchWatch): Promise<Resolution[]> {
    return this.resolveInTarget(this.targetOf(pid, capturePath), addresses, region, watch);
  }

  private async resolveInTarget(target: Target, addresses: bigint[], region: RegionRef, watch?: FetchWatch): Promise<Resolution[]> {
    const outside = (address: bigint): Resolution | undefined =>
      address < region.start || address >= region.end ? unresolved('outside-region', `${hex(address)} is outside ${hex(region.start)}–${hex(region.end)}`) : undefined;
    if (region.provenance === 'jitdump') return addresses.map((a) => outside(a) ?? { frames: [{ function: region.filename }] });
    if (isAnonymous(region.filename)) return addresses.map((a) => outside(a) ?? this.resolveJit(target, a));
    if (!region.filename.startsWith('/')) return addresses.map(() => unresolved('not-a-file', `${region.filename} is not a file: only files and JIT code resolve to source`));
    let module: ModuleSymbols;
    let read: FileToRead;
    try {
      ({ module, read } = await this.moduleOf(target, region, watch));
    } catch (e) {
      return addresses.map(() => unresolvedBy(e));
    }
    const at = addresses.map((a) => (outside(a) ? undefined : fileAddress(module.segments, region, a)));
    let resolved: SourceFrame[][];
    try {
      resolved = await module.resolve(at.filter((a): a is number => a !== undefined));
    } catch (e) {
      return addresses.map((a) => outside(a) ?? { ...unresolvedBy(e), read });
    }
    let k = 0;
    const answer = (a: number | undefined, i: number): Resolution => {
      if (a === undefined) return outside(addresses[i]) ?? unresolved('no-segment', `${hex(addresses[i])} falls in no load segment of ${read.path}: the file may have changed since it was mapped`);
      const frames = resolved[k++];
      if (frames.length > 0) return { frames };
      return module.debug.missing ? unresolved('no-debug-info', module.debug.missing) : unresolved('no-function', `${read.path} has no function at file address ${hex(BigInt(a))}`);
    };
    return at.map((a, i) => ({ ...answer(a, i), read }));
  }

  /** What the capture at `capturePath` (when given, and readable) and /proc tell of `pid`. */
  private targetOf(pid: number, capturePath?: string): Target {
    let timeline: Timeline | undefined;
    try {
      timeline = capturePath === undefined ? undefined : this.capture(capturePath).timeline;
    } catch {
      // A capture that cannot be read says nothing of the process; the timeline reports what is wrong with it.
    }
    return targetIn(timeline, pid);
  }

  /**
   * The symbols of the file `region` of `target` maps, and which file that
   * is; refused when the region's record carries a build-id the file does
   * not have, as another build's lines would be told as this one's. Its
   * debug file is fetched (see fetchedModule) only once the file is known
   * to be the right one.
   */
  private async moduleOf(target: Target, region: RegionRef, watch?: FetchWatch): Promise<{ module: ModuleSymbols; read: FileToRead }> {
    const read = fileOfRegion(target, region);
    const { buildId } = this.symbolizer.module(read.path).debug;
    if (region.buildId && buildId?.toLowerCase() !== region.buildId.toLowerCase())
      throw new SourceError(
        'build-id-mismatch',
        `${read.path} has ${buildId ? `build-id ${buildId}` : 'no build-id'}, but the record of pid ${target.pid}'s mapping of ${region.filename} says ${region.buildId}: it is another build than the one mapped, so it is not used. Fix: look while the process runs, or put the build that ran back at that path.`,
        'buildId',
      );
    return { module: await this.symbolizer.fetchedModule(read.path, watch), read };
  }

  /**
   * Resolves addresses of `pid` as mapped at `time` in `capturePath` (by
   * default its end, or the process's last moment): what `sideband resolve`
   * prints. An address in a region that ended by then says how it ended.
   */
  async resolveInCapture(capturePath: string, pid: number, addresses: bigint[], time?: number, watch?: FetchWatch): Promise<Resolution[]> {
    const capture = this.capture(capturePath);
    const timeline = capture.timeline;
    const at = time ?? timeline.lastMoment(pid);
    if (!timeline.processAt(pid, at)) return addresses.map(() => unresolved('no-process', `pid ${pid} is not in ${capturePath}`));
    const regions = timeline.regionsAt(pid, at);
    const ended = timeline.endedRegionsAt(pid, at);
    const moment = time === undefined ? 'at the end of the capture' : `at ${at}`;
    const target = targetIn(timeline, pid);
    let perfMap: FileToRead | undefined;
    try {
      perfMap = perfMapOf(target);
    } catch {
      // Not to be found (another namespace, gone): an address outside every region is then just not mapped.
    }
    const notMapped = (address: bigint): Resolution => {
      const was = ended.find((r) => address >= r.start && address < r.end);
      if (was) return unresolved('not-mapped', `${hex(address)} is not mapped in pid ${pid} ${moment}: it was in ${was.filename || 'an anonymous region'}, ${endedWords(was.ended, String)}`);
      return unresolved('not-mapped', regions.length ? `${hex(address)} is not mapped in pid ${pid} ${moment}` : `pid ${pid} has no mappings in ${capturePath} ${moment}`);
    };
    // Group by region, so a module's addresses go to the symbolizer in one batch.
    const results: Resolution[] = new Array(addresses.length);
    const byRegion = new Map<Region, number[]>();
    addresses.forEach((address, i) => {
      const region = regionHolding(regions, address);
      if (region) {
        let list = byRegion.get(region);
        if (!list) byRegion.set(region, (list = []));
        list.push(i);
      } else {
        results[i] = (perfMap && this.perfMapResolution(perfMap, address)) ?? notMapped(address);
      }
    });
    for (const [region, indices] of byRegion) {
      const batch = await this.resolveInTarget(target, indices.map((i) => addresses[i]), region, watch);
      indices.forEach((i, k) => (results[i] = batch[k]));
    }
    return results;
  }

  /** Source files of the compile units in the part of the file the region of `pid` maps (the capture at `capturePath` tells its namespaces, as for resolveIn); its debug file fetched as resolveIn's. */
  async regionSources(pid: number, region: RegionRef, capturePath?: string, watch?: FetchWatch): Promise<RegionSourceFiles> {
    if (!region.filename.startsWith('/')) return { files: [], missing: `${region.filename || 'this region'} is not a file, so it has no source files`, code: 'not-a-file' };
    let module;
    let read: FileToRead;
    try {
      ({ module, read } = await this.moduleOf(this.targetOf(pid, capturePath), region, watch));
    } catch (e) {
      return unlistedBy(e);
    }
    return { ...(await this.sourcesIn(module, region, read.path)), read };
  }

  private async sourcesIn(module: ModuleSymbols, region: RegionRef, file: string): Promise<RegionSourceFiles> {
    if (module.debug.missing) return { files: [], missing: module.debug.missing, code: 'no-debug-info' };
    let units;
    try {
      units = await module.compileUnits();
    } catch (e) {
      return unlistedBy(e);
    }
    if (units.length === 0) return { files: [], missing: `${this.symbolizer.description}: it cannot list the source files of ${file}`, code: 'no-listing' };
    // The region's span in file addresses: its end may lie past the segment's file size (the page's tail).
    const low = fileAddress(module.segments, region, region.start);
    const high = low === undefined ? undefined : low + Number(region.end - region.start);
    const files = new Set<string>();
    for (const unit of units) {
      const inRegion = low !== undefined && high !== undefined && unit.ranges.some(([from, to]) => from < high && to > low);
      if (inRegion) for (const file of unit.files) files.add(file);
    }
    if (files.size === 0)
      return { files: [], missing: `no compile unit of ${file} has code in this region (offset ${hex(region.pgoff)}): its code is in the executable region`, code: 'no-listing' };
    return { files: [...files].sort() };
  }

  /**
   * Where the functions defined in `sourcePath` are mapped at the end of the
   * capture: one entry per function and process that maps it; then, for a
   * function a process no longer maps at all, where it was mapped last and
   * how that ended. Files whose compile units don't name the source are
   * skipped before their functions are listed.
   */
  mappingsOfSource(capturePath: string, sourcePath: string): Promise<FunctionMapping[]> {
    // CodeLens and hovers ask the same question of the same capture until it grows.
    const capture = this.capture(capturePath);
    let answers = this.mappings.get(capture);
    if (answers?.records !== capture.timeline.count) this.mappings.set(capture, (answers = { records: capture.timeline.count, bySource: new Map() }));
    const bySource = answers.bySource;
    let known = bySource.get(sourcePath);
    if (!known) {
      known = this.findMappings(capture, sourcePath);
      bySource.set(sourcePath, known);
      known.catch(() => bySource.delete(sourcePath));
    }
    return known;
  }

  private async findMappings(capture: LoadedPerfData, sourcePath: string): Promise<FunctionMapping[]> {
    const timeline = capture.timeline;
    const end = timeline.endTime;
    // By the file read, not the name: the same path in two mount namespaces can be two files.
    const byFile = new Map<string, { pid: number; comm: string; region: Region; ended?: RegionEnd; read: FileToRead }[]>();
    const relative = (end: RegionEnd): RegionEnd => (end.how === 'gone' ? { ...end, after: end.after - timeline.startTime, time: end.time - timeline.startTime } : { ...end, time: end.time - timeline.startTime });
    for (const process of timeline.processes) {
      if (!Number.isNaN(process.exitTime) || timeline.processAt(process.pid, end) !== process) continue;
      const comm = timeline.commAt(process.lane, end);
      const target = targetIn(timeline, process.pid);
      // The mapped regions first: a function mapped now is described by them alone.
      const regions: Array<Region | EndedRegion> = [...timeline.regionsAt(process.pid, end), ...timeline.endedRegionsAt(process.pid, end)];
      for (const region of regions) {
        if (region.data || region.jitdump || !region.filename.startsWith('/')) continue;
        let read: FileToRead;
        try {
          read = fileOfRegion(target, region);
        } catch {
          continue; // its file cannot be told: nothing of it is claimed for this source
        }
        let list = byFile.get(read.path);
        if (!list) byFile.set(read.path, (list = []));
        list.push({ pid: process.pid, comm, region, read, ...('ended' in region ? { ended: relative(region.ended) } : {}) });
      }
    }
    const mappings: FunctionMapping[] = [];
    for (const [file, holders] of byFile) {
      let module;
      try {
        module = this.symbolizer.module(file);
      } catch {
        continue; // gone or unreadable: nothing of it can be in this source
      }
      if (module.debug.missing) continue;
      const units = await module.compileUnits();
      if (!units.some((u) => u.files.includes(sourcePath))) continue;
      const functions = (await module.functions()).filter((f) => f.file === sourcePath);
      // A record's build-id that the file lacks: its functions are another build's, not this mapping's.
      const checked = holders.filter((h) => !h.region.buildId || h.region.buildId.toLowerCase() === module.debug.buildId?.toLowerCase());
      for (const fn of functions) {
        for (const { pid, comm, region, ended, read } of checked) {
          const start = runtimeAddress(module.segments, region, fn.low);
          if (start === undefined) continue;
          mappings.push({ function: fn, pid, comm, start, end: start + BigInt(fn.high - fn.low), region, since: region.time - timeline.startTime, read, ...(ended ? { ended } : {}) });
        }
      }
    }
    // Of what ended, only a function's latest end in each process, and none for one the process maps now (latest ends come first).
    const told = new Set<string>();
    const said = (m: FunctionMapping): boolean => {
      const key = `${m.pid} ${m.function.name} ${m.function.low}`;
      const known = told.has(key);
      told.add(key);
      return known;
    };
    const mapped = mappings.filter((m) => !m.ended);
    mapped.forEach(said);
    return [...mapped, ...mappings.filter((m) => m.ended && !said(m))];
  }

  private resolveJit(target: Target, address: bigint): Resolution {
    let read: FileToRead;
    try {
      read = perfMapOf(target);
    } catch (e) {
      return unresolvedBy(e);
    }
    return (
      this.perfMapResolution(read, address) ??
      unresolved('no-perf-map', `${hex(address)} is JIT code and ${read.path} does not exist: start the program with a perf map (node --perf-basic-prof, or a JVM perf agent)`)
    );
  }

  /** The address in the perf map `read`; undefined when there is no such file. */
  private perfMapResolution(read: FileToRead, address: bigint): Resolution | undefined {
    if (!fs.existsSync(read.path)) return undefined;
    let perfMap = this.perfMaps.get(read.path);
    if (!perfMap) this.perfMaps.set(read.path, (perfMap = new PerfMap(read.path)));
    const symbol = perfMap.lookup(address);
    return symbol ? { frames: [{ function: symbol.name }], read } : { ...unresolved('no-function', `${hex(address)} is in no function of ${read.path}`), read };
  }
}

/** The region that holds `address`: JIT code before the anonymous mapping it lies in. */
function regionHolding(regions: Region[], address: bigint): Region | undefined {
  const holding = regions.filter((r) => address >= r.start && address < r.end);
  return holding.find((r) => r.provenance === 'jitdump') ?? holding[0];
}
