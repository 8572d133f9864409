// A perf.data exported to a Perfetto trace file: read and indexed, turned
// into a trace (core/perfetto/export.ts), and written. The CLI's `export
// --perfetto` and the extension's "Export to Perfetto…" both call it.

import * as fs from 'node:fs';

import { perfettoTrace } from '../core/perfetto/export';
import { FileError } from './fileError';
import { indexPerfDataFile } from './perfdata/reader';

export interface PerfettoExport {
  /** Records written as instant events, and the trace's size in bytes. */
  records: number;
  bytes: number;
  /** What the file's reading and the trace could not say exactly. */
  warnings: string[];
}

/** Writes the capture `input` as the Perfetto trace `output`. Throws FileError for a path that cannot be read or written, RecordError for a file that is not a capture. */
export function exportPerfettoFile(input: string, output: string): PerfettoExport {
  if (!fs.existsSync(input)) throw new FileError('ENOENT', input, `cannot read ${input}: no such file. Fix: check the path.`);
  const indexed = indexPerfDataFile(input);
  const trace = perfettoTrace({ index: indexed.index, stream: indexed.stream, meta: indexed.meta });
  try {
    fs.writeFileSync(output, trace.bytes);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new FileError(code, output, `cannot write ${output}: ${(e as Error).message}. Fix: choose a writable path with enough space.`);
  }
  return { records: indexed.index.count, bytes: trace.bytes.byteLength, warnings: [...indexed.warnings, ...trace.warnings] };
}
