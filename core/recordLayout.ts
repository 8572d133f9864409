// Where each field sits in a kernel record (include/uapi/linux/perf_event.h),
// written once for TypeScript, and the typed views that read a record's
// fields through it. The index reads pid and tid through this table, the
// model and the details through the views; nothing else names an offset.
// (The sample_id trailer's layout depends on the attr: records.ts finds it.)

/** perf_event_header: every record starts with it. */
export const HEADER = { type: 0, misc: 4, size: 6, end: 8 } as const;
/** FORK and EXIT. */
export const TASK = { pid: 8, ppid: 12, tid: 16, ptid: 20, time: 24, end: 32 } as const;
/** `comm` runs to the trailer, NUL-padded to 8 bytes. */
export const COMM = { pid: 8, tid: 12, comm: 16 } as const;
/** `filename` runs to the trailer. */
export const MMAP = { pid: 8, tid: 12, addr: 16, len: 24, pgoff: 32, filename: 40 } as const;
/** MMAP2 carries a build-id where it would carry the device and inode, when misc has MMAP_BUILD_ID. */
export const MMAP2 = {
  ...MMAP,
  maj: 40,
  min: 44,
  ino: 48,
  inoGeneration: 56,
  buildIdSize: 40,
  buildId: 44,
  buildIdMax: 20,
  prot: 64,
  flags: 68,
  filename: 72,
} as const;
/** `count` links of { dev, ino } follow. */
export const NAMESPACES = { pid: 8, tid: 12, count: 16, links: 24, link: 16 } as const;
export const LOST = { id: 8, lost: 16, end: 24 } as const;

/** PERF_RECORD_MISC_MMAP_BUILD_ID: an MMAP2 with a build-id instead of device and inode. */
/**
 * The syscalls that change a process's mappings without a record of their
 * own (perf writes none for munmap, mremap or mprotect), as their
 * `syscalls:sys_enter_*` and `sys_exit_*` tracepoints tell them. The index
 * keeps the samples of these events, and no others.
 */
export const MAPPING_SYSCALLS = ['munmap', 'mremap', 'mprotect', 'brk'] as const;
export type MappingSyscall = (typeof MAPPING_SYSCALLS)[number];
/** Each one's arguments, in the order its sys_enter tracepoint carries them. */
export const SYSCALL_ARGS: Record<MappingSyscall, readonly string[]> = {
  munmap: ['addr', 'len'],
  mremap: ['addr', 'old_len', 'new_len', 'flags', 'new_addr'],
  mprotect: ['start', 'len', 'prot'],
  brk: ['brk'],
};
/**
 * A syscall tracepoint's raw data (struct syscall_trace_enter and _exit,
 * kernel/trace/trace.h): the 8 bytes of common fields, the syscall's number,
 * then its arguments as unsigned longs, or its return value as a long. The
 * same on every 64-bit kernel since 2.6.33.
 */
export const SYSCALL_RAW = { nr: 8, args: 16, ret: 16 } as const;

/** Argument `k` of a sys_enter sample whose raw data starts at `rawAt`. */
export function syscallArg(bytes: Uint8Array, rawAt: number, k: number): bigint {
  return view(bytes).getBigUint64(rawAt + SYSCALL_RAW.args + 8 * k, true);
}

/** The return value of a sys_exit sample whose raw data starts at `rawAt`: negative for an errno. */
export function syscallReturn(bytes: Uint8Array, rawAt: number): bigint {
  return view(bytes).getBigInt64(rawAt + SYSCALL_RAW.ret, true);
}

export const MISC_MMAP_BUILD_ID = 1 << 14;

const utf8 = new TextDecoder('utf-8', { fatal: false });

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
// Byte by byte where the model reads a record per call: no DataView to make.
const u16 = (b: Uint8Array, at: number): number => b[at] | (b[at + 1] << 8);
const u32 = (b: Uint8Array, at: number): number => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
const u64 = (b: Uint8Array, at: number): number => u32(b, at) + u32(b, at + 4) * 4294967296;

/** Bytes from `start` up to the first NUL before `end`, as text. */
export function cString(bytes: Uint8Array, start: number, end: number): string {
  let stop = start;
  while (stop < end && bytes[stop] !== 0) stop++;
  return utf8.decode(bytes.subarray(start, stop));
}

export function recordMisc(bytes: Uint8Array): number {
  return u16(bytes, HEADER.misc);
}

export interface TaskFields {
  pid: number;
  ppid: number;
  tid: number;
  ptid: number;
  /** The kernel's own time of the fork or exit, in the body (not the trailer's). */
  time: number;
}

/** A FORK or EXIT's body. */
export function taskFields(bytes: Uint8Array): TaskFields {
  return { pid: u32(bytes, TASK.pid), ppid: u32(bytes, TASK.ppid), tid: u32(bytes, TASK.tid), ptid: u32(bytes, TASK.ptid), time: u64(bytes, TASK.time) };
}

/** A COMM's name; `bodyEnd` is where its trailer starts. */
export function commName(bytes: Uint8Array, bodyEnd: number): string {
  return cString(bytes, COMM.comm, bodyEnd);
}

export interface MappedRange {
  start: bigint;
  end: bigint;
  pgoff: bigint;
}

/** The address range an MMAP or MMAP2 maps, and the file offset at its start. */
export function mappedRange(bytes: Uint8Array): MappedRange {
  const v = view(bytes);
  const start = v.getBigUint64(MMAP.addr, true);
  return { start, end: start + v.getBigUint64(MMAP.len, true), pgoff: v.getBigUint64(MMAP.pgoff, true) };
}

/** What an MMAP2 says of its file beyond the range: a build-id, or device and inode; then protection and flags. */
export type Mmap2File = { prot: number; flags: number } & ({ buildId: string } | { maj: number; min: number; ino: bigint; inoGeneration: bigint });

export function mmap2File(bytes: Uint8Array): Mmap2File {
  const v = view(bytes);
  const prot = v.getUint32(MMAP2.prot, true);
  const flags = v.getUint32(MMAP2.flags, true);
  if (v.getUint16(HEADER.misc, true) & MISC_MMAP_BUILD_ID) {
    const n = Math.min(v.getUint8(MMAP2.buildIdSize), MMAP2.buildIdMax);
    return { prot, flags, buildId: Array.from(bytes.subarray(MMAP2.buildId, MMAP2.buildId + n), (b) => b.toString(16).padStart(2, '0')).join('') };
  }
  return {
    prot,
    flags,
    maj: v.getUint32(MMAP2.maj, true),
    min: v.getUint32(MMAP2.min, true),
    ino: v.getBigUint64(MMAP2.ino, true),
    inoGeneration: v.getBigUint64(MMAP2.inoGeneration, true),
  };
}

/** An MMAP's or MMAP2's file name; `bodyEnd` is where its trailer starts. */
export function mappedFilename(bytes: Uint8Array, type: 'mmap' | 'mmap2', bodyEnd: number): string {
  return cString(bytes, type === 'mmap2' ? MMAP2.filename : MMAP.filename, bodyEnd);
}

export interface NamespaceLink {
  dev: bigint;
  ino: bigint;
}

/** A NAMESPACES record's links, as many as its count says and its size holds. */
export function namespaceLinks(bytes: Uint8Array, size: number): NamespaceLink[] {
  const v = view(bytes);
  const count = Number(v.getBigUint64(NAMESPACES.count, true));
  const links: NamespaceLink[] = [];
  for (let k = 0, at = NAMESPACES.links; k < count && at + NAMESPACES.link <= size; k++, at += NAMESPACES.link)
    links.push({ dev: v.getBigUint64(at, true), ino: v.getBigUint64(at + 8, true) });
  return links;
}

/** A LOST record: the event that lost records, and how many. */
export function lostFields(bytes: Uint8Array): { id: bigint; lost: number } {
  return { id: view(bytes).getBigUint64(LOST.id, true), lost: u64(bytes, LOST.lost) };
}

/** A LOST record's count alone, as the model sums them. */
export function lostCount(bytes: Uint8Array): number {
  return u64(bytes, LOST.lost);
}
