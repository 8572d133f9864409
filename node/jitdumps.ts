// The jitdumps of a capture's processes, read from where they live into its
// timeline (core/jitdumpMaps.ts finds them): our path when the process ran
// in our mount namespace, the same path under /proc/PID/root while it lives
// in another.

import * as fs from 'node:fs';

import { type EventAttr } from '../core/records';
import { JitdumpError, parseJitdump, type Jitdump } from '../core/jitdump';
import { JitdumpFinder, damageOf, unplaceable, type MappedJitdump } from '../core/jitdumpMaps';
import { type Timeline } from '../core/timeline';

/**
 * Reads the jitdumps each timeline's processes mapped and gives their code
 * to it, again when a dump has grown. One per capture: it remembers how far
 * each timeline's records were looked through, and says each problem once.
 */
export class JitdumpLoader {
  private readonly found = new WeakMap<Timeline, { finder: JitdumpFinder; dumps: Array<{ mapped: MappedJitdump; appliedBytes: number }> }>();
  private readonly told = new Set<string>();

  /**
   * Finds the jitdumps mapped in the records `timeline` took since the last
   * call and (re)reads those that grew. Returns the problems met, each
   * once: a dump that cannot be read or placed, one read only up to a
   * damaged record, or cut short once its process exited (while it runs,
   * its runtime has written part of a record not yet: that is no damage).
   */
  load(timeline: Timeline, attrs: readonly EventAttr[]): string[] {
    let state = this.found.get(timeline);
    if (!state) this.found.set(timeline, (state = { finder: new JitdumpFinder(), dumps: [] }));
    for (const mapped of state.finder.newIn(timeline)) state.dumps.push({ mapped, appliedBytes: -1 });
    const problems: string[] = [];
    const say = (problem: string): void => {
      if (this.told.has(problem)) return;
      this.told.add(problem);
      problems.push(problem);
    };
    for (const entry of state.dumps) {
      const read = readJitdumpFile(entry.mapped, entry.appliedBytes);
      if (!('dump' in read)) {
        if ('problem' in read) say(read.problem);
        continue;
      }
      const damage = damageOf(read.dump, entry.mapped, timeline);
      if (damage) say(damage);
      entry.appliedBytes = read.size;
      const refused = unplaceable(read.dump, attrs, read.path);
      if (refused) {
        say(refused);
        continue;
      }
      timeline.setJitCode(entry.mapped.pid, entry.mapped.time, read.path, read.dump.events);
    }
    return problems;
  }
}

/**
 * The dump `mapped` names, read from where it lives, when it holds more
 * than `knownBytes`: parsed; or the problem that kept it from being read.
 */
function readJitdumpFile(mapped: MappedJitdump, knownBytes: number): { path: string; size: number; dump: Jitdump } | { problem: string } | { unchanged: true } {
  const where = jitdumpPath(mapped);
  if ('problem' in where) return where;
  let bytes: Buffer;
  try {
    if (fs.statSync(where.path).size === knownBytes) return { unchanged: true };
    bytes = fs.readFileSync(where.path);
  } catch (e) {
    return { problem: cannotRead(where.path, mapped.pid, e) };
  }
  try {
    return { path: where.path, size: bytes.byteLength, dump: parseJitdump(bytes, where.path) };
  } catch (e) {
    if (e instanceof JitdumpError) return { problem: e.message };
    throw e;
  }
}

/**
 * The bytes past `from` of the dump `mapped` names, read from where it
 * lives: what the timeline's webview, which has no files, asks for as the
 * dump grows. No bytes and a problem when it cannot be read, or shrank
 * below `from` (a new process with the pid wrote a new dump).
 */
export function jitdumpBytesFrom(mapped: JitdumpPlace, from: number): { path: string; bytes: Uint8Array; problem?: string } {
  const where = jitdumpPath(mapped);
  if ('problem' in where) return { path: mapped.filename, bytes: new Uint8Array(0), problem: where.problem };
  let fd: number | undefined;
  try {
    fd = fs.openSync(where.path, 'r');
    const size = fs.fstatSync(fd).size;
    if (size < from) return { path: where.path, bytes: new Uint8Array(0), problem: `${where.path} shrank from ${from} to ${size} bytes while it was read: another process wrote its dump over it. Fix: capture again.` };
    const bytes = new Uint8Array(size - from);
    return { path: where.path, bytes: bytes.subarray(0, fs.readSync(fd, bytes, 0, bytes.byteLength, from)) };
  } catch (e) {
    return { path: where.path, bytes: new Uint8Array(0), problem: cannotRead(where.path, mapped.pid, e) };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** What names a dump's place: its path, in the mount namespace of its process. */
type JitdumpPlace = Pick<MappedJitdump, 'pid' | 'filename' | 'mountNamespace'>;

const cannotRead = (path: string, pid: number, e: unknown): string => `cannot read ${path}, the jitdump pid ${pid} mapped: ${(e as Error).message}. Fix: read the capture where the runtime wrote its dump, before it is removed.`;

/**
 * Where to read the dump `mapped` names. In our mount namespace (or one
 * the capture did not record), its path; in another, the same path under
 * /proc/PID/root while that process lives there still, else a problem:
 * our file at that path would be another's.
 */
function jitdumpPath(mapped: JitdumpPlace): { path: string } | { problem: string } {
  const theirs = mapped.mountNamespace;
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
