// The timeline webview as the e2e tests read it: its test hook
// (webview/main.ts), its records on screen, its regions panel; and which
// processes run, from /proc, the oracle the tests hold it to.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Frame } from 'playwright-core';

export interface TimelineHook {
  recordsIndexed: number;
  statusDrawn: number;
  realDrawn: number;
  regionsListed: number;
  markers: number;
  snapshots: number;
  lanes: number;
}

/** The timeline's test hook (webview/main.ts), read in its frame. */
export function hook(frame: Frame): Promise<TimelineHook> {
  return frame.evaluate(() => {
    const h = (window as unknown as { __sidebandTimeline: TimelineHook }).__sidebandTimeline;
    return { recordsIndexed: h.recordsIndexed, statusDrawn: h.statusDrawn, realDrawn: h.realDrawn, regionsListed: h.regionsListed, markers: h.markers, snapshots: h.snapshots, lanes: h.lanes };
  });
}

export async function waitForHook(frame: Frame, what: string, ok: (h: TimelineHook) => boolean, timeoutMs = 60_000): Promise<TimelineHook> {
  const deadline = Date.now() + timeoutMs;
  let last: TimelineHook | undefined;
  while (Date.now() < deadline) {
    last = await hook(frame).catch(() => undefined);
    if (last && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`e2e: the timeline did not show ${what} within ${timeoutMs} ms; it had ${JSON.stringify(last)}`);
}

/** Pids of the processes, from /proc, whose command line (and whatever else `match` reads of them) matches. */
export function pidsWhere(match: (pid: number, cmdline: string) => boolean): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => {
      try {
        return match(pid, fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      } catch {
        return false; // gone meanwhile
      }
    });
}

/** Selects the newest record of `pid` that is on screen by clicking its mark, so the regions panel lists that process then. */
export async function selectNewestRecordOf(frame: Frame, pid: number): Promise<void> {
  const position = await frame.evaluate((pid) => {
    const h = (window as unknown as { __sidebandTimeline: { recordsIndexed: number; recordPid(i: number): number; recordPosition(i: number): { x: number; y: number } | null } }).__sidebandTimeline;
    for (let i = h.recordsIndexed - 1; i >= 0; i--) {
      if (h.recordPid(i) !== pid) continue;
      const at = h.recordPosition(i);
      if (at) return at;
    }
    return null;
  }, pid);
  assert.ok(position, `a record of pid ${pid} is on screen`);
  const canvas = frame.locator('#timeline');
  const box = await canvas.boundingBox();
  assert.ok(box);
  await canvas.click({ position: { x: position.x - (await canvas.evaluate((c) => c.getBoundingClientRect().left)), y: position.y - (await canvas.evaluate((c) => c.getBoundingClientRect().top)) } });
}

/** Expands the executable region of `file`, and returns the source files it lists once they arrive. */
export async function expandRegion(frame: Frame, file: string): Promise<string[]> {
  const row = frame.locator('#regions tr.region', { hasText: file }).filter({ has: frame.locator('td.prot', { hasText: /^r-x/ }) }).first();
  await row.locator('button.toggle').click();
  const items = frame.locator('#regions tr.sources li.source-file');
  await items.first().waitFor({ state: 'visible', timeout: 30_000 });
  return items.evaluateAll((nodes) => nodes.map((n) => (n.textContent ?? '').trim()));
}

export async function regionRows(frame: Frame): Promise<Array<{ text: string; statusOnly: boolean }>> {
  // The cells' own text, tab-separated: innerText puts tabs between cells only while the frame is laid out.
  return frame.locator('#regions tr.region').evaluateAll((rows) =>
    rows.map((r) => ({ text: [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim()).join('\t'), statusOnly: r.classList.contains('status-only') })),
  );
}
