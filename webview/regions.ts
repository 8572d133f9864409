// The regions panel: what the selected process had mapped at the selected
// moment, one table row per region, from Timeline.regionsAt; with "Show
// ended", below them, greyed, those that ended before it (endedRegionsAt),
// each with when and how it ended. Files are
// described by the host (build-id, whether they are in the workspace) and
// linked when they can be opened. A file-backed region expands to the source
// files of the part of the file it maps, which the host reads from the
// file's debug info. Text from the traced program, and from the host about
// it, goes into textContent only.

import { EndedRegion, Lane, Region, Timeline, protString } from '../core/timeline';
import { endedWords } from '../core/regionEnd';
import { AddressField, fileReadLine } from './address';
import { relativeTime } from './details';
import { el, openLink } from './dom';
import { type FileInfo, type RegionSources, type Requests, type WebviewMessage, wireRegion } from '../protocol/webview';

/** Rows beyond this are counted, not listed: a table of thousands helps nobody and costs layout. */
const MAX_ROWS = 500;
/** Source files of one region beyond this are counted, not listed: libc alone has over a thousand. */
const MAX_SOURCE_FILES = 200;

const COLUMNS = ['Address (hex)', 'Perm', 'Offset', 'File', 'Build-id', 'Origin'];

const NOTHING_SELECTED = 'Select a record or a moment of a process to list its mappings then.';

/** A region the host can read debug info for: anonymous memory and [heap], [stack], ... have none. */
const fileBacked = (r: Region): boolean => r.provenance !== 'jitdump' && r.filename.startsWith('/');

/** A part of a file, in a process: the same path can name another file in another process's mount namespace. */
const sourcesKey = (pid: number, r: Region): string => `${pid}\n${r.filename}\n${r.pgoff}\n${r.start}`;

/** What the table shows: regions of one process at one moment. */
interface Shown {
  timeline: Timeline;
  lane: Lane;
  time: number;
  origin: number;
  regions: Region[];
  /** Those that ended before `time`, latest end first: listed only while "Show ended" is checked. */
  ended: EndedRegion[];
}

export class RegionsPanel {
  readonly element: HTMLElement;
  readonly address: AddressField;
  private readonly subtitle: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly more: HTMLElement;
  private readonly showEnded: HTMLInputElement;
  private readonly files = new Map<string, FileInfo>();
  private readonly asked = new Set<string>();
  /** The host's answers, by sourcesKey. */
  private readonly sources = new Map<string, RegionSources>();
  /** Asked and not answered yet, by sourcesKey: not asked again while the row waits. */
  private readonly askingSources = new Set<string>();
  /** Rows expanded to their source files, by sourcesKey: they stay so as the selection moves. */
  private readonly expanded = new Set<string>();
  /** The start of the row the host revealed, until the next selection. */
  private revealed: bigint | undefined;
  private shown: Shown | undefined;
  /** Rows of regions mapped at the moment in the table now. */
  listed = 0;
  /** Rows of regions that ended before it. */
  endedListed = 0;
  /** Source file rows in the table now. */
  sourcesListed = 0;

  constructor(
    private readonly requests: Requests,
    private readonly post: (message: WebviewMessage) => void,
  ) {
    this.element = el('section', { id: 'regions-pane' });
    this.element.setAttribute('aria-labelledby', 'regions-title');
    const title = el('h2', { id: 'regions-title' }, 'Regions');
    this.subtitle = el('p', { id: 'regions-subtitle' }, NOTHING_SELECTED);
    this.address = new AddressField(requests, post);
    this.showEnded = el('input', { type: 'checkbox', id: 'regions-show-ended' }) as HTMLInputElement;
    this.showEnded.addEventListener('change', () => {
      const shown = this.shown;
      if (shown) this.show(shown.timeline, shown.lane, shown.time, shown.origin);
    });
    const showEnded = el('label', { id: 'regions-show-ended-label', title: 'Also list, greyed, the regions this process had mapped before this moment, with when and how each ended' });
    showEnded.append(this.showEnded, ' Show ended');
    const table = el('table', { id: 'regions' }) as HTMLTableElement;
    const head = table.createTHead().insertRow();
    for (const name of COLUMNS) head.append(el('th', { scope: 'col' }, name));
    this.body = table.createTBody();
    this.more = el('p', { className: 'more' });
    this.more.hidden = true;
    this.element.append(title, this.subtitle, showEnded, this.address.element, table, this.more);
  }

  /** Forgets what the host said about files of an earlier stream. */
  reset(): void {
    this.files.clear();
    this.asked.clear();
    this.sources.clear();
    this.askingSources.clear();
    this.expanded.clear();
    this.address.reset();
    this.clear(NOTHING_SELECTED);
  }

  clear(message: string): void {
    this.shown = undefined;
    this.revealed = undefined;
    this.address.setProcess(undefined);
    this.subtitle.textContent = message;
    this.body.replaceChildren();
    this.more.hidden = true;
    this.listed = 0;
    this.endedListed = 0;
    this.sourcesListed = 0;
  }

  show(timeline: Timeline, lane: Lane, time: number, origin: number): void {
    if (!lane.process) {
      this.clear('LOST and FINISHED_INIT records belong to no process.');
      return;
    }
    const regions = timeline.regionsAt(lane.pid, time);
    const ended = this.showEnded.checked ? timeline.endedRegionsAt(lane.pid, time) : [];
    this.shown = { timeline, lane, time, origin, regions, ended };
    this.revealed = undefined;
    this.address.setProcess({ pid: lane.pid, regions });
    this.render();
    this.describe([...regions, ...ended].slice(0, MAX_ROWS).map((r) => r.filename));
  }

  /** Selects the listed region that starts at `start`, scrolls to it and lists its source files. */
  reveal(start: bigint): void {
    const shown = this.shown;
    if (!shown) return;
    this.revealed = start;
    const region = shown.regions.slice(0, MAX_ROWS).find((r) => r.start === start);
    if (region && fileBacked(region)) this.expand(region);
    this.render();
    this.body.querySelector('tr.revealed')?.scrollIntoView({ block: 'nearest' });
  }

  /** Lists the shown regions again, keeping the focus on the control that had it. */
  private render(): void {
    const shown = this.shown;
    if (!shown) return;
    const { regions, ended, timeline, lane, time, origin } = shown;
    const focused = document.activeElement instanceof HTMLElement && this.body.contains(document.activeElement) ? document.activeElement.dataset.focus : undefined;
    const comm = lane.process ? timeline.commAt(lane.process.lane, time) : '';
    const listed = regions.slice(0, MAX_ROWS);
    const unrevealed = this.revealed !== undefined && !listed.some((r) => r.start === this.revealed) ? `; none listed starts at ${this.revealed.toString(16)}` : '';
    // The rows left after the mapped ones go to those that ended, latest first.
    const endedListed = ended.slice(0, MAX_ROWS - listed.length);
    const endedCount = this.showEnded.checked ? `, ${ended.length} ended before` : '';
    this.subtitle.textContent = `${comm || 'process'} (pid ${lane.pid}) at ${relativeTime(time, origin)}: ${regions.length} region${regions.length === 1 ? '' : 's'}${endedCount}${unrevealed}`;
    this.sourcesListed = 0;
    this.body.replaceChildren(...listed.flatMap((r) => this.rows(r)), ...endedListed.flatMap((r) => this.rows(r, origin)));
    this.listed = listed.length;
    this.endedListed = endedListed.length;
    const unlisted = regions.length + ended.length - listed.length - endedListed.length;
    this.more.hidden = unlisted === 0;
    this.more.textContent = `${unlisted} more regions not listed`;
    if (focused !== undefined) Array.from(this.body.querySelectorAll<HTMLElement>('[data-focus]')).find((e) => e.dataset.focus === focused)?.focus();
  }

  /** The region's row, and below it its source files when it is expanded; an ended region's row, greyed, says how it ended (`origin`: the capture's start, for its moments). */
  private rows(r: Region | EndedRegion, origin?: number): HTMLTableRowElement[] {
    const ended = 'ended' in r && origin !== undefined ? endedWords(r.ended, (t) => relativeTime(t, origin)) : undefined;
    // Ended rows are not tr.region: what counts the mapped regions (tests, screen-reader summaries) leaves them out.
    const tr = el('tr', { className: `${ended ? 'ended-region' : 'region'} ${r.statusOnly ? 'status-only' : 'real'}` }) as HTMLTableRowElement;
    if (r.start === this.revealed) {
      tr.classList.add('revealed');
      tr.setAttribute('aria-current', 'true');
    }
    const info = this.files.get(r.filename);
    // The file's name, which is what tells regions apart; its title has the whole path.
    const file = el('td', { className: 'file', title: r.jitdump ? `${r.filename}, JIT code from ${r.jitdump}` : r.filename });
    const name = fileBacked(r) ? r.filename.slice(r.filename.lastIndexOf('/') + 1) : r.filename || '(anonymous)';
    const key = this.keyOf(r);
    const expanded = this.expanded.has(key);
    const sourcesId = `sources-${r.start.toString(16)}`;
    if (fileBacked(r)) {
      // The chevron is drawn by CSS, so the cell's text stays the file's name.
      const toggle = el('button', { type: 'button', className: 'toggle', 'aria-expanded': String(expanded), 'aria-label': `Source files of ${name}`, title: expanded ? 'Hide source files' : 'Show source files', 'data-focus': `toggle ${key}` });
      if (expanded) toggle.setAttribute('aria-controls', sourcesId);
      toggle.addEventListener('click', () => this.toggle(r));
      file.append(toggle);
    }
    file.append(info?.inWorkspace ? openLink(name, `Open ${r.filename}`, { type: 'openFile', path: r.filename }, this.post, 'file-link', `file ${key}`) : name);
    const buildId = r.buildId ?? info?.buildId;
    const originCell = el('td', { className: 'origin' });
    originCell.append(
      el('span', { className: r.statusOnly ? 'glyph status' : 'glyph real', ariaHidden: 'true' }, r.statusOnly ? '◇' : '●'),
      r.statusOnly ? `status · ${r.provenance === 'proc' ? '/proc' : 'ioctl'}` : r.provenance === 'synthesized' ? 'perf synthesized' : r.provenance === 'jitdump' ? 'jitdump' : 'real',
    );
    if (r.inheritedFrom !== undefined) originCell.append(el('span', { className: 'inherited' }, ` · from ${r.inheritedFrom}`));
    if (r.stale.length) originCell.append(el('span', { className: 'stale', title: 'possibly stale' }, ` ! ${r.stale.join(', ')}`));
    if (ended) originCell.append(el('span', { className: 'ended' }, ` · ${ended}`));
    tr.append(
      // As /proc/PID/maps writes them: hex without 0x.
      el('td', { className: 'addr', title: `${r.end - r.start} bytes` }, `${r.start.toString(16)}–${r.end.toString(16)}`),
      el('td', { className: 'prot' }, protString(r.prot, r.flags)),
      el('td', { className: 'pgoff' }, r.pgoff.toString(16)),
      file,
      el('td', { className: 'build-id', title: buildId ?? '' }, buildId ? buildId.slice(0, 12) : '—'),
      originCell,
    );
    return expanded ? [tr, this.sourcesRow(r, name, sourcesId)] : [tr];
  }

  /** The row under an expanded region: its source files, what stops them being listed, or that they are on their way. */
  private sourcesRow(r: Region, name: string, id: string): HTMLTableRowElement {
    const tr = el('tr', { className: 'sources', id });
    const cell = el('td', { colspan: String(COLUMNS.length) });
    const group = el('div', { role: 'group', 'aria-label': `Source files of ${name}` });
    cell.append(group);
    tr.append(cell);
    const key = this.keyOf(r);
    const answer = this.sources.get(key);
    if (!answer) {
      group.setAttribute('aria-busy', 'true');
      group.append(el('p', { className: 'waiting' }, 'Reading debug info…'));
      return tr;
    }
    if (answer.missing !== undefined) {
      group.append(el('p', { className: 'missing' }, answer.missing));
    } else if (answer.files.length === 0) {
      group.append(el('p', { className: 'missing' }, 'No compile units cover this part of the file.'));
    } else {
      // The host sends workspace files first; sorting again (stably) keeps that true whatever it sends.
      const files = [...answer.files].sort((a, b) => Number(b.inWorkspace) - Number(a.inWorkspace));
      const listed = files.slice(0, MAX_SOURCE_FILES);
      const list = el('ul', { className: 'source-files' });
      list.append(
        ...listed.map((f) => {
          const item = el('li', { className: `source-file ${f.inWorkspace ? 'in-workspace' : 'elsewhere'}` });
          if (f.inWorkspace || f.exists) item.append(openLink(f.path, `Open ${f.path}`, { type: 'openFile', path: f.path }, this.post, 'source-link', `source ${key}\n${f.path}`));
          else item.append(el('span', { title: `${f.path} is not on this machine` }, f.path));
          return item;
        }),
      );
      group.append(list);
      if (files.length > listed.length) group.append(el('p', { className: 'more' }, `${files.length - listed.length} more source files not listed`));
      this.sourcesListed += listed.length;
    }
    if (answer.read) group.append(fileReadLine(answer.read));
    group.append(el('p', { className: 'backend' }, answer.backend));
    return tr;
  }

  private toggle(r: Region): void {
    const key = this.keyOf(r);
    if (this.expanded.delete(key)) {
      // Forgets a request the host has not answered, so that expanding again asks again.
      this.askingSources.delete(key);
    } else {
      this.expand(r);
    }
    this.render();
  }

  /** The region's sourcesKey in the process shown. */
  private keyOf(r: Region): string {
    return sourcesKey(this.shown?.lane.pid ?? 0, r);
  }

  /** Marks the region expanded, and asks the host for its source files unless it answered or is being asked. */
  private expand(r: Region): void {
    const pid = this.shown?.lane.pid;
    if (pid === undefined) return;
    const key = sourcesKey(pid, r);
    this.expanded.add(key);
    if (this.sources.has(key) || this.askingSources.has(key)) return;
    this.askingSources.add(key);
    void this.requests.regionSources(pid, wireRegion(r)).then((answer) => {
      this.askingSources.delete(key);
      this.sources.set(key, answer);
      this.render();
    });
  }

  /** Asks the host about files not asked about yet, and lists the regions again when it answers. */
  private describe(paths: string[]): void {
    const wanted = [...new Set(paths)].filter((path) => path.startsWith('/') && !this.asked.has(path));
    if (wanted.length === 0) return;
    for (const path of wanted) this.asked.add(path);
    void this.requests.describeFiles(wanted).then((files) => {
      for (const info of files) this.files.set(info.path, info);
      this.render();
    });
  }
}
