// A Perfetto export run on a worker thread (node/perfettoWorker.ts), with
// its progress and a cancel: the extension host's thread stays free while
// a big capture is exported.

import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';

import { RecordError } from '../core/records';
import { FileError } from './fileError';
import { type PerfettoExport } from './perfettoFile';
import { type PerfettoWorkerData, type PerfettoWorkerError, type PerfettoWorkerMessage } from './perfettoWorker';

/** Thrown when the export was cancelled: nothing is left at the output. */
export class ExportCancelled extends Error {
  constructor(readonly output: string) {
    super(`the export to ${output} was cancelled`);
    this.name = 'ExportCancelled';
  }
}

function thrown(error: PerfettoWorkerError): Error {
  if (error.kind === 'file') return new FileError(error.code, error.path, error.message);
  if (error.kind === 'record') return new RecordError(error.field, error.reason, error.offset, error.input);
  return Object.assign(new Error(error.message), { stack: error.stack });
}

export interface ExportThreadOptions {
  /** The worker's script: dist/perfettoWorker.js beside the bundled extension, out/node/perfettoWorker.js in tests. */
  workerScript: string;
  progress?: (records: number, of: number) => void;
  /** Aborting stops the worker and removes what it had written. */
  signal?: AbortSignal;
}

/** Exports the capture `input` as the Perfetto trace `output` on a worker thread. Rejects with FileError, RecordError or ExportCancelled as exportPerfettoFile would fail, or when cancelled. */
export function exportPerfettoOnThread(input: string, output: string, options: ExportThreadOptions): Promise<PerfettoExport> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(new ExportCancelled(output));
    const worker = new Worker(options.workerScript, { workerData: { input, output } satisfies PerfettoWorkerData });
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', cancel);
      outcome();
    };
    const cancel = (): void => {
      // Settled only once the worker has stopped, so the partial trace it was writing is gone for good.
      void worker.terminate().then(() => {
        fs.rmSync(output, { force: true });
        settle(() => reject(new ExportCancelled(output)));
      });
    };
    options.signal?.addEventListener('abort', cancel, { once: true });
    worker.on('message', (message: PerfettoWorkerMessage) => {
      if (options.signal?.aborted) return;
      if (message.kind === 'progress') options.progress?.(message.records, message.of);
      else if (message.kind === 'done') settle(() => resolve(message.exported));
      else settle(() => reject(thrown(message.error)));
    });
    worker.on('error', (e) => settle(() => reject(e)));
    worker.on('exit', (code) => options.signal?.aborted || settle(() => reject(new Error(`the Perfetto export's worker stopped (exit ${code}) before it was done`))));
  });
}
