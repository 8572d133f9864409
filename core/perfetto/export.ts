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
  TracePacket_SequenceFlags,
  TracePacketSchema,
  TraceSchema,
  TrackEvent_Type,
  type DebugAnnotationSchema,
  type TrackDescriptorSchema,
  type TrackEventSchema,
} from './gen/perfetto_trace_pb';
import { regionLifetimes, lifetimeRows } from '../lifetimes';
import { endedWords } from '../regionEnd';
import { decodeRecord, RecordType, type RecordIndex, type StreamLayout } from '../records';
import { type SidebandMeta } from '../perfdata/metadata';
import { Timeline, type Lane, type ProcessInfo } from '../timeline';

type Packet = MessageInitShape<typeof TracePacketSchema>;
type Annotation = MessageInitShape<typeof DebugAnnotationSchema>;

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

export interface PerfettoTrace {
  bytes: Uint8Array;
  /** The clock the timestamps are declared on. */
  clock: BuiltinClock;
  /** What the trace could not say exactly, in a sentence each. */
  warnings: string[];
}

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

/**
 * The trace's packets, each encoded as it is written, as the `packet` field
 * of a `Trace`: a capture's many records never stand as messages at once.
 * All are on one sequence: the first clears its incremental state, the
 * others depend on it (the clock it declares as their default).
 */
class PacketWriter {
  private readonly writer = new BinaryWriter();
  private readonly field = TraceSchema.field.packet.number;
  private first = true;

  write(packet: Packet): void {
    const sequenceFlags = this.first ? TracePacket_SequenceFlags.SEQ_INCREMENTAL_STATE_CLEARED : TracePacket_SequenceFlags.SEQ_NEEDS_INCREMENTAL_STATE;
    this.first = false;
    const message = create(TracePacketSchema, { ...packet, sequenceFlags, optionalTrustedPacketSequenceId: { case: 'trustedPacketSequenceId', value: SEQUENCE_ID } });
    this.writer.tag(this.field, WireType.LengthDelimited).bytes(toBinary(TracePacketSchema, message));
  }

  finish(): Uint8Array {
    return this.writer.finish();
  }
}

/** Gives tracks their uuids, in the order they are made, from 1 (0 is no track), and writes their descriptors. */
class Tracks {
  private next = 1n;

  constructor(private readonly packets: PacketWriter) {}

  add(descriptor: Omit<MessageInitShape<typeof TrackDescriptorSchema>, 'uuid' | '$typeName'>): bigint {
    const uuid = this.next++;
    this.packets.write({ data: { case: 'trackDescriptor', value: { ...descriptor, uuid } } });
    return uuid;
  }

  named(name: string, parentUuid?: bigint): bigint {
    return this.add({ staticOrDynamicName: { case: 'name', value: name }, ...(parentUuid ? { parentUuid } : {}) });
  }
}

const text = (name: string, value: string): Annotation => ({ nameField: { case: 'name', value: name }, value: { case: 'stringValue', value } });

/** A decoded record's field as a debug annotation, by its type. */
function annotation(name: string, value: ReturnType<typeof decodeRecord>['fields'][string]): Annotation {
  const named = { nameField: { case: 'name' as const, value: name } };
  if (typeof value === 'boolean') return { ...named, value: { case: 'boolValue', value } };
  if (typeof value === 'number') return { ...named, value: { case: 'intValue', value: BigInt(value) } };
  if (typeof value === 'string') return { ...named, value: { case: 'stringValue', value } };
  return { ...named, arrayValues: value.map((link) => ({ dictEntries: [text('dev', link.dev), text('ino', link.ino)] })) };
}

/** Nanoseconds as a timestamp: times are whole nanoseconds, kept exactly in a double below 2^53. */
const ns = (t: number): bigint => BigInt(Math.round(t));

/**
 * The capture of `input` as a Perfetto trace (the bytes of a `Trace`
 * message, what a .pftrace file holds).
 */
export function perfettoTrace(input: PerfettoInput): PerfettoTrace {
  const warnings: string[] = [];
  const clock = clockOf(input.stream, warnings);
  const timeline = new Timeline(input.index);
  const index = timeline.records;
  const meta = input.meta;
  const packets = new PacketWriter();
  // The clock, once, as the default of every packet after it and as the trace's own, so Perfetto shows the times as they are.
  const start = ns(Number.isNaN(timeline.startTime) ? 0 : timeline.startTime);
  packets.write({
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

  const instant = (time: number, trackUuid: bigint, name: string, event: MessageInitShape<typeof TrackEventSchema> = {}): void => {
    packets.write({ timestamp: ns(time), data: { case: 'trackEvent', value: { type: TrackEvent_Type.INSTANT, trackUuid, nameField: { case: 'name', value: name }, ...event } } });
  };
  const slice = (from: number, to: number, trackUuid: bigint, name: string, debugAnnotations: Annotation[]): void => {
    packets.write({ timestamp: ns(from), data: { case: 'trackEvent', value: { type: TrackEvent_Type.SLICE_BEGIN, trackUuid, nameField: { case: 'name', value: name }, debugAnnotations } } });
    packets.write({ timestamp: ns(to), data: { case: 'trackEvent', value: { type: TrackEvent_Type.SLICE_END, trackUuid } } });
  };

  for (const lane of timeline.lanes) {
    const trackUuid = lane.kind === 'global' ? captureTrack : threadTrack.get(lane)!;
    for (const i of lane.records) {
      const r = decodeRecord(index, i);
      const debugAnnotations = [text('provenance', r.provenance)];
      if (r.stale.length) debugAnnotations.push(text('stale', r.stale.join(', ')));
      debugAnnotations.push(annotation('pid', r.pid), annotation('tid', r.tid), annotation('cpu', r.cpu));
      for (const [name, value] of Object.entries(r.fields)) debugAnnotations.push(annotation(name, value));
      const name = index.type[i] === RecordType.SAMPLE && typeof r.fields.event === 'string' ? r.fields.event : r.type;
      instant(r.time, index.type[i] === RecordType.LOST ? lostTrack : trackUuid, name, { categories: [r.statusOnly ? STATUS_CATEGORY : REAL_CATEGORY], debugAnnotations });
    }
  }
  for (const { lifetimes, tracks: on } of mappings) {
    lifetimes.forEach((l, k) => {
      const until = l.ended ? endedWords(l.ended, (t) => `${ns(t)}`) : Number.isFinite(l.to) ? 'ended by the exit of the process' : 'mapped to the end of the capture';
      const range = `0x${l.start.toString(16)}-0x${l.end.toString(16)}`;
      slice(l.from, Number.isFinite(l.to) ? l.to : timeline.endTime, on[k], l.filename, [text('filename', l.filename), text('range', range), text('ended', until)]);
    });
  }
  for (const s of meta?.snapshots ?? []) {
    const counts = [annotation('processes', s.processes), annotation('records', s.records), annotation('stale', s.stale), annotation('gone', s.gone)];
    slice(Number(s.start), Number(s.end), snapshotTrack, `snapshot ${s.index} (${s.path})`, [text('path', s.path), ...counts]);
  }
  for (const m of meta?.markers ?? []) instant(Number(m.time), markerTrack, m.kind, { debugAnnotations: [text('label', m.label)] });
  return { bytes: packets.finish(), clock, warnings };
}
