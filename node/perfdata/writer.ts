// Writing a capture as a perf.data file that perf itself reads, streamed
// as the records arrive and finished with perf's features and our metadata.

import * as fs from 'node:fs';
import { EventAttr, PROC_IDS, RecordType, parseAttr } from '../../core/records';
import { ByteWriter } from '../../core/perfdata/byteWriter';
import { Feature, HEADER_SIZE, PerfDataError, SECTION_SIZE, buildHeader, viewOf } from '../../core/perfdata/format';
import { checkMeta, sidebandTrailer, type SidebandMeta } from '../../core/perfdata/metadata';
import { readHostInfo, type HostInfo } from '../host';

/** Name perf gives a software dummy event that excludes kernel and hypervisor. */
const SIDEBAND_EVENT_NAME = 'dummy:u';

/**
 * The feature sections of a finished file, as they follow its data section,
 * then the metadata trailer and its footer.
 */
function buildFeatures(offset: number, attr: EventAttr, ids: readonly bigint[], host: HostInfo, meta: SidebandMeta): { bits: number[]; bytes: Uint8Array } {
  const payloads: Array<[Feature, ByteWriter]> = [
    [Feature.HOSTNAME, new ByteWriter().perfString(host.hostname)],
    [Feature.OSRELEASE, new ByteWriter().perfString(host.osRelease)],
    [Feature.VERSION, new ByteWriter().perfString(meta.tool)],
    [Feature.ARCH, new ByteWriter().perfString(host.arch)],
    [Feature.NRCPUS, new ByteWriter().u32(host.cpusAvailable).u32(host.cpusOnline)],
    [Feature.CMDLINE, host.cmdline.reduce((out, arg) => out.perfString(arg), new ByteWriter().u32(host.cmdline.length))],
    [Feature.EVENT_DESC, ids.reduce((out, id) => out.u64(id), new ByteWriter().u32(1).u32(attr.bytes.byteLength).raw(attr.bytes).u32(ids.length).perfString(SIDEBAND_EVENT_NAME))],
  ];
  // CLOCKID holds the clock's resolution in ns; perf uses it to say that
  // times are on attr.clockid. The POSIX clocks perf offers all tick in 1 ns.
  if (attr.useClockid) payloads.push([Feature.CLOCKID, new ByteWriter().u64(1)]);

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

const FINISHED_ROUND = new ByteWriter().u32(RecordType.FINISHED_ROUND).u32(8 << 16).result();
/** perf queues records until a FINISHED_ROUND; these bound what it holds at once. */
const ROUND_RECORDS = 65536;
const ROUND_BYTES = 4 << 20;
const WRITE_BUFFER_BYTES = 1 << 20;

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
}

/**
 * Streams a capture into a perf.data file that perf itself reads: one event
 * (the capture's attr), its kernel ids plus the ids /proc status records
 * carry, the records as appended, then perf's features and our metadata
 * trailer.
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
    private readonly attr: EventAttr,
    private readonly ids: bigint[],
    private readonly attrsAt: number,
    private readonly dataOffset: number,
    private readonly host: HostInfo,
  ) {
    this.fd = fd;
    this.position = dataOffset;
  }

  /**
   * Creates (or truncates) `path` and writes the header, id array and attr.
   * `attr` is the perf_event_attr of every record's event; `ids` its kernel
   * ids, the id of the event that receives ioctl status among them.
   */
  static open(path: string, init: { attr: Uint8Array; ids: readonly bigint[]; host?: HostInfo }): PerfDataWriter {
    const attr = parseAttr(init.attr);
    if (attr.size !== init.attr.byteLength)
      throw new PerfDataError('attr.size', `attr.size is ${attr.size} but the attr has ${init.attr.byteLength} bytes: perf would misread the file`);
    const ids = [...new Set([...init.ids, ...PROC_IDS])];
    const attrSize = init.attr.byteLength + SECTION_SIZE;
    const idsAt = HEADER_SIZE;
    const attrsAt = idsAt + ids.length * 8;
    const dataOffset = Math.ceil((attrsAt + attrSize) / 8) * 8;
    const start = new ByteWriter().raw(buildHeader(attrSize, { offset: attrsAt, size: attrSize }, { offset: dataOffset, size: 0 }, []));
    for (const id of ids) start.u64(id);
    start.raw(init.attr).section({ offset: idsAt, size: ids.length * 8 }).alignTo(8);
    const host = init.host ?? readHostInfo();
    const fd = fs.openSync(path, 'w', 0o600);
    try {
      writeAll(fd, start.result(), 0);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    return new PerfDataWriter(fd, attr, ids, attrsAt, dataOffset, host);
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
    const bad = checkMeta(meta, '');
    if (bad !== undefined) throw new PerfDataError(`meta.${bad}`, `meta.${bad} is missing or of the wrong type: readers would ignore the metadata`);
    // Also makes data.size non-zero, which is what marks the file finished.
    this.write(fd, FINISHED_ROUND);
    this.writeBuffered(fd);
    const features = buildFeatures(this.position, this.attr, this.ids, this.host, meta);
    writeAll(fd, features.bytes, this.position);
    const attrSize = this.attr.bytes.byteLength + SECTION_SIZE;
    const data = { offset: this.dataOffset, size: this.position - this.dataOffset };
    // The header last: only now does the file say it is complete.
    writeAll(fd, buildHeader(attrSize, { offset: this.attrsAt, size: attrSize }, data, features.bits), 0);
    this.close(fd);
  }

  /** Writes out what was appended, so readers of the file see every record so far. */
  flush(): void {
    this.writeBuffered(this.openFd());
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
