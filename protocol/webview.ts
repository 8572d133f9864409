// The only contract between the extension host and the timeline webview:
// one union of messages per direction, a validator for each side to run on
// what it receives, and the request/reply pairing. Both sides import this
// module; it knows neither Node nor the DOM.
//
// Records travel as they are in the ring and in perf.data: raw bytes in
// ArrayBuffers, never one object per record. The webview indexes them with
// core/records.ts, the same decoder the host and the CLI use.

import { MARKER_KINDS, STATUS_PATHS, type CaptureStats, type MarkerKind, type StatusPath } from '../core/perfdata/metadata';
import { SOURCE_ERROR_CODES, type SourceErrorCode } from '../core/sourceError';
import { arrayOf, is, isBoolean, isDecimal, isNumber, isString, object, oneOf, optional, type Check } from '../core/validate';

/** One event of the stream, as perf_event_attr bytes and its ids (decimal strings: bigints don't survive postMessage everywhere). */
export interface WireEvent {
  attr: ArrayBuffer;
  ids: string[];
  /** As perf names the event: the index reads the samples of the syscall tracepoints by it. */
  name?: string;
}

/** A status snapshot: when it was read, by which path, what it produced. */
export interface WireSnapshot {
  index: number;
  path: StatusPath;
  /** Nanoseconds on the capture's clock (CLOCK_MONOTONIC). */
  start: number;
  end: number;
  processes: number;
  records: number;
  stale: number;
}

/** What the webview shows of the capture's counts. */
export type WireStats = Pick<CaptureStats, 'records' | 'statusRecords' | 'lost'>;

/** What the host knows of a file or of a region's file. */
export interface FileInfo {
  path: string;
  /** Hex build-id from the file's ELF note, when it has one. */
  buildId?: string;
  /** Set when the file is in the workspace, so the region can link to it. */
  inWorkspace: boolean;
}

/** A region as the webview names it to the host: hex digits without 0x, as /proc/PID/maps writes them. */
export interface WireRegion {
  start: string;
  end: string;
  pgoff: string;
  filename: string;
  /** The build-id its MMAP2 record carries, when it does: the file read for it must have it. */
  buildId?: string;
}

/** Names a region to the host, as its WireRegion. */
export function wireRegion(region: { start: bigint; end: bigint; pgoff: bigint; filename: string; buildId?: string }): WireRegion {
  const wire = { start: region.start.toString(16), end: region.end.toString(16), pgoff: region.pgoff.toString(16), filename: region.filename };
  return region.buildId ? { ...wire, buildId: region.buildId } : wire;
}

/** The inverse of wireRegion, for the side that receives one (validated: hex digits). */
export function regionOfWire(region: WireRegion): { start: bigint; end: bigint; pgoff: bigint; filename: string; buildId?: string } {
  const ref = { start: BigInt(`0x${region.start}`), end: BigInt(`0x${region.end}`), pgoff: BigInt(`0x${region.pgoff}`), filename: region.filename };
  return region.buildId ? { ...ref, buildId: region.buildId } : ref;
}

/** The file read for an answer: `via` says what it is when it is not the region's path in the host's mount namespace. */
export interface WireFileRead {
  path: string;
  via?: string;
}

export interface SourceFileInfo {
  path: string;
  inWorkspace: boolean;
  exists: boolean;
}

export interface RegionSources {
  /** Source files of the compile units in the region's part of the file; workspace files first. */
  files: SourceFileInfo[];
  /** Set when they cannot be listed (no debug info, unreadable file, no symbolizer that lists them): one sentence naming the cause and the fix. */
  missing?: string;
  /** Why, as a code; and the part of the file at fault, when one is. */
  code?: SourceErrorCode;
  field?: string;
  /** Which symbolizer answered, and how to get a better one when it is not the best. */
  backend: string;
  /** The file they were read from, when one was. */
  read?: WireFileRead;
}

export interface WireFrame {
  function: string;
  file?: string;
  /** 1-based; absent when unknown (DWARF's line 0). */
  line?: number;
  /** 1-based; absent when unknown. */
  column?: number;
  inWorkspace: boolean;
  exists: boolean;
}

export interface AddressResolution {
  /** Frames innermost first (inlined functions, then the function they are inlined into); empty when unresolved. */
  frames: WireFrame[];
  /** Why it did not resolve, and what would fix it. */
  error?: string;
  /** Why, as a code; and the part of the file or request at fault, when one is. */
  code?: SourceErrorCode;
  field?: string;
  backend: string;
  /** The file it was read from, when one was. */
  read?: WireFileRead;
}

export type HostMessage =
  /** Starts (or restarts) a stream: the view drops what it had. */
  | {
      type: 'open';
      title: string;
      live: boolean;
      events: WireEvent[];
      /** Bytes the stream is expected to reach, when known (a file): sizes the index once. */
      expectedBytes: number;
      /** Warnings of the capture or of the file, shown once. */
      warnings: string[];
    }
  /**
   * Raw records, contiguous with the previous batch: `offset` is the stream
   * offset of the first byte. A record may span two batches. The webview
   * acknowledges each ('stored'): the host sends a bounded number ahead.
   */
  | { type: 'records'; offset: number; bytes: ArrayBuffer }
  | { type: 'stats'; stats: WireStats }
  | { type: 'snapshot'; snapshot: WireSnapshot }
  /** A debugger event on the capture's clock: stops and continues become markers. */
  | { type: 'marker'; time: number; kind: MarkerKind; label: string }
  /**
   * The stream is complete (a file read to its end, or a capture stopped);
   * or, with `fault`, stopped where the file contradicts itself: what came
   * before stays shown, and the fault names the record, its byte and field.
   */
  | { type: 'ended'; message: string; fault?: string }
  /** Nothing can be shown: the file is not a capture, say. The message names the cause and the fix. */
  | { type: 'failed'; message: string }
  /** Shows a process, and a moment of it when given; with `region` (hex start), selects that region's row and lists its source files. */
  | { type: 'reveal'; pid: number; time?: number; region?: string }
  /** Answers describeFiles. */
  | { type: 'reply'; id: number; files: FileInfo[] }
  /** Answers regionSources. */
  | { type: 'sourcesReply'; id: number; sources: RegionSources }
  /** Answers resolveAddress. */
  | { type: 'resolveReply'; id: number; resolution: AddressResolution }
  /** Answers readJitdump: the path read and its bytes from `from` on (none when it has no more), or the problem that kept it from being read. */
  | { type: 'jitdumpReply'; id: number; path: string; bytes: ArrayBuffer; problem?: string };

export type WebviewMessage =
  /** The page is loaded: the host (re)sends the whole stream. */
  | { type: 'ready' }
  /** A batch failed validation: the view keeps what came before and says why. */
  | { type: 'invalid'; message: string }
  /** The records batches up to stream offset `end` are stored: the host may send more. */
  | { type: 'stored'; end: number }
  /** The frame that drew records up to `newestTime` (capture clock, ns) is on screen. */
  | { type: 'drawn'; records: number; newestTime: number }
  /** Opens a file in an editor, at `line` (1-based) when given. */
  | { type: 'openFile'; path: string; line?: number }
  | { type: 'describeFiles'; id: number; paths: string[] }
  /** Asks for the source files of the part of a file a region maps. */
  | { type: 'regionSources'; id: number; pid: number; region: WireRegion }
  /** Asks for the functions and source lines at `address` (hex, no 0x) of process `pid`, in `region`, the mapping that holds it. */
  | { type: 'resolveAddress'; id: number; pid: number; address: string; region: WireRegion }
  /**
   * Asks for the bytes past `from` of the jitdump that process `pid` mapped
   * as `filename`, in the mount namespace of inode `mountNamespace`
   * (decimal) when the capture recorded it: the webview has no files.
   */
  | { type: 'readJitdump'; id: number; pid: number; filename: string; from: number; mountNamespace?: string };

export class ProtocolError extends Error {
  constructor(message: string) {
    super(`malformed message: ${message}`);
    this.name = 'ProtocolError';
  }
}

const isBuffer = is((v) => v instanceof ArrayBuffer);
/** Hex digits without 0x, as /proc/PID/maps writes addresses; at most 64 bits. */
const isHex = is((v) => typeof v === 'string' && /^[0-9a-fA-F]{1,16}$/.test(v));
const isLineNumber = is((v) => Number.isInteger(v) && (v as number) >= 1);

const isSourceError = { code: optional(oneOf(SOURCE_ERROR_CODES)), field: optional(isString) };
/** A GNU build-id: 20 bytes of SHA-1 usually, at most the 20 an MMAP2 record holds. */
const isBuildId = is((v) => typeof v === 'string' && /^[0-9a-fA-F]{2,40}$/.test(v));
const isRegion = object({ start: isHex, end: isHex, pgoff: isHex, filename: isString, buildId: optional(isBuildId) });
const isFileRead = object({ path: isString, via: optional(isString) });
const isSourceFile = object({ path: isString, inWorkspace: isBoolean, exists: isBoolean });
const isFrame = object({ function: isString, inWorkspace: isBoolean, exists: isBoolean, file: optional(isString), line: optional(isLineNumber), column: optional(isLineNumber) });

const HOST_FIELDS: Record<HostMessage['type'], Record<string, Check>> = {
  open: {
    title: isString,
    live: isBoolean,
    events: arrayOf(object({ attr: isBuffer, ids: arrayOf(isDecimal), name: optional(isString) })),
    expectedBytes: isNumber,
    warnings: arrayOf(isString),
  },
  records: { offset: isNumber, bytes: isBuffer },
  stats: { stats: object({ records: isNumber, statusRecords: isNumber, lost: isNumber }) },
  snapshot: {
    snapshot: object({ index: isNumber, path: oneOf(STATUS_PATHS), start: isNumber, end: isNumber, processes: isNumber, records: isNumber, stale: isNumber }),
  },
  marker: { time: isNumber, kind: oneOf(MARKER_KINDS), label: isString },
  ended: { message: isString },
  failed: { message: isString },
  reveal: { pid: isNumber },
  reply: { id: isNumber, files: arrayOf(object({ path: isString, inWorkspace: isBoolean, buildId: optional(isString) })) },
  sourcesReply: { id: isNumber, sources: object({ files: arrayOf(isSourceFile), backend: isString, missing: optional(isString), read: optional(isFileRead), ...isSourceError }) },
  resolveReply: { id: isNumber, resolution: object({ frames: arrayOf(isFrame), backend: isString, error: optional(isString), read: optional(isFileRead), ...isSourceError }) },
  jitdumpReply: { id: isNumber, path: isString, bytes: isBuffer },
};
const HOST_OPTIONAL: Partial<Record<HostMessage['type'], Record<string, Check>>> = { reveal: { time: isNumber, region: isHex }, ended: { fault: isString }, jitdumpReply: { problem: isString } };

const WEBVIEW_FIELDS: Record<WebviewMessage['type'], Record<string, Check>> = {
  ready: {},
  invalid: { message: isString },
  stored: { end: isNumber },
  drawn: { records: isNumber, newestTime: isNumber },
  openFile: { path: isString },
  describeFiles: { id: isNumber, paths: arrayOf(isString) },
  regionSources: { id: isNumber, pid: isNumber, region: isRegion },
  resolveAddress: { id: isNumber, pid: isNumber, address: isHex, region: isRegion },
  readJitdump: { id: isNumber, pid: isNumber, filename: isString, from: isNumber },
};
const WEBVIEW_OPTIONAL: Partial<Record<WebviewMessage['type'], Record<string, Check>>> = { openFile: { line: isLineNumber }, readJitdump: { mountNamespace: isDecimal } };

/** Where inside a field the fault is, when deeper than the field itself. */
const inside = (key: string, bad: string): string => (bad === key ? '' : ` (at ${bad})`);

function validate<T extends { type: string }>(data: unknown, fields: Record<string, Record<string, Check>>, optionalFields: Record<string, Record<string, Check> | undefined>): T {
  if (typeof data !== 'object' || data === null) throw new ProtocolError(`expected an object, got ${data === null ? 'null' : typeof data}`);
  const type = (data as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.hasOwn(fields, type)) throw new ProtocolError(`unknown message type ${JSON.stringify(type)}`);
  const expected = fields[type];
  for (const [key, check] of Object.entries(expected)) {
    const bad = check((data as Record<string, unknown>)[key], key);
    if (bad !== undefined) throw new ProtocolError(`'${type}' message has a missing or invalid '${key}'${inside(key, bad)}`);
  }
  for (const [key, check] of Object.entries(optionalFields[type] ?? {})) {
    const bad = optional(check)((data as Record<string, unknown>)[key], key);
    if (bad !== undefined) throw new ProtocolError(`'${type}' message has an invalid '${key}'${inside(key, bad)}`);
  }
  return data as T;
}

/** Run by the webview on every message from the host. */
export function parseHostMessage(data: unknown): HostMessage {
  return validate<HostMessage>(data, HOST_FIELDS, HOST_OPTIONAL);
}

/** Run by the host on every message from the webview. */
export function parseWebviewMessage(data: unknown): WebviewMessage {
  return validate<WebviewMessage>(data, WEBVIEW_FIELDS, WEBVIEW_OPTIONAL);
}

/** The webview's requests: the messages that carry an id for the host to answer. */
export type WebviewRequest = Extract<WebviewMessage, { id: number }>;
/** The host's answers to them. */
export type Reply = Extract<HostMessage, { type: 'reply' | 'sourcesReply' | 'resolveReply' | 'jitdumpReply' }>;

/** Which reply answers each request: the one pairing both ends go by. */
const REPLY_OF = {
  describeFiles: 'reply',
  regionSources: 'sourcesReply',
  resolveAddress: 'resolveReply',
  readJitdump: 'jitdumpReply',
} as const satisfies Record<WebviewRequest['type'], Reply['type']>;
type ReplyOf<Q extends WebviewRequest['type']> = Extract<Reply, { type: (typeof REPLY_OF)[Q] }>;

/** The host's side of request/reply: the reply that answers `request`, carrying `answer`. */
export function replyTo<Q extends WebviewRequest>(request: Q, answer: Omit<ReplyOf<Q['type']>, 'type' | 'id'>): ReplyOf<Q['type']> {
  return { ...answer, type: REPLY_OF[request.type as Q['type']], id: request.id } as ReplyOf<Q['type']>;
}

/**
 * The webview's side of request/reply: each request gets an id, and the
 * host's reply with that id settles it. A request the host never answers
 * stays pending and costs nothing: the view says it is waiting, and asking
 * again makes a new request.
 */
export class Requests {
  private next = 1;
  private readonly pending = new Map<number, { answeredBy: Reply['type']; settle: (reply: Reply) => void }>();

  constructor(private readonly post: (message: WebviewMessage) => void) {}

  describeFiles(paths: string[]): Promise<FileInfo[]> {
    return this.ask((id) => ({ type: 'describeFiles', id, paths }), (reply) => reply.files);
  }

  regionSources(pid: number, region: WireRegion): Promise<RegionSources> {
    return this.ask((id) => ({ type: 'regionSources', id, pid, region }), (reply) => reply.sources);
  }

  resolveAddress(pid: number, address: string, region: WireRegion): Promise<AddressResolution> {
    return this.ask((id) => ({ type: 'resolveAddress', id, pid, address, region }), (reply) => reply.resolution);
  }

  readJitdump(pid: number, filename: string, from: number, mountNamespace: bigint | undefined): Promise<{ path: string; bytes: ArrayBuffer; problem?: string }> {
    const where = mountNamespace === undefined ? {} : { mountNamespace: mountNamespace.toString() };
    return this.ask(
      (id) => ({ type: 'readJitdump', id, pid, filename, from, ...where }),
      ({ path, bytes, problem }) => ({ path, bytes, ...(problem === undefined ? {} : { problem }) }),
    );
  }

  /**
   * Settles the request a reply answers; replies to nothing pending are
   * dropped (the view was reset, or the request was asked again). A reply of
   * the wrong kind for its id is the host's mistake, and refused.
   */
  settle(reply: Reply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    if (pending.answeredBy !== reply.type) throw new ProtocolError(`'${reply.type}' message answers request ${reply.id}, which only a '${pending.answeredBy}' answers`);
    this.pending.delete(reply.id);
    pending.settle(reply);
  }

  private ask<Q extends WebviewRequest, T>(request: (id: number) => Q, answer: (reply: ReplyOf<Q['type']>) => T): Promise<T> {
    const message = request(this.next++);
    return new Promise((resolve) => {
      this.pending.set(message.id, { answeredBy: REPLY_OF[message.type as Q['type']], settle: (reply) => resolve(answer(reply as ReplyOf<Q['type']>)) });
      this.post(message);
    });
  }
}
