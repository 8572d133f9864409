// A capture as a Perfetto trace: a track per process and per thread, each
// sideband record an instant event on its thread's track (status-only ones
// in their own category, with provenance, stale reasons and fields), region
// lifetimes as slices under each process, and LOST records, status
// snapshots and debugger markers on tracks of their own. Encoded with the
// messages generated from Perfetto's own .proto (perfetto_trace.proto).

import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

import {
  BuiltinClock,
  DebugAnnotationNameSchema,
  DebugAnnotationSchema,
  EventCategorySchema,
  EventNameSchema,
  InternedDataSchema,
  InternedStringSchema,
  TracePacket_SequenceFlags,
  TracePacketSchema,
  TraceSchema,
  TrackEvent_Type,
  TrackEventSchema,
  type DebugAnnotation,
  type InternedData,
  type TracePacket,
  type TrackDescriptorSchema,
} from './gen/perfetto_trace_pb';
import { regionLifetimes, lifetimeRows } from '../lifetimes';
import { endedWords } from '../regionEnd';
import { decodeRecord, RecordType, type RecordIndex, type StreamLayout } from '../records';
import { type SidebandMeta } from '../perfdata/metadata';
import { Timeline, type Lane, type ProcessInfo } from '../timeline';

type Packet = MessageInitShape<typeof TracePacketSchema>;

/** The categories of record events: whether the record tells a state that existed before the capture, or an event during it. */
const STATUS_CATEGORY = 'status-only';
const REAL_CATEGORY = 'real';

/** Names of the tracks of their own. */
const TRACK_NAMES = { mappings: 'mappings', lost: 'LOST records', snapshots: 'status snapshots', markers: 'debugger', capture: 'capture' } as const;

/** The one sequence every packet is on: a trace written in one pass. */
const SEQUENCE_ID = 1;

export interface PerfettoInput {
  index: RecordIndex;
  /** The file's events: their clock says which clock the trace declares. */
  stream: StreamLayout;
  meta?: SidebandMeta;
}

export interface PerfettoTraceWritten {
  /** The trace's size. */
  bytes: number;
  /** The clock the timestamps are declared on. */
  clock: BuiltinClock;
  /** What the trace could not say exactly, in a sentence each. */
  warnings: string[];
}

/** Records between two reports of progress. */
const PROGRESS_EVERY = 10_000;

/** perf's attr.clockid values (the POSIX clock ids) that Perfetto knows as builtin clocks. */
const POSIX_CLOCKS: Record<number, BuiltinClock> = {
  0: BuiltinClock.REALTIME,
  1: BuiltinClock.MONOTONIC,
  4: BuiltinClock.MONOTONIC_RAW,
  5: BuiltinClock.REALTIME_COARSE,
  6: BuiltinClock.MONOTONIC_COARSE,
  7: BuiltinClock.BOOTTIME,
};

/**
 * The clock the events' times are on: the POSIX clock their attr names
 * (ours use CLOCK_MONOTONIC), else perf's own (perf record's default).
 * Events on different clocks cannot share a timeline: the first event's
 * is declared, with a warning.
 */
function clockOf(stream: StreamLayout, warnings: string[]): BuiltinClock {
  const clocks = [...new Set(stream.attrs.map(({ attr }) => (attr.useClockid ? (POSIX_CLOCKS[attr.clockid] ?? BuiltinClock.UNKNOWN) : BuiltinClock.PERF)))];
  if (clocks.includes(BuiltinClock.UNKNOWN) || clocks.length > 1) {
    const clockids = stream.attrs.map(({ attr }) => (attr.useClockid ? `clockid ${attr.clockid}` : 'perf_clock')).join(', ');
    warnings.push(`the capture's events are not on one clock Perfetto knows (${clockids}): their times are declared as ${BuiltinClock[clocks[0] || BuiltinClock.PERF]}'s. Fix: record every event with the same -k clock`);
    return clocks[0] || BuiltinClock.PERF;
  }
  return clocks[0] ?? BuiltinClock.MONOTONIC;
}

/** Bytes of packets gathered before they are handed on: the trace is written in pieces of about this size, never held whole. */
const CHUNK_BYTES = 1 << 20;

/**
 * The trace's packets, each encoded as it is written, as the `packet` field
 * of a `Trace`, and handed to `sink` a chunk at a time: a capture's many
 * records never stand as messages, nor as one buffer, at once. All are on
 * one sequence: the first clears its incremental state (the clock it
 * declares as their default, the names interned so far), the others depend
 * on it.
 */
class PacketWriter {
  private readonly writer = new BinaryWriter();
  private readonly field = TraceSchema.field.packet.number;
  private first = true;
  private pending = 0;
  written = 0;

  constructor(private readonly sink: (chunk: Uint8Array) => void) {}

  /** Writes a packet given as its fields; `write` of a message built once and reused is the way for the many. */
  add(packet: Packet): void {
    this.write(create(TracePacketSchema, packet));
  }

  write(packet: TracePacket): void {
    packet.sequenceFlags = this.first ? TracePacket_SequenceFlags.SEQ_INCREMENTAL_STATE_CLEARED : TracePacket_SequenceFlags.SEQ_NEEDS_INCREMENTAL_STATE;
    packet.optionalTrustedPacketSequenceId = { case: 'trustedPacketSequenceId', value: SEQUENCE_ID };
    this.first = false;
    const bytes = toBinary(TracePacketSchema, packet);
    this.writer.tag(this.field, WireType.LengthDelimited).bytes(bytes);
    this.pending += bytes.byteLength + 8;
    if (this.pending >= CHUNK_BYTES) this.flush();
  }

  flush(): void {
    const chunk = this.writer.finish();
    this.pending = 0;
    if (chunk.byteLength === 0) return;
    this.written += chunk.byteLength;
    this.sink(chunk);
  }
}

/**
 * Perfetto's interning: each event name, category, annotation name and
 * string value is written once, in the interned data of the first packet
 * that uses it, and by its iid after; a capture's records repeat a few
 * names and paths many times.
 */
class Interned {
  private readonly iids = { eventNames: new Map<string, bigint>(), eventCategories: new Map<string, bigint>(), debugAnnotationNames: new Map<string, bigint>(), debugAnnotationStringValues: new Map<string, bigint>() };
  private fresh: InternedData | undefined;
  private readonly encoder = new TextEncoder();

  /** The iid of `name` among the names of `kind`, interned in the next packet if new. */
  iid(kind: 'eventNames' | 'eventCategories' | 'debugAnnotationNames', name: string): bigint {
    let iid = this.iids[kind].get(name);
    if (iid === undefined) {
      iid = BigInt(this.iids[kind].size + 1);
      this.iids[kind].set(name, iid);
      const fresh = (this.fresh ??= create(InternedDataSchema));
      if (kind === 'eventNames') fresh.eventNames.push(create(EventNameSchema, { iid, name }));
      else if (kind === 'eventCategories') fresh.eventCategories.push(create(EventCategorySchema, { iid, name }));
      else fresh.debugAnnotationNames.push(create(DebugAnnotationNameSchema, { iid, name }));
    }
    return iid;
  }

  stringValue(value: string): bigint {
    let iid = this.iids.debugAnnotationStringValues.get(value);
    if (iid === undefined) {
      iid = BigInt(this.iids.debugAnnotationStringValues.size + 1);
      this.iids.debugAnnotationStringValues.set(value, iid);
      (this.fresh ??= create(InternedDataSchema)).debugAnnotationStringValues.push(create(InternedStringSchema, { iid, str: this.encoder.encode(value) }));
    }
    return iid;
  }

  /** What the next packet must carry: the names interned since the last. */
  take(): InternedData | undefined {
    const fresh = this.fresh;
    this.fresh = undefined;
    return fresh;
  }
}

/** Gives tracks their uuids, in the order they are made, from 1 (0 is no track), and writes their descriptors. */
class Tracks {
  private next = 1n;

  constructor(private readonly packets: PacketWriter) {}

  add(descriptor: Omit<MessageInitShape<typeof TrackDescriptorSchema>, 'uuid' | '$typeName'>): bigint {
    const uuid = this.next++;
    this.packets.add({ data: { case: 'trackDescriptor', value: { ...descriptor, uuid } } });
    return uuid;
  }

  named(name: string, parentUuid?: bigint): bigint {
    return this.add({ staticOrDynamicName: { case: 'name', value: name }, ...(parentUuid ? { parentUuid } : {}) });
  }
}

type Field = ReturnType<typeof decodeRecord>['fields'][string];

/**
 * The trace's events, each written from one packet and one track event
 * built once and filled anew for each (their debug annotations too, from a
 * pool): building a message per record from its fields was most of an
 * export's time. Names and string values go by their interned iids.
 */
class EventWriter {
  private readonly event = create(TrackEventSchema);
  private readonly packet = create(TracePacketSchema, { data: { case: 'trackEvent', value: this.event } });
  private readonly pool: DebugAnnotation[] = [];

  constructor(
    private readonly packets: PacketWriter,
    private readonly interned: Interned,
  ) {}

  /** Starts the next event; its annotations follow, then `write`. */
  begin(time: number, type: TrackEvent_Type, trackUuid: bigint, name?: string, category?: string): this {
    this.packet.timestamp = ns(time);
    const e = this.event;
    e.type = type;
    e.trackUuid = trackUuid;
    e.nameField = name === undefined ? { case: undefined } : { case: 'nameIid', value: this.interned.iid('eventNames', name) };
    e.categoryIids = category === undefined ? [] : [this.interned.iid('eventCategories', category)];
    e.debugAnnotations.length = 0;
    return this;
  }

  text(name: string, value: string): this {
    this.next(name).value = { case: 'stringValueIid', value: this.interned.stringValue(value) };
    return this;
  }

  /** A decoded record's field, by its type. */
  field(name: string, value: Field): this {
    if (typeof value === 'string') return this.text(name, value);
    const a = this.next(name);
    if (typeof value === 'boolean') a.value = { case: 'boolValue', value };
    else if (typeof value === 'number') a.value = { case: 'intValue', value: BigInt(value) };
    else a.arrayValues = value.map((link) => create(DebugAnnotationSchema, { dictEntries: [this.fresh('dev', link.dev), this.fresh('ino', link.ino)] }));
    return this;
  }

  write(): void {
    this.packet.internedData = this.interned.take();
    this.packets.write(this.packet);
  }

  /** The next annotation of the event, from the pool, cleared and named. */
  private next(name: string): DebugAnnotation {
    const k = this.event.debugAnnotations.length;
    const a = (this.pool[k] ??= create(DebugAnnotationSchema));
    a.value = { case: undefined };
    if (a.arrayValues.length) a.arrayValues = [];
    a.nameField = { case: 'nameIid', value: this.interned.iid('debugAnnotationNames', name) };
    this.event.debugAnnotations.push(a);
    return a;
  }

  private fresh(name: string, value: string): DebugAnnotation {
    return create(DebugAnnotationSchema, { nameField: { case: 'nameIid', value: this.interned.iid('debugAnnotationNames', name) }, value: { case: 'stringValueIid', value: this.interned.stringValue(value) } });
  }
}

/** Nanoseconds as a timestamp: times are whole nanoseconds, kept exactly in a double below 2^53. */
const ns = (t: number): bigint => BigInt(Math.round(t));

/**
 * Writes the capture of `input` as a Perfetto trace (the bytes of a
 * `Trace` message, what a .pftrace file holds) to `sink`, a chunk of about
 * a MiB at a time. `progress` is told of the records written so far now
 * and then.
 */
export function writePerfettoTrace(input: PerfettoInput, sink: (chunk: Uint8Array) => void, progress?: (records: number, of: number) => void): PerfettoTraceWritten {
  const warnings: string[] = [];
  const clock = clockOf(input.stream, warnings);
  const timeline = new Timeline(input.index);
  const index = timeline.records;
  const meta = input.meta;
  const packets = new PacketWriter(sink);
  // The clock, once, as the default of every packet after it and as the trace's own, so Perfetto shows the times as they are.
  const start = ns(Number.isNaN(timeline.startTime) ? 0 : timeline.startTime);
  packets.add({
    firstPacketOnSequence: true,
    tracePacketDefaults: { timestampClockId: clock },
    data: { case: 'clockSnapshot', value: { clocks: [{ clockId: clock, timestamp: start }], primaryTraceClock: clock } },
  });

  // Every track first, so that each is described before its events: a process track and, under it, a thread
  // track for each of its threads (its main thread's too), each named as at its last record.
  const tracks = new Tracks(packets);
  const threadTrack = new Map<Lane, bigint>();
  const processTrack = new Map<ProcessInfo, bigint>();
  for (const process of timeline.processes) {
    const uuid = tracks.add({ process: { pid: process.pid, processName: timeline.commAt(process.lane, process.lastTime) } });
    processTrack.set(process, uuid);
    for (const lane of [process.lane, ...process.threads])
      threadTrack.set(lane, tracks.add({ parentUuid: uuid, thread: { pid: process.pid, tid: BigInt(lane.tid), threadName: timeline.commAt(lane, lane.lastTime) } }));
  }
  const captureTrack = timeline.global.records.length > timeline.lost.length ? tracks.named(TRACK_NAMES.capture) : 0n;
  const lostTrack = timeline.lost.length ? tracks.named(TRACK_NAMES.lost) : 0n;
  // Region lifetimes go on rows of a process's "mappings", which Perfetto merges into one track: slices on one track must nest, and lifetimes need not.
  const mappings = timeline.processes.map((process) => {
    const lifetimes = regionLifetimes(timeline, process);
    const rows = lifetimeRows(lifetimes);
    const rowTracks: bigint[] = [];
    for (const row of rows) rowTracks[row] ??= tracks.named(TRACK_NAMES.mappings, processTrack.get(process));
    return { lifetimes, tracks: rows.map((row) => rowTracks[row]) };
  });
  const snapshotTrack = meta?.snapshots.length ? tracks.named(TRACK_NAMES.snapshots) : 0n;
  const markerTrack = meta?.markers?.length ? tracks.named(TRACK_NAMES.markers) : 0n;

  const events = new EventWriter(packets, new Interned());
  const total = index.count;
  let done = 0;
  for (const lane of timeline.lanes) {
    const trackUuid = lane.kind === 'global' ? captureTrack : threadTrack.get(lane)!;
    for (const i of lane.records) {
      const r = decodeRecord(index, i);
      const name = index.type[i] === RecordType.SAMPLE && typeof r.fields.event === 'string' ? r.fields.event : r.type;
      events.begin(r.time, TrackEvent_Type.INSTANT, index.type[i] === RecordType.LOST ? lostTrack : trackUuid, name, r.statusOnly ? STATUS_CATEGORY : REAL_CATEGORY);
      events.text('provenance', r.provenance);
      if (r.stale.length) events.text('stale', r.stale.join(', '));
      events.field('pid', r.pid).field('tid', r.tid).field('cpu', r.cpu);
      for (const [field, value] of Object.entries(r.fields)) events.field(field, value);
      events.write();
      if (++done % PROGRESS_EVERY === 0) progress?.(done, total);
    }
  }
  const sliceEnd = (time: number, trackUuid: bigint): void => events.begin(time, TrackEvent_Type.SLICE_END, trackUuid).write();
  for (const { lifetimes, tracks: on } of mappings) {
    lifetimes.forEach((l, k) => {
      const until = l.ended ? endedWords(l.ended, (t) => `${ns(t)}`) : Number.isFinite(l.to) ? 'ended by the exit of the process' : 'mapped to the end of the capture';
      const range = `0x${l.start.toString(16)}-0x${l.end.toString(16)}`;
      events.begin(l.from, TrackEvent_Type.SLICE_BEGIN, on[k], l.filename).text('filename', l.filename).text('range', range).text('ended', until).write();
      sliceEnd(Number.isFinite(l.to) ? l.to : timeline.endTime, on[k]);
    });
  }
  for (const s of meta?.snapshots ?? []) {
    events.begin(Number(s.start), TrackEvent_Type.SLICE_BEGIN, snapshotTrack, `snapshot ${s.index} (${s.path})`).text('path', s.path);
    events.field('processes', s.processes).field('records', s.records).field('stale', s.stale).field('gone', s.gone).write();
    sliceEnd(Number(s.end), snapshotTrack);
  }
  for (const m of meta?.markers ?? []) events.begin(Number(m.time), TrackEvent_Type.INSTANT, markerTrack, m.kind).text('label', m.label).write();
  packets.flush();
  progress?.(total, total);
  return { bytes: packets.written, clock, warnings };
}
