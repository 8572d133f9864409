// The regions panel: what the selected process had mapped at the selected
// moment, one table row per region, from Timeline.regionsAt. Files are
// described by the host (build-id, whether they are in the workspace) and
// linked when they can be opened. Text from the traced program goes into
// textContent only.

import { Lane, Region, Timeline, protString } from '../native/lib/timeline';
import { relativeTime } from './details';
import { el } from './dom';
import type { FileInfo, Requests, WebviewMessage } from './protocol';

/** Rows beyond this are counted, not listed: a table of thousands helps nobody and costs layout. */
const MAX_ROWS = 500;

const COLUMNS = ['Address (hex)', 'Perm', 'Offset', 'File', 'Build-id', 'Origin'];

export class RegionsPanel {
  readonly element: HTMLElement;
  private readonly subtitle: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly more: HTMLElement;
  private readonly files = new Map<string, FileInfo>();
  private readonly asked = new Set<string>();
  private shown: { timeline: Timeline; lane: Lane; time: number; origin: number } | undefined;
  /** Rows in the table now. */
  listed = 0;

  constructor(
    private readonly requests: Requests,
    private readonly post: (message: WebviewMessage) => void,
  ) {
    this.element = el('section', { id: 'regions-pane' });
    this.element.setAttribute('aria-labelledby', 'regions-title');
    const title = el('h2', { id: 'regions-title' }, 'Regions');
    this.subtitle = el('p', { id: 'regions-subtitle' }, 'Select a record or a moment of a process to list its mappings then.');
    const table = el('table', { id: 'regions' }) as HTMLTableElement;
    const head = table.createTHead().insertRow();
    for (const name of COLUMNS) head.append(el('th', { scope: 'col' }, name));
    this.body = table.createTBody();
    this.more = el('p', { className: 'more' });
    this.more.hidden = true;
    this.element.append(title, this.subtitle, table, this.more);
  }

  /** Forgets files described for an earlier stream. */
  reset(): void {
    this.files.clear();
    this.asked.clear();
    this.clear('Select a record or a moment of a process to list its mappings then.');
  }

  clear(message: string): void {
    this.shown = undefined;
    this.subtitle.textContent = message;
    this.body.replaceChildren();
    this.more.hidden = true;
    this.listed = 0;
  }

  show(timeline: Timeline, lane: Lane, time: number, origin: number): void {
    if (!lane.process) {
      this.clear('LOST and FINISHED_INIT records belong to no process.');
      return;
    }
    this.shown = { timeline, lane, time, origin };
    const regions = timeline.regionsAt(lane.pid, time);
    const comm = timeline.commAt(lane.process.lane, time);
    this.subtitle.textContent = `${comm || 'process'} (pid ${lane.pid}) at ${relativeTime(time, origin)}: ${regions.length} region${regions.length === 1 ? '' : 's'}`;
    const rows = regions.slice(0, MAX_ROWS).map((r) => this.row(r));
    this.body.replaceChildren(...rows);
    this.listed = rows.length;
    this.more.hidden = regions.length <= MAX_ROWS;
    this.more.textContent = `${regions.length - MAX_ROWS} more regions not listed`;
    this.describe(regions.slice(0, MAX_ROWS).map((r) => r.filename));
  }

  private row(r: Region): HTMLTableRowElement {
    const tr = el('tr', { className: `region ${r.statusOnly ? 'status-only' : 'real'}` }) as HTMLTableRowElement;
    const info = this.files.get(r.filename);
    // The file's name, which is what tells regions apart; its title has the whole path.
    const file = el('td', { className: 'file', title: r.filename });
    const name = r.filename.startsWith('/') ? r.filename.slice(r.filename.lastIndexOf('/') + 1) : r.filename || '(anonymous)';
    if (info?.inWorkspace) {
      const link = el('a', { href: '#', className: 'file-link', title: `Open ${r.filename}` }, name);
      link.addEventListener('click', (e) => {
        e.preventDefault();
        this.post({ type: 'openFile', path: r.filename });
      });
      file.append(link);
    } else {
      file.textContent = name;
    }
    const buildId = r.buildId ?? info?.buildId;
    const origin = el('td', { className: 'origin' });
    origin.append(
      el('span', { className: r.statusOnly ? 'glyph status' : 'glyph real', ariaHidden: 'true' }, r.statusOnly ? '◇' : '●'),
      r.statusOnly ? `status · ${r.provenance === 'proc' ? '/proc' : 'ioctl'}` : r.provenance === 'synthesized' ? 'perf synthesized' : 'real',
    );
    if (r.inheritedFrom !== undefined) origin.append(el('span', { className: 'inherited' }, ` · from ${r.inheritedFrom}`));
    if (r.stale.length) origin.append(el('span', { className: 'stale', title: 'possibly stale' }, ` ! ${r.stale.join(', ')}`));
    tr.append(
      // As /proc/PID/maps writes them: hex without 0x.
      el('td', { className: 'addr', title: `${r.end - r.start} bytes` }, `${r.start.toString(16)}–${r.end.toString(16)}`),
      el('td', { className: 'prot' }, protString(r.prot, r.flags)),
      el('td', { className: 'pgoff' }, r.pgoff.toString(16)),
      file,
      el('td', { className: 'build-id', title: buildId ?? '' }, buildId ? buildId.slice(0, 12) : '—'),
      origin,
    );
    return tr;
  }

  /** Asks the host about files not asked about yet, and lists the regions again when it answers. */
  private describe(paths: string[]): void {
    const wanted = [...new Set(paths)].filter((path) => path.startsWith('/') && !this.asked.has(path));
    if (wanted.length === 0) return;
    for (const path of wanted) this.asked.add(path);
    void this.requests.describeFiles(wanted).then((files) => {
      for (const info of files) this.files.set(info.path, info);
      const shown = this.shown;
      if (shown) this.show(shown.timeline, shown.lane, shown.time, shown.origin);
    });
  }
}
