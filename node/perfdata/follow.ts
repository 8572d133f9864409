// Following a perf.data file while it is written, as a live capture's is:
// each look reads only the bytes written since the last into one
// RecordStreamReader, whose index grows, so no byte is read twice. Until
// the header says the data section is finished (data.size 0 is perf's mark
// of a file still being written) the records run to the file's end; once it
// says so they end where it says, and what follows them (perf's features,
// our metadata trailer) is never read as records.

import * as fs from 'node:fs';
import { HEADER_SIZE, parseHeader } from '../../core/perfdata/format';
import { type RecordStreamReader } from '../../core/recordStream';
import { RecordFeeder, openPerfData, readInto, recordReader, type PerfDataFormat } from './reader';

/** Bytes read at a time: the reader's buffer grows to this, and no further. */
const CHUNK_BYTES = 2 << 20;

/** What a look at the file found: new bytes, none, or another file at the path, to be loaded afresh. */
export type Growth = 'grew' | 'same' | 'replaced';

export class PerfDataFollower {
  readonly reader: RecordStreamReader;
  /** Every record is read: the data section ended where the header says, or a `--threads` directory was read whole. */
  complete = false;
  private readonly format: PerfDataFormat;
  private readonly feeder: RecordFeeder;
  /** File offset of the data section, a file's or a pipe's stream. */
  private readonly dataStart: number;
  /** The file as of the last look, which tells growth from replacement. */
  private seen: fs.Stats;

  /** Opens `path` in any of perf's forms and reads what it holds so far. Throws as openPerfData and the reader do. */
  constructor(readonly path: string) {
    this.seen = fs.statSync(path);
    const opened = openPerfData(path);
    this.format = opened.format;
    this.reader = recordReader(opened);
    // A --threads directory's data.N files grow apart from each other: read whole, once.
    this.feeder = new RecordFeeder(opened, this.reader, { chunkBytes: CHUNK_BYTES, growing: opened.format !== 'directory' });
    this.dataStart = opened.records[0].start;
    this.readGrowth(this.seen.size);
  }

  /** Bytes of records read, over all looks. */
  get bytesRead(): number {
    return this.feeder.read;
  }

  /**
   * Reads what was written since the last look. 'replaced' when the path
   * holds another file: another inode, fewer bytes than were read, or any
   * change once every record was read.
   */
  look(): Growth {
    const stat = fs.statSync(this.path);
    const unchanged = stat.size === this.seen.size && stat.mtimeMs === this.seen.mtimeMs;
    if (stat.ino !== this.seen.ino || stat.dev !== this.seen.dev || stat.size < this.seen.size || (this.complete && !unchanged)) return 'replaced';
    if (this.complete || stat.size === this.seen.size) return 'same';
    this.readGrowth(stat.size);
    this.seen = stat;
    return 'grew';
  }

  /** Feeds the reader the records from where the last look stopped to `size`, or to the data section's end once the header gives it. */
  private readGrowth(size: number): void {
    let end = size;
    if (this.format === 'file') {
      const { data } = parseHeader(readHeader(this.path));
      if (data.size !== 0) {
        end = Math.min(size, this.dataStart + data.size);
        this.feeder.complete(data.size);
      }
    }
    if (this.format !== 'directory') this.feeder.extend(end);
    try {
      while (this.feeder.step());
    } finally {
      // Not held open between looks: the server may drop this follower at any time.
      this.feeder.close();
    }
    this.complete = this.feeder.done;
  }
}

function readHeader(path: string): Uint8Array {
  const header = new Uint8Array(HEADER_SIZE);
  const fd = fs.openSync(path, 'r');
  try {
    readInto(fd, header, 0, HEADER_SIZE);
  } finally {
    fs.closeSync(fd);
  }
  return header;
}
