// Following a perf.data file while it is written, as a live capture's is:
// each look reads only the bytes written since the last into one
// RecordStreamReader, whose index grows, so no byte is read twice. Until
// the header says the data section is finished (data.size 0 is perf's mark
// of a file still being written) the records run to the file's end; once it
// says so they end where it says, and what follows them (perf's features,
// our metadata trailer) is never read as records.

import * as fs from 'node:fs';
import { HEADER_SIZE, parseHeader } from '../../core/perfdata/format';
import { type RecordStreamReader, type StreamInput } from '../../core/recordStream';
import { feedRecords, fileReadBack, openPerfData, readInto, readRecords, recordReader, type PerfDataFormat } from './reader';

/** Bytes read at a time: the reader's buffer grows to this, and no further. */
const CHUNK_BYTES = 2 << 20;

/** What a look at the file found: new bytes, none, or another file at the path, to be loaded afresh. */
export type Growth = 'grew' | 'same' | 'replaced';

export class PerfDataFollower {
  readonly reader: RecordStreamReader;
  /** Bytes of records read, over all looks. */
  bytesRead = 0;
  /** Every record is read: the data section ended where the header says, or a `--threads` directory was read whole. */
  complete = false;
  private readonly format: PerfDataFormat;
  /** The one input followed, a file's data section or a pipe's stream; none for a directory. */
  private readonly input?: StreamInput;
  /** File offset of the first byte not read yet. */
  private position = 0;
  /** The file as of the last look, which tells growth from replacement. */
  private seen: fs.Stats;

  /** Opens `path` in any of perf's forms and reads what it holds so far. Throws as openPerfData and the reader do. */
  constructor(readonly path: string) {
    this.seen = fs.statSync(path);
    const opened = openPerfData(path);
    this.format = opened.format;
    this.reader = recordReader(opened);
    if (opened.format === 'directory') {
      // Its data.N files grow apart from each other: read whole, once.
      for (const done of readRecords(opened, this.reader, CHUNK_BYTES)) this.bytesRead = done;
      this.complete = true;
      return;
    }
    const { start } = opened.records[0];
    this.input = { name: path, fileOffset: start, readBack: fileReadBack(path, start) };
    this.position = start;
    this.reader.begin(this.input);
    this.readGrowth(this.seen.size);
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
    const input = this.input!;
    const fd = fs.openSync(this.path, 'r');
    try {
      let end = size;
      if (this.format === 'file') {
        const header = new Uint8Array(HEADER_SIZE);
        readInto(fd, header, 0, HEADER_SIZE);
        const { data } = parseHeader(header);
        if (data.size !== 0) {
          input.declaredBytes = data.size;
          end = Math.min(size, input.fileOffset + data.size);
        }
      }
      let fed = 0;
      for (fed of feedRecords(fd, this.reader, this.position, end, CHUNK_BYTES));
      this.position += fed;
      this.bytesRead += fed;
    } finally {
      fs.closeSync(fd);
    }
    if (input.declaredBytes !== undefined) {
      this.reader.finishInput();
      this.complete = true;
    }
  }
}
