// What a capture knows about itself (target, snapshots, stats, warnings,
// debugger markers), kept as JSON in a trailer after perf.data's feature
// sections: its types, its one validator, and the trailer's layout, read
// here and written by sidebandTrailer.

import { arrayOf, isBoolean, isCount, isDecimal, isInteger, isString, object, oneOf, optional } from '../validate';
import { ByteWriter } from './byteWriter';

/** How a status snapshot was read: by the kernel's ioctl, from /proc, or not at all (no process to read). */
export const STATUS_PATHS = ['ioctl', 'proc', 'none'] as const;
export type StatusPath = (typeof STATUS_PATHS)[number];

/** What a marker on the timeline says: the debugger stopped or continued the target, or a note. */
export const MARKER_KINDS = ['stopped', 'continued', 'note'] as const;
export type MarkerKind = (typeof MARKER_KINDS)[number];

/**
 * How a capture tells where a region ended: by the syscall tracepoints of
 * munmap, mremap, mprotect and brk, or only by comparing status snapshots.
 */
export const REGION_CHANGES = ['tracepoints', 'snapshots'] as const;
export type RegionChanges = (typeof REGION_CHANGES)[number];

/** How a capture tells region ends, in words for its summary and status. */
export function regionChangesInWords(changes: RegionChanges): string {
  return changes === 'tracepoints'
    ? 'region ends are recorded by the munmap, mremap, mprotect and brk syscall tracepoints'
    : 'region ends are found only by comparing status snapshots (no syscall tracepoints)';
}

/** Status snapshot of a capture, as the native core reports it. */
export interface SnapshotMeta {
  index: number;
  path: StatusPath;
  processes: number;
  records: number;
  stale: number;
  gone: number;
  /** Nanoseconds on the capture's clock, as a decimal string. */
  start: string;
  end: string;
}

/** What a capture counted: the engine reports it live, the file keeps the last. */
export interface CaptureStats {
  records: number;
  statusRecords: number;
  ioctlRecords: number;
  procRecords: number;
  lost: number;
  lostRecords: number;
}

/**
 * What a capture knows about itself, kept as JSON in a trailer after the
 * feature sections (see SIDEBAND_MAGIC). Readers need none of it to read
 * records: provenance and staleness travel in the records themselves.
 */
export interface SidebandMeta {
  version: 1;
  /** Name and version of the tool that captured, also written as perf's VERSION feature. */
  tool: string;
  /**
   * Decimal id of the event that received the kernel's ioctl status, if any.
   * Informational: records.ts tells ioctl status by its STATUS_ONLY bit.
   */
  ioctlId?: string;
  target: { pid: number; command?: string[] };
  ringPages: number;
  cpus: number[];
  namespaces: boolean;
  /** Absent in captures from before region lifetimes, which told no region ends. */
  regionChanges?: RegionChanges;
  snapshots: SnapshotMeta[];
  stats: CaptureStats;
  warnings: Array<{ code: string; message: string }>;
  /** "exited", "requested" or "failed", as the native core says. */
  stopReason: string;
  /** Of a launched command, as waitpid reports it. */
  exitStatus?: number;
  /** Debugger stops and continues during the capture, as the extension saw them. */
  markers?: MarkerMeta[];
}

export interface MarkerMeta {
  /** Nanoseconds on the capture's clock, as a decimal string. */
  time: string;
  kind: MarkerKind;
  label: string;
}

/**
 * Our metadata is not a header feature: perf inject copies every set feature
 * bit and indexes its feature table with it, so a private bit (we used 250)
 * crashes it. The JSON follows the last feature section instead, where perf
 * never reads, found by a footer that ends the file:
 *   [JSON][u64 offset of the JSON][u64 its length]["SIDEBAN1"]
 * A tool that rewrites the file (perf inject) drops it; perf's files, and
 * ours until finish(), have none.
 */
const SIDEBAND_MAGIC = 'SIDEBAN1';
const FOOTER_SIZE = 24;

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

/** Fields readers rely on; others are let through for newer writers. */
export const checkMeta = object({
  version: oneOf([1]),
  tool: isString,
  ioctlId: optional(isDecimal),
  target: object({ pid: isInteger, command: optional(arrayOf(isString)) }),
  ringPages: isCount,
  cpus: arrayOf(isCount),
  namespaces: isBoolean,
  regionChanges: optional(oneOf(REGION_CHANGES)),
  snapshots: arrayOf(
    object({
      index: isCount,
      path: oneOf(STATUS_PATHS),
      processes: isCount,
      records: isCount,
      stale: isCount,
      gone: isCount,
      start: isDecimal,
      end: isDecimal,
    }),
  ),
  stats: object({ records: isCount, statusRecords: isCount, ioctlRecords: isCount, procRecords: isCount, lost: isCount, lostRecords: isCount }),
  warnings: arrayOf(object({ code: isString, message: isString })),
  stopReason: isString,
  exitStatus: optional(isInteger),
  markers: optional(arrayOf(object({ time: isDecimal, kind: oneOf(MARKER_KINDS), label: isString }))),
});

export /**
 * The metadata trailer of a finished file whose data section ends at
 * `dataEnd`, if the file ends in our footer. Anything wrong with it is a
 * warning: the records are still there to read.
 */
function parseSidebandMeta(file: Uint8Array, dataEnd: number, warnings: string[]): SidebandMeta | undefined {
  const footerAt = file.byteLength - FOOTER_SIZE;
  if (footerAt < dataEnd || utf8.decode(file.subarray(footerAt + 16)) !== SIDEBAND_MAGIC) return undefined;
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const offset = view.getBigUint64(footerAt, true);
  const length = view.getBigUint64(footerAt + 8, true);
  if (offset < BigInt(dataEnd) || offset > BigInt(footerAt)) {
    warnings.push(
      `the sideband footer's offset is ${offset}, not between the end of the data section (${dataEnd}) and the footer (${footerAt}): the file is corrupt, so the capture's metadata is missing`,
    );
    return undefined;
  }
  if (length > BigInt(footerAt) - offset) {
    warnings.push(`the sideband footer's length is ${length}, but only ${BigInt(footerAt) - offset} bytes lie between its offset and the footer: the file is corrupt, so the capture's metadata is missing`);
    return undefined;
  }
  const at = Number(offset);
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(file.subarray(at, at + Number(length))));
  } catch (e) {
    warnings.push(`the sideband metadata is not valid JSON (${(e as Error).message}): the metadata is missing`);
    return undefined;
  }
  const bad = checkMeta(value, '');
  if (bad !== undefined) {
    warnings.push(`the sideband metadata's field "${bad || '(root)'}" is missing or of the wrong type: the metadata is ignored`);
    return undefined;
  }
  return value as SidebandMeta;
}

/** The trailer of a file whose feature sections end at file offset `at`: the JSON, then the footer that finds it. */
export function sidebandTrailer(meta: SidebandMeta, at: number): Uint8Array {
  const json = utf8Encoder.encode(JSON.stringify(meta));
  return new ByteWriter().raw(json).u64(at).u64(json.byteLength).raw(utf8Encoder.encode(SIDEBAND_MAGIC)).result();
}
