// The timeline webview: receives the stream from the extension host
// (protocol/webview.ts), indexes it (store.ts), models it (core/timeline.ts)
// and shows it (timelineCanvas.ts and its parts in canvas/, regions.ts,
// legend.ts).
//
// The page needs only a <body>, this script and webview.css: everything else
// is built here, so the host's HTML carries no markup to keep in step, and
// nothing inline for its Content-Security-Policy to block.
//
// Test hook, for the e2e tests and the bench: `window.__sidebandTimeline`,
// read-only numbers kept current after every frame:
//   recordsIndexed    records in the index (and in the timeline model)
//   statusIndexed     status-only records among them
//   statusDrawn       status-only records the last frame drew (an aggregate mark counts all it stands for)
//   realDrawn         real records the last frame drew (LOST and perf's synthesized ones included)
//   lostDrawn         LOST lines the last frame drew
//   lanes             rows of the timeline (the global row, processes, threads)
//   regionsListed     rows (tr.region) in the regions table: the regions mapped at the selected moment
//   endedListed       rows (tr.ended-region) of regions that ended before it, while #regions-show-ended is checked
//   sourcesListed     source file rows (li.source-file) under the expanded regions
//   resolvedFrames    frames in the address field's last answer (0 until it comes, and for an error)
//   frames            frames drawn since load
//   lastFrameMs       how long the last frame took to draw, in ms
//   lastFrameAt       performance.now() when the last frame ended
//   lastFrameRecords  records indexed when the last frame was drawn
//   frameTimes        durations of the last 1000 frames, in ms
//   view              { start, end, firstRow }: the window shown, in ns on the capture clock
//   markers           debugger markers received
//   snapshots         status snapshots the host announced
//   recordPosition(i) client { x, y } of record i's mark, or null when it is not in view
//   recordPid(i)      the pid of record i (-1: none)
//   lifetimeBands()   the selected process's region lifetime bands the last frame drew: { filename, ended (how, or ''), x, y } (client, a band's middle)
//   heldBytes()       bytes of ArrayBuffers held: the batches and the index columns (the JS heap does not count them)
// and stable elements: #timeline (canvas), #regions (table; rows tr.region,
// .status-only or .real, .revealed when the host revealed it; a file's
// button.toggle expands it to a tr.sources below; tr.ended-region rows, their
// .origin .ended saying how each ended), #regions-show-ended (the checkbox), #address (the address
// field; #address-resolve, #address-error, #address-answer with its ol.frames),
// #legend (filter checkboxes #filter-status, #filter-real, #filter-fork, ...),
// #status, #banner, #tooltip.

import './style.css';
import { RecordError, StreamLayout, parseAttr } from '../core/records';
import { Timeline } from '../core/timeline';
import { Legend } from './legend';
import { HostMessage, ProtocolError, Requests, WebviewMessage, WireStats, parseHostMessage } from '../protocol/webview';
import { el } from './dom';
import { RegionsPanel } from './regions';
import { TimelineJitdumps } from './jitdumps';
import { RecordStore, StoreError } from './store';
import { readPalette, watchTheme } from './theme';
import { FrameStats, Selection } from './canvas/frame';
import { TimelineCanvas } from './timelineCanvas';

declare function acquireVsCodeApi(): { postMessage(message: unknown): void };

const vscode = acquireVsCodeApi();
const post = (message: WebviewMessage): void => vscode.postMessage(message);
const requests = new Requests(post);

interface Session {
  title: string;
  live: boolean;
  store: RecordStore;
  timeline: Timeline;
  jitdumps: TimelineJitdumps;
  /** Set once a batch failed: later ones cannot be placed, so they are dropped. */
  broken: boolean;
  hostStats?: WireStats;
  ended?: string;
}

let session: Session | undefined;
let errors: string[] = [];

// The page.
const banner = el('div', { id: 'banner', role: 'alert' });
banner.hidden = true;
const warnings = el('div', { id: 'warnings' });
warnings.hidden = true;
const title = el('h1', { id: 'title' }, 'Perf sideband');
const status = el('div', { id: 'status', role: 'status' });
const canvas = el('canvas', { id: 'timeline', role: 'img' }) as HTMLCanvasElement;
const tooltip = el('div', { id: 'tooltip', role: 'tooltip' });
tooltip.hidden = true;
const announce = el('div', { id: 'announce', className: 'visually-hidden', 'aria-live': 'polite' });
const timelinePane = el('div', { id: 'timeline-pane' });
timelinePane.append(canvas);
const palette = readPalette();
const view = new TimelineCanvas(canvas, tooltip, palette);
const regions = new RegionsPanel(requests, post);
const legend = new Legend(palette, (filter) => {
  view.filter.setFilter(filter);
  view.requestDraw();
});
const header = el('header', { id: 'header' });
header.append(title, legend.element);
const main = el('main', { id: 'main' });
main.append(timelinePane, regions.element);
const footer = el('footer', { id: 'footer' });
footer.append(status);
document.body.append(banner, warnings, header, main, footer, tooltip, announce);
canvas.setAttribute('aria-label', 'Timeline of processes and threads. Plus and minus zoom, arrows pan and scroll, Home shows everything, click selects.');
canvas.setAttribute('aria-describedby', 'status');

watchTheme((p) => {
  view.setPalette(p);
  legend.setPalette(p);
});

const frameTimes: number[] = [];
let frames = 0;
let lastFrameAt = 0;
let lastFrameRecords = 0;
let postedRecords = 0;

const hook = {
  get recordsIndexed() {
    return session?.timeline.count ?? 0;
  },
  get statusIndexed() {
    return session?.timeline.statusOnly ?? 0;
  },
  get statusDrawn() {
    return view.lastFrame.statusDrawn;
  },
  get realDrawn() {
    return view.lastFrame.realDrawn;
  },
  get lostDrawn() {
    return view.lastFrame.lostDrawn;
  },
  get lanes() {
    return session?.timeline.laneOrder().length ?? 0;
  },
  get regionsListed() {
    return regions.listed;
  },
  get endedListed() {
    return regions.endedListed;
  },
  get sourcesListed() {
    return regions.sourcesListed;
  },
  get resolvedFrames() {
    return regions.address.resolvedFrames;
  },
  get frames() {
    return frames;
  },
  get lastFrameMs() {
    return view.lastFrame.ms;
  },
  get lastFrameAt() {
    return lastFrameAt;
  },
  get lastFrameRecords() {
    return lastFrameRecords;
  },
  frameTimes,
  get view() {
    return { start: view.view.start, end: view.view.end, firstRow: view.view.firstRow };
  },
  get markers() {
    return view.markers.length;
  },
  get snapshots() {
    return view.snapshots.length;
  },
  recordPosition: (i: number) => view.recordPosition(i) ?? null,
  recordPid: (i: number) => session?.store.index.pid[i] ?? -1,
  lifetimeBands: () => view.lifetimeBands(),
  heldBytes: () => session?.store.heldBytes ?? 0,
};
(window as unknown as { __sidebandTimeline: typeof hook }).__sidebandTimeline = hook;

view.onFrame = (stats: FrameStats) => {
  frames++;
  lastFrameAt = performance.now();
  lastFrameRecords = stats.records;
  frameTimes.push(stats.ms);
  if (frameTimes.length > 1000) frameTimes.splice(0, frameTimes.length - 1000);
  if (session && stats.records > postedRecords) {
    postedRecords = stats.records;
    // Records that all have time 0 (perf's synthesized status) give the timeline no end time.
    const newest = session.timeline.endTime;
    post({ type: 'drawn', records: stats.records, newestTime: Number.isNaN(newest) ? 0 : newest });
  }
  updateStatus();
};

view.onSelect = (selection: Selection | undefined) => {
  const tl = session?.timeline;
  if (!tl || !selection) {
    regions.clear('Select a record or a moment of a process to list its mappings then.');
    return;
  }
  regions.show(tl, selection.lane, selection.time, view.origin);
  announce.textContent = `Selected ${selection.lane.kind} ${selection.lane.kind === 'thread' ? selection.lane.tid : selection.lane.pid}; ${regions.listed} regions listed.`;
};

function updateStatus(): void {
  const s = session;
  if (!s) {
    status.textContent = 'No capture open.';
    return;
  }
  const tl = s.timeline;
  const threads = tl.lanes.length - 1 - tl.processes.length;
  const parts = [
    `${tl.count.toLocaleString('en-US')} records`,
    `${tl.statusOnly.toLocaleString('en-US')} status-only`,
    `${tl.lost.length} LOST (${tl.lostRecords.toLocaleString('en-US')} records lost)`,
    `${tl.processes.length} processes, ${threads} other threads`,
  ];
  if (s.hostStats) parts.push(`capture: ${s.hostStats.records.toLocaleString('en-US')} records, ${s.hostStats.statusRecords.toLocaleString('en-US')} status, ${s.hostStats.lost.toLocaleString('en-US')} lost`);
  parts.push(s.ended ?? (s.live ? 'live' : 'loading'));
  const text = parts.join(' · ');
  if (status.textContent !== text) status.textContent = text;
}

/** Says what went wrong once, in one banner, and tells the host; what was shown stays. */
function fail(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  post({ type: 'invalid', message });
  errors.push(message);
  banner.textContent = errors.length === 1 ? `Could not use a message from the extension: ${message}` : `Could not use ${errors.length} messages from the extension; the first: ${errors[0]}`;
  banner.hidden = false;
}

function open(message: Extract<HostMessage, { type: 'open' }>): void {
  const stream: StreamLayout = {
    attrs: message.events.map((e) => ({ attr: parseAttr(new Uint8Array(e.attr)), ids: e.ids.map((id) => BigInt(id)), ...(e.name === undefined ? {} : { name: e.name }) })),
  };
  const store = new RecordStore(stream, message.expectedBytes);
  const timeline = new Timeline(store.index);
  const jitdumps = new TimelineJitdumps(timeline, stream.attrs.map((a) => a.attr), requests, (problem) => jitCodeChanged(timeline, problem));
  session = { title: message.title, live: message.live, store, timeline, jitdumps, broken: false };
  errors = [];
  postedRecords = 0;
  banner.hidden = true;
  title.textContent = message.title;
  warnings.replaceChildren(...message.warnings.map((w) => el('div', { className: 'warning' }, w)));
  warnings.hidden = message.warnings.length === 0;
  regions.reset();
  view.setTimeline(session.timeline);
  updateStatus();
}

/** A jitdump placed code in `timeline`, or could not: the problem joins the warnings, and the view and the regions listed are drawn again. */
function jitCodeChanged(timeline: Timeline, problem: string | undefined): void {
  if (session?.timeline !== timeline) return;
  if (problem !== undefined) {
    warnings.append(el('div', { className: 'warning' }, problem));
    warnings.hidden = false;
  }
  view.requestDraw();
  if (view.selection) regions.show(timeline, view.selection.lane, view.selection.time, view.origin);
}

function handle(message: HostMessage): void {
  switch (message.type) {
    case 'open':
      open(message);
      return;
    case 'reply':
    case 'sourcesReply':
    case 'resolveReply':
    case 'jitdumpReply':
      requests.settle(message);
      return;
    case 'failed':
      // Nothing to show: the host says why, and how to fix it.
      session = undefined;
      view.setTimeline(undefined);
      banner.textContent = message.message;
      banner.hidden = false;
      updateStatus();
      return;
  }
  const s = session;
  if (!s) throw new ProtocolError(`'${message.type}' message before 'open'`);
  switch (message.type) {
    case 'records':
      if (s.broken) return;
      try {
        const end = message.offset + message.bytes.byteLength;
        s.store.append(message.offset, message.bytes);
        // Only a stored batch: after a refused one the host sends nothing more, as the view could place nothing.
        post({ type: 'stored', end });
      } finally {
        // What was indexed before a bad record is kept and shown.
        s.timeline.update(s.store.index);
        s.jitdumps.update();
        view.requestDraw();
      }
      return;
    case 'stats':
      s.hostStats = message.stats;
      updateStatus();
      return;
    case 'snapshot':
      view.snapshots.push(message.snapshot);
      view.requestDraw();
      return;
    case 'marker':
      view.markers.push({ time: message.time, kind: message.kind, label: message.label });
      view.requestDraw();
      return;
    case 'ended':
      s.store.end();
      s.timeline.update(s.store.index);
      s.jitdumps.end();
      s.ended = message.message || 'ended';
      if (message.fault) {
        banner.textContent = message.fault;
        banner.hidden = false;
      }
      updateStatus();
      return;
    case 'reveal': {
      const process = s.timeline.processAt(message.pid, message.time ?? Infinity);
      if (!process) return;
      view.reveal(process.lane, message.time);
      // Revealing the moment selected it and listed its regions: now the row.
      if (message.region !== undefined) regions.reveal(BigInt(`0x${message.region}`));
      return;
    }
  }
}

window.addEventListener('message', (event: MessageEvent) => {
  try {
    handle(parseHostMessage(event.data));
  } catch (error) {
    if (!(error instanceof ProtocolError || error instanceof RecordError || error instanceof StoreError)) throw error;
    if (session && !(error instanceof ProtocolError)) session.broken = true;
    fail(error);
  }
});

updateStatus();
post({ type: 'ready' });
