// The sideband language server as an editor drives it: `node dist/server.js
// --stdio`, spoken to over JSON-RPC. For the tests and the bench, which ask
// it what the extension asks.

import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CodeLensRefreshRequest,
  CodeLensRequest,
  createProtocolConnection,
  DidOpenTextDocumentNotification,
  ExitNotification,
  HoverRequest,
  InitializedNotification,
  InitializeRequest,
  LogMessageNotification,
  ShowMessageNotification,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type CodeLens,
  type Hover,
  type ProtocolConnection,
} from 'vscode-languageserver-protocol/node';

import {
  CaptureStatsRequest,
  DebuginfodCancelNotification,
  DebuginfodProgressNotification,
  RegionSourcesRequest,
  SettingsNotification,
  ResolveRequest,
  ShowCaptureNotification,
  type CaptureStats,
  type DebuginfodProgress,
  type ResolveParams,
  type ServerSettings,
  type ServerStart,
} from '../../protocol/server';
import { type AddressResolution, type RegionSources, type WireRegion } from '../../protocol/webview';
import { ROOT } from './harness';

export const SERVER = path.join(ROOT, 'dist', 'server.js');

export class LanguageServer {
  /** CodeLens refreshes the server asked for so far. */
  refreshes = 0;
  /** What the server showed the user (window/showMessage), in order. */
  readonly shown: string[] = [];
  private refreshed: Array<() => void> = [];
  /** The debuginfod progress the server told so far. */
  readonly fetches: DebuginfodProgress[] = [];
  private fetchWaiters: Array<() => void> = [];

  private constructor(
    readonly child: ChildProcess,
    private readonly connection: ProtocolConnection,
    readonly stderr: string[],
  ) {
    // What the server asks of the editor: a refresh is counted and answered; its log goes with stderr.
    connection.onRequest(CodeLensRefreshRequest.type, () => {
      this.refreshes++;
      this.refreshed.splice(0).forEach((wake) => wake());
      return null;
    });
    connection.onNotification(LogMessageNotification.type, ({ message }) => stderr.push(`${message}\n`));
    connection.onNotification(DebuginfodProgressNotification, (progress) => {
      this.fetches.push(progress);
      this.fetchWaiters.splice(0).forEach((wake) => wake());
    });
    connection.onNotification(ShowMessageNotification.type, ({ message }) => this.shown.push(message));
  }

  /**
   * Starts the server and completes the LSP handshake, as VS Code's client
   * does: it takes CodeLens refreshes, and is given the settings and the
   * capture shown in its initialization options; `server` is another copy of dist/server.js.
   */
  static async start(options: { workspace?: string; settings?: ServerSettings; capture?: string; env?: NodeJS.ProcessEnv; server?: string } = {}): Promise<LanguageServer> {
    const child = spawn(process.execPath, [options.server ?? SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    const stderr: string[] = [];
    child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    const connection = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    const server = new LanguageServer(child, connection, stderr);
    connection.listen();
    const initializationOptions: ServerStart = { ...(options.settings ?? { debugDirectories: [] }), capture: options.capture ?? null };
    await connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      capabilities: { workspace: { codeLens: { refreshSupport: true } } },
      workspaceFolders: options.workspace ? [{ uri: pathToFileURL(options.workspace).href, name: 'workspace' }] : null,
      initializationOptions,
    });
    await connection.sendNotification(InitializedNotification.type, {});
    return server;
  }

  /** Resolves at the next CodeLens refresh the server asks for; fails after `ms`, naming what it waited for. */
  nextRefresh(ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no CodeLens refresh within ${ms} ms while waiting for ${what}; the server's log:\n${this.stderr.join('')}`)), ms);
      this.refreshed.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Resolves at the first debuginfod progress told, or at once if one was; fails after `ms`. */
  nextFetch(ms: number): Promise<DebuginfodProgress> {
    if (this.fetches.length) return Promise.resolve(this.fetches[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no debuginfod progress within ${ms} ms; the server's log:\n${this.stderr.join('')}`)), ms);
      this.fetchWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.fetches[0]);
      });
    });
  }

  /** Cancels the fetches of request `id`, as the progress's cancel button does. */
  cancelFetch(id: number): Promise<void> {
    return this.connection.sendNotification(DebuginfodCancelNotification, { id });
  }

  showCapture(file: string | null): Promise<void> {
    return this.connection.sendNotification(ShowCaptureNotification, { path: file });
  }

  /** New settings, as the extension sends when the user changes them: the server reloads its symbolizer. */
  changeSettings(settings: ServerSettings): Promise<void> {
    return this.connection.sendNotification(SettingsNotification, settings);
  }

  resolve(params: ResolveParams): Promise<AddressResolution[]> {
    return this.connection.sendRequest(ResolveRequest, params);
  }

  regionSources(pid: number, region: WireRegion): Promise<RegionSources> {
    return this.connection.sendRequest(RegionSourcesRequest, { pid, region });
  }

  /** What the server holds of the capture it follows, after a look at the file: for the bench's memory rows. */
  captureStats(): Promise<CaptureStats | null> {
    return this.connection.sendRequest(CaptureStatsRequest);
  }

  async open(file: string, text: string, languageId = 'c'): Promise<string> {
    const uri = pathToFileURL(file).href;
    await this.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId, version: 1, text } });
    return uri;
  }

  codeLenses(uri: string): Promise<CodeLens[] | null> {
    return this.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } });
  }

  hover(uri: string, line: number, character: number): Promise<Hover | null> {
    return this.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line, character } });
  }

  async stop(): Promise<void> {
    try {
      await this.connection.sendRequest(ShutdownRequest.type);
      await this.connection.sendNotification(ExitNotification.type);
    } catch {
      // already gone
    }
    this.connection.dispose();
    this.child.kill();
  }
}

/** A hover's Markdown with its backslash escapes undone (the server escapes traced names): the text it shows, its emphasis and links still marked up. */
export function markdownShown(hover: Hover | null): string {
  const markdown = hover && typeof hover.contents === 'object' && 'value' in hover.contents ? hover.contents.value : '';
  return markdown.replace(/\\([!-/:-@[-`{-~])/g, '$1');
}
