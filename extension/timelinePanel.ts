// The host side of a timeline webview: its HTML under a strict CSP, the
// messages from it (validated by the protocol module), and which capture it
// shows. The same class serves the panel view and editor tabs.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as vscode from 'vscode';

import { readBuildId } from '../node/symbols/elf';
import { jitdumpBytesFrom } from '../node/jitdumps';
import { parseWebviewMessage, ProtocolError, replyTo, type FileInfo, type HostMessage } from '../protocol/webview';
import type { TimelineFeed } from './feeds';
import type { TimelineSink, TimelineSubscription } from '../node/timelineFeed';
import type { SourceService } from './languageClient';

/** How far behind the newest record a timeline draws: reported by its `drawn` messages. */
export interface DrawnReport {
  records: number;
  newestTime: number;
}

export class TimelineWebview implements TimelineSink, vscode.Disposable {
  private feed?: TimelineFeed;
  private subscription?: TimelineSubscription;
  private ready = false;
  private reportedInvalid = false;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly drawnEmitter = new vscode.EventEmitter<DrawnReport>();
  readonly onDrawn = this.drawnEmitter.event;

  constructor(
    private readonly webview: vscode.Webview,
    extensionUri: vscode.Uri,
    private readonly sources: SourceService,
  ) {
    const dist = vscode.Uri.joinPath(extensionUri, 'dist');
    webview.options = { enableScripts: true, localResourceRoots: [dist] };
    webview.html = this.html(dist);
    this.disposables.push(webview.onDidReceiveMessage((data) => this.receive(data)), this.drawnEmitter);
  }

  /** Shows `feed`, or nothing; a webview that is not loaded yet gets it when it says it is ready. */
  show(feed: TimelineFeed | undefined): void {
    this.subscription?.dispose();
    this.subscription = undefined;
    this.feed = feed;
    if (feed && this.ready) this.subscription = feed.feed(this);
  }

  post(message: HostMessage): void {
    void this.webview.postMessage(message);
  }

  private receive(data: unknown): void {
    let message;
    try {
      message = parseWebviewMessage(data);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.reportInvalid(e.message);
      return;
    }
    switch (message.type) {
      case 'ready':
        // A reloaded webview starts empty: feed it everything again.
        this.ready = true;
        this.show(this.feed);
        break;
      case 'invalid':
        this.reportInvalid(message.message);
        break;
      case 'stored':
        this.subscription?.stored(message.end);
        break;
      case 'drawn':
        this.drawnEmitter.fire(message);
        break;
      case 'openFile':
        void openFile(message.path, message.line);
        break;
      case 'describeFiles':
        this.post(replyTo(message, { files: message.paths.map(describeFile) }));
        break;
      case 'regionSources':
        void this.sources.regionSources(message.pid, message.region).then((sources) => this.post(replyTo(message, { sources })));
        break;
      case 'resolveAddress':
        void this.sources.resolve(message.pid, message.address, message.region).then((resolution) => this.post(replyTo(message, { resolution })));
        break;
      case 'readJitdump': {
        const place = { pid: message.pid, filename: message.filename, ...(message.mountNamespace === undefined ? {} : { mountNamespace: BigInt(message.mountNamespace) }) };
        const { path, bytes, problem } = jitdumpBytesFrom(place, message.from);
        this.post(replyTo(message, { path, bytes: bytes.slice().buffer, ...(problem === undefined ? {} : { problem }) }));
        break;
      }
    }
  }

  /** Once per webview: a stream that fails validation once usually fails it for every batch after. */
  private reportInvalid(message: string): void {
    if (this.reportedInvalid) return;
    this.reportedInvalid = true;
    void vscode.window.showErrorMessage(
      `Perf Sideband: the timeline rejected data from ${this.feed?.title ?? 'the capture'}: ${message}. What came before it is still shown. Fix: if the file is damaged, capture again; otherwise report this with the file.`,
    );
  }

  private html(dist: vscode.Uri): string {
    const nonce = crypto.randomBytes(16).toString('base64');
    const script = this.webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js'));
    const style = this.webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.css'));
    const csp = [`default-src 'none'`, `style-src ${this.webview.cspSource}`, `img-src ${this.webview.cspSource} data:`, `font-src ${this.webview.cspSource}`, `script-src 'nonce-${nonce}'`].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>Sideband timeline</title>
</head>
<body>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }

  dispose(): void {
    this.subscription?.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}

// Build-ids by path and modification time: regions of many processes name the same few files.
const buildIds = new Map<string, { mtimeMs: number; buildId?: string }>();

function describeFile(path: string): FileInfo {
  let mtimeMs: number;
  try {
    mtimeMs = fs.statSync(path).mtimeMs;
  } catch {
    return { path, inWorkspace: false }; // not on this machine: nothing to open
  }
  const inWorkspace = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(path)) !== undefined;
  let known = buildIds.get(path);
  if (!known || known.mtimeMs !== mtimeMs) {
    known = { mtimeMs, buildId: readBuildId(path) };
    buildIds.set(path, known);
  }
  return known.buildId ? { path, buildId: known.buildId, inWorkspace } : { path, inWorkspace };
}

/** Opens a region's file (in the workspace) or a source file (anywhere on disk), at `line` (1-based) when given. */
async function openFile(path: string, line?: number): Promise<void> {
  const uri = vscode.Uri.file(path);
  if (!fs.existsSync(path)) {
    void vscode.window.showInformationMessage(`Perf Sideband: ${path} is not on this machine (it was built elsewhere, or moved). Fix: check out those sources at that path, or open them by hand.`);
    return;
  }
  const position = line !== undefined && line > 0 ? new vscode.Position(line - 1, 0) : undefined;
  try {
    await vscode.window.showTextDocument(uri, { preview: true, selection: position && new vscode.Range(position, position) });
  } catch (e) {
    void vscode.window.showErrorMessage(`Perf Sideband: cannot open ${path}: ${(e as Error).message}`);
  }
}

/** The timeline in the panel: shows whatever capture is current. */
export class TimelineViewProvider implements vscode.WebviewViewProvider {
  static readonly viewType = 'perfSideband.timeline';
  private timeline?: TimelineWebview;
  private current?: TimelineFeed;
  private readonly drawnEmitter = new vscode.EventEmitter<DrawnReport>();
  /** What the panel's timeline has drawn, for the status bar. */
  readonly onDrawn = this.drawnEmitter.event;

  private readonly showEmitter = new vscode.EventEmitter<TimelineFeed>();
  /** The capture the panel shows changed: hovers and CodeLens describe that one. */
  readonly onDidShow = this.showEmitter.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly sources: SourceService,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    const timeline = new TimelineWebview(view.webview, this.extensionUri, this.sources);
    this.timeline = timeline;
    timeline.onDrawn((report) => this.drawnEmitter.fire(report));
    timeline.show(this.current);
    view.onDidDispose(() => {
      timeline.dispose();
      if (this.timeline === timeline) this.timeline = undefined;
    });
  }

  show(feed: TimelineFeed): void {
    this.current = feed;
    this.timeline?.show(feed);
    this.showEmitter.fire(feed);
  }

  /** Shows a region of the capture the panel shows: its process, at the time it was mapped, with its row selected. */
  async revealRegion(pid: number, time: number, start: string): Promise<void> {
    await vscode.commands.executeCommand(`${TimelineViewProvider.viewType}.focus`);
    this.timeline?.post({ type: 'reveal', pid, time, region: start });
  }
}

/** perf.data files opened from the explorer, or by "Open perf.data…", as editor tabs. */
export class PerfDataEditorProvider implements vscode.CustomReadonlyEditorProvider {
  static readonly viewType = 'perfSideband.perfData';

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly sources: SourceService,
    private readonly openFeed: (path: string) => TimelineFeed,
  ) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => {} };
  }

  resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): void {
    const timeline = new TimelineWebview(panel.webview, this.extensionUri, this.sources);
    panel.onDidDispose(() => timeline.dispose());
    timeline.show(this.openFeed(document.uri.fsPath));
  }
}

/** The timeline as an editor tab, showing `feed`. */
export function openTimelinePanel(extensionUri: vscode.Uri, sources: SourceService, feed: TimelineFeed): void {
  const panel = vscode.window.createWebviewPanel('perfSideband.timelinePanel', `Sideband: ${feed.title}`, vscode.ViewColumn.Active, { retainContextWhenHidden: false });
  const timeline = new TimelineWebview(panel.webview, extensionUri, sources);
  panel.onDidDispose(() => timeline.dispose());
  timeline.show(feed);
}
