// The worker thread that exports a capture to Perfetto (exportPerfettoFile),
// so the thread that started it (the extension host's) stays free: it is
// told the input and output in its workerData, and posts its progress, then
// what it wrote or the error that stopped it.

import { parentPort, workerData } from 'node:worker_threads';

import { RecordError } from '../core/records';
import { FileError } from './fileError';
import { exportPerfettoFile, type PerfettoExport } from './perfettoFile';

export interface PerfettoWorkerData {
  input: string;
  output: string;
}

/** An error as it crosses the thread: the two an export can meet by design keep their kind and fields. */
export type PerfettoWorkerError =
  | { kind: 'file'; code: string; path: string; message: string }
  | { kind: 'record'; field: string; reason: string; offset?: number; input?: string }
  | { kind: 'other'; message: string; stack?: string };

export type PerfettoWorkerMessage =
  | { kind: 'progress'; records: number; of: number }
  | { kind: 'done'; exported: PerfettoExport }
  | { kind: 'error'; error: PerfettoWorkerError };

function posted(e: unknown): PerfettoWorkerError {
  if (e instanceof FileError) return { kind: 'file', code: e.code, path: e.path, message: e.message };
  if (e instanceof RecordError) return { kind: 'record', field: e.field, reason: e.reason, offset: e.offset, input: e.input };
  return { kind: 'other', message: (e as Error).message ?? String(e), stack: (e as Error).stack };
}

const port = parentPort;
if (port) {
  const { input, output } = workerData as PerfettoWorkerData;
  const post = (message: PerfettoWorkerMessage): void => port.postMessage(message);
  try {
    post({ kind: 'done', exported: exportPerfettoFile(input, output, (records, of) => post({ kind: 'progress', records, of })) });
  } catch (e) {
    post({ kind: 'error', error: posted(e) });
  }
}
