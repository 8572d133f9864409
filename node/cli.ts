// `sideband`: capture, dump and snapshot from the command line, over the
// same engine and decoder the extension uses.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { DEFAULT_RING_PAGES, Emit, EngineError } from '../native/engine';
import { type HelperVia } from '../native/helper';
import { dump } from './dump';
import { Recording, type RecordingResult } from './recording';
import { FileError } from './fileError';
import { RecordError } from '../core/records';
import { SourceResolver } from './symbols/resolver';
import { openSymbolizer } from './symbols/symbolizer';
import { Debuginfod, debuginfodSource, type FetchProgress } from './symbols/debuginfod';
import { Timeline, parseAddress, parseMoment, protString, type Region } from '../core/timeline';
import { endedWords } from '../core/regionEnd';
import { indexPerfDataFile } from './perfdata/reader';
import { JitdumpLoader } from './jitdumps';
import { regionChangesInWords } from '../core/perfdata/metadata';

const USAGE = `usage:
  sideband capture --pid PID [--duration SECONDS] -o FILE [options]
  sideband capture -o FILE [--duration SECONDS] [options] -- CMD [ARGS...]
  sideband dump FILE|DIR|- [--json]
  sideband snapshot [--capture PID]
  sideband resolve FILE --pid PID [--at T] [--debug-dir DIR]... [--debuginfod URLS] [--inlines] ADDRESS...
  sideband regions FILE --pid PID [--at T] [--ended]
  sideband export FILE --perfetto -o OUT.pftrace

capture options:
  --ring-pages N     ring size per CPU in pages, a power of two (default ${DEFAULT_RING_PAGES})
  --no-children      do not follow children the target forks
  --no-namespaces    do not record namespaces
  --no-ioctl         take status from /proc even where the kernel has the ioctl
  --no-region-tracepoints
                     do not record the munmap, mremap, mprotect and brk syscall
                     tracepoints: region ends are then found by status snapshots only
  --snapshot-every MS
                     take a status snapshot every MS milliseconds, so that a
                     capture without those tracepoints still learns where regions went
  --via helper|sudo|pkexec
                     capture in the capture helper (sideband-capture), attached
                     to --pid: \`helper\` runs it as you (given
                     cap_perfmon,cap_sys_ptrace+ep once), \`sudo\` and \`pkexec\`
                     run it as root, asking you first; the file stays yours

A running capture emits another status snapshot on SIGUSR1, which
\`sideband snapshot\` sends.

dump reads any perf.data that perf writes: compressed (-z), a --threads
directory DIR, or perf's pipe format, from a file or, as -, from
standard input as it arrives (\`perf record -o - ... | sideband dump -\`).
A file cut short is read up to its last whole record, with a warning; one
that contradicts itself is refused, naming the record's byte and field,
after the records before it.

resolve prints \`function file:line\` for each hex ADDRESS of PID, as
mapped at T in the capture FILE (\`??\` and the reason on stderr when one
does not resolve, such as the munmap that unmapped it; exit status 1
then). --inlines adds a line
per function the innermost one is inlined into. Debug info is looked up
in the file, --debug-dir DIRs, /usr/lib/debug (by build-id and by
debuglink), the way the extension's language server does. With
--debuginfod URLS (space-separated; by default DEBUGINFOD_URLS, and
--debuginfod '' for none), a debug file found nowhere here is fetched by
build-id from those servers into the debuginfod client cache
($DEBUGINFOD_CACHE_PATH, else ~/.cache/debuginfod_client), where the next
run finds it; DEBUGINFOD_TIMEOUT, DEBUGINFOD_MAXTIME (seconds) and
DEBUGINFOD_MAXSIZE (bytes) bound each fetch, and Ctrl-C cancels it.

regions prints the regions PID had mapped at T, as /proc/PID/maps does:
the executable mappings the capture recorded, and the data mappings
where it recorded those. --ended adds those that ended before T, each
with how and when: \`# unmapped at T (munmap)\`, or, where only a status
snapshot showed it missing, \`# gone between T0 and T (found by a status
snapshot)\`.
JIT code that its runtime's jitdump placed (jit-PID.dump, which
\`node --perf-prof\` writes and maps, so the capture finds it) is listed
too, by the name the runtime gave it, \`# jitdump PATH\`; it ends when
moved, unloaded, replaced by code loaded over it, or with its process.
resolve names an address in it by that name.

export --perfetto writes the capture as a Perfetto trace (ui.perfetto.dev
opens it): a track per process and thread, each record an instant event
on its thread's track in the category status-only or real, with its
provenance, stale reasons and fields; region lifetimes as slices under
each process's "mappings"; LOST records, status snapshots and debugger
markers on tracks of their own; the times on the capture's own clock.

T is nanoseconds on the capture's clock (the \`time\` that dump --json
prints), or +SECONDS from the capture's first record; by default, the
end of the capture, or the last moment of a process that exited.`;

class UsageError extends Error {}

interface CaptureArgs {
  pid?: number;
  command?: string[];
  output: string;
  duration?: number;
  ringPages: number;
  followChildren: boolean;
  emit: number;
  tryIoctl: boolean;
  regionTracepoints: boolean;
  snapshotEvery?: number;
  via?: HelperVia;
}

function parseCaptureArgs(args: string[]): CaptureArgs {
  const out: Partial<CaptureArgs> = { ringPages: DEFAULT_RING_PAGES, followChildren: true, emit: Emit.All, tryIoctl: true, regionTracepoints: true };
  const number = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} needs a positive number, not ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    switch (a) {
      case '--':
        out.command = args.slice(i + 1);
        i = args.length;
        break;
      case '--pid':
      case '-p':
        out.pid = number(a, args[++i]);
        if (!Number.isInteger(out.pid)) throw new UsageError(`--pid needs a whole number, not ${args[i]}`);
        break;
      case '-o':
      case '--output':
        out.output = args[++i];
        break;
      case '--duration':
        out.duration = number(a, args[++i]);
        break;
      case '--ring-pages':
        out.ringPages = number(a, args[++i]);
        break;
      case '--no-children':
        out.followChildren = false;
        break;
      case '--no-namespaces':
        out.emit = (out.emit ?? Emit.All) & ~Emit.Namespaces;
        break;
      case '--no-ioctl':
        out.tryIoctl = false;
        break;
      case '--no-region-tracepoints':
        out.regionTracepoints = false;
        break;
      case '--snapshot-every':
        out.snapshotEvery = number(a, args[++i]);
        break;
      case '--via': {
        const via = args[++i];
        if (via !== 'helper' && via !== 'sudo' && via !== 'pkexec') throw new UsageError(`--via needs helper, sudo or pkexec, not ${via ?? 'nothing'}`);
        out.via = via;
        break;
      }
      default:
        throw new UsageError(`unknown capture option ${a}`);
    }
  }
  if (!out.output) throw new UsageError('capture needs an output file: -o FILE');
  if ((out.pid === undefined) === (out.command === undefined || out.command.length === 0))
    throw new UsageError('capture needs either --pid PID or -- CMD [ARGS...]');
  if (out.via && out.command) throw new UsageError('--via captures a running process, --pid PID: the helper never launches a command (elevated, it would run as root)');
  return out as CaptureArgs;
}

/** The registry of running captures cannot be used safely: says why and how to fix it. */
class RegistryError extends Error {}

/**
 * Where running captures register, so `sideband snapshot` can find them. It
 * must be ours alone: whoever else made it could read the entries, plant
 * symlinks for us to write through, or name processes for us to signal.
 * $XDG_RUNTIME_DIR is private by specification; /tmp is shared, so a
 * directory found there is checked to be ours, 0700 and not a symlink.
 */
function registryDir(): string {
  const uid = process.getuid!();
  const runtime = process.env.XDG_RUNTIME_DIR;
  const dir = runtime ? path.join(runtime, 'perf-sideband') : path.join(os.tmpdir(), `perf-sideband-${uid}`);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RegistryError(`cannot make ${dir}: ${(e as Error).message}. Fix: set XDG_RUNTIME_DIR to a private directory.`);
  }
  const found = fs.lstatSync(dir);
  const wrong = found.isSymbolicLink()
    ? 'is a symbolic link'
    : !found.isDirectory()
      ? 'is not a directory'
      : found.uid !== uid
        ? `belongs to uid ${found.uid}, not to us (uid ${uid})`
        : found.mode & 0o077
          ? `is open to other users (mode ${(found.mode & 0o777).toString(8)})`
          : undefined;
  if (wrong)
    throw new RegistryError(
      `${dir} ${wrong}, so it cannot hold the registry of running captures: another user may have made it to attack captures. Fix: remove it, or set XDG_RUNTIME_DIR to a private directory.`,
    );
  return dir;
}

/** A running capture's entry in the registry, named by its pid. */
interface Registration {
  pid: number;
  /** Its start time: with the pid, it names one process, however pids are reused. */
  started: string;
  target: number | string[] | undefined;
  output: string;
}

/** When process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat); undefined when it is gone. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields from the 3rd on follow the name in parentheses, which may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Registers this capture; returns its entry's path. Never writes through a symlink or into a file it did not create. */
function register(target: Registration['target'], output: string): string {
  const file = path.join(registryDir(), String(process.pid));
  fs.rmSync(file, { force: true }); // left by a capture that died with our pid long ago
  const registration: Registration = { pid: process.pid, started: startTimeOf(process.pid)!, target, output };
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(registration));
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

/** Pids of the captures registered and still running, the same processes that registered; other entries are removed. */
function runningCaptures(): number[] {
  const dir = registryDir();
  return fs.readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    let registration: Partial<Registration> | undefined;
    try {
      registration = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Registration>;
    } catch {
      // not an entry of ours: removed below
    }
    const pid = Number(name);
    if (registration?.pid === pid && registration.started !== undefined && registration.started === startTimeOf(pid)) return [pid];
    // A capture that died without cleaning up, its pid perhaps another process's now.
    fs.rmSync(file, { force: true });
    return [];
  });
}

function say(line: string): void {
  process.stderr.write(`sideband: ${line}\n`);
}

async function capture(args: string[]): Promise<number> {
  const opts = parseCaptureArgs(args);
  const recording = new Recording(
    {
      pid: opts.pid,
      command: opts.command,
      followChildren: opts.followChildren,
      ringPages: opts.ringPages,
      emit: opts.emit,
      tryIoctl: opts.tryIoctl,
      regionTracepoints: opts.regionTracepoints,
      via: opts.via,
    },
    opts.output,
    'choose a writable path for -o',
  );
  const { session } = recording;
  session.on('warning', (w) => say(`warning: ${w.message}`));
  session.on('snapshot', (s) => {
    const line = `${s.processes} process(es), ${s.records} status-only records from ${s.path === 'ioctl' ? 'the kernel ioctl' : '/proc'}${s.stale ? `, ${s.stale} possibly stale` : ''}`;
    if (s.index === 0) say(`attached to ${session.attach?.pid}: ${line}`);
    else say(`snapshot ${s.index}: ${line}`);
  });

  const onSnapshotSignal = (): void => session.snapshot();
  // A launched command is asked to exit (SIGTERM, SIGKILL some seconds
  // later if it does not); a second Ctrl-C kills it at once.
  let interrupted = false;
  const onInterrupt = (): void => {
    if (interrupted) say('stopping now');
    else say(opts.command ? 'stopping (Ctrl-C again not to wait for the command to exit)' : 'stopping');
    void session.stop(interrupted);
    interrupted = true;
  };
  process.on('SIGUSR1', onSnapshotSignal);
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  let registration: string | undefined;
  try {
    registration = register(opts.pid ?? opts.command, path.resolve(opts.output));
  } catch (e) {
    say(`warning: \`sideband snapshot\` will not find this capture: ${(e as Error).message} \`kill -USR1 ${process.pid}\` still asks it for a snapshot.`);
  }
  const timer = opts.duration ? setTimeout(() => void session.stop(), opts.duration * 1000) : undefined;
  let snapshots: NodeJS.Timeout | undefined;
  session.on('attached', () => {
    say(regionChangesInWords(session.regionChanges));
    if (opts.snapshotEvery) snapshots = setInterval(() => session.snapshot(), opts.snapshotEvery);
  });

  let result: RecordingResult;
  try {
    result = await recording.run();
  } finally {
    if (timer) clearTimeout(timer);
    if (snapshots) clearInterval(snapshots);
    // Unregistered first, so no `sideband snapshot` finds us from here on.
    if (registration) fs.rmSync(registration, { force: true });
    // One that found us just before still comes: SIGUSR1's default action
    // would kill us before the summary, so it is ignored until we exit (the
    // new listener first, as Node restores the default with the last one).
    process.on('SIGUSR1', () => {});
    process.off('SIGUSR1', onSnapshotSignal);
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }

  const { stop, written, writeError } = result;
  if (writeError) {
    say(`error: ${writeError instanceof FileError ? writeError.message : `cannot write ${opts.output}: ${writeError.message}. Fix: choose a writable path with enough space.`}`);
    return 1;
  }
  const { stats } = stop;
  if (stop.error) {
    say(`error: ${stop.error.message}`);
    // Not a count: the records read after a failed write are not in the file.
    if (written) say(`${opts.output} holds the records written before the error, and reads up to its last whole record`);
    return 1;
  }
  say(`${stats.records} records (${stats.statusRecords} status-only: ${stats.ioctlRecords} from the ioctl, ${stats.procRecords} from /proc) written to ${opts.output}`);
  if (stats.lost) say(`warning: the kernel lost ${stats.lost} records in ${stats.lostRecords} overflows; capture again with a larger --ring-pages`);
  return 0;
}

function dumpCommand(args: string[]): number {
  const json = args.includes('--json');
  const files = args.filter((a) => a !== '--json');
  if (files.length !== 1) throw new UsageError('dump needs exactly one FILE, or - for standard input');
  dump(files[0], json, say);
  return 0;
}

function snapshot(args: string[]): number {
  let only: number | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--capture') only = Number(args[++i]);
    else throw new UsageError(`unknown snapshot option ${args[i]}`);
  }
  const running = runningCaptures().filter((pid) => only === undefined || pid === only);
  if (running.length === 0) {
    say(only === undefined ? 'no running capture found. Fix: start one with `sideband capture`.' : `no running capture with pid ${only}.`);
    return 1;
  }
  for (const pid of running) {
    process.kill(pid, 'SIGUSR1');
    say(`asked capture ${pid} for a status snapshot`);
  }
  return 0;
}

/** The options resolve and regions share: FILE, --pid, --at; the rest is the caller's. */
interface CaptureQuery {
  file: string;
  pid: number;
  at?: string;
  rest: string[];
}

function parseQuery(command: string, args: string[], takes: (a: string, next: () => string | undefined) => boolean): CaptureQuery {
  let pid: number | undefined;
  let at: string | undefined;
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const next = (): string | undefined => args[++i];
    if (a === '--pid' || a === '-p') {
      pid = Number(args[++i]);
      if (!Number.isInteger(pid) || pid <= 0) throw new UsageError(`--pid needs a whole number, not ${args[i] ?? 'nothing'}`);
    } else if (a === '--at') {
      at = next();
      if (at === undefined) throw new UsageError('--at needs a time: nanoseconds on the capture\'s clock, or +SECONDS');
    } else if (takes(a, next)) {
      continue;
    } else if (a.startsWith('-')) {
      throw new UsageError(`unknown ${command} option ${a}`);
    } else {
      positional.push(a);
    }
  }
  const [file, ...rest] = positional;
  if (!file) throw new UsageError(`${command} needs a capture FILE`);
  if (pid === undefined) throw new UsageError(`${command} needs --pid PID`);
  if (!fs.existsSync(file)) throw new FileError('ENOENT', file, `cannot read ${file}: no such file. Fix: check the path.`);
  return { file, pid, at, rest };
}

/** The moment --at names in `timeline`, checked. */
function momentOf(query: CaptureQuery, timeline: Timeline): number | undefined {
  if (query.at === undefined) return undefined;
  const t = parseMoment(query.at, timeline.startTime);
  if (t === undefined) throw new UsageError(`--at ${query.at} is not a time: give nanoseconds on the capture's clock (as dump --json prints them), or +SECONDS from its first record`);
  return t;
}

async function resolve(args: string[]): Promise<number> {
  let inlines = false;
  const debugDirs: string[] = [];
  let debuginfodUrls: string[] | undefined;
  const query = parseQuery('resolve', args, (a, next) => {
    if (a === '--debug-dir') {
      const dir = next();
      if (dir === undefined) throw new UsageError('--debug-dir needs a directory');
      debugDirs.push(dir);
    } else if (a === '--debuginfod') {
      const urls = next();
      if (urls === undefined) throw new UsageError("--debuginfod needs the servers' URLs, space-separated, or '' for none");
      debuginfodUrls = urls.split(/\s+/);
    } else if (a === '--inlines') {
      inlines = true;
    } else {
      return false;
    }
    return true;
  });
  const addresses = query.rest;
  if (addresses.length === 0) throw new UsageError('resolve needs at least one ADDRESS');
  const parsed = addresses.map((a) => {
    const address = parseAddress(a);
    if (address === undefined) throw new UsageError(`${a} is not a hex address`);
    return address;
  });
  const source = debuginfodSource(debuginfodUrls, '--debuginfod');
  const symbolizer = openSymbolizer({ debugDirs, debuginfod: source && new Debuginfod(source) });
  // Ctrl-C cancels a fetch, which leaves no partial file in the cache.
  const interrupt = new AbortController();
  const onInterrupt = (): void => interrupt.abort();
  process.once('SIGINT', onInterrupt);
  const fetching = new Set<string>();
  const watch = {
    signal: interrupt.signal,
    progress: ({ buildId, file, url, total }: FetchProgress): void => {
      if (fetching.has(buildId)) return;
      fetching.add(buildId);
      say(`fetching the debug info of ${file} (build-id ${buildId}${total === undefined ? '' : `, ${total} bytes`}) from ${url}`);
    },
  };
  try {
    if (symbolizer.kind !== 'libdw') say(`note: ${symbolizer.description}`);
    const resolver = new SourceResolver(symbolizer);
    const capture = resolver.capture(query.file);
    for (const problem of capture.jitdumpProblems) say(`warning: ${problem}`);
    const at = momentOf(query, capture.timeline);
    const results = await resolver.resolveInCapture(query.file, query.pid, parsed, at, watch);
    let unresolved = 0;
    const out: string[] = [];
    // Where a region's path names another file here (the target's mount namespace), say once which was read.
    const told = new Set<string>();
    for (const { read } of results)
      if (read?.via && !told.has(read.path)) {
        told.add(read.path);
        say(`note: read ${read.path}: ${read.via}`);
      }
    results.forEach((r, i) => {
      const [innermost, ...outer] = r.frames;
      if (!innermost) {
        unresolved++;
        out.push('??\n');
        say(`${addresses[i]}: ${r.error ?? 'not resolved'}`);
        return;
      }
      out.push(`${frameText(innermost)}\n`);
      if (inlines) for (const f of outer) out.push(`  inlined into ${frameText(f)}\n`);
    });
    process.stdout.write(out.join(''));
    return unresolved ? 1 : 0;
  } finally {
    process.off('SIGINT', onInterrupt);
    symbolizer.dispose();
  }
}

function regions(args: string[]): number {
  let ended = false;
  const query = parseQuery('regions', args, (a) => a === '--ended' && (ended = true));
  if (query.rest.length) throw new UsageError(`regions takes one FILE, not ${query.rest.join(' ')}`);
  const indexed = indexPerfDataFile(query.file);
  for (const warning of indexed.warnings) say(`warning: ${warning}`);
  const timeline = new Timeline(indexed.index);
  for (const problem of new JitdumpLoader().load(timeline, indexed.stream.attrs.map((a) => a.attr))) say(`warning: ${problem}`);
  const t = momentOf(query, timeline) ?? timeline.lastMoment(query.pid);
  if (!timeline.processAt(query.pid, t)) throw new FileError('ESRCH', query.file, `pid ${query.pid} is not in ${query.file}. Fix: pick a pid that dump lists.`);
  const lines = timeline.regionsAt(query.pid, t).map((r) => ({ start: r.start, line: r.jitdump ? `${mapsLine(r)}  # jitdump ${r.jitdump}` : mapsLine(r) }));
  if (ended) for (const r of timeline.endedRegionsAt(query.pid, t)) lines.push({ start: r.start, line: `${mapsLine(r)}  # ${r.jitdump ? `jitdump ${r.jitdump}, ` : ''}${endedWords(r.ended, String)}` });
  // By address, as the kernel lists them; a region that ended after one now at its place.
  lines.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  process.stdout.write(lines.map((l) => `${l.line}\n`).join(''));
  return 0;
}

/** A region as /proc/PID/maps prints it (fs/proc/task_mmu.c): the path after the fields, padded to column 73. */
function mapsLine(r: Region): string {
  const hex = (v: bigint | number, width: number): string => v.toString(16).padStart(width, '0');
  const fields = `${hex(r.start, 8)}-${hex(r.end, 8)} ${protString(r.prot, r.flags)} ${hex(r.pgoff, 8)} ${hex(r.maj ?? 0, 2)}:${hex(r.min ?? 0, 2)} ${r.ino ?? 0}`;
  return r.filename ? `${fields.padEnd(72)} ${r.filename}` : fields;
}

async function exportCommand(args: string[]): Promise<number> {
  let perfetto = false;
  let output: string | undefined;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--perfetto') perfetto = true;
    else if (a === '-o' || a === '--output') {
      output = args[++i];
      if (output === undefined) throw new UsageError(`${a} needs the trace file to write`);
    } else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown export option ${a}`);
    else files.push(a);
  }
  if (!perfetto) throw new UsageError('export needs the format to write: --perfetto (the only one)');
  if (files.length !== 1) throw new UsageError(`export needs exactly one capture FILE${files.length ? `, not ${files.join(' ')}` : ''}`);
  if (!output) throw new UsageError('export needs an output file: -o OUT.pftrace');
  if (files[0] === '-') throw new UsageError('export reads a file, not standard input: save the pipe to a file first');
  // Loaded only here: Perfetto's messages take a while to load, which no other command should pay.
  const { exportPerfettoFile } = await import('./perfettoFile');
  const exported = exportPerfettoFile(files[0], output);
  for (const w of exported.warnings) say(`warning: ${w}`);
  say(`${exported.records} records written as a Perfetto trace to ${output} (${exported.bytes} bytes)`);
  return 0;
}

function frameText(frame: { function: string; file?: string; line?: number }): string {
  return frame.file ? `${frame.function} ${frame.file}:${frame.line ?? 0}` : frame.function;
}

export async function main(argv: string[]): Promise<void> {
  // `sideband dump FILE | head`: a reader that has seen enough is no error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
  const [command, ...rest] = argv;
  let code: number;
  try {
    switch (command) {
      case 'capture':
        code = await capture(rest);
        break;
      case 'dump':
        code = dumpCommand(rest);
        break;
      case 'snapshot':
        code = snapshot(rest);
        break;
      case 'resolve':
        code = await resolve(rest);
        break;
      case 'regions':
        code = regions(rest);
        break;
      case 'export':
        code = await exportCommand(rest);
        break;
      default:
        throw new UsageError(command ? `unknown command ${command}` : 'no command given');
    }
  } catch (e) {
    if (e instanceof UsageError) {
      say(`${e.message}\n${USAGE}`);
      code = 2;
    } else if (e instanceof EngineError || e instanceof FileError || e instanceof RecordError || e instanceof RegistryError) {
      say(`error: ${e.message}`);
      code = 1;
    } else {
      throw e;
    }
  }
  // A capture exits at once: left to end by itself, Node restores SIGUSR1's
  // default action while it tears down, and a snapshot asked of it just then
  // would kill it; exit() keeps our handler to the end.
  if (command === 'capture') process.exit(code);
  process.exitCode = code;
}
