// Writing a capture as a perf.data file that perf itself reads, streamed
// as the records arrive and finished with perf's features and our metadata.

import * as fs from 'node:fs';
import { EventAttr, PROC_IDS, RecordType, parseAttr } from '../../core/records';
import { ByteWriter } from '../../core/perfdata/byteWriter';
import { Feature, HEADER_SIZE, PerfDataError, SECTION_SIZE, buildHeader, viewOf } from '../../core/perfdata/format';
import { checkMeta, sidebandTrailer, type SidebandMeta } from '../../core/perfdata/metadata';
import { readHostInfo, type HostInfo } from '../host';
import { tracingData } from './tracingData';
import { openPerfDataFile } from './reader';
import { FileError } from '../fileError';

/** PERF_TYPE_TRACEPOINT: the attr type of the syscall tracepoints, whose formats perf needs in TRACING_DATA. */
const TRACEPOINT_TYPE = 2;
/** PERF_EVENT_UPDATE__NAME, the kind of EVENT_UPDATE that names an event. */
const EVENT_UPDATE_NAME = 2;

/** One event of the file: its attr, its ids and its name as perf gives it ("dummy:u", "syscalls:sys_enter_munmap"). */
export interface FileEvent {
  attr: EventAttr;
  ids: readonly bigint[];
  name: string;
}

/**
 * The feature sections of a finished file, as they follow its data section,
 * then the metadata trailer and its footer; `tracing` is the TRACING_DATA
 * section where the file has tracepoints.
 */
function buildFeatures(offset: number, events: readonly FileEvent[], tracing: Uint8Array | undefined, host: HostInfo, meta: SidebandMeta): { bits: number[]; bytes: Uint8Array } {
  const desc = new ByteWriter().u32(events.length).u32(events[0].attr.bytes.byteLength);
  for (const event of events) {
    desc.raw(event.attr.bytes).u32(event.ids.length).perfString(event.name);
    for (const id of event.ids) desc.u64(id);
  }
  // In increasing order of their bits: perf reads the sections in that order.
  const payloads: Array<[Feature, ByteWriter]> = [
    ...(tracing ? [[Feature.TRACING_DATA, new ByteWriter().raw(tracing)] as [Feature, ByteWriter]] : []),
    [Feature.HOSTNAME, new ByteWriter().perfString(host.hostname)],
    [Feature.OSRELEASE, new ByteWriter().perfString(host.osRelease)],
    [Feature.VERSION, new ByteWriter().perfString(meta.tool)],
    [Feature.ARCH, new ByteWriter().perfString(host.arch)],
    [Feature.NRCPUS, new ByteWriter().u32(host.cpusAvailable).u32(host.cpusOnline)],
    [Feature.CMDLINE, host.cmdline.reduce((out, arg) => out.perfString(arg), new ByteWriter().u32(host.cmdline.length))],
    [Feature.EVENT_DESC, desc],
  ];
  // CLOCKID holds the clock's resolution in ns; perf uses it to say that
  // times are on attr.clockid. The POSIX clocks perf offers all tick in 1 ns.
  if (events[0].attr.useClockid) payloads.push([Feature.CLOCKID, new ByteWriter().u64(1)]);

  const table = new ByteWriter();
  const body = new ByteWriter();
  const bodyStart = offset + payloads.length * SECTION_SIZE;
  for (const [, payload] of payloads) {
    table.section({ offset: bodyStart + body.length, size: payload.length });
    body.raw(payload.result()).alignTo(8);
  }
  body.raw(sidebandTrailer(meta, bodyStart + body.length));
  return { bits: payloads.map(([bit]) => bit), bytes: table.raw(body.result()).result() };
}

/** An EVENT_UPDATE record naming `event` by its first id, so a reader following the unfinished file learns the name. */
function eventNameRecord(event: FileEvent): Uint8Array {
  const name = new TextEncoder().encode(event.name);
  const padded = Math.ceil((name.byteLength + 1) / 8) * 8;
  return new ByteWriter()
    .u32(RecordType.EVENT_UPDATE)
    .u32((24 + padded) << 16)
    .u64(EVENT_UPDATE_NAME)
    .u64(event.ids[0] ?? 0n)
    .raw(name)
    .raw(new Uint8Array(padded - name.byteLength))
    .result();
}

const FINISHED_ROUND = new ByteWriter().u32(RecordType.FINISHED_ROUND).u32(8 << 16).result();
/** perf queues records until a FINISHED_ROUND; these bound what it holds at once. */
const ROUND_RECORDS = 65536;
const ROUND_BYTES = 4 << 20;
const WRITE_BUFFER_BYTES = 1 << 20;

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
}

/** What ends a file: its events, where its attrs and data lie, and what the features say of the machine. */
interface FileEnding {
  events: readonly FileEvent[];
  tracing: Uint8Array | undefined;
  host: HostInfo;
  attrsAt: number;
  dataOffset: number;
  /** File offset of the byte after the last record. */
  dataEnd: number;
}

/**
 * Ends the data section at `dataEnd` (a last FINISHED_ROUND), writes the
 * features and the metadata trailer after it, then the final header: only
 * then does the file say it is complete.
 */
function writeEnding(fd: number, ending: FileEnding, meta: SidebandMeta): void {
  const bad = checkMeta(meta, '');
  if (bad !== undefined) throw new PerfDataError(`meta.${bad}`, `meta.${bad} is missing or of the wrong type: readers would ignore the metadata`);
  const { events, attrsAt, dataOffset } = ending;
  writeAll(fd, FINISHED_ROUND, ending.dataEnd);
  const dataEnd = ending.dataEnd + FINISHED_ROUND.byteLength;
  const features = buildFeatures(dataEnd, events, ending.tracing, ending.host, meta);
  writeAll(fd, features.bytes, dataEnd);
  fs.ftruncateSync(fd, dataEnd + features.bytes.byteLength);
  const attrSize = events[0].attr.bytes.byteLength + SECTION_SIZE;
  const data = { offset: dataOffset, size: dataEnd - dataOffset };
  writeAll(fd, buildHeader(attrSize, { offset: attrsAt, size: events.length * attrSize }, data, features.bits), 0);
}

/**
 * Finishes a capture file that the native core wrote up to `dataEnd`
 * (native/core/perf_file.h): its header, ids and attrs are read back from
 * it, its events named `names` in the order of its attrs, and the
 * tracepoints' formats read from tracefs now, the capture's kernel's (or
 * taken from `formats`, as a capture helper read them).
 */
export function finishPerfDataFile(path: string, dataEnd: number, names: readonly string[], meta: SidebandMeta, host: HostInfo = readHostInfo(), formats?: ReadonlyMap<string, Uint8Array>): void {
  const file = openPerfDataFile(path);
  if (file.declaredBytes !== undefined) throw new PerfDataError('data.size', `${path} is already finished: its header gives its data section's size`);
  if (file.attrs.length !== names.length) throw new PerfDataError('attrs', `${path} has ${file.attrs.length} events, but the capture named ${names.length}`);
  if (dataEnd < file.dataStart || dataEnd > file.dataEnd) throw new PerfDataError('data', `${path} ends at byte ${file.dataEnd}, but the capture wrote its records up to byte ${dataEnd}`);
  const events: FileEvent[] = file.attrs.map((a, i) => ({ attr: a.attr, ids: a.ids, name: names[i] }));
  const tracepoints = events.filter((event) => event.attr.type === TRACEPOINT_TYPE).map((event) => event.name);
  const fd = fs.openSync(path, 'r+');
  try {
    writeEnding(fd, { events, tracing: tracepoints.length ? tracingData(tracepoints, formats) : undefined, host, attrsAt: file.attrsAt, dataOffset: file.dataStart, dataEnd }, meta);
  } catch (e) {
    const { code, syscall } = e as NodeJS.ErrnoException;
    if (code === undefined) throw e;
    // What of the ending was written goes, or a reader of the unfinished file would take it for records.
    fs.ftruncateSync(fd, dataEnd);
    throw new FileError(
      code,
      path,
      code === 'ENOSPC'
        ? `no space left on ${path} (${syscall}) for the capture's ending: the file holds every record and reads as unfinished. Fix: free space, or capture to another file system.`
        : `cannot finish ${path}: ${(e as Error).message}; the file holds every record and reads as unfinished. Fix: check the disk, and capture to another file.`,
    );
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Streams a capture into a perf.data file that perf itself reads: its
 * events (the sideband's first, then the syscall tracepoints where the
 * capture had them) with their kernel ids, the ids /proc status records
 * carry on the sideband's, an EVENT_UPDATE naming each event, the records
 * as appended, then perf's features (TRACING_DATA with the tracepoints'
 * formats where there are tracepoints) and our metadata trailer.
 *
 * Until finish() the header says data.size = 0, perf's own mark of an
 * unfinished file, as `perf record` leaves one when killed. readPerfData
 * reads such a file up to its last whole record; perf 6.1 only warns that
 * it was not properly terminated and then reads none of it.
 */
export class PerfDataWriter {
  private readonly buffer = new Uint8Array(WRITE_BUFFER_BYTES);
  private buffered = 0;
  /** File offset where the buffer's bytes go. */
  private position: number;
  private roundRecords = 0;
  private roundBytes = 0;
  private fd: number | undefined;

  private constructor(
    fd: number,
    private readonly events: FileEvent[],
    private readonly tracing: Uint8Array | undefined,
    private readonly attrsAt: number,
    private readonly dataOffset: number,
    private readonly host: HostInfo,
  ) {
    this.fd = fd;
    this.position = dataOffset;
  }

  /**
   * Creates (or truncates) `path` and writes the header, the id arrays, the
   * attrs and the EVENT_UPDATEs that name the events. `events` are the
   * capture's, the sideband's first: its ids are also those of the event
   * that receives ioctl status; the tracepoints' formats are read from
   * tracefs now, as the capture's kernel has them.
   */
  static open(path: string, init: { events: readonly { attr: Uint8Array; ids: readonly bigint[]; name: string }[]; host?: HostInfo }): PerfDataWriter {
    if (init.events.length === 0) throw new PerfDataError('events', 'a perf.data file needs at least one event: the capture reported none');
    const attrBytes = init.events[0].attr.byteLength;
    const events: FileEvent[] = init.events.map((event, i) => {
      const attr = parseAttr(event.attr);
      if (attr.size !== event.attr.byteLength)
        throw new PerfDataError('attr.size', `attr.size of ${event.name} is ${attr.size} but the attr has ${event.attr.byteLength} bytes: perf would misread the file`);
      if (event.attr.byteLength !== attrBytes)
        throw new PerfDataError('attr.size', `the attr of ${event.name} has ${event.attr.byteLength} bytes, that of ${init.events[0].name} ${attrBytes}: a perf.data file has one attr size`);
      return { attr, name: event.name, ids: i === 0 ? [...new Set([...event.ids, ...PROC_IDS])] : [...event.ids] };
    });
    const tracepoints = events.filter((event) => event.attr.type === TRACEPOINT_TYPE).map((event) => event.name);
    const tracing = tracepoints.length ? tracingData(tracepoints) : undefined;
    const attrSize = attrBytes + SECTION_SIZE;
    const idsAt = HEADER_SIZE;
    const idCount = events.reduce((n, event) => n + event.ids.length, 0);
    const attrsAt = idsAt + idCount * 8;
    const dataOffset = Math.ceil((attrsAt + events.length * attrSize) / 8) * 8;
    const start = new ByteWriter().raw(buildHeader(attrSize, { offset: attrsAt, size: events.length * attrSize }, { offset: dataOffset, size: 0 }, []));
    for (const event of events) for (const id of event.ids) start.u64(id);
    let idAt = idsAt;
    for (const event of events) {
      start.raw(event.attr.bytes).section({ offset: idAt, size: event.ids.length * 8 });
      idAt += event.ids.length * 8;
    }
    start.alignTo(8);
    for (const event of events) start.raw(eventNameRecord(event));
    const host = init.host ?? readHostInfo();
    const fd = fs.openSync(path, 'w', 0o600);
    try {
      writeAll(fd, start.result(), 0);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    const writer = new PerfDataWriter(fd, events, tracing, attrsAt, dataOffset, host);
    writer.position = start.length;
    return writer;
  }

  /** Appends whole records in perf's layout, in time order. */
  append(records: Uint8Array): void {
    const fd = this.openFd();
    const view = viewOf(records);
    // Check the whole batch before writing any of it, noting where rounds end.
    const roundEnds: number[] = [];
    let { roundRecords, roundBytes } = this;
    for (let at = 0; at < records.byteLength; ) {
      const size = records.byteLength - at >= 8 ? view.getUint16(at + 6, true) : 0;
      if (size < 8 || size % 8 !== 0 || size > records.byteLength - at)
        throw new PerfDataError('records', 'the batch does not consist of whole records (a header.size is 0, not a multiple of 8, or runs past its end): nothing of it was written', at);
      at += size;
      roundRecords++;
      roundBytes += size;
      if (roundRecords >= ROUND_RECORDS || roundBytes >= ROUND_BYTES) {
        roundEnds.push(at);
        roundRecords = roundBytes = 0;
      }
    }
    this.roundRecords = roundRecords;
    this.roundBytes = roundBytes;
    let start = 0;
    for (const end of roundEnds) {
      this.write(fd, records.subarray(start, end));
      this.write(fd, FINISHED_ROUND);
      start = end;
    }
    this.write(fd, records.subarray(start));
  }

  /** Ends the data section, writes the features, the metadata trailer and the final header, and closes the file. */
  finish(meta: SidebandMeta): void {
    const fd = this.openFd();
    this.writeBuffered(fd);
    writeEnding(fd, { events: this.events, tracing: this.tracing, host: this.host, attrsAt: this.attrsAt, dataOffset: this.dataOffset, dataEnd: this.position }, meta);
    this.close(fd);
  }

  /** Writes out what was appended, so readers of the file see every record so far. */
  flush(): void {
    this.writeBuffered(this.openFd());
  }

  /** File offset that the records written out reach: after flush(), every record appended; after finish(), the data section's end. */
  get written(): number {
    return this.position;
  }

  /**
   * Writes out what was appended and closes the file without finishing it,
   * as an interrupted capture would leave it: data.size stays 0.
   */
  abandon(): void {
    const fd = this.openFd();
    this.writeBuffered(fd);
    this.close(fd);
  }

  private openFd(): number {
    if (this.fd === undefined) throw new PerfDataError('writer', 'the perf.data writer was already finished or abandoned');
    return this.fd;
  }

  private close(fd: number): void {
    this.fd = undefined;
    fs.closeSync(fd);
  }

  private write(fd: number, bytes: Uint8Array): void {
    if (bytes.byteLength > this.buffer.byteLength - this.buffered) this.writeBuffered(fd);
    if (bytes.byteLength >= this.buffer.byteLength) {
      writeAll(fd, bytes, this.position);
      this.position += bytes.byteLength;
      return;
    }
    this.buffer.set(bytes, this.buffered);
    this.buffered += bytes.byteLength;
  }

  private writeBuffered(fd: number): void {
    writeAll(fd, this.buffer.subarray(0, this.buffered), this.position);
    this.position += this.buffered;
    this.buffered = 0;
  }
}
