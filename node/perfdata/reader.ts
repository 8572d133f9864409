// Reading perf.data from disk: a file, perf's pipe format saved to a file,
// or a `perf record --threads` directory; whole, or streamed through
// core/recordStream.ts and indexed with the records left in their files
// and read back when looked at. The container itself is parsed by
// core/perfdata/format.ts.

import * as fs from 'node:fs';
import { basename, dirname } from 'node:path';
import { RecordIndex, StreamLayout, inTimeOrder } from '../../core/records';
import { RecordStreamReader, type ReadBack, type StreamInput } from '../../core/recordStream';
import { HEADER_SIZE, PIPE_HEADER_SIZE, PerfData, PerfDataError, isPipeHeader, parseHeader, parsePerfData } from '../../core/perfdata/format';

/** Reads `length` bytes at file offset `from` into `into` at `at`; fewer when the file is shorter. */
export function readInto(fd: number, into: Uint8Array, at: number, length: number, from = at): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, into, at + done, length - done, from + done);
    if (n === 0) break; // the file shrank while being read
    done += n;
  }
  return done;
}

/** Opens a capture to read, with its size: 4 GiB at most, as the file is held in one buffer (whole, or sparse to index it). */
function openPerfDataFd(path: string): { fd: number; size: number } {
  const fd = fs.openSync(path, 'r');
  const size = fs.fstatSync(fd).size;
  if (size > 0xffffffff) {
    fs.closeSync(fd);
    throw new PerfDataError('file', `${path} is ${size} bytes; files over 4 GiB are not supported: split the capture`);
  }
  return { fd, size };
}

/** Reads a whole file into a buffer of its own, whose start is 8-byte aligned as records.ts wants. */
function readWholeFile(path: string): Uint8Array {
  const { fd, size } = openPerfDataFd(path);
  try {
    const bytes = new Uint8Array(new ArrayBuffer(size));
    return bytes.subarray(0, readInto(fd, bytes, 0, size));
  } finally {
    fs.closeSync(fd);
  }
}

export function readPerfData(path: string): PerfData {
  return parsePerfData(readWholeFile(path));
}

// Records looked at together lie together (a process's MMAPs, a lane's
// COMMs, what a model update reads): one read serves a block of them, where
// a read per record would open the file as many times.
const SOURCE_BLOCK_BYTES = 64 << 10;

/**
 * A file's bytes read back when a record in it is looked at, positions
 * counted from `start`. Every block is read into the same buffer: records
 * spread thin among samples miss the block at nearly every look, and a
 * buffer per miss made garbage as big as the file, freed late (`regions`
 * of a 300 MB file peaked at 131 MB of RSS so, 78 MB with one buffer).
 */
export function fileReadBack(path: string, start: number): ReadBack {
  let blockStart = 0;
  // A record (at most 64 KiB) starting anywhere in a block fits.
  const buffer = new Uint8Array(2 * SOURCE_BLOCK_BYTES);
  let block = buffer.subarray(0, 0);
  return (position, size) => {
    if (position < blockStart || position + size > blockStart + block.length) {
      blockStart = position - (position % SOURCE_BLOCK_BYTES);
      const fd = fs.openSync(path, 'r');
      try {
        // Only what was there: a live file grows, and a later look reads again.
        block = buffer.subarray(0, readInto(fd, buffer, 0, Math.max(SOURCE_BLOCK_BYTES, position + size - blockStart), start + blockStart));
      } finally {
        fs.closeSync(fd);
      }
    }
    const bytes = new Uint8Array(new ArrayBuffer(size));
    bytes.set(block.subarray(position - blockStart, position - blockStart + size));
    return bytes;
  };
}

/** A file whose records stay in it: everything but the data section, and where that lies. */
export interface PerfDataFile extends Omit<PerfData, 'data'> {
  /** File offset of the attrs section. */
  attrsAt: number;
  /** File offsets of the data section's first byte and of the byte after its last. */
  dataStart: number;
  dataEnd: number;
  /** The data section's size as the header gives it; none for a file not finished (size 0). */
  declaredBytes?: number;
}

/**
 * Reads everything of a perf.data file but its records. The buffer has the
 * file's size, but only what lies outside the data section is read into it:
 * the rest is never touched, so its pages are never faulted in, and
 * parsePerfData checks every offset against the real size. A file still
 * being written (data.size 0) has its data run to the current end.
 */
export function openPerfDataFile(path: string): PerfDataFile {
  const { fd, size } = openPerfDataFd(path);
  try {
    const sparse = new Uint8Array(new ArrayBuffer(size));
    readInto(fd, sparse, 0, Math.min(size, HEADER_SIZE));
    const { data, attrs } = parseHeader(sparse);
    const dataStart = Math.min(data.offset, size);
    const dataEnd = data.size === 0 ? size : Math.min(size, dataStart + data.size);
    readInto(fd, sparse, 0, dataStart);
    readInto(fd, sparse, dataEnd, size - dataEnd);
    const { data: _untouched, ...file } = parsePerfData(sparse);
    return { ...file, attrsAt: attrs.offset, dataStart, dataEnd, declaredBytes: data.size === 0 ? undefined : data.size };
  } finally {
    fs.closeSync(fd);
  }
}

/** What holds a perf.data's records: a file, perf's pipe format saved to a file, or a `perf record --threads` directory. */
export type PerfDataFormat = 'file' | 'pipe' | 'directory';

/** A stretch of a file that holds records: a data section, a data.N, or a pipe's stream. */
interface RecordFile {
  path: string;
  /** File offsets of the first byte and of the byte after the last that were there when opened. */
  start: number;
  end: number;
  /** Bytes the file says the stretch has: a finished data section's; none when it runs to the end. */
  declaredBytes?: number;
}

/** A perf.data opened to read: everything but its records, and where they are. */
export interface OpenedPerfData extends Omit<PerfData, 'data' | 'dataOffset' | 'stream'> {
  path: string;
  format: PerfDataFormat;
  /** The events, when the header names them; a pipe names them in its stream. */
  stream?: StreamLayout;
  records: RecordFile[];
  /** Bytes of records, all stretches together: the measure of progress. */
  recordBytes: number;
}

/** A `--threads` directory's files of records, data.0 to data.N in order. */
function threadFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => /^data\.\d+$/.test(name))
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
    .map((name) => `${dir}/${name}`);
}

function fileSize(path: string): number {
  return fs.statSync(path).size;
}

/**
 * Opens a perf.data in any of perf's forms and reads all but its records.
 * Throws a PerfDataError naming what is wrong with the header, or the
 * fs error of a path that cannot be read.
 */
export function openPerfData(path: string): OpenedPerfData {
  // The header file of a --threads directory, as a file dialog picks it: the directory is what holds the records.
  if (basename(path) === 'data' && threadFiles(dirname(path)).length > 0) return openPerfData(dirname(path));
  if (fs.statSync(path).isDirectory()) {
    const header = `${path}/data`;
    if (!fs.existsSync(header))
      throw new PerfDataError('data', `${path} is a directory without the "data" header file of a \`perf record --threads\` capture: open a perf.data file or such a directory`);
    const { dataStart, dataEnd, attrsAt: _attrsAt, ...file } = openPerfDataFile(header);
    const records: RecordFile[] = [{ path: header, start: dataStart, end: dataEnd }, ...threadFiles(path).map((p) => ({ path: p, start: 0, end: fileSize(p) }))];
    return { ...file, path, format: 'directory', records, recordBytes: records.reduce((n, r) => n + r.end - r.start, 0) };
  }
  const head = new Uint8Array(PIPE_HEADER_SIZE);
  const fd = fs.openSync(path, 'r');
  try {
    readInto(fd, head, 0, head.byteLength);
  } finally {
    fs.closeSync(fd);
  }
  if (isPipeHeader(head)) {
    const end = fileSize(path);
    return { path, format: 'pipe', attrs: [], features: [], warnings: [], records: [{ path, start: PIPE_HEADER_SIZE, end }], recordBytes: end - PIPE_HEADER_SIZE };
  }
  const { dataStart, dataEnd, declaredBytes, attrsAt: _attrsAt, ...file } = openPerfDataFile(path);
  return { ...file, path, format: 'file', records: [{ path, start: dataStart, end: dataEnd, declaredBytes }], recordBytes: dataEnd - dataStart };
}

/** A stream reader for `opened`'s records, bounded as its header says; its index sized for `expectedBytes` of records, the file's by default. */
export function recordReader(opened: OpenedPerfData, expectedBytes = opened.recordBytes): RecordStreamReader {
  return new RecordStreamReader(opened.stream, expectedBytes, opened.decompressedLimit);
}

/**
 * Feeds a stream reader the records of a perf.data, a chunk per step, at
 * its caller's pace: readRecords reads a file straight through; a timeline
 * following a live capture reads each range the file grew by (extend()),
 * and reads nothing while its webview is behind; the language server reads
 * what a capture wrote since its last look (follow.ts).
 */
export class RecordFeeder {
  private readonly files: RecordFile[];
  private file = 0;
  /** The current stretch as the reader knows it; none before it is begun. */
  private input?: StreamInput;
  /** File offset of the next byte to read of the current stretch. */
  private position = 0;
  private fd?: number;
  private growing: boolean;
  /** Bytes read so far, all stretches together. */
  read = 0;

  /**
   * `growing`: the last stretch is the data section of a file still being
   * written, ending where extend() says until complete().
   */
  constructor(
    private readonly opened: OpenedPerfData,
    private readonly reader: RecordStreamReader,
    private readonly options: { chunkBytes?: number; growing?: boolean } = {},
  ) {
    this.files = opened.records.map((file) => ({ ...file }));
    this.growing = options.growing ?? false;
  }

  /** The last stretch now reaches file offset `end`. */
  extend(end: number): void {
    const last = this.files[this.files.length - 1];
    last.end = Math.max(last.end, end);
  }

  /**
   * The file is written: its last stretch ends where it was last extended
   * to, and holds `declaredBytes` of records when its header now says so.
   */
  complete(declaredBytes?: number): void {
    this.growing = false;
    if (declaredBytes !== undefined) this.files[this.files.length - 1].declaredBytes = declaredBytes;
  }

  /** Whether every stretch was read to its end and finished. */
  get done(): boolean {
    return this.file === this.files.length;
  }

  /** Reads the next chunk into the reader; false when nothing is left to read, for now (a growing file) or for good (done). */
  step(): boolean {
    const { opened, reader } = this;
    while (this.file < this.files.length) {
      const file = this.files[this.file];
      if (this.input === undefined) {
        const name = opened.format === 'directory' ? `${file.path.slice(opened.path.length + 1)} of ${opened.path}` : file.path;
        this.input = { name, fileOffset: file.start, readBack: fileReadBack(file.path, file.start) };
        reader.begin(this.input);
        this.position = file.start;
      }
      if (this.position < file.end) {
        this.fd ??= fs.openSync(file.path, 'r');
        // Read straight into the reader's buffer: no copy of a chunk.
        const room = reader.room(Math.min(this.options.chunkBytes ?? 2 << 20, file.end - this.position));
        const n = readInto(this.fd, room, 0, room.byteLength, this.position);
        if (n > 0) {
          reader.commit(n);
          this.position += n;
          this.read += n;
          return true;
        }
        file.end = this.position; // the file shrank while being read
      }
      if (this.growing && this.file === this.files.length - 1) return false;
      this.close();
      // Known only now for a file whose header was rewritten while it was read.
      this.input.declaredBytes = file.declaredBytes;
      this.input = undefined;
      this.file++;
      reader.finishInput();
    }
    return false;
  }

  /** Closes the file being read, once done or between looks at a growing one: a later step() opens it again. */
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Feeds `reader` the records of `opened`, `chunkBytes` at a time, yielding
 * the bytes read so far after each chunk: a caller can look at the new
 * records, show progress or let other work run between chunks.
 */
export function* readRecords(opened: OpenedPerfData, reader: RecordStreamReader, chunkBytes = 2 << 20): Generator<number> {
  const feeder = new RecordFeeder(opened, reader, { chunkBytes });
  try {
    while (feeder.step()) yield feeder.read;
  } finally {
    feeder.close();
  }
}

/** A perf.data indexed for the timeline: its records stay in their files, but those decompressed. */
export interface IndexedPerfData extends Omit<OpenedPerfData, 'records' | 'recordBytes' | 'stream'> {
  stream: StreamLayout;
  index: RecordIndex;
}

/**
 * Indexes a perf.data, in any of perf's forms, for the timeline, in time
 * order (inTimeOrder), without holding its records: they stream through one small buffer, each chunk
 * indexed while it is still in cache, and decodeRecord reads a record back
 * from its file when one is looked at. Memory is the index's columns, about
 * a third of the sideband, and the sideband decompressed from COMPRESSED
 * records. `chunkBytes` trades memory for calls.
 */
export function indexPerfDataFile(path: string, chunkBytes = 2 << 20): IndexedPerfData {
  const opened = openPerfData(path);
  const reader = recordReader(opened);
  for (const _ of readRecords(opened, reader, chunkBytes));
  const { records: _records, recordBytes: _bytes, ...rest } = opened;
  return { ...rest, stream: reader.stream, warnings: [...opened.warnings, ...reader.warnings], index: inTimeOrder(reader.index()) };
}
