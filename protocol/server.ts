// The contract between the extension host and the sideband language server
// (server/server.ts): LSP, plus these custom requests. Answers
// use the webview protocol's shapes, so the host passes them on as they are.

import { NotificationType, RequestType, RequestType0 } from 'vscode-languageserver-protocol';

import { type AddressResolution, type RegionSources, type WireRegion } from './webview';

export interface ServerSettings {
  /** Directories holding debug files, laid out as .build-id/xx/yyyy.debug or by debuglink name. */
  debugDirectories: string[];
  /** debuginfod servers to fetch missing debug files from, by build-id; [] for none; null or absent: those of DEBUGINFOD_URLS, if set. */
  debuginfodUrls?: string[] | null;
}

/**
 * The initialization options of every start, restart included: the server
 * knows the capture the timeline shows from its first answer, whatever the
 * order in which the client's state, its features and the host's
 * notifications arrive.
 */
export interface ServerStart extends ServerSettings {
  /** The capture the timeline shows (null: none). */
  capture: string | null;
}

/** Which capture hovers and CodeLens describe: the one the timeline shows (null: none). */
export const ShowCaptureNotification = new NotificationType<{ path: string | null }>('sideband/showCapture');

export const SettingsNotification = new NotificationType<ServerSettings>('sideband/settings');

/** A debug file coming from a debuginfod server for one request (`id`): the client shows it with a cancel button. */
export interface DebuginfodProgress {
  id: number;
  /** The file whose debug info it is, and that file's build-id. */
  file: string;
  buildId: string;
  url: string;
  received: number;
  /** When the server announced a length. */
  total?: number;
  /** The request's fetches ended (fetched, failed or cancelled): the progress closes. */
  done?: boolean;
}
export const DebuginfodProgressNotification = new NotificationType<DebuginfodProgress>('sideband/debuginfodProgress');
/** The user cancelled the fetches of request `id`: it answers at once, saying so. */
export const DebuginfodCancelNotification = new NotificationType<{ id: number }>('sideband/debuginfodCancel');

/** What the server holds of the capture it follows, as of a look at the file now: the measure of its memory against its index. */
export interface CaptureStats {
  path: string;
  records: number;
  /** Bytes of the index's columns with their room to grow, and of its copy in time order when the model needed one. */
  indexBytes: number;
  /** Bytes of records read from the file so far: each once, however often it was looked at. */
  bytesRead: number;
  /** The server's resident set, and of it the JavaScript heap in use (the model's lists) and the ArrayBuffers (the index's columns, read buffers). */
  rssBytes: number;
  heapUsedBytes: number;
  arrayBuffersBytes: number;
}

/** Looks at the shown capture, as the lenses' once-a-second look does, and says what the server holds of it; null when none is shown. */
export const CaptureStatsRequest = new RequestType0<CaptureStats | null, void>('sideband/captureStats');

/** The source files of a region of process `pid`: its namespaces say which file the region's path names. */
export const RegionSourcesRequest = new RequestType<{ pid: number; region: WireRegion }, RegionSources, void>('sideband/regionSources');

export interface ResolveParams {
  pid: number;
  /** Hex, with or without 0x. */
  addresses: string[];
  /** The region that holds them, as the timeline shows it; without it, the regions of `pid` at the end of `capture`. With it, `capture` (else the one shown) tells the process's namespaces. */
  region?: WireRegion;
  capture?: string;
}

export const ResolveRequest = new RequestType<ResolveParams, AddressResolution[], void>('sideband/resolve');

/** The arguments of the command a hover or CodeLens runs to show a region in the timeline. */
export interface RevealRegionArgs {
  pid: number;
  /** When the region was mapped, ns on the capture clock. */
  time: number;
  /** Hex start of the region. */
  start: string;
}

export const REVEAL_REGION_COMMAND = 'perfSideband.revealRegion';
