// The sideband language server: a Node process of its own, started by the
// extension (extension/languageClient.ts), that owns the ELF and DWARF work
// so neither the extension host nor the webview ever waits on it. It answers
// the regions panel's questions (protocol/server.ts) and, in source
// files whose code a captured process maps, gives hovers and CodeLens that
// say where and since when.
//
// Bundled as dist/server.js; `node dist/server.js --stdio` speaks LSP on
// stdin/stdout (the tests and the bench drive it that way).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { type CancellationToken, CodeLens, CodeLensRefreshRequest, createConnection, Hover, MarkupKind, MessageType, ProposedFeatures, ShowMessageNotification, TextDocuments, TextDocumentSyncKind } from 'vscode-languageserver/node';

import { SourceResolver, type FunctionMapping } from '../node/symbols/resolver';
import { openSymbolizer } from '../node/symbols/symbolizer';
import { Debuginfod, debuginfodCacheDir, debuginfodSource, type FetchProgress, type FetchWatch } from '../node/symbols/debuginfod';
import { type SourceFrame } from '../native/symbols';
import { parseAddress } from '../core/timeline';
import { endedWords } from '../core/regionEnd';
import { regionOfWire, type AddressResolution, type RegionSources, type WireFrame } from '../protocol/webview';
import {
  CaptureStatsRequest,
  DebuginfodCancelNotification,
  DebuginfodProgressNotification,
  REVEAL_REGION_COMMAND,
  RegionSourcesRequest,
  ResolveRequest,
  SettingsNotification,
  ShowCaptureNotification,
  type RevealRegionArgs,
  type ServerSettings,
  type ServerStart,
} from '../protocol/server';
import { markdownText } from './markdownText';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);

let workspaceRoots: string[] = [];
let debugDirectories: string[] = [];
let debuginfodUrls: string[] | null = null;
let loaded: SourceResolver | undefined;
/** The perf.data file the timeline shows, which hovers and CodeLens describe. */
let shownFile: string | null = null;
/** Refreshes go out only once the client has its handlers, and only to a client that takes them. */
let initialized = false;
let canRefreshLenses = false;
/**
 * What each document's lenses last said, but for the process names (which a
 * program may change every few milliseconds): which functions are mapped
 * where. A growing capture asks for a refresh only when this changes.
 */
const lensAnswers = new Map<string, string>();
let checkingLenses = false;
let toldOfFallback = false;

/** The resolver, its symbolizer (the libdw addon) loaded on first use: a server nobody asks loads nothing. */
function resolver(): SourceResolver {
  if (!loaded) {
    const source = debuginfodSource(debuginfodUrls ?? undefined, 'the setting perfSideband.debuginfodUrls');
    loaded = new SourceResolver(openSymbolizer({ debugDirs: debugDirectories, debuginfod: source && new Debuginfod(source) }));
    connection.console.info(source ? `debuginfod: ${source.urls.join(' ')}, from ${source.origin}; fetched into ${debuginfodCacheDir()}` : 'debuginfod: off');
    const { kind, description } = loaded.symbolizer;
    connection.console.info(`symbols: ${description}`);
    // Without libdw every answer is poorer (no inline chains, no source files for a region): the user hears it
    // once, not at each answer, nor again when new settings reload the symbolizer.
    if (kind !== 'libdw' && !toldOfFallback) {
      toldOfFallback = true;
      // A notification, not showWarningMessage's request: nothing to answer, so no client can fail it.
      void connection.sendNotification(ShowMessageNotification.type, { type: MessageType.Warning, message: `Perf Sideband: ${description}` });
    }
  }
  return loaded;
}

connection.onInitialize((params) => {
  workspaceRoots = (params.workspaceFolders ?? []).map((f) => fileURLToPath(f.uri));
  canRefreshLenses = params.capabilities.workspace?.codeLens?.refreshSupport === true;
  const start = params.initializationOptions as Partial<ServerStart> | undefined;
  if (start?.debugDirectories) useSettings({ debugDirectories: start.debugDirectories, debuginfodUrls: start.debuginfodUrls });
  follow(start?.capture ?? null, 'given at start');
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      codeLensProvider: { resolveProvider: false },
    },
    serverInfo: { name: 'perf-sideband', version: '0.1.0' },
  };
});

function useSettings(settings: ServerSettings): void {
  debugDirectories = settings.debugDirectories;
  debuginfodUrls = settings.debuginfodUrls ?? null;
  loaded?.symbolizer.dispose();
  loaded = undefined;
}

connection.onNotification(SettingsNotification, (settings) => {
  useSettings(settings);
  refreshLenses();
});

connection.onInitialized(() => {
  initialized = true;
  refreshLenses();
});

connection.onNotification(ShowCaptureNotification, ({ path: next }) => {
  if (next !== shownFile) follow(next, 'shown by the timeline');
});

/** Lenses and hovers describe `next` from now on, and follow it while it grows. */
function follow(next: string | null, how: string): void {
  if (shownFile) fs.unwatchFile(shownFile);
  shownFile = next;
  loaded?.retain(next ? [next] : []);
  connection.console.info(next ? `capture ${next}, ${how}` : `no capture, ${how}`);
  lensAnswers.clear();
  // A live capture grows as it runs (the recording writes every batch as it
  // comes): it is looked at once a second, each look reading only the bytes
  // written since the last, and lenses are refreshed when
  // what they say changed. Not at every growth: VS Code waits for the
  // refreshes to pause before it asks (longer on a slow machine), so a
  // refresh every second could keep a newly opened file from ever getting
  // its lenses.
  if (next) fs.watchFile(next, { interval: 1000 }, () => void refreshIfLensesChanged());
  refreshLenses();
}

/** Refreshes the lenses if any document's would now say something else. */
async function refreshIfLensesChanged(): Promise<void> {
  if (checkingLenses) return;
  checkingLenses = true;
  try {
    for (const [uri, said] of lensAnswers) {
      if (lensAnswerOf(await mappingsOf(uri)) === said) continue;
      connection.console.info(`${uri}: its mappings changed in ${describeCapture()}; refreshing lenses`);
      refreshLenses();
      return;
    }
  } finally {
    checkingLenses = false;
  }
}

function lensAnswerOf(mappings: FunctionMapping[]): string {
  return mappings.map((m) => `${m.function.name} ${m.pid} ${m.start.toString(16)} ${m.ended ? `ended ${m.ended.how}` : 'mapped'}`).join('\n');
}

/** The capture and how much of it is on disk: what a lens answer was drawn from. */
function describeCapture(): string {
  if (!shownFile) return 'no capture';
  try {
    return `${shownFile} (${fs.statSync(shownFile).size} bytes)`;
  } catch (e) {
    return `${shownFile} (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`;
  }
}

function refreshLenses(): void {
  if (!initialized) return; // the client asks for lenses itself once its provider is registered
  if (!canRefreshLenses) return;
  connection.sendRequest(CodeLensRefreshRequest.type).catch((e: Error) => connection.console.warn(`the editor refused a CodeLens refresh: ${e.message}`));
}

connection.onRequest(CaptureStatsRequest, () => {
  if (!shownFile) return null;
  const capture = resolver().capture(shownFile);
  const memory = process.memoryUsage();
  return { path: capture.path, records: capture.timeline.count, indexBytes: capture.indexBytes, bytesRead: capture.bytesRead, rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, arrayBuffersBytes: memory.arrayBuffers };
});

/** The fetches each request has under way, by its id, for the client's cancel. */
const fetchesUnderWay = new Map<number, AbortController>();
let lastFetchId = 0;
/** Progress goes out at most this often: a large debug file arrives in tens of thousands of chunks. */
const PROGRESS_EVERY_MS = 200;

/**
 * Runs `work` with a watch for the debuginfod fetches it may start: their
 * bytes go to the client, which shows them with a cancel button; the
 * client's cancel, or the request's, stops them.
 */
async function watchingFetches<T>(token: CancellationToken, work: (watch: FetchWatch) => Promise<T>): Promise<T> {
  const id = ++lastFetchId;
  const controller = new AbortController();
  fetchesUnderWay.set(id, controller);
  const cancelled = token.onCancellationRequested(() => controller.abort());
  let last: FetchProgress | undefined;
  let sentAt = 0;
  const progress = (p: FetchProgress): void => {
    const first = last?.buildId !== p.buildId;
    last = p;
    if (!first && Date.now() - sentAt < PROGRESS_EVERY_MS) return;
    sentAt = Date.now();
    void connection.sendNotification(DebuginfodProgressNotification, { id, ...p });
  };
  try {
    return await work({ signal: controller.signal, progress });
  } finally {
    cancelled.dispose();
    fetchesUnderWay.delete(id);
    if (last) void connection.sendNotification(DebuginfodProgressNotification, { id, ...last, done: true });
  }
}

connection.onNotification(DebuginfodCancelNotification, ({ id }) => fetchesUnderWay.get(id)?.abort());

connection.onRequest(RegionSourcesRequest, async ({ pid, region }, token): Promise<RegionSources> => {
  const sources = await watchingFetches(token, (watch) => resolver().regionSources(pid, regionOfWire(region), shownFile ?? undefined, watch));
  const files = sources.files.map((file) => ({ path: file, inWorkspace: inWorkspace(file), exists: fs.existsSync(file) }));
  // Workspace files first, then those on disk: the ones a click can open.
  files.sort((a, b) => Number(b.inWorkspace) - Number(a.inWorkspace) || Number(b.exists) - Number(a.exists) || a.path.localeCompare(b.path));
  return { ...sources, files, backend: resolver().symbolizer.description };
});

connection.onRequest(ResolveRequest, async (params, token): Promise<AddressResolution[]> => {
  const backend = resolver().symbolizer.description;
  const addresses = params.addresses.map(parseAddress);
  const bad = addresses.findIndex((a) => a === undefined);
  if (bad >= 0) return params.addresses.map(() => ({ frames: [], error: `'${params.addresses[bad]}' is not a hex address`, code: 'bad-request', field: `addresses[${bad}]`, backend }));
  const valid = addresses as bigint[];
  let results;
  if (params.region) {
    const region = regionOfWire(params.region);
    results = await watchingFetches(token, (watch) => resolver().resolveIn(params.pid, valid, region, params.capture ?? shownFile ?? undefined, watch));
  } else if (params.capture) {
    const capture = params.capture;
    results = await watchingFetches(token, (watch) => resolver().resolveInCapture(capture, params.pid, valid, undefined, watch));
  } else {
    return valid.map(() => ({ frames: [], error: 'name a region or a capture to resolve in', code: 'bad-request', field: 'region', backend }));
  }
  // A batch names the same few files many times: ask the file system once per file.
  const described = new Map<string, Pick<WireFrame, 'inWorkspace' | 'exists'>>();
  const wireFrame = (frame: SourceFrame): WireFrame => {
    if (frame.file === undefined) return { ...frame, inWorkspace: false, exists: false };
    let known = described.get(frame.file);
    if (!known) described.set(frame.file, (known = { inWorkspace: inWorkspace(frame.file), exists: fs.existsSync(frame.file) }));
    return { ...frame, ...known };
  };
  return results.map((r) => ({ ...r, frames: r.frames.map(wireFrame), backend }));
});

connection.onCodeLens(async ({ textDocument }): Promise<CodeLens[]> => {
  const mappings = await mappingsOf(textDocument.uri);
  const byFunction = groupByFunction(mappings);
  const answer = lensAnswerOf(mappings);
  if (lensAnswers.get(textDocument.uri) !== answer) {
    lensAnswers.set(textDocument.uri, answer);
    connection.console.info(`${byFunction.size} lens${byFunction.size === 1 ? '' : 'es'} for ${textDocument.uri}, from ${describeCapture()}`);
  }
  return [...byFunction.values()].map((list) => {
    const first = list[0];
    const line = Math.max(0, first.function.line - 1);
    const more = list.length > 1 ? ` (+${list.length - 1} more)` : '';
    return {
      range: { start: { line, character: 0 }, end: { line, character: 0 } },
      command: { title: `${describeMapping(first)}${more}`, command: REVEAL_REGION_COMMAND, arguments: [revealArgs(first)] },
    };
  });
});

connection.onHover(async ({ textDocument, position }): Promise<Hover | null> => {
  const document = documents.get(textDocument.uri);
  if (!document) return null;
  const word = wordAt(document.getText({ start: { line: position.line, character: 0 }, end: { line: position.line + 1, character: 0 } }), position.character);
  if (!word) return null;
  const list = groupByFunction(await mappingsOf(textDocument.uri)).get(word);
  if (!list) return null;
  const fn = list[0].function;
  const mapped = list.filter((m) => !m.ended).length;
  const count = mapped ? `in ${mapped} mapping${mapped === 1 ? '' : 's'}` : 'no longer mapped';
  const lines = [`**${markdownText(fn.name)}** (${markdownText(path.basename(fn.file))}:${fn.line}), ${count} at the end of this capture:`, ''];
  for (const m of list.slice(0, 8)) {
    const link = `command:${REVEAL_REGION_COMMAND}?${encodeURIComponent(JSON.stringify([revealArgs(m)]))}`;
    lines.push(`- ${markdownText(describeMapping(m))} · [Reveal in timeline](${link} "Show this region in the Sideband timeline")`);
  }
  if (list.length > 8) lines.push(`- and ${list.length - 8} more`);
  return { contents: { kind: MarkupKind.Markdown, value: lines.join('\n') } };
});

async function mappingsOf(uri: string): Promise<FunctionMapping[]> {
  if (!shownFile || !uri.startsWith('file:')) return [];
  try {
    return await resolver().mappingsOfSource(shownFile, fileURLToPath(uri));
  } catch (e) {
    connection.console.warn(`mappings of ${uri}: ${(e as Error).message}`);
    return [];
  }
}

function groupByFunction(mappings: FunctionMapping[]): Map<string, FunctionMapping[]> {
  const byName = new Map<string, FunctionMapping[]>();
  for (const m of mappings) {
    let list = byName.get(m.function.name);
    if (!list) byName.set(m.function.name, (list = []));
    list.push(m);
  }
  return byName;
}

/**
 * "mapped in pid 4242 at 0x55d0…–0x55d1… since +12.3 ms, status-only from /proc";
 * for code no longer mapped at the end of the capture, "was mapped … ; unmapped at +1.52 s (munmap)".
 */
function describeMapping(m: FunctionMapping): string {
  const origin = m.region.statusOnly ? `status-only from ${m.region.provenance === 'proc' ? '/proc' : 'the kernel'}` : m.region.provenance === 'synthesized' ? 'synthesized by perf at time 0' : 'real mmap';
  const inherited = m.region.inheritedFrom !== undefined ? `, inherited from pid ${m.region.inheritedFrom}` : '';
  // In a container the region's path names another file here: say which was read.
  const read = m.read.via ? `, read from ${m.read.path} (${m.read.via})` : '';
  const mapping = `mapped in pid ${m.pid} (${m.comm}) at 0x${m.start.toString(16)}–0x${m.end.toString(16)} since ${since(m.since)}, ${origin}${inherited}${read}`;
  return m.ended ? `was ${mapping}; ${endedWords(m.ended, since)}` : mapping;
}

function since(ns: number): string {
  if (!Number.isFinite(ns)) return 'the start';
  return ns < 10e9 ? `+${(ns / 1e6).toFixed(1)} ms` : `+${(ns / 1e9).toFixed(2)} s`;
}

function revealArgs(m: FunctionMapping): RevealRegionArgs {
  return { pid: m.pid, time: m.region.time, start: m.region.start.toString(16) };
}

function wordAt(line: string, character: number): string | undefined {
  const identifier = /[A-Za-z_][A-Za-z0-9_]*/g;
  for (let match; (match = identifier.exec(line)); ) {
    if (match.index <= character && character <= match.index + match[0].length) return match[0];
  }
  return undefined;
}

function inWorkspace(file: string): boolean {
  return workspaceRoots.some((root) => file === root || file.startsWith(root.endsWith('/') ? root : `${root}/`));
}

documents.onDidClose(({ document }) => lensAnswers.delete(document.uri));

documents.listen(connection);
connection.listen();
