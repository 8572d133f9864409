// The debuginfod fetches the language server tells of, shown as the user's
// to stop: each request's fetches as one progress notification with a
// cancel button, opened at its first report, told the bytes as they come,
// closed when they end. VS Code's window.withProgress is handed in, so the
// unit tests drive this without it.

import * as path from 'node:path';

import { type DebuginfodProgress } from '../protocol/server';

/** What window.withProgress gives its task: where to report, and the cancel button's token. */
export interface ProgressReporter {
  report(value: { message?: string; increment?: number }): void;
}
export interface CancelToken {
  onCancellationRequested(listener: () => void): unknown;
}
/** Shows a cancellable progress titled `title` until `task`'s promise settles. */
export type ShowProgress = (title: string, task: (progress: ProgressReporter, token: CancelToken) => Promise<void>) => void;

interface Shown {
  /** Set once the task runs; reports before that wait in `message`. */
  progress?: ProgressReporter;
  message: string;
  /** Of the bar, 0–100, reported so far. */
  percent: number;
  close(): void;
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;

export class FetchProgress {
  private readonly shown = new Map<number, Shown>();

  constructor(
    private readonly show: ShowProgress,
    /** Asks the server to stop request `id`'s fetches. */
    private readonly cancel: (id: number) => void,
  ) {}

  /** A report of the server's. */
  told(p: DebuginfodProgress): void {
    let shown = this.shown.get(p.id);
    if (p.done) {
      shown?.close();
      this.shown.delete(p.id);
      return;
    }
    if (!shown) shown = this.open(p.id);
    const of = p.total === undefined ? '' : ` of ${mb(p.total)}`;
    shown.message = `${path.basename(p.file)} (build-id ${p.buildId.slice(0, 12)}…) from ${new URL(p.url).host}: ${mb(p.received)}${of}`;
    const percent = p.total ? Math.min(100, (100 * p.received) / p.total) : shown.percent;
    shown.progress?.report({ message: shown.message, increment: percent - shown.percent });
    shown.percent = percent;
  }

  private open(id: number): Shown {
    let close = (): void => {};
    const ended = new Promise<void>((resolve) => (close = resolve));
    const shown: Shown = { message: '', percent: 0, close };
    this.shown.set(id, shown);
    this.show('Perf Sideband: fetching debug info from debuginfod', (progress, token) => {
      shown.progress = progress;
      if (shown.message) progress.report({ message: shown.message, increment: shown.percent });
      token.onCancellationRequested(() => this.cancel(id));
      return ended;
    });
    return shown;
  }

  /** Closes every progress shown: the server that told them is gone. */
  dispose(): void {
    for (const shown of this.shown.values()) shown.close();
    this.shown.clear();
  }
}
