// The typed face of the native addon: a capture session whose core writes
// its records to a perf.data file itself and says how far the file has
// grown, and that collects what the file must say about itself. Knows Node,
// not VS Code.

import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CaptureStats, type RegionChanges, type SidebandMeta, type SnapshotMeta } from '../core/perfdata/metadata';
import { HelperCapture, helperPath, type HelperVia } from './helper';


export enum Emit {
  Fork = 1 << 0,
  Namespaces = 1 << 1,
  Comm = 1 << 2,
  Mmap = 1 << 3,
  All = Fork | Namespaces | Comm | Mmap,
}

export interface CaptureOptions {
  /** Attach to this running process... */
  pid?: number;
  /** ...or launch this command and follow it from its first instruction. */
  command?: string[];
  followChildren?: boolean;
  /** Per CPU, a power of two; shrunk (with a warning) to fit the mlock budget. */
  ringPages?: number;
  emit?: number;
  /** false forces the /proc path even where the kernel has the ioctl. */
  tryIoctl?: boolean;
  /**
   * Record the syscall tracepoints of munmap, mremap, mprotect and brk where
   * they are allowed (default true); without them region ends are found by
   * status snapshots only.
   */
  regionTracepoints?: boolean;
  /**
   * Capture in the helper executable, attached to `pid`, rather than in this
   * process (native/helper.ts): the one way to capture with privileges.
   */
  via?: HelperVia;
}

/** What the core is given: the options, and the perf.data it writes the records to. */
export interface CoreOptions extends CaptureOptions {
  output: string;
}

export const DEFAULT_RING_PAGES = 512;

/** One event of a capture, its records in the capture's rings. */
export interface CaptureEvent {
  /** The perf_event_attr bytes. */
  attr: Uint8Array;
  /** Its kernel ids, one per thread and CPU. */
  ids: bigint[];
  /** As perf names it: "dummy:u", "syscalls:sys_enter_munmap". */
  name: string;
}

export interface AttachInfo {
  pid: number;
  /** The sideband dummy first, then the syscall tracepoints in use. */
  events: CaptureEvent[];
  /** Id of our own event that receives the kernel's ioctl status (0n: none). */
  ioctlId: bigint;
  cpus: number[];
  ringPages: number;
  namespaces: boolean;
  /**
   * The tracefs files the tracepoints' formats are in, by path under the
   * tracefs root, as a capture helper read them for a front end that may not
   * be allowed to (native/helper.ts); absent from the addon, whose process
   * reads tracefs itself.
   */
  tracefs?: ReadonlyMap<string, Uint8Array>;
}

/** A snapshot as the addon reports it: the file's SnapshotMeta, with its times as bigints. */
export type SnapshotInfo = Omit<SnapshotMeta, 'start' | 'end'> & { start: bigint; end: bigint };

export interface StopInfo {
  reason: 'exited' | 'requested' | 'failed';
  /** waitpid status of a launched command, -1 when there is none. */
  exitStatus: number;
  stats: CaptureStats;
  error?: EngineError;
}

export interface Warning {
  code: string;
  message: string;
}

/** An error with a stable code, whose message names the cause and the fix. */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** What the addon, or the helper through native/helper.ts, says of a capture. */
export type NativeMessage =
  | { kind: 'attached'; pid: number; events: { attr: ArrayBuffer; ids: bigint[]; name: string }[]; ioctlId: bigint; cpus: number[]; ringPages: number; namespaces: boolean; tracefs?: ReadonlyMap<string, Uint8Array> }
  | { kind: 'written'; dataEnd: number; stats: CaptureStats }
  | ({ kind: 'snapshot' } & SnapshotInfo)
  | ({ kind: 'warning' } & Warning)
  | { kind: 'failed'; error: Error & { code: string } }
  | { kind: 'stopped'; reason: StopInfo['reason']; exitStatus: number; stats: CaptureStats };

/** A capture as the addon, or the helper through native/helper.ts, runs it. */
export interface NativeCapture {
  start(): void;
  snapshot(): void;
  stop(force?: boolean): void;
}

export interface ProcStatusOptions {
  /** false reads the maps text even where the kernel has PROCMAP_QUERY, as kernels before 6.11 make us. */
  procmapQuery?: boolean;
  /** Where procfs is mounted; a pid namespace's own mount lists its own pids. Default /proc. */
  procRoot?: string;
}

export interface ProcStatusResult {
  records: ArrayBuffer;
  count: number;
  stale: number;
  processes: number;
  nanoseconds: number;
  procmapQuery: boolean;
}

interface NativeAddon {
  /** helper: the capture helper's path, which the fixes in its errors name. */
  Capture: new (options: CoreOptions & { helper: string }, onMessage: (m: NativeMessage) => void) => NativeCapture;
  readProcStatus(pids?: number[], emit?: number, options?: ProcStatusOptions): ProcStatusResult;
}

/**
 * Checks, before anything is attached or written, that `command` can run:
 * the engine would otherwise only learn it after its snapshot, at exec.
 */
function checkCommand(command: string): void {
  const candidates = command.includes('/') ? [command] : (process.env.PATH ?? '').split(':').filter(Boolean).map((dir) => path.join(dir, command));
  for (const file of candidates) {
    try {
      if (fs.statSync(file).isFile()) {
        fs.accessSync(file, fs.constants.X_OK);
        return;
      }
    } catch {
      // not this one
    }
  }
  throw new EngineError('ELAUNCH', `cannot run '${command}': no executable file of that name${command.includes('/') ? '' : ' in PATH'}. Fix: check the command name and that it is executable.`);
}

let addon: NativeAddon | undefined;

/**
 * The package's root: the nearest folder above this module with our
 * package.json. This module runs compiled (out/native) and bundled
 * (dist/extension.js), at different depths.
 */
export function packageRoot(): string {
  return ourPackage().root;
}

let found: { root: string; version: string } | undefined;

/** Found once: the walk reads a package.json per folder. */
function ourPackage(): { root: string; version: string } {
  if (found) return found;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (manifest.name === 'perf-sideband') return (found = { root: dir, version: manifest.version });
    } catch {
      // no package.json here, or not ours
    }
    if (path.dirname(dir) === dir) throw new EngineError('ENOADDON', `no perf-sideband package.json above ${__dirname}. Fix: reinstall the extension or the package.`);
  }
}

const packageVersion = (): string => ourPackage().version;

/** Loads the compiled helper once; explains how to get one when it is missing. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const file = path.join(packageRoot(), 'native', 'build', 'Release', 'sideband.node');
  try {
    addon = require(file) as NativeAddon;
  } catch (e) {
    throw new EngineError(
      'ENOADDON',
      `the native perf helper could not be loaded from ${file}: ${(e as Error).message}. Fix: run \`npm install\` in the project (it builds the helper with node-gyp).`,
    );
  }
  return addon;
}

interface CaptureEvents {
  attached: [AttachInfo];
  /** The file's records now end at this file offset: whole records, in time order. */
  written: [number, CaptureStats];
  snapshot: [SnapshotInfo];
  warning: [Warning];
  stopped: [StopInfo];
}

/**
 * One running capture. Events arrive in this order: attached (the file now
 * exists, its records yet to come), then written and snapshots interleaved
 * (the first snapshot is the attach-time status), warnings at any time, and
 * stopped exactly once, after the last written.
 */
export class CaptureSession extends EventEmitter<CaptureEvents> {
  readonly snapshots: SnapshotInfo[] = [];
  readonly warnings: Warning[] = [];
  attach?: AttachInfo;
  stats: CaptureStats = { records: 0, statusRecords: 0, ioctlRecords: 0, procRecords: 0, lost: 0, lostRecords: 0 };
  /** File offset of the end of the last whole record written. */
  dataEnd = 0;
  readonly stopped: Promise<StopInfo>;
  private readonly native: NativeCapture;
  private error?: EngineError;

  constructor(readonly options: CoreOptions) {
    super();
    if ((options.pid === undefined) === (options.command === undefined || options.command.length === 0))
      throw new EngineError('EUSAGE', 'a capture needs either a pid to attach to or a command to launch, not both. Fix: give --pid PID, or -- CMD ARGS...');
    if (options.command) checkCommand(options.command[0]);
    let resolveStopped!: (s: StopInfo) => void;
    this.stopped = new Promise((resolve) => (resolveStopped = resolve));
    const { via, ...rest } = options;
    const core = { followChildren: true, ringPages: DEFAULT_RING_PAGES, emit: Emit.All, tryIoctl: true, regionTracepoints: true, ...rest };
    const onMessage = (m: NativeMessage): void => this.receive(m, resolveStopped);
    this.native = via ? new HelperCapture(core, via, onMessage) : new (loadAddon().Capture)({ ...core, helper: helperPath() }, onMessage);
  }

  /**
   * A listener that throws must not cost the session its bookkeeping (the
   * stopped promise above all): its exception is rethrown on its own, as an
   * uncaught one, once the message is handled.
   */
  private deliver<K extends keyof CaptureEvents>(event: K, ...args: CaptureEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: CaptureEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      setImmediate(() => {
        throw e;
      });
    }
  }

  private receive(m: NativeMessage, resolveStopped: (s: StopInfo) => void): void {
    switch (m.kind) {
      case 'attached':
        this.attach = {
          pid: m.pid,
          events: m.events.map((e) => ({ attr: new Uint8Array(e.attr), ids: e.ids, name: e.name })),
          ioctlId: m.ioctlId,
          cpus: m.cpus,
          ringPages: m.ringPages,
          namespaces: m.namespaces,
          tracefs: m.tracefs,
        };
        this.deliver('attached', this.attach);
        break;
      case 'written':
        this.stats = m.stats;
        this.dataEnd = m.dataEnd;
        this.deliver('written', m.dataEnd, m.stats);
        break;
      case 'snapshot': {
        const { kind: _, ...info } = m;
        this.snapshots.push(info);
        this.deliver('snapshot', info);
        break;
      }
      case 'warning':
        this.warnings.push({ code: m.code, message: m.message });
        this.deliver('warning', { code: m.code, message: m.message });
        break;
      case 'failed':
        this.error = new EngineError(m.error.code, m.error.message);
        break;
      case 'stopped': {
        this.stats = m.stats;
        const info: StopInfo = { reason: m.reason, exitStatus: m.exitStatus, stats: m.stats, error: this.error };
        resolveStopped(info);
        this.deliver('stopped', info);
        break;
      }
    }
  }

  start(): this {
    this.native.start();
    return this;
  }

  /** What the capture's file says about the capture, once it has stopped. */
  fileMeta(stop: StopInfo): SidebandMeta {
    const attach = this.attach;
    return {
      version: 1,
      tool: `perf-sideband ${packageVersion()}`,
      ioctlId: attach?.ioctlId ? attach.ioctlId.toString() : undefined,
      target: { pid: attach?.pid ?? this.options.pid ?? 0, command: this.options.command },
      ringPages: attach?.ringPages ?? this.options.ringPages ?? DEFAULT_RING_PAGES,
      cpus: attach?.cpus ?? [],
      namespaces: attach?.namespaces ?? false,
      regionChanges: this.regionChanges,
      snapshots: this.snapshots.map((s) => ({ ...s, start: s.start.toString(), end: s.end.toString() })),
      stats: stop.stats,
      warnings: this.warnings,
      stopReason: stop.reason,
      exitStatus: stop.exitStatus >= 0 ? stop.exitStatus : undefined,
    };
  }

  /** How this capture tells region ends: by its syscall tracepoints, once attached with them, else by snapshots only. */
  get regionChanges(): RegionChanges {
    return (this.attach?.events.length ?? 0) > 1 ? 'tracepoints' : 'snapshots';
  }

  /** Emits another status snapshot of every process the capture follows. */
  snapshot(): void {
    this.native.snapshot();
  }

  /**
   * A command the capture launched gets SIGTERM and a few seconds to exit,
   * then SIGKILL; with `force`, SIGKILL at once (a second Ctrl-C).
   */
  stop(force = false): Promise<StopInfo> {
    this.native.stop(force);
    return this.stopped;
  }
}
