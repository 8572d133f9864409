// Reading perf.data files from disk: whole, or indexed with their records
// left in the file and read back when looked at, or in chunks to hand on.
// The container itself is parsed by core/perfdata/format.ts.

import * as fs from 'node:fs';
import { RecordIndex, RecordIndexBuilder, RecordSource, expectedRecords } from '../../core/records';
import { HEADER_SIZE, PerfData, PerfDataError, parseHeader, parsePerfData } from '../../core/perfdata/format';

/** Reads `length` bytes at file offset `from` into `into` at `at`; fewer when the file is shorter. */
function readInto(fd: number, into: Uint8Array, at: number, length: number, from = at): number {
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

/** Records read back from their file when one is looked at. */
function fileSource(path: string, dataOffset: number): RecordSource {
  let blockStart = 0;
  let block = new Uint8Array(0);
  return {
    record(offset, size) {
      if (offset < blockStart || offset + size > blockStart + block.length) {
        blockStart = offset - (offset % SOURCE_BLOCK_BYTES);
        const bytes = new Uint8Array(Math.max(SOURCE_BLOCK_BYTES, offset + size - blockStart));
        const fd = fs.openSync(path, 'r');
        try {
          // Only what was there: a live file grows, and a later look reads again.
          block = bytes.subarray(0, readInto(fd, bytes, 0, bytes.length, dataOffset + blockStart));
        } finally {
          fs.closeSync(fd);
        }
      }
      const bytes = new Uint8Array(new ArrayBuffer(size));
      bytes.set(block.subarray(offset - blockStart, offset - blockStart + size));
      return bytes;
    },
  };
}

/** A file whose records stay in it: everything but the data section, and where that lies. */
export interface PerfDataFile extends Omit<PerfData, 'data'> {
  /** File offsets of the data section's first byte and of the byte after its last. */
  dataStart: number;
  dataEnd: number;
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
    const { data } = parseHeader(sparse);
    const dataStart = Math.min(data.offset, size);
    const dataEnd = data.size === 0 ? size : Math.min(size, dataStart + data.size);
    readInto(fd, sparse, 0, dataStart);
    readInto(fd, sparse, dataEnd, size - dataEnd);
    const { data: _untouched, ...file } = parsePerfData(sparse);
    return { ...file, dataStart, dataEnd };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The data section of `file`, in chunks of up to `chunkBytes`, each in an
 * ArrayBuffer of its own (to hand on, e.g. to a webview). Chunks end where
 * the reads do, so a record may span two.
 */
export function* dataChunks(path: string, file: PerfDataFile, chunkBytes: number): Generator<Uint8Array> {
  const fd = fs.openSync(path, 'r');
  try {
    for (let position = file.dataStart; position < file.dataEnd; ) {
      const chunk = new Uint8Array(new ArrayBuffer(Math.min(chunkBytes, file.dataEnd - position)));
      const n = readInto(fd, chunk, 0, chunk.length, position);
      if (n === 0) break; // the file shrank while being read
      yield n === chunk.length ? chunk : chunk.slice(0, n);
      position += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** A file indexed for the timeline: its records stay in the file. */
export interface IndexedPerfData extends Omit<PerfData, 'data'> {
  index: RecordIndex;
}

/**
 * Indexes a perf.data file for the timeline without holding its records:
 * the data section streams through one small buffer, each chunk indexed
 * while it is still in cache, and decodeRecord reads a record back from the
 * file when one is looked at. Memory is the index's columns, about a third
 * of the file, not the file as well. `chunkBytes` trades memory for calls.
 */
export function indexPerfDataFile(path: string, chunkBytes = 2 << 20): IndexedPerfData {
  const { dataStart, dataEnd, ...file } = openPerfDataFile(path);
  const fd = fs.openSync(path, 'r');
  try {
    const builder = new RecordIndexBuilder(file.stream, expectedRecords(dataEnd - dataStart));
    let chunk = new Uint8Array(new ArrayBuffer(Math.max(8, chunkBytes - (chunkBytes % 8))));
    let base = 0; // stream offset of chunk[0]
    let filled = 0;
    let position = dataStart;
    while (position < dataEnd) {
      if (filled === chunk.length) {
        // One record larger than the chunk: make room for it.
        const grown = new Uint8Array(new ArrayBuffer(chunk.length * 2));
        grown.set(chunk);
        chunk = grown;
      }
      const n = fs.readSync(fd, chunk, filled, Math.min(chunk.length - filled, dataEnd - position), position);
      if (n === 0) break;
      position += n;
      filled += n;
      const next = builder.add(chunk.subarray(0, filled), base);
      if (next >= filled) {
        position += next - filled; // AUX data to skip, if any
        filled = 0;
      } else {
        chunk.copyWithin(0, next, filled);
        filled -= next;
      }
      base += next;
    }
    // Bytes left over end inside a record; AUX data past the end cuts off its AUXTRACE.
    const truncatedAt = filled > 0 ? base : position > dataEnd ? builder.lastRecordAt : undefined;
    return { ...file, index: builder.finish(fileSource(path, dataStart), truncatedAt) };
  } finally {
    fs.closeSync(fd);
  }
}
