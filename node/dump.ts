// `sideband dump`: a perf.data's sideband records as text or JSON lines,
// printed as they are read: from a file, a `perf record --threads`
// directory (merged in time order, as perf does), or perf's pipe format
// on standard input as it arrives.

import * as fs from 'node:fs';

import { decodeRecord, inTimeOrder, RecordError, type RecordIndex } from '../core/records';
import { RecordStreamReader } from '../core/recordStream';
import { PIPE_HEADER_SIZE, isPipeHeader } from '../core/perfdata/format';
import { FileError } from './fileError';
import { openPerfData, readRecords, recordReader, type OpenedPerfData } from './perfdata/reader';

/** Where messages go: stderr, a line each. */
export type Say = (line: string) => void;

function formatTime(ns: number): string {
  const s = Math.floor(ns / 1e9);
  return `${s}.${String(ns - s * 1e9).padStart(9, '0')}`;
}

/** Prints records of an index as they come, in lines gathered into few writes. */
class RecordPrinter {
  private printed = 0;
  private readonly out: string[] = [];

  constructor(private readonly json: boolean) {}

  /** Prints the records `index` has beyond those printed. */
  printNew(index: RecordIndex): void {
    for (let k = this.printed; k < index.count; k++) {
      this.out.push(this.line(index, k));
      if (this.out.length >= 4096) this.flush();
    }
    this.printed = index.count;
    this.flush();
  }

  private line(index: RecordIndex, i: number): string {
    const r = decodeRecord(index, i);
    if (this.json) {
      const { fields, stale, misc: _, ...common } = r;
      return `${JSON.stringify({ ...common, stale: stale.length > 0, staleReasons: stale, ...fields })}\n`;
    }
    const origin = r.provenance === 'kernel' ? '' : ` [${r.statusOnly ? 'status ' : ''}${r.provenance}${r.stale.length ? ` stale:${r.stale.join(',')}` : ''}]`;
    const details = Object.entries(r.fields)
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
      .join(' ');
    return `${formatTime(r.time)} cpu ${r.cpu} ${r.pid}/${r.tid} ${r.type}${origin} ${details}\n`;
  }

  private flush(): void {
    if (this.out.length === 0) return;
    process.stdout.write(this.out.join(''));
    this.out.length = 0;
  }
}

function summary(index: RecordIndex, say: Say): void {
  if (index.skipped === 0) return;
  const types = Object.entries(index.skippedByType)
    .map(([type, n]) => `${n} ${type}`)
    .join(', ');
  say(`note: ${index.skipped} records of types we do not show: ${types}`);
}

/** Runs `read`, printing what it indexed before a RecordError too, which is then thrown. */
function printing(reader: RecordStreamReader, printer: RecordPrinter, read: () => void): void {
  try {
    read();
  } catch (e) {
    if (e instanceof RecordError) printer.printNew(reader.index());
    throw e;
  }
}

function open(path: string): OpenedPerfData {
  try {
    return openPerfData(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === undefined || e instanceof RecordError) throw e;
    throw new FileError(code, path, `cannot read ${path}: ${(e as Error).message}. Fix: check the path and its permissions.`);
  }
}

/** Dumps FILE, or standard input for `-`. Throws RecordError for a stream that contradicts itself, after printing the records before the fault. */
export function dump(path: string, json: boolean, say: Say): void {
  if (path === '-') return dumpStdin(json, say);
  const opened = open(path);
  for (const w of opened.warnings) say(`warning: ${w}`);
  const reader = recordReader(opened);
  const printer = new RecordPrinter(json);
  if (opened.format === 'directory') {
    for (const _ of readRecords(opened, reader));
  } else {
    printing(reader, printer, () => {
      for (const _ of readRecords(opened, reader)) printer.printNew(reader.index());
    });
  }
  // A directory's data.N files are merged in time order, as perf does; a file's records are printed as they come.
  const index = opened.format === 'directory' ? inTimeOrder(reader.index()) : reader.index();
  printer.printNew(index);
  for (const w of reader.warnings) say(`warning: ${w}`);
  summary(index, say);
}

/** Reads standard input until it ends: blocking reads, retried while a non-blocking descriptor has nothing yet. */
function readStdin(into: Uint8Array): number {
  for (;;) {
    try {
      return fs.readSync(0, into, 0, into.byteLength, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EOF') return 0;
      if (code !== 'EAGAIN') throw new FileError(code ?? 'EIO', 'standard input', `cannot read standard input: ${(e as Error).message}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

function dumpStdin(json: boolean, say: Say): void {
  const head = new Uint8Array(PIPE_HEADER_SIZE);
  let got = 0;
  for (let n; got < head.byteLength && (n = readStdin(head.subarray(got))) > 0; ) got += n;
  if (got < head.byteLength || !isPipeHeader(head))
    throw new FileError(
      'EINVAL',
      'standard input',
      'standard input is not in perf\'s pipe format (it does not start with "PERFILE2" and a 16-byte header). Fix: pipe `perf record -o -` into `sideband dump -`, or give a perf.data file by its path',
    );
  const reader = new RecordStreamReader(undefined);
  const printer = new RecordPrinter(json);
  reader.begin({ name: 'standard input', fileOffset: PIPE_HEADER_SIZE });
  const chunk = new Uint8Array(1 << 16);
  printing(reader, printer, () => {
    for (let n; (n = readStdin(chunk)) > 0; ) {
      reader.push(chunk.subarray(0, n));
      // A pipe's records are held only until the next push: print them now.
      printer.printNew(reader.index());
    }
    reader.finishInput();
  });
  for (const w of reader.warnings) say(`warning: ${w}`);
  summary(reader.index(), say);
}
