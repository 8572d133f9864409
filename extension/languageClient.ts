// Starts the sideband language server (dist/server.js) through
// vscode-languageclient when a capture is first shown or a question first
// asked (a debug session alone starts nothing), keeps it told which capture the timeline shows and
// which debug directories and debuginfod servers the user set, passes the
// regions panel's questions to it, and shows its debuginfod fetches with a
// cancel button. If the server dies, the user hears it once, it is
// restarted, and the timeline goes on: a question asked meanwhile gets an
// answer that says so instead of waiting.

import * as vscode from 'vscode';
import { CloseAction, ErrorAction, LanguageClient, State, TransportKind, type CloseHandlerResult, type ErrorHandlerResult } from 'vscode-languageclient/node';

import { type AddressResolution, type RegionSources, type WireRegion } from '../protocol/webview';
import {
  DebuginfodCancelNotification,
  DebuginfodProgressNotification,
  RegionSourcesRequest,
  ResolveRequest,
  SettingsNotification,
  ShowCaptureNotification,
  type ServerSettings,
  type ServerStart,
} from '../protocol/server';
import { FetchProgress } from './fetchProgress';

/** What the timeline asks of the server. */
export interface SourceService {
  regionSources(pid: number, region: WireRegion): Promise<RegionSources>;
  resolve(pid: number, address: string, region: WireRegion): Promise<AddressResolution>;
}

// Deaths within this window count toward giving up: a server that dies at
// every start would otherwise restart forever.
const RESTART_WINDOW_MS = 3 * 60_000;
const MAX_RESTARTS = 4;

const NOT_RUNNING = 'The sideband language server is not running (it is starting or restarting). Fix: try again in a moment; "Perf Sideband: Restart Language Server" starts it again if it gave up.';

export class SidebandLanguageClient implements SourceService, vscode.Disposable {
  private readonly client: LanguageClient;
  private readonly deaths: number[] = [];
  private toldOfDeath = false;
  private capture: string | null = null;
  /** The capture the running server was last given, at its start or since. */
  private told: string | null = null;
  private starting?: Promise<void>;
  private readonly disposables: vscode.Disposable[] = [];
  /** A log channel: timestamped, and kept in the window's logs folder, where a report can take it from. */
  private readonly log = vscode.window.createOutputChannel('Perf Sideband Symbols', { log: true });
  private readonly fetches = new FetchProgress(
    (title, task) => void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, task),
    (id) => void this.client.sendNotification(DebuginfodCancelNotification, { id }),
  );

  constructor(context: vscode.ExtensionContext) {
    const module = context.asAbsolutePath('dist/server.js');
    this.client = new LanguageClient(
      'perfSideband',
      'Perf Sideband Symbols',
      { run: { module, transport: TransportKind.ipc }, debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--inspect=6019'] } } },
      {
        // Any file on disk may be a source of a mapped binary: C, C++, Rust, assembly...
        documentSelector: [{ scheme: 'file' }],
        outputChannel: this.log,
        // Asked again at every start, restart included.
        initializationOptions: (): ServerStart => {
          this.told = this.capture;
          return { ...settings(), capture: this.capture };
        },
        // Hovers link to the reveal command.
        markdown: { isTrusted: { enabledCommands: ['perfSideband.revealRegion'] } },
        errorHandler: {
          error: (): ErrorHandlerResult => ({ action: ErrorAction.Continue }),
          closed: () => this.closed(),
        },
      },
    );
    this.client.onNotification(DebuginfodProgressNotification, (progress) => this.fetches.told(progress));
    this.client.onDidChangeState(({ newState }) => {
      this.client.outputChannel.appendLine(`[client] the server is ${State[newState].toLowerCase()}; the timeline shows ${this.capture ?? 'no capture'}`);
      // A capture shown while the server was starting came after its initialization options.
      if (newState === State.Running && this.told !== this.capture) this.tell();
    });
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        const ours = e.affectsConfiguration('perfSideband.debugDirectories') || e.affectsConfiguration('perfSideband.debuginfodUrls');
        if (ours && this.client.isRunning()) void this.client.sendNotification(SettingsNotification, settings());
      }),
    );
  }

  /** Whether the server runs, starting it the first time this is asked. */
  private async running(): Promise<boolean> {
    this.starting ??= this.client.start().catch(
      (e: Error) => void vscode.window.showErrorMessage(`Perf Sideband: the sideband language server did not start: ${e.message}. Hovers and source lookups are off; the timeline works without them.`),
    );
    await this.starting;
    return this.client.isRunning();
  }

  /** Hovers and CodeLens describe this capture (a perf.data path), or none. */
  showCapture(path: string | undefined): void {
    this.capture = path ?? null;
    // A server not running yet is given it when it starts (initializationOptions).
    if (this.client.isRunning()) this.tell();
    else if (this.capture) void this.running();
  }

  private tell(): void {
    this.told = this.capture;
    void this.client.sendNotification(ShowCaptureNotification, { path: this.capture });
  }

  async regionSources(pid: number, region: WireRegion): Promise<RegionSources> {
    if (!(await this.running())) return { files: [], missing: NOT_RUNNING, code: 'server', backend: 'none' };
    try {
      return await this.client.sendRequest(RegionSourcesRequest, { pid, region });
    } catch (e) {
      return { files: [], missing: `The sideband language server failed: ${(e as Error).message}`, code: 'server', backend: 'none' };
    }
  }

  async resolve(pid: number, address: string, region: WireRegion): Promise<AddressResolution> {
    if (!(await this.running())) return { frames: [], error: NOT_RUNNING, code: 'server', backend: 'none' };
    try {
      const [resolution] = await this.client.sendRequest(ResolveRequest, { pid, addresses: [address], region });
      return resolution;
    } catch (e) {
      return { frames: [], error: `The sideband language server failed: ${(e as Error).message}`, code: 'server', backend: 'none' };
    }
  }

  async restart(): Promise<void> {
    this.deaths.length = 0;
    this.toldOfDeath = false;
    if (this.starting) await this.client.restart();
    else await this.running();
  }

  private closed(): CloseHandlerResult {
    this.fetches.dispose();
    const now = Date.now();
    this.deaths.push(now);
    while (this.deaths.length > 0 && this.deaths[0] < now - RESTART_WINDOW_MS) this.deaths.shift();
    if (this.deaths.length > MAX_RESTARTS) {
      return {
        action: CloseAction.DoNotRestart,
        message: `Perf Sideband: the sideband language server died ${this.deaths.length} times in 3 minutes, so it stays stopped. Hovers and source lookups are off; the timeline still works. Fix: see the "Perf Sideband Symbols" output, then run "Perf Sideband: Restart Language Server".`,
      };
    }
    if (!this.toldOfDeath) {
      this.toldOfDeath = true;
      void vscode.window.showWarningMessage('Perf Sideband: the sideband language server stopped unexpectedly and was restarted. The timeline was not affected.');
    }
    return { action: CloseAction.Restart, handled: true };
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
    this.fetches.dispose();
    // The channel outlives the client, which logs its own stop.
    void this.client.stop().finally(() => this.log.dispose());
  }
}

function settings(): ServerSettings {
  const configuration = vscode.workspace.getConfiguration('perfSideband');
  const strings = (list: unknown): string[] => (Array.isArray(list) ? list.filter((d): d is string => typeof d === 'string' && d.length > 0) : []);
  // null (the default): the server takes DEBUGINFOD_URLS; a list, even empty, replaces it.
  const urls = configuration.get<unknown>('debuginfodUrls', null);
  return { debugDirectories: strings(configuration.get('debugDirectories', [])), debuginfodUrls: urls === null ? null : strings(urls) };
}
