// A perf.data exported to a Perfetto trace file: read and indexed, turned
// into a trace (core/perfetto/export.ts), and written. The CLI's `export
// --perfetto` and the extension's "Export to Perfetto…" both call it.

import * as fs from 'node:fs';

import { writePerfettoTrace } from '../core/perfetto/export';
import { FileError } from './fileError';
import { indexPerfDataFile } from './perfdata/reader';

export interface PerfettoExport {
  /** Records written as instant events, and the trace's size in bytes. */
  records: number;
  bytes: number;
  /** What the file's reading and the trace could not say exactly. */
  warnings: string[];
}

/**
 * Writes the capture `input` as the Perfetto trace `output`, a chunk at a
 * time; `progress` is told of the records written now and then. Throws
 * FileError for a path that cannot be read or written (the partial
 * `output` removed), RecordError for a file that is not a capture.
 */
export function exportPerfettoFile(input: string, output: string, progress?: (records: number, of: number) => void): PerfettoExport {
  if (!fs.existsSync(input)) throw new FileError('ENOENT', input, `cannot read ${input}: no such file. Fix: check the path.`);
  const indexed = indexPerfDataFile(input);
  let fd: number | undefined;
  try {
    fd = fs.openSync(output, 'w');
    const out = fd;
    const trace = writePerfettoTrace({ index: indexed.index, stream: indexed.stream, meta: indexed.meta }, (chunk) => fs.writeSync(out, chunk), progress);
    fs.closeSync(out);
    fd = undefined;
    return { records: indexed.index.count, bytes: trace.bytes, warnings: [...indexed.warnings, ...trace.warnings] };
  } catch (e) {
    if (fd !== undefined) {
      fs.closeSync(fd);
      fs.rmSync(output, { force: true });
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === undefined) throw e;
    throw new FileError(code, output, `cannot write ${output}: ${(e as Error).message}. Fix: choose a writable path with enough space.`);
  }
}
