// The one decoder of perf records, in perf's own binary layout.
//
// Pure TypeScript over ArrayBuffers: no Node, so the CLI, the extension host
// and the webview all use this same module. `RecordIndexBuilder` turns runs
// of kernel records into the columnar form the timeline draws from, without
// a JavaScript object per record (what perf wraps around them is
// recordStream.ts's); `decodeRecord` expands one record on demand.
// Field offsets are recordLayout.ts's.

import { COMM, HEADER, LOST, MMAP, MMAP2, NAMESPACES, MAPPING_SYSCALLS, SYSCALL_ARGS, SYSCALL_RAW, TASK, type MappingSyscall, commName, syscallArg, syscallReturn, lostFields, mappedFilename, mappedRange, mmap2File, namespaceLinks, recordMisc, taskFields } from './recordLayout';

export enum RecordType {
  MMAP = 1,
  LOST = 2,
  COMM = 3,
  EXIT = 4,
  THROTTLE = 5,
  UNTHROTTLE = 6,
  FORK = 7,
  READ = 8,
  SAMPLE = 9,
  MMAP2 = 10,
  AUX = 11,
  ITRACE_START = 12,
  LOST_SAMPLES = 13,
  SWITCH = 14,
  SWITCH_CPU_WIDE = 15,
  NAMESPACES = 16,
  KSYMBOL = 17,
  BPF_EVENT = 18,
  CGROUP = 19,
  TEXT_POKE = 20,
  AUX_OUTPUT_HW_ID = 21,
  // perf tool's own record types, found only in files and pipes (tools/lib/perf/include/perf/event.h).
  HEADER_ATTR = 64,
  HEADER_EVENT_TYPE = 65,
  HEADER_TRACING_DATA = 66,
  HEADER_BUILD_ID = 67,
  FINISHED_ROUND = 68,
  ID_INDEX = 69,
  AUXTRACE_INFO = 70,
  AUXTRACE = 71,
  AUXTRACE_ERROR = 72,
  THREAD_MAP = 73,
  CPU_MAP = 74,
  STAT_CONFIG = 75,
  STAT = 76,
  STAT_ROUND = 77,
  EVENT_UPDATE = 78,
  TIME_CONV = 79,
  HEADER_FEATURE = 80,
  COMPRESSED = 81,
  FINISHED_INIT = 82,
  COMPRESSED2 = 83,
}

/** First of perf's user record types: they carry no sample_id trailer, and need not be 8-aligned. */
export const USER_TYPE_START = 64;

/**
 * User records that the stream reader (recordStream.ts) must see, as they
 * carry events, payloads after their size, or records within them: the
 * index stops at them, and at any user record that leaves the stream
 * unaligned.
 */
const FOR_STREAM_READER = new Uint8Array(256);
for (const t of [RecordType.HEADER_ATTR, RecordType.EVENT_UPDATE, RecordType.HEADER_TRACING_DATA, RecordType.AUXTRACE, RecordType.HEADER_FEATURE, RecordType.COMPRESSED, RecordType.COMPRESSED2]) FOR_STREAM_READER[t] = 1;

/** Bits of a record's header.misc, those this reader and its tests use. */
export const Misc = {
  /** PERF_RECORD_MISC_USER, in the cpumode bits. */
  USER: 2,
  /** The RFC's PERF_RECORD_MISC_STATUS_ONLY: the record tells a state, not an event. */
  STATUS_ONLY: 1 << 11,
  /** MMAP_DATA on MMAP*, COMM_EXEC on COMM, FORK_EXEC on FORK. */
  EXEC_OR_DATA: 1 << 13,
} as const;

/**
 * Status records synthesized from /proc carry an IDENTIFIER of this form:
 * the high 61 bits fixed, the low 3 bits the StaleReason bits. Written by the
 * native core (abi.h), listed as ids of the sideband event in our files.
 */
export const PROC_ID_HI = 0x53425052;
export const PROC_ID_LO = 0x4f430000;
export const PROC_ID_BASE = (BigInt(PROC_ID_HI) << 32n) | BigInt(PROC_ID_LO);
export const PROC_IDS: readonly bigint[] = Array.from({ length: 8 }, (_, i) => PROC_ID_BASE | BigInt(i));

export const Stale = { RACE: 1, VANISHED: 2, ZOMBIE: 4 } as const;
export const STALE_REASONS = ['race', 'vanished', 'zombie'] as const;
export type StaleReason = (typeof STALE_REASONS)[number];

/** Where a record came from. */
export enum Provenance {
  /** A real record the kernel wrote as it happened. */
  Kernel = 0,
  /** Status the kernel wrote on PERF_EVENT_IOC_EMIT_SIDEBAND. */
  Ioctl = 1,
  /** Status read from /proc and stamped on the capture's clock. */
  Proc = 2,
  /** Status `perf record` read from /proc and stamped with time 0. */
  Synthesized = 3,
}
export const PROVENANCE_NAMES = ['kernel', 'ioctl', 'proc', 'synthesized'] as const;

/**
 * Bits of RecordIndex.flags: what the index found out about a record, not
 * the record's own header.misc bits (those are Misc).
 */
export const IndexFlag = {
  /** The index's copy of Misc.STATUS_ONLY: the record tells a state, not an event (PROVENANCE says who wrote it). */
  IS_STATUS: 1,
  /** StaleReason bits, shifted by one. */
  STALE_SHIFT: 1,
  STALE_MASK: 7 << 1,
  PROVENANCE_SHIFT: 4,
  PROVENANCE_MASK: 3 << 4,
} as const;

const PERF_SAMPLE_IP = 1n << 0n;
const PERF_SAMPLE_TID = 1n << 1n;
const PERF_SAMPLE_TIME = 1n << 2n;
const PERF_SAMPLE_ADDR = 1n << 3n;
const PERF_SAMPLE_READ = 1n << 4n;
const PERF_SAMPLE_CALLCHAIN = 1n << 5n;
const PERF_SAMPLE_ID = 1n << 6n;
const PERF_SAMPLE_CPU = 1n << 7n;
const PERF_SAMPLE_PERIOD = 1n << 8n;
const PERF_SAMPLE_STREAM_ID = 1n << 9n;
const PERF_SAMPLE_RAW = 1n << 10n;
const PERF_SAMPLE_IDENTIFIER = 1n << 16n;
const PERF_FORMAT_TOTAL_TIME_ENABLED = 1n << 0n;
const PERF_FORMAT_TOTAL_TIME_RUNNING = 1n << 1n;
const PERF_FORMAT_ID = 1n << 2n;
const PERF_FORMAT_GROUP = 1n << 3n;
const PERF_FORMAT_LOST = 1n << 4n;

/** RecordIndex.call of a sample: 0 for none, else which syscall and whether it is the entry (odd) or the exit (even). */
export function mappingCall(eventName: string | undefined): number {
  const m = /^syscalls:sys_(enter|exit)_([a-z]+)$/.exec(eventName ?? '');
  const k = m ? MAPPING_SYSCALLS.indexOf(m[2] as MappingSyscall) : -1;
  return k < 0 ? 0 : 1 + 2 * k + (m![1] === 'exit' ? 1 : 0);
}
export const callSyscall = (call: number): MappingSyscall => MAPPING_SYSCALLS[(call - 1) >> 1];
export const isCallExit = (call: number): boolean => call > 0 && (call & 1) === 0;

/**
 * Where a sample's fields sit, in bytes from its start, in the kernel's
 * order (IDENTIFIER, IP, TID, TIME, ADDR, ID, STREAM_ID, CPU, PERIOD, READ,
 * CALLCHAIN, RAW): fixed up to READ, whose size and CALLCHAIN's vary.
 */
interface SampleLayout {
  call: number;
  pid: number;
  time: number;
  cpu: number;
  /** Where READ starts (or CALLCHAIN, or RAW, whichever comes first). */
  read: number;
  /** READ's size when fixed; -1 for a group's, which starts with its count. */
  readSize: number;
  groupEntry: number;
  groupHead: number;
  callchain: boolean;
  raw: boolean;
}

function sampleLayout(attr: EventAttr, call: number): SampleLayout {
  const st = attr.sampleType;
  const rf = attr.readFormat;
  let at = HEADER.end;
  const field = (bit: bigint): number => {
    if (!(st & bit)) return -1;
    at += 8;
    return at - 8;
  };
  field(PERF_SAMPLE_IDENTIFIER);
  field(PERF_SAMPLE_IP);
  const pid = field(PERF_SAMPLE_TID);
  const time = field(PERF_SAMPLE_TIME);
  field(PERF_SAMPLE_ADDR);
  field(PERF_SAMPLE_ID);
  field(PERF_SAMPLE_STREAM_ID);
  const cpu = field(PERF_SAMPLE_CPU);
  field(PERF_SAMPLE_PERIOD);
  const optional = (bit: bigint): number => (rf & bit ? 8 : 0);
  const times = optional(PERF_FORMAT_TOTAL_TIME_ENABLED) + optional(PERF_FORMAT_TOTAL_TIME_RUNNING);
  const entry = 8 + optional(PERF_FORMAT_ID) + optional(PERF_FORMAT_LOST);
  const group = (rf & PERF_FORMAT_GROUP) !== 0n;
  return {
    call,
    pid,
    time,
    cpu,
    read: at,
    readSize: !(st & PERF_SAMPLE_READ) ? 0 : group ? -1 : entry + times,
    groupHead: 8 + times,
    groupEntry: entry,
    callchain: (st & PERF_SAMPLE_CALLCHAIN) !== 0n,
    raw: (st & PERF_SAMPLE_RAW) !== 0n,
  };
}

/** Where a sample's RAW data starts (after its u32 size), and its size; undefined when the sample has none within `size` bytes. */
function rawOf(view: DataView, at: number, size: number, layout: SampleLayout): { at: number; size: number } | undefined {
  let p = layout.read;
  if (layout.readSize < 0) {
    if (p + 8 > size) return undefined;
    p += layout.groupHead + view.getUint32(at + p, true) * layout.groupEntry;
  } else {
    p += layout.readSize;
  }
  if (layout.callchain) {
    if (p + 8 > size) return undefined;
    p += 8 + view.getUint32(at + p, true) * 8;
  }
  if (!layout.raw || p + 4 > size) return undefined;
  const rawSize = view.getUint32(at + p, true);
  return p + 4 + rawSize <= size ? { at: p + 4, size: rawSize } : undefined;
}

/** The fields of perf_event_attr this reader uses. */
export interface EventAttr {
  type: number;
  size: number;
  config: bigint;
  sampleType: bigint;
  readFormat: bigint;
  sampleIdAll: boolean;
  useClockid: boolean;
  clockid: number;
  /** The attr's own bytes, as written by the kernel ABI. */
  bytes: Uint8Array;
}

export function parseAttr(bytes: Uint8Array): EventAttr {
  if (bytes.byteLength < 64) throw new RecordError('attr', `perf_event_attr is ${bytes.byteLength} bytes, shorter than the first published 64`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = v.getBigUint64(40, true);
  return {
    type: v.getUint32(0, true),
    size: v.getUint32(4, true),
    config: v.getBigUint64(8, true),
    sampleType: v.getBigUint64(24, true),
    readFormat: v.getBigUint64(32, true),
    sampleIdAll: ((flags >> 18n) & 1n) === 1n,
    useClockid: ((flags >> 25n) & 1n) === 1n,
    clockid: bytes.byteLength >= 96 ? v.getInt32(92, true) : 0,
    bytes,
  };
}

/**
 * Where the sample_id fields sit in a non-sample record, in 32-bit words
 * counted back from its end (-1: absent). Computed once per attr, so reading
 * a timestamp is one load, as linux-perf-event-reader's parse_info does.
 */
export interface TrailerLayout {
  words: number;
  pid: number;
  time: number;
  cpu: number;
  id: number;
}

export function trailerLayout(attr: EventAttr): TrailerLayout {
  const none = { words: 0, pid: -1, time: -1, cpu: -1, id: -1 };
  if (!attr.sampleIdAll) return none;
  const st = attr.sampleType;
  // The kernel's order: TID, TIME, ID, STREAM_ID, CPU, IDENTIFIER.
  const fields: Array<[bigint, keyof Omit<TrailerLayout, 'words'> | null]> = [
    [PERF_SAMPLE_TID, 'pid'],
    [PERF_SAMPLE_TIME, 'time'],
    [PERF_SAMPLE_ID, 'id'],
    [PERF_SAMPLE_STREAM_ID, null],
    [PERF_SAMPLE_CPU, 'cpu'],
    [PERF_SAMPLE_IDENTIFIER, 'id'],
  ];
  const at: Array<[keyof Omit<TrailerLayout, 'words'> | null, number]> = [];
  let words = 0;
  for (const [bit, name] of fields) {
    if (st & bit) {
      at.push([name, words]);
      words += 2;
    }
  }
  const layout: TrailerLayout = { ...none, words };
  for (const [name, start] of at) if (name) layout[name] = words - start;
  return layout;
}

export class RecordError extends Error {
  /** `reason`: what is wrong, without where; `offset`: the byte it is at, of `input` when named. */
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly offset?: number,
    readonly input?: string,
  ) {
    super(offset === undefined ? reason : `${reason} (at byte ${offset}${input ? ` of ${input}` : ''})`);
    this.name = 'RecordError';
  }
}

/**
 * How to read the records of one stream: its events and their ids. Nothing
 * else: provenance comes from the records alone, so it survives tools that
 * rewrite a file (perf inject) and files that were never finished.
 */
export interface StreamLayout {
  /** `name` as perf names the event ("dummy:u", "syscalls:sys_exit_munmap"): it says which samples the index reads. */
  attrs: readonly { attr: EventAttr; ids: readonly bigint[]; name?: string }[];
}

/** Where an index's records are: in memory, or read from a file on demand. */
export interface RecordSource {
  /** The bytes of the record at `offset` (from the start of the stream), `size` long. */
  record(offset: number, size: number): Uint8Array;
}

/** The timeline's form of a run of records: one column per field. */
export interface RecordIndex {
  count: number;
  /** Where each record's bytes are, for decodeRecord. */
  source: RecordSource;
  /** Offset of each record from the start of the stream: doubles, exact below 2^53, as a live stream runs past 4 GiB. */
  offset: Float64Array;
  size: Uint16Array;
  type: Uint8Array;
  flags: Uint8Array;
  /** Nanoseconds on the capture's clock (exact below 2^53 ns, 104 days). */
  time: Float64Array;
  pid: Int32Array;
  tid: Int32Array;
  cpu: Int32Array;
  /** Size of each record's sample_id trailer, in 32-bit words. */
  trailer: Uint8Array;
  /** Of a sample of a MAPPING_SYSCALLS tracepoint: mappingCall's code (0 for every other record)... */
  call: Uint8Array;
  /** ...and where its RAW data starts, in bytes from the record's start. */
  rawAt: Uint16Array;
  /** Records left out: samples (but those of MAPPING_SYSCALLS) and perf's bookkeeping records. */
  skipped: number;
  /** The same, by type name. */
  skippedByType: Readonly<Record<string, number>>;
  /** Set when the bytes end inside a record: everything before it is indexed. */
  truncatedAt?: number;
}

interface Resolver {
  layoutOf(words: Uint32Array, start: number, end: number): TrailerLayout | undefined;
  idWords: number; // where the id sits in trailers, from the end (-1: none)
  /** The layout of a sample's event when it is one of MAPPING_SYSCALLS' tracepoints; undefined for every other sample. */
  syscallSample(words: Uint32Array, start: number): SampleLayout | undefined;
}

function makeResolver(stream: StreamLayout): Resolver {
  const layouts = stream.attrs.map((a) => trailerLayout(a.attr));
  if (layouts.length === 0) throw new RecordError('attrs', 'the stream names no event, so its records cannot be read');
  const samples = stream.attrs.map((a) => {
    const call = mappingCall(a.name);
    return call ? sampleLayout(a.attr, call) : undefined;
  });
  const syscallSample = syscallSampleResolver(stream, samples);
  const first = layouts[0];
  const same = layouts.every((l) => l.words === first.words && l.pid === first.pid && l.time === first.time && l.cpu === first.cpu && l.id === first.id);
  if (same) return { layoutOf: () => first, idWords: first.id, syscallSample };
  // Several events with different trailers: the IDENTIFIER, always last,
  // says which event wrote a record.
  if (!layouts.every((l) => l.id === 2))
    throw new RecordError('attrs', 'the events of this file have different sample_id layouts and no common IDENTIFIER, so their records cannot be told apart');
  const byId = new Map<bigint, TrailerLayout>();
  stream.attrs.forEach((a, i) => a.ids.forEach((id) => byId.set(id, layouts[i])));
  return {
    layoutOf(words, _start, end) {
      const id = BigInt(words[end - 2]) | (BigInt(words[end - 1]) << 32n);
      return byId.get(id);
    },
    idWords: 2,
    syscallSample,
  };
}

/**
 * A sample names its event by its leading IDENTIFIER; by its ID, where
 * every event puts that at the same place (perf record gives its events one
 * sample_type); or by being the stream's only event.
 */
function syscallSampleResolver(stream: StreamLayout, samples: (SampleLayout | undefined)[]): Resolver['syscallSample'] {
  if (!samples.some(Boolean)) return () => undefined;
  if (samples.length === 1) return () => samples[0];
  const places = stream.attrs.map((a) => sampleIdAt(a.attr.sampleType));
  const idAt = places[0];
  if (idAt < 0 || !places.every((p) => p === idAt)) return () => undefined;
  const byId = new Map<bigint, SampleLayout>();
  stream.attrs.forEach((a, i) => {
    const layout = samples[i];
    if (layout) a.ids.forEach((id) => byId.set(id, layout));
  });
  const word = idAt / 4;
  return (words, start) => byId.get(BigInt(words[start + word]) | (BigInt(words[start + word + 1]) << 32n));
}

/** Where a sample of this sample_type carries its event's id, in bytes from its start; -1 for nowhere. */
function sampleIdAt(st: bigint): number {
  if (st & PERF_SAMPLE_IDENTIFIER) return HEADER.end;
  if (!(st & PERF_SAMPLE_ID)) return -1;
  return HEADER.end + 8 * [PERF_SAMPLE_IP, PERF_SAMPLE_TID, PERF_SAMPLE_TIME, PERF_SAMPLE_ADDR].filter((bit) => st & bit).length;
}

// Smallest size of each record type's fixed fields, header included, and
// where a body starts with the subject's pid and tid, the tid's word: as
// tables by type, so the per-record loop does two loads, not lookups.
const FIXED_SIZE = new Uint16Array(256).fill(HEADER.end);
const BODY_TID_WORD = new Int8Array(256).fill(-1);
for (const [type, fixed, tid] of [
  [RecordType.MMAP, MMAP.filename, MMAP.tid],
  [RecordType.LOST, LOST.end, -4],
  [RecordType.COMM, COMM.comm, COMM.tid],
  [RecordType.EXIT, TASK.end, TASK.tid],
  [RecordType.FORK, TASK.end, TASK.tid],
  [RecordType.MMAP2, MMAP2.filename, MMAP2.tid],
  [RecordType.NAMESPACES, NAMESPACES.links, NAMESPACES.tid],
] as const) {
  FIXED_SIZE[type] = fixed;
  BODY_TID_WORD[type] = tid / 4;
}
// Every body that names its subject starts with the pid, the tid after it or after the ppid.
const BODY_PID_WORD = TASK.pid / 4;
/** The string that ends a record's body, checked for its terminator. */
const STRING_FIELD: (string | undefined)[] = [];
STRING_FIELD[RecordType.COMM] = 'comm';
STRING_FIELD[RecordType.MMAP] = 'filename';
STRING_FIELD[RecordType.MMAP2] = 'filename';

/**
 * Builds a RecordIndex from a stream fed in chunks, each indexed in one
 * pass while it is still in cache: the records of a file need not all be in
 * memory at once, and a live capture appends batch by batch.
 */
export class RecordIndexBuilder {
  private resolver: Resolver;
  private n = 0;
  private samples = 0;
  /** Other records left out, by type. */
  private readonly skippedTypes = new Map<number, number>();
  private offset: Float64Array;
  private size: Uint16Array;
  private type: Uint8Array;
  private flags: Uint8Array;
  private time: Float64Array;
  private pid: Int32Array;
  private tid: Int32Array;
  private cpu: Int32Array;
  private trailer: Uint8Array;
  private call: Uint8Array;
  private rawAt: Uint16Array;

  constructor(stream: StreamLayout, expectedRecords = 1024) {
    this.resolver = makeResolver(stream);
    const cap = Math.max(16, Math.ceil(expectedRecords));
    this.offset = new Float64Array(cap);
    this.size = new Uint16Array(cap);
    this.type = new Uint8Array(cap);
    this.flags = new Uint8Array(cap);
    this.time = new Float64Array(cap);
    this.pid = new Int32Array(cap);
    this.tid = new Int32Array(cap);
    this.cpu = new Int32Array(cap);
    this.trailer = new Uint8Array(cap);
    this.call = new Uint8Array(cap);
    this.rawAt = new Uint16Array(cap);
  }

  private grow(): void {
    const capacity = this.offset.length * 2;
    const more = <T extends Uint8Array | Uint16Array | Int32Array | Float64Array>(column: T): T => {
      const bigger = new (column.constructor as new (length: number) => T)(capacity);
      bigger.set(column as never);
      return bigger;
    };
    this.offset = more(this.offset);
    this.size = more(this.size);
    this.type = more(this.type);
    this.flags = more(this.flags);
    this.time = more(this.time);
    this.pid = more(this.pid);
    this.tid = more(this.tid);
    this.cpu = more(this.cpu);
    this.trailer = more(this.trailer);
    this.call = more(this.call);
    this.rawAt = more(this.rawAt);
  }

  /** The stream's events changed: a pipe's HEADER_ATTR records come one by one. */
  setStream(stream: StreamLayout): void {
    this.resolver = makeResolver(stream);
  }

  /**
   * Indexes the whole records of `chunk` (8-byte aligned), whose first byte
   * is at `base` in the stream. Returns where in the chunk the first record
   * not indexed starts: its length when all were; less when the last runs
   * past its end, or when a user record is for the stream reader to handle
   * (FOR_STREAM_READER, or one whose size is not a multiple of 8). Throws a
   * RecordError naming the field of a malformed record.
   */
  add(chunk: Uint8Array, base: number): number {
    const words = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.byteLength >>> 2);
    const total = chunk.byteLength;
    const { resolver } = this;
    const idw = resolver.idWords;
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // The loop works on local columns, taken again whenever they grow.
    let { offset, size: sizes, type, flags, time, pid, tid, cpu, trailer } = this;
    let n = this.n;
    let at = 0;
    try {
      while (total - at >= 8) {
        if (n === offset.length) {
          this.n = n;
          this.grow();
          ({ offset, size: sizes, type, flags, time, pid, tid, cpu, trailer } = this);
        }
        const w = at >>> 2;
        const t = words[w];
        const misc = words[w + 1] & 0xffff;
        const size = words[w + 1] >>> 16;
        if (size < 8) throw new RecordError('header.size', `${typeName(t)} record's header.size is ${size}, less than its own 8-byte header`, base + at);
        if (t >= USER_TYPE_START) {
          if (size % 8 !== 0 || (t < 256 && FOR_STREAM_READER[t])) return at;
          if (size > total - at) return at;
          if (t === RecordType.FINISHED_INIT) {
            // No trailer: it takes its place in time from the record before it.
            offset[n] = base + at;
            sizes[n] = size;
            type[n] = t;
            flags[n] = trailer[n] = 0;
            time[n] = n > 0 ? time[n - 1] : 0;
            pid[n] = tid[n] = cpu[n] = -1;
            n++;
          } else {
            this.skip(t);
          }
          at += size;
          continue;
        }
        if (size % 8 !== 0) throw new RecordError('header.size', `${typeName(t)} record's header.size is ${size}, not a multiple of 8 as the kernel writes every record`, base + at);
        if (size > total - at) return at;
        if (t === RecordType.SAMPLE) {
          // The bulk of most files, never decoded here, but for the syscalls that change mappings.
          const sample = resolver.syscallSample(words, w);
          const raw = sample && rawOf(view, at, size, sample);
          if (!sample || !raw) {
            this.samples++;
            at += size;
            continue;
          }
          const syscall = callSyscall(sample.call);
          const need = isCallExit(sample.call) ? SYSCALL_RAW.ret + 8 : SYSCALL_RAW.args + 8 * SYSCALL_ARGS[syscall].length;
          if (raw.size < need)
            throw new RecordError('SAMPLE.raw', `a sys_${isCallExit(sample.call) ? 'exit' : 'enter'}_${syscall} sample's raw data is ${raw.size} bytes, too short for the ${need} bytes of its fields`, base + at);
          offset[n] = base + at;
          sizes[n] = size;
          type[n] = t;
          flags[n] = trailer[n] = 0;
          time[n] = sample.time < 0 ? 0 : words[w + sample.time / 4] + words[w + sample.time / 4 + 1] * 4294967296;
          pid[n] = sample.pid < 0 ? -1 : words[w + sample.pid / 4];
          tid[n] = sample.pid < 0 ? -1 : words[w + sample.pid / 4 + 1];
          cpu[n] = sample.cpu < 0 ? -1 : words[w + sample.cpu / 4];
          // Only here: the columns start zeroed, so every other record reads 0.
          this.call[n] = sample.call;
          this.rawAt[n] = raw.at;
          n++;
          at += size;
          continue;
        }
        const end = (at + size) >>> 2;
        const layout = resolver.layoutOf(words, w, end);
        if (!layout) throw new RecordError('sample_id.id', `${typeName(t)} record's sample_id.id names an event that no attr of the file lists`, base + at);
        const fixed = FIXED_SIZE[t] + layout.words * 4;
        if (size < fixed) throw new RecordError(`${RecordType[t] ?? t}.size`, `${typeName(t)} record's header.size is ${size}, less than its ${fixed} bytes of fixed fields and sample_id`, base + at);
        const bodyEnd = size - layout.words * 4;
        const stringField = STRING_FIELD[t];
        // The kernel pads a name with NULs to 8 bytes, so its last byte is NUL.
        if (stringField && chunk[at + bodyEnd - 1] !== 0)
          throw new RecordError(`${typeName(t)}.${stringField}`, `${typeName(t)} record's ${stringField} has no terminating NUL inside its ${size} bytes`, base + at);
        if (t === RecordType.NAMESPACES) {
          const count = words[w + NAMESPACES.count / 4];
          if (words[w + NAMESPACES.count / 4 + 1] !== 0 || NAMESPACES.links + count * NAMESPACES.link !== bodyEnd)
            throw new RecordError(
              'NAMESPACES.nr_namespaces',
              `NAMESPACES record's nr_namespaces is ${words[w + NAMESPACES.count / 4 + 1] * 4294967296 + count}, but its ${size} bytes hold ${Math.max(0, (bodyEnd - NAMESPACES.links) / NAMESPACES.link)} links`,
              base + at,
            );
        }
        offset[n] = base + at;
        sizes[n] = size;
        type[n] = t;
        trailer[n] = layout.words;
        const stamp = layout.time < 0 ? 0 : words[end - layout.time] + words[end - layout.time + 1] * 4294967296;
        time[n] = stamp;
        cpu[n] = layout.cpu < 0 ? -1 : words[end - layout.cpu];
        const bodyTid = BODY_TID_WORD[t];
        if (bodyTid > 0) {
          pid[n] = words[w + BODY_PID_WORD];
          tid[n] = words[w + bodyTid];
        } else if (layout.pid >= 0) {
          pid[n] = words[end - layout.pid];
          tid[n] = words[end - layout.pid + 1];
        } else {
          pid[n] = tid[n] = -1;
        }
        // Status-only records come from our /proc synthesis, which stamps them
        // with a PROC id, or else from the kernel's ioctl: so STATUS_ONLY without
        // a PROC id (or without any id) is ioctl status, whichever event got it.
        let f = misc & Misc.STATUS_ONLY ? IndexFlag.IS_STATUS : 0;
        if (idw > 0) {
          const lo = words[end - idw];
          const hi = words[end - idw + 1];
          if (hi === PROC_ID_HI && (lo & ~7) >>> 0 === PROC_ID_LO) {
            f |= (Provenance.Proc << IndexFlag.PROVENANCE_SHIFT) | ((lo & 7) << IndexFlag.STALE_SHIFT);
          } else if (f) {
            f |= Provenance.Ioctl << IndexFlag.PROVENANCE_SHIFT;
          } else if (hi === 0 && lo === 0 && stamp === 0 && bodyTid > 0) {
            f |= Provenance.Synthesized << IndexFlag.PROVENANCE_SHIFT;
          }
        } else if (f) {
          f |= Provenance.Ioctl << IndexFlag.PROVENANCE_SHIFT;
        } else if (stamp === 0 && bodyTid > 0 && layout.time >= 0) {
          f |= Provenance.Synthesized << IndexFlag.PROVENANCE_SHIFT;
        }
        flags[n] = f;
        n++;
        at += size;
      }
      return at;
    } finally {
      this.n = n;
    }
  }

  /** Counts a record left out of the index: the stream reader's, or one add() skipped. */
  skip(type: number): void {
    if (type === RecordType.SAMPLE) this.samples++;
    else this.skippedTypes.set(type, (this.skippedTypes.get(type) ?? 0) + 1);
  }

  finish(source: RecordSource, truncatedAt?: number): RecordIndex {
    const n = this.n;
    const skippedByType: Record<string, number> = {};
    let skipped = this.samples;
    if (this.samples) skippedByType.SAMPLE = this.samples;
    for (const [type, count] of [...this.skippedTypes].sort((a, b) => a[0] - b[0])) {
      skippedByType[typeName(type)] = count;
      skipped += count;
    }
    return {
      count: n,
      source,
      offset: this.offset.subarray(0, n),
      size: this.size.subarray(0, n),
      type: this.type.subarray(0, n),
      flags: this.flags.subarray(0, n),
      time: this.time.subarray(0, n),
      pid: this.pid.subarray(0, n),
      tid: this.tid.subarray(0, n),
      cpu: this.cpu.subarray(0, n),
      trailer: this.trailer.subarray(0, n),
      call: this.call.subarray(0, n),
      rawAt: this.rawAt.subarray(0, n),
      skipped,
      skippedByType,
      truncatedAt,
    };
  }
}

/** Records are rarely under 64 bytes: a capacity that seldom needs to grow. */
export function expectedRecords(bytes: number): number {
  return bytes / 64;
}

/** Whether the records from `from` on each come no earlier than the one before: what a grown index adds keeps it in time order. */
export function inTimeOrderFrom(index: RecordIndex, from: number): boolean {
  const { time, count } = index;
  for (let i = Math.max(1, from); i < count; i++) if (time[i] < time[i - 1]) return false;
  return true;
}

/** Bytes an index's columns hold, with the room they reserve for growth: what it costs in memory beside its records. */
export function indexColumnBytes(index: RecordIndex): number {
  const { offset, size, type, flags, time, pid, tid, cpu, trailer, call, rawAt } = index;
  return [offset, size, type, flags, time, pid, tid, cpu, trailer, call, rawAt].reduce((n, column) => n + column.buffer.byteLength, 0);
}

/**
 * The same records with their columns in time order, ties in stream order;
 * the index itself when it is in time order already, as our captures are.
 * perf's files are in order only within each round of ring reads, and a
 * --threads directory's data.N files not at all: the model, which takes a
 * process's fork before its exec, needs them in time order, as perf's own
 * readers sort them.
 */
export function inTimeOrder(index: RecordIndex): RecordIndex {
  if (inTimeOrderFrom(index, 0)) return index;
  const { time, count } = index;
  const order = Uint32Array.from({ length: count }, (_, i) => i).sort((a, b) => time[a] - time[b] || a - b);
  const pick = <T extends Uint8Array | Uint16Array | Int32Array | Float64Array>(column: T): T => {
    const picked = new (column.constructor as new (length: number) => T)(count);
    for (let k = 0; k < count; k++) picked[k] = column[order[k]];
    return picked;
  };
  return {
    ...index,
    offset: pick(index.offset),
    size: pick(index.size),
    type: pick(index.type),
    flags: pick(index.flags),
    time: pick(index.time),
    pid: pick(index.pid),
    tid: pick(index.tid),
    cpu: pick(index.cpu),
    trailer: pick(index.trailer),
    call: pick(index.call),
    rawAt: pick(index.rawAt),
  };
}

/**
 * Records `from` to `to` of an index, copied into one buffer of their own:
 * a stream of the indexed records alone (a file's sideband without its
 * samples, or its compressed records decompressed) to hand on.
 */
export function copyRecords(index: RecordIndex, from: number, to = index.count): Uint8Array {
  let bytes = 0;
  for (let i = from; i < to; i++) bytes += index.size[i];
  const copy = new Uint8Array(new ArrayBuffer(bytes));
  for (let i = from, at = 0; i < to; at += index.size[i], i++) copy.set(index.source.record(index.offset[i], index.size[i]), at);
  return copy;
}

export function provenanceOf(flags: number): Provenance {
  return ((flags & IndexFlag.PROVENANCE_MASK) >> IndexFlag.PROVENANCE_SHIFT) as Provenance;
}

export function staleReasons(flags: number): StaleReason[] {
  const bits = (flags & IndexFlag.STALE_MASK) >> IndexFlag.STALE_SHIFT;
  return STALE_REASONS.filter((_, i) => bits & (1 << i));
}

export function typeName(type: number): string {
  return RecordType[type] ?? `TYPE_${type}`;
}

/** One record expanded into named fields, for details, dumps and tests. */
export interface DecodedRecord {
  type: string;
  pid: number;
  tid: number;
  time: number;
  cpu: number;
  statusOnly: boolean;
  provenance: (typeof PROVENANCE_NAMES)[number];
  stale: StaleReason[];
  misc: number;
  fields: Record<string, string | number | boolean | Array<{ dev: string; ino: string }>>;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

export function decodeRecord(index: RecordIndex, i: number): DecodedRecord {
  const bytes = index.source.record(index.offset[i], index.size[i]);
  const t = index.type[i];
  const misc = recordMisc(bytes);
  const size = index.size[i];
  const bodyEnd = size - index.trailer[i] * 4;
  const f = index.flags[i];
  const fields: DecodedRecord['fields'] = {};
  switch (t) {
    case RecordType.FORK:
    case RecordType.EXIT: {
      const task = taskFields(bytes);
      fields.ppid = task.ppid;
      fields.ptid = task.ptid;
      fields.forkTime = task.time;
      if (t === RecordType.FORK) fields.exec = (misc & Misc.EXEC_OR_DATA) !== 0;
      break;
    }
    case RecordType.COMM:
      fields.comm = commName(bytes, bodyEnd);
      fields.exec = (misc & Misc.EXEC_OR_DATA) !== 0;
      break;
    case RecordType.MMAP:
    case RecordType.MMAP2: {
      const range = mappedRange(bytes);
      fields.addr = hex(range.start);
      fields.len = hex(range.end - range.start);
      fields.end = hex(range.end);
      fields.pgoff = hex(range.pgoff);
      fields.data = (misc & Misc.EXEC_OR_DATA) !== 0;
      if (t === RecordType.MMAP2) {
        const file = mmap2File(bytes);
        if ('buildId' in file) {
          fields.buildId = file.buildId;
        } else {
          fields.maj = file.maj;
          fields.min = file.min;
          fields.ino = file.ino.toString();
          fields.inoGeneration = file.inoGeneration.toString();
        }
        fields.prot = file.prot;
        fields.flags = file.flags;
      }
      fields.filename = mappedFilename(bytes, t === RecordType.MMAP2 ? 'mmap2' : 'mmap', bodyEnd);
      break;
    }
    case RecordType.NAMESPACES:
      fields.namespaces = namespaceLinks(bytes, size).map((link) => ({ dev: hex(link.dev), ino: link.ino.toString() }));
      break;
    case RecordType.SAMPLE: {
      const call = index.call[i];
      if (!call) break;
      const syscall = callSyscall(call);
      fields.event = `syscalls:sys_${isCallExit(call) ? 'exit' : 'enter'}_${syscall}`;
      if (isCallExit(call)) fields.ret = syscallReturn(bytes, index.rawAt[i]).toString();
      else SYSCALL_ARGS[syscall].forEach((name, k) => (fields[name] = hex(syscallArg(bytes, index.rawAt[i], k))));
      break;
    }
    case RecordType.LOST: {
      const lost = lostFields(bytes);
      fields.id = lost.id.toString();
      fields.lost = lost.lost;
      break;
    }
  }
  return {
    type: typeName(t),
    pid: index.pid[i],
    tid: index.tid[i],
    time: index.time[i],
    cpu: index.cpu[i],
    statusOnly: (f & IndexFlag.IS_STATUS) !== 0,
    provenance: PROVENANCE_NAMES[provenanceOf(f)],
    stale: staleReasons(f),
    misc,
    fields,
  };
}
