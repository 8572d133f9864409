// What a capture knows about itself (target, snapshots, stats, warnings,
// debugger markers), kept as JSON in a trailer after perf.data's feature
// sections: its types, its one validator, and the trailer's layout, read
// here and written by sidebandTrailer.

import { ByteWriter } from './byteWriter';

/** Status snapshot of a capture, as the native core reports it. */
export interface SnapshotMeta {
  index: number;
  path: 'ioctl' | 'proc' | 'none';
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
  kind: 'stopped' | 'continued' | 'note';
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

type Check = (value: unknown, path: string) => string | undefined;

const is =
  (predicate: (value: unknown) => boolean): Check =>
  (value, path) =>
    predicate(value) ? undefined : path;
const optional =
  (check: Check): Check =>
  (value, path) =>
    value === undefined ? undefined : check(value, path);
const arrayOf =
  (check: Check): Check =>
  (value, path) => {
    if (!Array.isArray(value)) return path;
    for (let i = 0; i < value.length; i++) {
      const bad = check(value[i], `${path}[${i}]`);
      if (bad) return bad;
    }
    return undefined;
  };
const object =
  (fields: Record<string, Check>): Check =>
  (value, path) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return path;
    const record = value as Record<string, unknown>;
    for (const [key, check] of Object.entries(fields)) {
      const bad = check(record[key], path ? `${path}.${key}` : key);
      if (bad) return bad;
    }
    return undefined;
  };
const isString = is((v) => typeof v === 'string');
const isCount = is((v) => Number.isSafeInteger(v) && (v as number) >= 0);
const isInteger = is((v) => Number.isSafeInteger(v));
const isDecimal = is((v) => typeof v === 'string' && /^[0-9]{1,20}$/.test(v) && BigInt(v) < 1n << 64n);

/** Fields readers rely on; others are let through for newer writers. */
export const checkMeta = object({
  version: is((v) => v === 1),
  tool: isString,
  ioctlId: optional(isDecimal),
  target: object({ pid: isInteger, command: optional(arrayOf(isString)) }),
  ringPages: isCount,
  cpus: arrayOf(isCount),
  namespaces: is((v) => typeof v === 'boolean'),
  snapshots: arrayOf(
    object({
      index: isCount,
      path: is((v) => v === 'ioctl' || v === 'proc' || v === 'none'),
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
  markers: optional(arrayOf(object({ time: isDecimal, kind: is((v) => v === 'stopped' || v === 'continued' || v === 'note'), label: isString }))),
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
