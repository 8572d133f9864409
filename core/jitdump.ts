// The jitdump format (jit-PID.dump): what a JIT runtime (V8 with
// --perf-prof, the JVM's perf agent, wasmtime) says of the code it
// generates, each record stamped with a time. Laid out as perf's
// tools/perf/util/jitdump.h has it. Pure, so the CLI, the language server and
// the webview read a dump alike.

/** "JiTD" as the writer's native-endian u32: read swapped, the file came from the other byte order. */
const MAGIC = 0x4a695444;
const MAGIC_SWAPPED = 0x4454694a;
const VERSION = 1;
const HEADER_BYTES = 40;
const PREFIX_BYTES = 16;
/** JITDUMP_FLAGS_ARCH_TIMESTAMP: times are the CPU's counter (x86's TSC), not a POSIX clock. */
const FLAG_ARCH_TIMESTAMP = 1n;

/** Record ids of jr_prefix. */
export enum JitRecord {
  CODE_LOAD = 0,
  CODE_MOVE = 1,
  CODE_DEBUG_INFO = 2,
  CODE_CLOSE = 3,
  CODE_UNWINDING_INFO = 4,
}

/** Bytes before a record's variable part: jr_code_load before the name, jr_code_move whole. */
const FIXED_BYTES: Partial<Record<JitRecord, number>> = { [JitRecord.CODE_LOAD]: PREFIX_BYTES + 40, [JitRecord.CODE_MOVE]: PREFIX_BYTES + 48 };

export interface JitdumpHeader {
  version: number;
  /** ELF e_machine of the code (62: x86-64). */
  elfMachine: number;
  /** The writer's pid, in its own pid namespace. */
  pid: number;
  /** When the file was opened, as the writer stamped it (V8: wall-clock microseconds). */
  timestamp: bigint;
  flags: bigint;
  /** Record times are the CPU's counter, which no perf clock is. */
  archTimestamp: boolean;
}

/** What a jitdump says happened to code, by its time (ns on the writer's clock: V8 and wasmtime use CLOCK_MONOTONIC). */
export type JitCodeEvent =
  | { kind: 'load'; time: number; pid: number; tid: number; codeAddr: bigint; codeSize: bigint; codeIndex: bigint; name: string }
  | { kind: 'move'; time: number; pid: number; tid: number; oldCodeAddr: bigint; newCodeAddr: bigint; codeSize: bigint; codeIndex: bigint }
  | { kind: 'close'; time: number };

export interface Jitdump {
  header: JitdumpHeader;
  /** Loads, moves and closes in file order (the writer's time order). */
  events: JitCodeEvent[];
  /** Bytes of whole records read, header included: where a later read of a growing file carries on. */
  bytesRead: number;
  /** Set when the records stopped before the end of the bytes: why, in a sentence with its fix. */
  problem?: string;
  /** The bytes end inside a record, as a dump still being written does (its runtime buffers what it writes); not a record that contradicts itself. */
  partial: boolean;
}

/** A file that is no jitdump, or one whose header we cannot read. */
export class JitdumpError extends Error {}

/**
 * Reads a jitdump's header and its records up to the last whole one. A
 * header that is not jitdump's throws JitdumpError; a record cut short or
 * that contradicts its own size ends the read there, with `problem` saying
 * so: the records before it stand. `name` names the file in messages.
 */
export function parseJitdump(bytes: Uint8Array, name: string): Jitdump {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < HEADER_BYTES) throw new JitdumpError(`${name} is ${bytes.byteLength} bytes, shorter than a jitdump header (${HEADER_BYTES}): it is empty or cut short. Fix: let the runtime run until it has written its header.`);
  const magic = v.getUint32(0, true);
  if (magic !== MAGIC && magic !== MAGIC_SWAPPED) throw new JitdumpError(`${name} is not a jitdump: it begins with 0x${magic.toString(16).padStart(8, '0')}, not the magic "JiTD". Fix: give the jit-PID.dump a runtime wrote (node --perf-prof).`);
  const le = magic === MAGIC;
  const version = v.getUint32(4, le);
  if (version > VERSION) throw new JitdumpError(`${name} is jitdump version ${version}, newer than version ${VERSION}, the one this reader knows. Fix: update perf-sideband, or have the runtime write version ${VERSION}.`);
  const headerBytes = v.getUint32(8, le);
  if (headerBytes < HEADER_BYTES || headerBytes > bytes.byteLength) throw new JitdumpError(`${name} says its header is ${headerBytes} bytes, outside ${HEADER_BYTES}–${bytes.byteLength} (the file's size): the file is corrupt.`);
  const flags = v.getBigUint64(32, le);
  const header: JitdumpHeader = { version, elfMachine: v.getUint32(12, le), pid: v.getUint32(20, le), timestamp: v.getBigUint64(24, le), flags, archTimestamp: (flags & FLAG_ARCH_TIMESTAMP) !== 0n };

  const events: JitCodeEvent[] = [];
  let at = headerBytes;
  let records = 0;
  const stop = (why: string, partial = false): Jitdump => ({ header, events, bytesRead: at, problem: `${name}: ${why}; read the ${records} whole records before it`, partial });
  while (at < bytes.byteLength) {
    if (at + PREFIX_BYTES > bytes.byteLength) return stop(`ends inside the record at byte ${at} (cut short, or still being written)`, true);
    const id = v.getUint32(at, le);
    const size = v.getUint32(at + 4, le);
    const fixed = FIXED_BYTES[id as JitRecord] ?? PREFIX_BYTES;
    if (size < fixed) return stop(`the record at byte ${at} (type ${id}) says it is ${size} bytes, less than its ${fixed} fixed ones: the file is corrupt`);
    if (at + size > bytes.byteLength) return stop(`ends inside the record at byte ${at} (cut short, or still being written)`, true);
    const time = Number(v.getBigUint64(at + 8, le));
    const u64 = (offset: number): bigint => v.getBigUint64(at + offset, le);
    switch (id) {
      case JitRecord.CODE_LOAD: {
        const nameEnd = bytes.indexOf(0, at + fixed);
        if (nameEnd < 0 || nameEnd >= at + size) return stop(`the code load at byte ${at} has no NUL-terminated name within its ${size} bytes: the file is corrupt`);
        const load = { codeAddr: u64(32), codeSize: u64(40) };
        if (load.codeAddr + load.codeSize > 0xffffffffffffffffn) return stop(`the code load at byte ${at} runs past the end of the address space: the file is corrupt`);
        const codeName = new TextDecoder().decode(bytes.subarray(at + fixed, nameEnd));
        events.push({ kind: 'load', time, pid: v.getUint32(at + 16, le), tid: v.getUint32(at + 20, le), ...load, codeIndex: u64(48), name: codeName });
        break;
      }
      case JitRecord.CODE_MOVE: {
        const move = { oldCodeAddr: u64(32), newCodeAddr: u64(40), codeSize: u64(48) };
        if (move.newCodeAddr + move.codeSize > 0xffffffffffffffffn) return stop(`the code move at byte ${at} runs past the end of the address space: the file is corrupt`);
        events.push({ kind: 'move', time, pid: v.getUint32(at + 16, le), tid: v.getUint32(at + 20, le), ...move, codeIndex: u64(56) });
        break;
      }
      case JitRecord.CODE_CLOSE:
        events.push({ kind: 'close', time });
        break;
      // Debug and unwinding info, and types newer than ours, say nothing of where code lives: perf skips them too.
    }
    at += size;
    records++;
  }
  return { header, events, bytesRead: at, partial: false };
}

/** Whether `filename` (an MMAP's) is a runtime's jitdump, which it maps executable to mark its use to perf; its pid as named. */
export function jitdumpPid(filename: string): number | undefined {
  const m = /(?:^|\/)jit-(\d+)\.dump$/.exec(filename);
  return m ? Number(m[1]) : undefined;
}
