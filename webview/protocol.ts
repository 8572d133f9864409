// The only contract between the extension host and the timeline webview:
// one union of messages per direction, a validator for each side to run on
// what it receives, and the request/reply pairing. Both sides import this
// module; it knows neither Node nor the DOM.
//
// Records travel as they are in the ring and in perf.data: raw bytes in
// ArrayBuffers, never one object per record. The webview indexes them with
// native/lib/records.ts, the same decoder the host and the CLI use.

/** One event of the stream, as perf_event_attr bytes and its ids (decimal strings: bigints don't survive postMessage everywhere). */
export interface WireEvent {
  attr: ArrayBuffer;
  ids: string[];
}

export type StatusPath = 'ioctl' | 'proc' | 'none';

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

export interface WireStats {
  records: number;
  statusRecords: number;
  lost: number;
}

export type MarkerKind = 'stopped' | 'continued' | 'note';

/** What the host knows of a file or of a region's file. */
export interface FileInfo {
  path: string;
  /** Hex build-id from the file's ELF note, when it has one. */
  buildId?: string;
  /** Set when the file is in the workspace, so the region can link to it. */
  inWorkspace: boolean;
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
   * offset of the first byte. A record may span two batches.
   */
  | { type: 'records'; offset: number; bytes: ArrayBuffer }
  | { type: 'stats'; stats: WireStats }
  | { type: 'snapshot'; snapshot: WireSnapshot }
  /** A debugger event on the capture's clock: stops and continues become markers. */
  | { type: 'marker'; time: number; kind: MarkerKind; label: string }
  /** The stream is complete (a file read to its end, or a capture stopped). */
  | { type: 'ended'; message: string }
  /** Nothing can be shown: the file is not a capture, say. The message names the cause and the fix. */
  | { type: 'failed'; message: string }
  /** Shows a process, and a moment of it when given. */
  | { type: 'reveal'; pid: number; time?: number }
  | { type: 'reply'; id: number; files: FileInfo[] };

export type WebviewMessage =
  /** The page is loaded: the host (re)sends the whole stream. */
  | { type: 'ready' }
  /** A batch failed validation: the view keeps what came before and says why. */
  | { type: 'invalid'; message: string }
  /** The frame that drew records up to `newestTime` (capture clock, ns) is on screen. */
  | { type: 'drawn'; records: number; newestTime: number }
  | { type: 'openFile'; path: string }
  | { type: 'describeFiles'; id: number; paths: string[] };

export class ProtocolError extends Error {
  constructor(message: string) {
    super(`malformed message: ${message}`);
    this.name = 'ProtocolError';
  }
}

type Check = (value: unknown) => boolean;
const isNumber: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const isString: Check = (v) => typeof v === 'string';
const isBoolean: Check = (v) => typeof v === 'boolean';
const isBuffer: Check = (v) => v instanceof ArrayBuffer;
const arrayOf =
  (check: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(check);
const shape =
  (fields: Record<string, Check>, optional: Record<string, Check> = {}): Check =>
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    Object.entries(fields).every(([k, check]) => check((v as Record<string, unknown>)[k])) &&
    Object.entries(optional).every(([k, check]) => (v as Record<string, unknown>)[k] === undefined || check((v as Record<string, unknown>)[k]));
const oneOf =
  (...values: string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v);

const HOST_FIELDS: Record<HostMessage['type'], Record<string, Check>> = {
  open: {
    title: isString,
    live: isBoolean,
    events: arrayOf(shape({ attr: isBuffer, ids: arrayOf((v) => typeof v === 'string' && /^\d+$/.test(v)) })),
    expectedBytes: isNumber,
    warnings: arrayOf(isString),
  },
  records: { offset: isNumber, bytes: isBuffer },
  stats: { stats: shape({ records: isNumber, statusRecords: isNumber, lost: isNumber }) },
  snapshot: {
    snapshot: shape({ index: isNumber, path: oneOf('ioctl', 'proc', 'none'), start: isNumber, end: isNumber, processes: isNumber, records: isNumber, stale: isNumber }),
  },
  marker: { time: isNumber, kind: oneOf('stopped', 'continued', 'note'), label: isString },
  ended: { message: isString },
  failed: { message: isString },
  reveal: { pid: isNumber },
  reply: { id: isNumber, files: arrayOf(shape({ path: isString, inWorkspace: isBoolean }, { buildId: isString })) },
};
const HOST_OPTIONAL: Partial<Record<HostMessage['type'], Record<string, Check>>> = { reveal: { time: isNumber } };

const WEBVIEW_FIELDS: Record<WebviewMessage['type'], Record<string, Check>> = {
  ready: {},
  invalid: { message: isString },
  drawn: { records: isNumber, newestTime: isNumber },
  openFile: { path: isString },
  describeFiles: { id: isNumber, paths: arrayOf(isString) },
};

function validate<T extends { type: string }>(data: unknown, fields: Record<string, Record<string, Check>>, optional: Record<string, Record<string, Check> | undefined>): T {
  if (typeof data !== 'object' || data === null) throw new ProtocolError(`expected an object, got ${data === null ? 'null' : typeof data}`);
  const type = (data as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.hasOwn(fields, type)) throw new ProtocolError(`unknown message type ${JSON.stringify(type)}`);
  const expected = fields[type];
  for (const [key, check] of Object.entries(expected)) {
    if (!check((data as Record<string, unknown>)[key])) throw new ProtocolError(`'${type}' message has a missing or invalid '${key}'`);
  }
  for (const [key, check] of Object.entries(optional[type] ?? {})) {
    const value = (data as Record<string, unknown>)[key];
    if (value !== undefined && !check(value)) throw new ProtocolError(`'${type}' message has an invalid '${key}'`);
  }
  return data as T;
}

/** Run by the webview on every message from the host. */
export function parseHostMessage(data: unknown): HostMessage {
  return validate<HostMessage>(data, HOST_FIELDS, HOST_OPTIONAL);
}

/** Run by the host on every message from the webview. */
export function parseWebviewMessage(data: unknown): WebviewMessage {
  return validate<WebviewMessage>(data, WEBVIEW_FIELDS, {});
}

/**
 * The webview's side of request/reply: each request gets an id, and the
 * host's reply with that id settles it.
 */
export class Requests {
  private next = 1;
  private readonly pending = new Map<number, (files: FileInfo[]) => void>();

  constructor(private readonly post: (message: WebviewMessage) => void) {}

  describeFiles(paths: string[]): Promise<FileInfo[]> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.post({ type: 'describeFiles', id, paths });
    });
  }

  /** Settles the request a reply answers; replies to nothing pending are dropped. */
  settle(reply: Extract<HostMessage, { type: 'reply' }>): void {
    this.pending.get(reply.id)?.(reply.files);
    this.pending.delete(reply.id);
  }
}
