// What a capture can target, in plain Node (no VS Code, so it is unit
// tested as it is): the processes to pick from, a command line to launch,
// the debuggee's pid as debug adapters give it, and capture options from
// the settings.

import * as fs from 'node:fs';

import { Emit, type CaptureOptions } from '../native/engine';

export interface ProcessEntry {
  pid: number;
  comm: string;
  commandLine: string;
  /** The owner's uid: attaching to another user's process needs privileges. */
  uid: number;
}

// Processes for the quick pick: pid, comm and command line from /proc,
// without kernel threads (they have no command line and no user-space
// sideband to show).
function readProcess(pid: number): ProcessEntry | undefined {
  try {
    const commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0+$/, '').replaceAll('\0', ' ');
    if (!commandLine) return undefined; // a kernel thread, or a zombie
    const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
    const uid = fs.statSync(`/proc/${pid}`).uid;
    return { pid, comm, commandLine, uid };
  } catch {
    return undefined; // exited while being listed
  }
}

/** Every user-space process but `exclude` (the extension host itself, say), newest first. */
export function listProcesses(exclude: readonly number[] = []): ProcessEntry[] {
  const skip = new Set(exclude);
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => !skip.has(pid))
    .sort((a, b) => b - a)
    .map(readProcess)
    .filter((p): p is ProcessEntry => p !== undefined);
}

/**
 * Splits a command line typed by the user into arguments, as a shell would
 * for plain words and quotes: no expansion, no operators (the capture runs
 * the program itself, so that its pid is the program's, not a shell's).
 */
export function splitCommandLine(line: string): string[] {
  const args: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) current += line[++i];
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      current += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) args.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`the command line has an unclosed ${quote} quote. Fix: close it.`);
  if (inWord) args.push(current);
  return args;
}

/** A process, its parent, and when it started (clock ticks since boot). */
export interface ProcessLink {
  pid: number;
  ppid: number;
  startTime: number;
}

/** Parent and start time from the text of /proc/PID/stat; comm, in parentheses, may hold anything, even ") (". */
export function parseStat(pid: number, text: string): ProcessLink | undefined {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After comm: state (field 3), ppid (4) ... starttime (22).
  const ppid = Number(fields[1]);
  const startTime = Number(fields[19]);
  return Number.isInteger(ppid) && Number.isFinite(startTime) && fields.length > 19 ? { pid, ppid, startTime } : undefined;
}

/** Every process's parent and start time, from /proc. */
export function processLinks(): ProcessLink[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => {
      try {
        return parseStat(Number(name), fs.readFileSync(`/proc/${name}/stat`, 'latin1'));
      } catch {
        return undefined; // exited while being listed
      }
    })
    .filter((p): p is ProcessLink => p !== undefined);
}

/** The children `parent` has among `processes`. */
export function childrenOf(parent: number, processes: readonly ProcessLink[]): number[] {
  return processes.filter((p) => p.ppid === parent).map((p) => p.pid);
}

/**
 * The debuggee of an adapter that says nothing of it: the newest process
 * whose parent is the adapter. The adapter is the extension host's child
 * that was not there before the session (`hostChildrenBefore`): VS Code
 * starts executable adapters from the extension host.
 */
export function newestChildOfAdapter(host: number, hostChildrenBefore: ReadonlySet<number>, processes: readonly ProcessLink[]): number | undefined {
  const adapters = new Set(childrenOf(host, processes).filter((pid) => !hostChildrenBefore.has(pid)));
  let newest: ProcessLink | undefined;
  for (const p of processes) {
    if (!adapters.has(p.ppid)) continue;
    // Equal start times (ticks are 10 ms): the higher pid came later.
    if (!newest || p.startTime > newest.startTime || (p.startTime === newest.startTime && p.pid > newest.pid)) newest = p;
  }
  return newest?.pid;
}

/** js-debug's name for the session of a debuggee: "app.js [4242]". */
export function pidFromSessionName(name: string): number | undefined {
  const match = /\[(\d+)\]\s*$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** `processId` of an attach configuration, once VS Code has resolved it to a number (or a numeric string). */
export function pidFromConfiguration(configuration: { request?: unknown; processId?: unknown }): number | undefined {
  if (configuration.request !== 'attach') return undefined;
  const id = configuration.processId;
  if (typeof id === 'number' && Number.isInteger(id) && id > 0) return id;
  if (typeof id === 'string' && /^\d+$/.test(id.trim()) && Number(id) > 0) return Number(id.trim());
  return undefined;
}

const EMIT_BITS: Record<string, number> = { fork: Emit.Fork, namespaces: Emit.Namespaces, comm: Emit.Comm, mmap: Emit.Mmap };

/** Capture options from the perfSideband.* settings; `get` reads one (undefined: its default). */
export function optionsFromSettings(get: <T>(key: string) => T | undefined): Omit<CaptureOptions, 'pid' | 'command'> {
  const names = get<string[]>('emit') ?? Object.keys(EMIT_BITS);
  const unknown = names.filter((name) => !(name in EMIT_BITS));
  if (unknown.length) throw new Error(`perfSideband.emit has ${unknown.map((n) => JSON.stringify(n)).join(', ')}, which it does not know. Fix: use only ${Object.keys(EMIT_BITS).join(', ')}.`);
  return {
    ringPages: get<number>('ringPages'),
    followChildren: get<boolean>('followChildren'),
    tryIoctl: get<boolean>('useKernelIoctl'),
    emit: names.reduce((bits, name) => bits | EMIT_BITS[name], 0),
  };
}
