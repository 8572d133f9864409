// A capture recorded into a perf.data file: the one way the CLI and the
// extension record. The native core writes the records to the file itself,
// as it reads them, so a capture that is cut short still leaves every record
// it read, and every view (the timeline, the language server) follows the
// file: no record passes through this thread on its way to disk. Here the
// file is finished once the capture stops: features and metadata.

import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { CaptureSession, type CaptureOptions, type StopInfo } from '../native/engine';
import { finishPerfDataFile } from './perfdata/writer';
import { type MarkerMeta } from '../core/perfdata/metadata';
import { FileError } from './fileError';

export interface RecordingResult {
  stop: StopInfo;
  /** Whether the file was created: not when the capture failed before it attached. */
  written: boolean;
  /** Why the file is incomplete, when it is. */
  writeError?: Error;
}

/** Refuses an output path that cannot be written, before anything is attached or launched. */
function checkWritable(output: string, fix: string): void {
  const dir = path.dirname(path.resolve(output));
  let problem: { code: string; text: string } | undefined;
  try {
    if (fs.existsSync(output)) {
      if (fs.statSync(output).isDirectory()) problem = { code: 'EISDIR', text: 'it is a directory' };
      else fs.accessSync(output, fs.constants.W_OK);
    } else if (!fs.statSync(dir).isDirectory()) {
      problem = { code: 'ENOTDIR', text: `${dir} is not a directory` };
    } else {
      fs.accessSync(dir, fs.constants.W_OK);
    }
  } catch (e) {
    problem = { code: (e as NodeJS.ErrnoException).code ?? 'EIO', text: (e as Error).message };
  }
  if (problem) throw new FileError(problem.code, output, `cannot write ${output}: ${problem.text}. Fix: ${fix}.`);
}

export interface RecordingEvents {
  /** The file's data section now reaches file offset `end`: whole records up to it, in time order. */
  written: [end: number];
}

export class Recording extends EventEmitter<RecordingEvents> {
  readonly session: CaptureSession;
  /** Debugger stops and continues, kept in the file's metadata. */
  readonly markers: MarkerMeta[] = [];

  /** `fix` says how to choose another output, in the caller's terms. */
  constructor(
    options: CaptureOptions,
    readonly output: string,
    fix = 'choose a writable path for the capture',
  ) {
    super();
    checkWritable(output, fix);
    this.session = new CaptureSession({ ...options, output });
    this.session.on('written', (end) => this.emit('written', end));
  }

  /** Starts the capture; settles once it has stopped and its file is finished. */
  async run(): Promise<RecordingResult> {
    this.session.start();
    const stop = await this.session.stopped;
    const attach = this.session.attach;
    if (!attach) return { stop, written: false };
    try {
      const names = attach.events.map((e) => e.name);
      finishPerfDataFile(this.output, this.session.dataEnd, names, { ...this.session.fileMeta(stop), markers: this.markers.length ? this.markers : undefined }, undefined, attach.tracefs);
      return { stop, written: true };
    } catch (e) {
      // A full file system that stopped the capture refuses its ending too: one cause, said once, by the capture.
      const sameCause = stop.error?.code === 'ENOSPC' && (e as NodeJS.ErrnoException).code === 'ENOSPC';
      return { stop, written: true, writeError: sameCause ? undefined : (e as Error) };
    }
  }

  /** Whether the file exists: from the attach on (the core creates it then). */
  get readable(): boolean {
    return this.session.attach !== undefined;
  }

  /** File offset the data section reaches, as the last 'written' said: whole records up to it; 0 before attach. */
  get written(): number {
    return this.session.dataEnd;
  }
}
