// The commands and what they act on: the capture that runs (one at a time),
// the capture the timeline shows, the status bar, and captures started by
// debug sessions.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';

import { PerfDataError } from '../core/perfdata/format';
import { RecordError } from '../core/records';
import { FileError } from '../node/fileError';
import { ExportCancelled, exportPerfettoOnThread } from '../node/perfettoExportThread';
import { rootOf, type DebugTargets } from './debug';
import { captureClock, FailedFeed, FileFeed, LiveFeed, type TimelineFeed } from './feeds';
import { StopSnapshots } from './stopSnapshots';
import { listProcesses, optionsFromSettings, splitCommandLine } from './targets';
import { PerfDataEditorProvider, type TimelineViewProvider } from './timelinePanel';
import { regionChangesInWords } from '../core/perfdata/metadata';
import { helperArgv, type HelperProcess, type HelperVia } from '../native/helper';
import { chooseElevation, consentText, liftedByPrivileges, onPath } from './elevation';

const ELEVATE = 'Capture with Elevated Privileges…';

type Target = { pid: number } | { command: string[] };

function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    return 'process';
  }
}

export class Controller implements vscode.Disposable {
  private live?: LiveFeed;
  /** The live capture's stops that take a snapshot. */
  private stopSnapshots?: StopSnapshots;
  /** The debug session a live capture was started for: its end stops the capture. */
  private liveRoot?: string;
  private readonly captureDir = fs.mkdtempSync(path.join(os.tmpdir(), 'perf-sideband-'));
  private readonly statusBar = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  private readonly disposables: vscode.Disposable[] = [];
  /** Root debug sessions already decided on, so a js-debug child does not ask again. */
  private readonly decided = new Set<string>();

  constructor(
    private readonly view: TimelineViewProvider,
    private readonly debugTargets: DebugTargets,
  ) {
    this.statusBar.name = 'Perf Sideband capture';
    this.statusBar.command = 'perfSideband.showTimeline';
    this.disposables.push(
      this.statusBar,
      vscode.debug.onDidStartDebugSession((session) => void this.onDebugStart(session)),
      vscode.debug.onDidTerminateDebugSession((session) => {
        if (!session.parentSession) this.decided.delete(session.id);
        if (session.id === this.liveRoot && this.live?.running) void this.live.recording.session.stop();
      }),
      debugTargets.onEvent(({ root, event }) => {
        if (root.id !== this.liveRoot || !this.live?.running) return;
        this.live.mark(event.kind, event.label);
        this.stopSnapshots?.event(event.kind);
      }),
    );
  }

  private get settings(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration('perfSideband');
  }

  // --- debug sessions -------------------------------------------------

  private async onDebugStart(session: vscode.DebugSession): Promise<void> {
    const root = rootOf(session);
    if (this.decided.has(root.id)) return;
    this.decided.add(root.id);
    const mode = this.settings.get<'ask' | 'always' | 'never'>('captureOnDebug', 'ask');
    if (mode === 'never') return;
    // js-debug names its child session a moment after the parent starts.
    const pid = await this.debugTargets.pidOf(root, 5000);
    if (pid === undefined) {
      const picked = await this.pickProcess(`Perf Sideband: which process does "${root.name}" debug? (Esc: capture nothing)`, false, this.debugTargets.likelyDebuggee(root));
      if (picked && 'pid' in picked) await this.start(picked, `${root.name} (pid ${picked.pid})`, root);
      return;
    }
    if (mode === 'ask') {
      const answer = await vscode.window.showInformationMessage(`Capture the perf sideband of "${root.name}" (pid ${pid})?`, 'Capture', 'Always', 'Never');
      if (answer === 'Always' || answer === 'Never') await this.settings.update('captureOnDebug', answer.toLowerCase(), vscode.ConfigurationTarget.Global);
      if (answer !== 'Capture' && answer !== 'Always') return;
    }
    await this.start({ pid }, `${root.name} (pid ${pid})`, root);
  }

  // --- commands ---------------------------------------------------------

  /** "Capture Sideband": the debuggee when a session is running, else a process or a command picked by the user. */
  async capture(): Promise<void> {
    const session = vscode.debug.activeDebugSession;
    if (session) {
      const root = rootOf(session);
      const pid = await this.debugTargets.pidOf(root, 0);
      if (pid !== undefined) return this.start({ pid }, `${root.name} (pid ${pid})`, root);
    }
    const target = await this.pickProcess('Perf Sideband: capture which process?', true);
    if (!target) return;
    await this.start(target, 'pid' in target ? `${commOf(target.pid)} (pid ${target.pid})` : target.command.join(' '));
  }

  /**
   * "Capture with Elevated Privileges…": the capture helper, as root, attached
   * to the debuggee or a picked process (or `pid`, from a refusal's button),
   * once the user has consented in a modal dialog; every time.
   */
  async captureElevated(pid?: number): Promise<void> {
    if (pid === undefined) {
      const session = vscode.debug.activeDebugSession;
      if (session) pid = await this.debugTargets.pidOf(rootOf(session), 0);
    }
    if (pid === undefined) {
      const picked = await this.pickProcess('Perf Sideband: capture which process, with elevated privileges?', false);
      if (!picked || !('pid' in picked)) return;
      pid = picked.pid;
    }
    const title = `${commOf(pid)} (pid ${pid})`;
    const elevation = chooseElevation(process.env, vscode.env.remoteName !== undefined, onPath('pkexec'));
    let argv: string[];
    try {
      argv = helperArgv({ pid, output: path.join(this.captureDir, 'capture.data') }, '(a socket of this window)');
    } catch (e) {
      void vscode.window.showErrorMessage(`Perf Sideband: ${(e as Error).message}`);
      return;
    }
    const answer = await vscode.window.showWarningMessage(`Capture ${title} as root?`, { modal: true, detail: consentText(elevation, argv) }, 'Capture as Root');
    if (answer !== 'Capture as Root') return;
    await this.start({ pid }, `${title}, elevated`, undefined, elevation === 'pkexec' ? 'pkexec' : sudoInTerminal);
  }

  /** A process or, with `offerLaunch`, a command; `likely`, the likely debuggee, is offered first. */
  private async pickProcess(placeHolder: string, offerLaunch: boolean, likely?: number): Promise<Target | undefined> {
    type Item = vscode.QuickPickItem & { target?: Target; launch?: boolean };
    const items: Item[] = [];
    if (offerLaunch) items.push({ label: '$(play) Launch a command…', description: 'capture it from its first instruction', launch: true }, { label: '', kind: vscode.QuickPickItemKind.Separator });
    const uid = process.getuid?.() ?? 0;
    const processes = listProcesses([process.pid, process.ppid]);
    processes.sort((a, b) => Number(b.pid === likely) - Number(a.pid === likely));
    for (const p of processes) {
      const description = p.pid === likely ? `${p.comm} — the newest child of the debug adapter` : p.comm;
      items.push({ label: `${p.pid}`, description, detail: p.commandLine + (uid !== 0 && p.uid !== uid ? '  (another user: needs privileges)' : ''), target: { pid: p.pid } });
    }
    const picked = await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true, matchOnDetail: true });
    if (!picked) return undefined;
    if (!picked.launch) return picked.target;
    const line = await vscode.window.showInputBox({
      prompt: 'Command to launch and capture (run without a shell; arguments split as a shell would)',
      placeHolder: 'node app.js --port 8080',
      validateInput: (value) => {
        try {
          return splitCommandLine(value).length ? undefined : 'Type a command.';
        } catch (e) {
          return (e as Error).message;
        }
      },
    });
    return line ? { command: splitCommandLine(line) } : undefined;
  }

  private async start(target: Target, title: string, root?: vscode.DebugSession, via?: HelperVia): Promise<void> {
    if (this.live?.running) {
      const answer = await vscode.window.showWarningMessage(`A capture of ${this.live.title} is running. Stop it and capture ${title}?`, { modal: true }, 'Stop and Capture');
      if (answer !== 'Stop and Capture') return;
      await this.live.recording.session.stop();
    }
    const output = path.join(this.captureDir, `capture-${Date.now()}.data`);
    let live: LiveFeed;
    try {
      const settings = this.settings;
      live = new LiveFeed(title, { ...optionsFromSettings((key) => settings.get(key)), ...target, via }, output);
    } catch (e) {
      // Bad settings, a command that cannot run, a helper that cannot load: say which, and the fix.
      void vscode.window.showErrorMessage(`Perf Sideband: ${(e as Error).message}`);
      return;
    }
    this.live = live;
    this.liveRoot = root?.id;
    this.stopSnapshots = new StopSnapshots(
      () => this.settings.get<boolean>('snapshotOnStop', true),
      () => live.recording.session.snapshot(),
    );
    this.view.show(live);
    void vscode.commands.executeCommand('setContext', 'perfSideband.capturing', true);
    void vscode.commands.executeCommand('setContext', 'perfSideband.hasCapture', true);
    this.trackStatus(live);
    const { session } = live.recording;
    session.on('warning', (w) => void vscode.window.showWarningMessage(`Perf Sideband: ${w.message}`));
    // Attaching reads the state of every process: a progress that can be cancelled. Its end is
    // awaited from now on, as the first snapshot may come before the progress is shown.
    const attached = new Promise<void>((resolve) => {
      session.once('snapshot', () => resolve());
      session.once('stopped', () => resolve());
    });
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Perf Sideband: attaching to ${title}`, cancellable: true }, (_progress, token) => {
      token.onCancellationRequested(() => void session.stop());
      return attached;
    });
    void vscode.commands.executeCommand('perfSideband.timeline.focus');
    const { stop, writeError } = await live.result;
    void vscode.commands.executeCommand('setContext', 'perfSideband.capturing', this.live?.running ?? false);
    if (stop.error) void this.showCaptureError(stop.error, 'pid' in target && !via ? target.pid : undefined);
    if (writeError) void vscode.window.showErrorMessage(`Perf Sideband: the capture file could not be written: ${writeError.message}. Fix: free space in ${this.captureDir}.`);
  }

  /** A capture's error; one that privileges would lift offers them, for `pid`, asking first. */
  private async showCaptureError(error: { code: string; message: string }, pid: number | undefined): Promise<void> {
    const offer = pid !== undefined && liftedByPrivileges(error.code);
    const answer = await vscode.window.showErrorMessage(`Perf Sideband: ${error.message}`, ...(offer ? [ELEVATE] : []));
    if (answer === ELEVATE) await this.captureElevated(pid);
  }

  private trackStatus(live: LiveFeed): void {
    const { session } = live.recording;
    let last = 0;
    let trailing: NodeJS.Timeout | undefined;
    let lagMs: number | undefined;
    const drawn = this.view.onDrawn(({ newestTime }) => (lagMs = Number(captureClock() - BigInt(Math.round(newestTime))) / 1e6));
    const update = (force: boolean): void => {
      const now = Date.now();
      if (!force && now - last < 250) {
        // Batches come every few ms and the eye needs no more than this; the last one still shows.
        trailing ??= setTimeout(() => {
          trailing = undefined;
          update(true);
        }, 250);
        return;
      }
      last = now;
      const { records, statusRecords, lost } = session.stats;
      const path = session.snapshots[0]?.path;
      this.statusBar.text = `$(record) ${records.toLocaleString()} records · ${statusRecords.toLocaleString()} status-only · ${lost.toLocaleString()} lost`;
      this.statusBar.tooltip = `Perf Sideband: capturing ${live.title}${path ? `, status from ${path === 'ioctl' ? 'the kernel ioctl' : '/proc'}; ${regionChangesInWords(session.regionChanges)}` : ''}.${lagMs === undefined ? '' : ` The timeline last drew a record ${lagMs.toFixed(0)} ms after its time.`} Click to show the timeline.`;
      this.statusBar.backgroundColor = lost ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    };
    update(true);
    this.statusBar.show();
    session.on('written', () => update(false));
    session.on('snapshot', () => update(true));
    session.once('stopped', () => {
      clearTimeout(trailing);
      drawn.dispose();
      if (this.live === live) this.statusBar.hide();
    });
  }

  async stop(): Promise<void> {
    if (!this.live?.running) {
      void vscode.window.showInformationMessage('Perf Sideband: no capture is running.');
      return;
    }
    await this.live.recording.session.stop();
  }

  snapshot(): void {
    if (!this.live?.running) {
      void vscode.window.showInformationMessage('Perf Sideband: no capture is running. Fix: start one with "Perf Sideband: Capture Sideband".');
      return;
    }
    this.live.recording.session.snapshot();
  }

  async save(): Promise<void> {
    const live = this.live;
    if (!live) {
      void vscode.window.showInformationMessage('Perf Sideband: there is no capture to save. Fix: start one with "Perf Sideband: Capture Sideband".');
      return;
    }
    if (live.running) {
      const answer = await vscode.window.showWarningMessage(`The capture of ${live.title} is still running. perf reads only finished files.`, { modal: true }, 'Stop and Save');
      if (answer !== 'Stop and Save') return;
      await live.recording.session.stop();
    }
    const { written } = await live.result;
    if (!written) {
      void vscode.window.showErrorMessage('Perf Sideband: the capture failed before it attached, so it has no file to save.');
      return;
    }
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir());
    const pid = live.attach?.pid;
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.joinPath(folder, pid ? `sideband-${pid}.data` : 'sideband.data'),
      filters: { 'perf.data': ['data'] },
      title: 'Save Capture as perf.data',
    });
    if (!target) return;
    try {
      await vscode.workspace.fs.copy(vscode.Uri.file(live.path), target, { overwrite: true });
      void vscode.window.showInformationMessage(`Perf Sideband: saved ${target.fsPath} (perf script reads it too).`);
    } catch (e) {
      void vscode.window.showErrorMessage(`Perf Sideband: cannot save ${target.fsPath}: ${(e as Error).message}. Fix: choose a writable place.`);
    }
  }

  /**
   * Writes a capture as a Perfetto trace, to where a save dialog says: the
   * capture the timeline shows (stopped first: snapshots and markers are in
   * its file only once finished), or, with none, a perf.data picked.
   */
  async exportPerfetto(): Promise<void> {
    const source = await this.exportSource();
    if (!source) return;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir());
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.joinPath(folder, `${path.basename(source.name, '.data')}.pftrace`),
      filters: { 'Perfetto trace': ['pftrace'] },
      title: 'Export to Perfetto',
    });
    if (!target) return;
    try {
      const exported = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Perf Sideband: exporting to Perfetto', cancellable: true },
        async (progress, token) => {
          // On a worker thread, so the extension host stays responsive; cancelling stops it and removes the partial trace.
          const cancel = new AbortController();
          token.onCancellationRequested(() => cancel.abort());
          let reported = 0;
          return exportPerfettoOnThread(source.path, target.fsPath, {
            workerScript: path.join(__dirname, 'perfettoWorker.js'),
            signal: cancel.signal,
            progress: (records, of) => {
              const percent = (100 * records) / of;
              progress.report({ message: `${records} of ${of} records`, increment: percent - reported });
              reported = percent;
            },
          });
        },
      );
      for (const w of exported.warnings) void vscode.window.showWarningMessage(`Perf Sideband: ${w}`);
      void vscode.window.showInformationMessage(`Perf Sideband: exported ${exported.records} records to ${target.fsPath}: open it in the Perfetto UI (ui.perfetto.dev).`);
    } catch (e) {
      if (e instanceof ExportCancelled) return;
      if (!(e instanceof FileError) && !(e instanceof RecordError)) throw e;
      void vscode.window.showErrorMessage(`Perf Sideband: cannot export to Perfetto: ${e.message}`);
    }
  }

  /** The perf.data to export, and the name to propose for its trace. */
  private async exportSource(): Promise<{ path: string; name: string } | undefined> {
    const live = this.live;
    if (!live) {
      const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'perf.data': ['data'], 'All files': ['*'] }, title: 'Export a perf.data to Perfetto' });
      return picked?.[0] && { path: picked[0].fsPath, name: path.basename(picked[0].fsPath) };
    }
    if (live.running) {
      const answer = await vscode.window.showWarningMessage(
        `The capture of ${live.title} is still running. Its status snapshots and debugger markers are written when it stops.`,
        { modal: true },
        'Stop and Export',
      );
      if (answer !== 'Stop and Export') return undefined;
      await live.recording.session.stop();
    }
    const { written } = await live.result;
    if (!written) {
      void vscode.window.showErrorMessage('Perf Sideband: the capture failed before it attached, so it has nothing to export.');
      return undefined;
    }
    const pid = live.attach?.pid;
    return { path: live.path, name: pid ? `sideband-${pid}` : 'sideband' };
  }

  async openFile(): Promise<void> {
    const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'perf.data': ['data'], 'All files': ['*'] }, title: 'Open perf.data' });
    if (picked?.[0]) await vscode.commands.executeCommand('vscode.openWith', picked[0], PerfDataEditorProvider.viewType);
  }

  /** A file's feed for an editor tab: one that says why, when the file is not a capture. */
  fileFeed(file: string): TimelineFeed {
    try {
      return new FileFeed(file);
    } catch (e) {
      if (!(e instanceof PerfDataError) && !(e as NodeJS.ErrnoException).code) throw e;
      const error = `cannot open ${file}: ${(e as Error).message}`;
      void vscode.window.showErrorMessage(`Perf Sideband: ${error}`);
      return new FailedFeed(path.basename(file), error);
    }
  }

  /** The capture that runs or ran last, if any. */
  get current(): LiveFeed | undefined {
    return this.live;
  }

  dispose(): void {
    if (this.live?.running) void this.live.recording.session.stop();
    this.disposables.forEach((d) => d.dispose());
    fs.rmSync(this.captureDir, { recursive: true, force: true });
  }
}

/**
 * Runs the helper's argv through sudo in a terminal of its own, where sudo
 * asks for the password: the argv goes to the terminal's process as it is,
 * with no shell between.
 */
function sudoInTerminal(argv: string[]): HelperProcess {
  const terminal = vscode.window.createTerminal({ name: 'Perf Sideband: elevated capture', shellPath: 'sudo', shellArgs: ['--', ...argv] });
  terminal.show();
  return {
    ended: new Promise((resolve) => {
      const closed = vscode.window.onDidCloseTerminal((t) => {
        if (t !== terminal) return;
        closed.dispose();
        resolve(`sudo ended with status ${t.exitStatus?.code ?? 'unknown'} before the capture began (its terminal shows why)`);
      });
    }),
  };
}
