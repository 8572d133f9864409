// A capture streamed into a perf.data file: the one way the CLI and the
// extension record. Every batch is on disk before any other listener sees
// it, so a capture that is cut short still leaves every record it read, and
// a reader in another process (the language server) that follows the file
// sees each record as soon as the host does. Readers in the host (the
// timelines) follow the file too: 'written' tells them how far it reaches.

import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { CaptureSession, type CaptureOptions, type StopInfo } from '../native/engine';
import { PerfDataWriter } from './perfdata/writer';
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
  private writer?: PerfDataWriter;
  private writeError?: Error;

  /** `fix` says how to choose another output, in the caller's terms. */
  constructor(
    options: CaptureOptions,
    readonly output: string,
    fix = 'choose a writable path for the capture',
  ) {
    super();
    checkWritable(output, fix);
    this.session = new CaptureSession(options);
    // Registered first, so the file holds a batch before any other listener sees it.
    this.session.on('attached', (info) => {
      try {
        // The ioctl event's id is listed with the sideband's, so perf knows the event of its status records.
        const [sideband, ...tracepoints] = info.events;
        const ids = info.ioctlId ? [...sideband.ids, info.ioctlId] : sideband.ids;
        this.writer = PerfDataWriter.open(output, { events: [{ ...sideband, ids }, ...tracepoints] });
        this.emit('written', this.writer.written);
      } catch (e) {
        this.fail(e as Error);
      }
    });
    this.session.on('records', (batch) => {
      if (!this.writer || this.writeError) return;
      try {
        // One write per batch: the engine already gathers records for up to
        // a few tens of milliseconds, so a trickle costs a few writes a
        // second, while the writer's buffer alone held a quiet capture's
        // records back from other readers until a megabyte had piled up.
        this.writer.append(batch);
        this.writer.flush();
        this.emit('written', this.writer.written);
      } catch (e) {
        this.fail(e as Error);
      }
    });
  }

  private fail(e: Error): void {
    this.writeError ??= e;
    void this.session.stop();
  }

  /** Starts the capture; settles once it has stopped and its file is finished. */
  async run(): Promise<RecordingResult> {
    this.session.start();
    const stop = await this.session.stopped;
    if (this.writer) {
      try {
        this.writer.finish({ ...this.session.fileMeta(stop), markers: this.markers.length ? this.markers : undefined });
        this.emit('written', this.writer.written);
      } catch (e) {
        this.writeError ??= e as Error;
      }
    }
    return { stop, written: this.writer !== undefined, writeError: this.writeError };
  }

  /** Whether the file exists and holds every record delivered so far: false before attach, or after a write failed. */
  get readable(): boolean {
    return this.writer !== undefined && this.writeError === undefined;
  }

  /** File offset the data section reaches, as the last 'written' said; 0 before attach. */
  get written(): number {
    return this.writer?.written ?? 0;
  }
}
