// Where a target's files are read. A region's file name is a path in the
// target's mount namespace: in a container, a Flatpak or a snap it names
// another file than ours at that path, and its perf-PID.map is named by the
// pid in its own pid namespace. While the target lives its files are reached
// through /proc/PID (its root, or the mapped file itself); once it is gone a
// path in another namespace cannot be trusted, and is not read.

import * as fs from 'node:fs';

import { SourceError } from '../../core/sourceError';
import { namespaceLinks } from '../../core/recordLayout';
import { type Timeline } from '../../core/timeline';

/** Positions in a NAMESPACES record's links (include/uapi/linux/perf_event.h: PID_NS_INDEX, MNT_NS_INDEX). */
const PID_NS_INDEX = 3;
const MNT_NS_INDEX = 5;

/**
 * A process's namespaces, by inode number: all namespaces are inodes of the
 * one nsfs, so the number alone tells them apart (and the device the
 * kernel writes in a record is encoded otherwise than stat's).
 */
export interface Namespaces {
  mnt: bigint;
  pid: bigint;
}

/** What is known of a traced process, for where its files are read. */
export interface Target {
  pid: number;
  /** Its namespaces, from the capture's latest NAMESPACES record of it; absent when the capture has none. */
  recorded?: Namespaces;
  /** Whether the capture saw it exit: a process of that pid now is another one. */
  exited: boolean;
}

/** The file to open for a region, and which it is. */
export interface FileToRead {
  path: string;
  /** Set when it is not the region's path in our namespace: what `path` is, for the user. */
  via?: string;
}

/** The target `pid` of `timeline`, at its last moment there; a pid the capture does not know has nothing recorded. */
export function targetIn(timeline: Timeline | undefined, pid: number): Target {
  const process = timeline?.processAt(pid, timeline.lastMoment(pid));
  if (!timeline || !process) return { pid, exited: false };
  const latest = process.namespaces[process.namespaces.length - 1];
  const index = timeline.records;
  const links = latest === undefined ? [] : namespaceLinks(index.source.record(index.offset[latest], index.size[latest]), index.size[latest]);
  const recorded = links.length > MNT_NS_INDEX ? { mnt: links[MNT_NS_INDEX].ino, pid: links[PID_NS_INDEX].ino } : undefined;
  return { pid, exited: !Number.isNaN(process.exitTime), ...(recorded ? { recorded } : {}) };
}

function namespacesAt(proc: string): Namespaces | undefined {
  try {
    return { mnt: fs.statSync(`${proc}/ns/mnt`, { bigint: true }).ino, pid: fs.statSync(`${proc}/ns/pid`, { bigint: true }).ino };
  } catch {
    return undefined;
  }
}

/** Ours, once: the server and the CLI never change namespace. */
let own: Namespaces | undefined;
function ownNamespaces(): Namespaces | undefined {
  return (own ??= namespacesAt('/proc/self'));
}

/** The target's namespaces now, when it still runs: undefined once it exited (in the capture, or since). */
function liveNamespaces(target: Target): Namespaces | undefined {
  return target.exited ? undefined : namespacesAt(`/proc/${target.pid}`);
}

const hex = (v: bigint): string => v.toString(16);

function sameFile(a: string, b: string): boolean {
  try {
    const x = fs.statSync(a, { bigint: true });
    const y = fs.statSync(b, { bigint: true });
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/**
 * The file a region of `target` maps. In our mount namespace (or when
 * nothing says otherwise: a capture without NAMESPACES records of a process
 * gone) its path; in another, while the target runs, the mapped file through
 * /proc/PID/map_files when the path there now names another file (replaced
 * or deleted since), else the path under /proc/PID/root (beside which its
 * debug link's file is found). Once a target of another mount namespace is
 * gone, our file at that path is read only when the region's build-id can
 * check it; otherwise this throws, saying why.
 */
export function fileOfRegion(target: Target, region: { start: bigint; end: bigint; filename: string; buildId?: string }): FileToRead {
  const ours = ownNamespaces();
  const live = liveNamespaces(target);
  const theirs = live ?? target.recorded;
  if (!theirs || !ours || theirs.mnt === ours.mnt) return { path: region.filename };
  const mnt = `mnt:[${theirs.mnt}]`;
  if (live) {
    const rooted = `/proc/${target.pid}/root${region.filename}`;
    const mapped = `/proc/${target.pid}/map_files/${hex(region.start)}-${hex(region.end)}`;
    if (fs.existsSync(mapped) && !sameFile(mapped, rooted)) return { path: mapped, via: `the file pid ${target.pid} maps there (its mount namespace ${mnt} is not ours)` };
    try {
      fs.accessSync(rooted, fs.constants.R_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
      const fix =
        code === 'ENOENT'
          ? 'it is gone from there, and no mapping of the process holds it at that range now: look at a region it maps now'
          : "reading another user's process's files needs ptrace access to it: run as that user, or as root";
      throw new SourceError('file', `${region.filename} cannot be read in pid ${target.pid}'s mount namespace ${mnt} (${rooted}: ${code}), nor through its mapping ${mapped}. Fix: ${fix}.`);
    }
    return { path: rooted, via: `${region.filename} in pid ${target.pid}'s mount namespace ${mnt}, not ours` };
  }
  if (region.buildId) return { path: region.filename, via: `our ${region.filename}, checked by the build-id of the record, as pid ${target.pid} (mount namespace ${mnt}, not ours) has exited` };
  throw new SourceError(
    'other-namespace',
    `pid ${target.pid} ran in another mount namespace (${mnt}, ours is mnt:[${ours.mnt}]) and has exited, so ${region.filename} here may be another file than the one it mapped: it is not read. Fix: look while the process runs, or capture with build-ids (perf record --buildid-mmap) so that our file can be checked.`,
  );
}

/**
 * The perf map of `target`'s JIT code: written by the runtime as
 * /tmp/perf-PID.map with PID its pid in its own pid namespace (NSpid's last
 * field in /proc/PID/status), in its own /tmp. Known while it runs; once
 * gone, only when it shared our namespaces.
 */
export function perfMapOf(target: Target): FileToRead {
  const ours = ownNamespaces();
  const live = liveNamespaces(target);
  if (live) {
    const nspid = innermostPid(target.pid) ?? target.pid;
    const root = ours && live.mnt !== ours.mnt ? `/proc/${target.pid}/root` : '';
    const path = `${root}/tmp/perf-${nspid}.map`;
    return nspid === target.pid && !root ? { path } : { path, via: `pid ${target.pid}'s perf map, named by its pid ${nspid} in its own pid namespace${root ? ', in its mount namespace' : ''}` };
  }
  const theirs = target.recorded;
  if (theirs && ours && (theirs.mnt !== ours.mnt || theirs.pid !== ours.pid))
    throw new SourceError(
      'other-namespace',
      `pid ${target.pid} ran in another ${theirs.pid !== ours.pid ? 'pid' : 'mount'} namespace and has exited, so its perf map (named by its pid there, in its own /tmp) cannot be found. Fix: look while the process runs.`,
    );
  return { path: `/tmp/perf-${target.pid}.map` };
}

/** The last of NSpid's pids: the process's pid in its own pid namespace. */
function innermostPid(pid: number): number | undefined {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const nspid = /^NSpid:\s*([\d\s]+)$/m.exec(status)?.[1].trim().split(/\s+/);
  return nspid ? Number(nspid[nspid.length - 1]) : undefined;
}
