/// <reference lib="dom" />
// (Playwright's types, and the functions this file runs in the page, need the DOM's.)

// Runs the bundled webview (dist/webview.js and .css) in headless Chromium as
// VS Code would: served from its own origin under the same kind of
// Content-Security-Policy, with a fake acquireVsCodeApi that records what the
// webview posts. Streams are served as bytes and posted by the page in
// batches, as the host's messages, so megabytes never cross the CDP pipe.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Browser, Page, chromium } from 'playwright-core';
import { THEMES, ThemeName } from './themes';
import type { TimelineSink } from '../../node/timelineFeed';
import type { HostMessage } from '../../protocol/webview';

const ROOT = path.resolve(__dirname, '../../..');
const ORIGIN = 'https://webview.test';
const NONCE = 'c2lkZWJhbmQtdGVzdA';
const STREAM_PART = 4 << 20;

/** What VS Code's webviews allow, plus fetch from the page's own origin for the harness's streams. */
const CSP = `default-src 'none'; script-src 'nonce-${NONCE}'; style-src ${ORIGIN}; img-src ${ORIGIN} data:; connect-src ${ORIGIN}`;

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="stylesheet" href="${ORIGIN}/webview.css">
<script nonce="${NONCE}">
  window.__posted = [];
  window.acquireVsCodeApi = () => ({ postMessage: (m) => { window.__posted.push(m); window.__toHost(m); }, getState: () => undefined, setState: () => {} });
</script>
</head>
<body class="vscode-dark">
<script nonce="${NONCE}" src="${ORIGIN}/webview.js"></script>
</body>
</html>`;

export interface StreamEvents {
  attr: Uint8Array;
  ids: bigint[];
  /** perf's name of the event: how the index knows the mapping syscalls' samples. */
  name?: string;
}

/** A sink of the host's own file path (node/timelineFeed.ts) into a page; `delivered` settles once the page was posted everything so far. */
export interface PageSink extends TimelineSink {
  readonly delivered: Promise<void>;
}

export class WebviewPage {
  private readonly streams = new Map<string, Uint8Array>();
  private nextStream = 0;
  /** Who hears what the webview posts, as the host's onDidReceiveMessage. */
  private readonly hosts = new Set<(message: Record<string, unknown>) => void>();

  private constructor(
    readonly browser: Browser,
    readonly page: Page,
  ) {}

  /** A page fed a whole capture in batches of `batchBytes`, once all of it is drawn. */
  static async showing(events: StreamEvents[], capture: { bytes: Uint8Array; count: number }, batchBytes = capture.bytes.byteLength): Promise<WebviewPage> {
    const webview = await WebviewPage.open();
    await webview.open(events, capture.bytes.byteLength);
    await webview.sendRecords(capture.bytes, batchBytes);
    await webview.drawn(capture.count);
    return webview;
  }

  /** A page showing the webview, in the dark theme unless told otherwise. */
  static async open(options: { width?: number; height?: number; theme?: ThemeName } = {}): Promise<WebviewPage> {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--enable-precise-memory-info'] });
    const page = await browser.newPage({ viewport: { width: options.width ?? 1400, height: options.height ?? 720 }, deviceScaleFactor: 1 });
    const webview = new WebviewPage(browser, page);
    const js = fs.readFileSync(path.join(ROOT, 'dist/webview.js'));
    const css = fs.readFileSync(path.join(ROOT, 'dist/webview.css'));
    page.on('pageerror', (e) => process.stderr.write(`webview error: ${e.message}\n`));
    await page.exposeFunction('__toHost', (message: Record<string, unknown>) => webview.hosts.forEach((hear) => hear(message)));
    await page.route(`${ORIGIN}/**`, async (route) => {
      const url = new URL(route.request().url());
      const headers = { 'content-security-policy': CSP };
      if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: PAGE, headers });
      if (url.pathname === '/webview.js') return route.fulfill({ contentType: 'text/javascript', body: js, headers });
      if (url.pathname === '/webview.css') return route.fulfill({ contentType: 'text/css', body: css, headers });
      const stream = webview.streams.get(url.pathname);
      if (stream) {
        // In parts: one message of a hundred megabytes over the DevTools pipe brings the browser down.
        const part = Number(url.searchParams.get('part'));
        const bytes = stream.subarray(part * STREAM_PART, (part + 1) * STREAM_PART);
        return route.fulfill({ contentType: 'application/octet-stream', body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), headers });
      }
      return route.fulfill({ status: 404 });
    });
    await page.goto(`${ORIGIN}/`);
    await page.waitForFunction(() => (window as unknown as { __sidebandTimeline?: unknown }).__sidebandTimeline !== undefined);
    await webview.setTheme(options.theme ?? 'dark');
    return webview;
  }

  async close(): Promise<void> {
    await this.browser.close();
  }

  /** Sets the body class and the variables on <html>, as VS Code does on a theme change. */
  async setTheme(name: ThemeName): Promise<void> {
    const theme = THEMES[name];
    await this.page.evaluate(({ bodyClass, variables }) => {
      const root = document.documentElement;
      for (const property of Array.from(root.style)) if (property.startsWith('--vscode-')) root.style.removeProperty(property);
      for (const [name, value] of Object.entries(variables)) root.style.setProperty(name, value);
      document.body.classList.remove('vscode-light', 'vscode-dark', 'vscode-high-contrast');
      document.body.classList.add(bodyClass);
    }, theme);
  }

  /** Posts a host message; ArrayBuffer fields are given as byte arrays and made ArrayBuffers in the page. */
  async post(message: Record<string, unknown>, buffers: Record<string, Uint8Array> = {}): Promise<void> {
    const asArrays = Object.fromEntries(Object.entries(buffers).map(([k, v]) => [k, Array.from(v)]));
    await this.page.evaluate(
      ({ message, asArrays }) => {
        const m = { ...message } as Record<string, unknown>;
        for (const [k, v] of Object.entries(asArrays)) m[k] = new Uint8Array(v).buffer;
        window.postMessage(m, '*');
      },
      { message, asArrays },
    );
  }

  async open(events: StreamEvents[], expectedBytes: number, title = 'test capture', live = false, warnings: string[] = []): Promise<void> {
    await this.page.evaluate(
      ({ events, expectedBytes, title, live, warnings }) => {
        window.postMessage({ type: 'open', title, live, expectedBytes, warnings, events: events.map((e) => ({ attr: new Uint8Array(e.attr).buffer, ids: e.ids, ...(e.name === undefined ? {} : { name: e.name }) })) }, '*');
      },
      { events: events.map((e) => ({ attr: Array.from(e.attr), ids: e.ids.map(String), ...(e.name === undefined ? {} : { name: e.name }) })), expectedBytes, title, live, warnings },
    );
  }

  /**
   * Serves `bytes` and has the page post them as `records` messages of
   * `batchBytes` each (any size: records may span batches), transferred as
   * VS Code transfers ArrayBuffers. Resolves with performance.now() in the
   * page just before the first batch was posted.
   */
  async sendRecords(bytes: Uint8Array, batchBytes: number, startOffset = 0): Promise<number> {
    const name = `/stream/${this.nextStream++}`;
    this.streams.set(name, bytes);
    return this.page.evaluate(
      async ({ url, total, part, batchBytes, startOffset }) => {
        const all = new Uint8Array(total);
        for (let at = 0; at < total; at += part) all.set(new Uint8Array(await (await fetch(`${url}?part=${at / part}`)).arrayBuffer()), at);
        const batches: ArrayBuffer[] = [];
        for (let at = 0; at < all.byteLength; at += batchBytes) batches.push(all.slice(at, at + batchBytes).buffer);
        const began = performance.now();
        let offset = startOffset;
        for (const bytes of batches) {
          const length = bytes.byteLength; // transferring detaches it
          window.postMessage({ type: 'records', offset, bytes }, '*', [bytes]);
          offset += length;
        }
        return began;
      },
      { url: `${ORIGIN}${name}`, total: bytes.byteLength, part: STREAM_PART, batchBytes, startOffset },
    );
  }

  /**
   * A sink that posts the host's messages into the page in order, as
   * VS Code's webview.postMessage does (records through the harness's
   * streams), and hands the page's 'stored' acknowledgements to `stored`.
   */
  sink(stored: (end: number) => void): PageSink {
    this.hosts.add((message) => {
      if (message.type === 'stored') stored(message.end as number);
    });
    let delivered = Promise.resolve();
    const deliver = async (message: HostMessage): Promise<void> => {
      if (message.type === 'records') await this.sendRecords(new Uint8Array(message.bytes), message.bytes.byteLength, message.offset);
      else if (message.type === 'open')
        await this.open(
          message.events.map((e) => ({ attr: new Uint8Array(e.attr), ids: e.ids.map(BigInt), ...(e.name === undefined ? {} : { name: e.name }) })),
          message.expectedBytes,
          message.title,
          message.live,
          message.warnings,
        );
      else await this.post(message as unknown as Record<string, unknown>);
    };
    return {
      post: (message) => {
        delivered = delivered.then(() => deliver(message));
      },
      get delivered() {
        return delivered;
      },
    };
  }

  /** What the webview posted so far. */
  posted(): Promise<Array<Record<string, unknown>>> {
    return this.page.evaluate(() => (window as unknown as { __posted: Array<Record<string, unknown>> }).__posted);
  }

  /** Waits until the webview has posted `count` messages of `type`, and returns them. */
  async postedOf(type: string, count = 1): Promise<Array<Record<string, unknown>>> {
    await this.page.waitForFunction(({ type, count }) => (window as unknown as { __posted: Array<{ type: string }> }).__posted.filter((m) => m.type === type).length >= count, { type, count });
    return (await this.posted()).filter((m) => m.type === type);
  }

  /** Reads the page's test hook; `read` runs in the page, so it can use nothing from the test's scope. */
  hook<T>(read: (hook: Hook) => T): Promise<T> {
    return this.page.evaluate(`(${read.toString()})(window.__sidebandTimeline)`) as Promise<T>;
  }

  /** Where record `i` is drawn, in page coordinates; fails when it is not in view. */
  async position(i: number): Promise<{ x: number; y: number }> {
    const at = await this.page.evaluate((i) => (window as unknown as { __sidebandTimeline: Hook }).__sidebandTimeline.recordPosition(i), i);
    if (!at) throw new Error(`record ${i} is not in view`);
    return at;
  }

  /** Waits until a frame has been drawn with `records` indexed (and the frame after any later change). */
  async drawn(records: number): Promise<void> {
    await this.page.waitForFunction((n) => {
      const h = (window as unknown as { __sidebandTimeline: Hook }).__sidebandTimeline;
      return h.recordsIndexed === n && h.lastFrameRecords === n;
    }, records);
    await this.nextFrame();
  }

  /** Resolves after the page has drawn the next animation frame. */
  async nextFrame(): Promise<void> {
    await this.page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  }

  async screenshot(file: string): Promise<void> {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await this.page.screenshot({ path: file });
  }

  /** RGBA of the timeline canvas at CSS pixel (x, y) of the page. */
  pixel(x: number, y: number): Promise<number[]> {
    return this.page.evaluate(
      ({ x, y }) => {
        const canvas = document.getElementById('timeline') as HTMLCanvasElement;
        const box = canvas.getBoundingClientRect();
        const scale = canvas.width / box.width;
        const data = canvas.getContext('2d')!.getImageData(Math.round((x - box.left) * scale), Math.round((y - box.top) * scale), 1, 1).data;
        return Array.from(data);
      },
      { x, y },
    );
  }
}

/** The webview's test hook, as documented in webview/main.ts. */
export interface Hook {
  recordsIndexed: number;
  statusIndexed: number;
  statusDrawn: number;
  realDrawn: number;
  lostDrawn: number;
  lanes: number;
  regionsListed: number;
  endedListed: number;
  sourcesListed: number;
  resolvedFrames: number;
  frames: number;
  lastFrameMs: number;
  lastFrameAt: number;
  lastFrameRecords: number;
  frameTimes: number[];
  view: { start: number; end: number; firstRow: number };
  recordPosition(i: number): { x: number; y: number } | null;
  lifetimeBands(): Array<{ filename: string; ended: string; x: number; y: number }>;
  heldBytes(): number;
}

export const RESULTS_DIR = path.join(ROOT, 'test-results', 'webview');
