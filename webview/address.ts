// The address field of the regions panel: an address of the selected process
// at the selected moment, resolved by the host to functions and source lines.
// The region that holds it is found here, so an unmapped address is answered
// without asking; the host names the region back, since the file and its
// offset are what it reads debug info by.

import { parseAddress, type Region } from '../core/timeline';
import { el, openLink } from './dom';
import { type AddressResolution, type Requests, type WebviewMessage, type WireFileRead, type WireFrame, wireRegion } from '../protocol/webview';

const PLACEHOLDER = 'Address, hex';
const DISABLED_PLACEHOLDER = 'Select a process to resolve an address';

/** What an address is looked up in: the regions of one process at one moment. */
export interface AddressContext {
  pid: number;
  regions: Region[];
}

export class AddressField {
  readonly element: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly button: HTMLButtonElement;
  private readonly error: HTMLElement;
  private readonly answer: HTMLElement;
  private context: AddressContext | undefined;
  /** Counts the questions asked: only the answer to the last one is shown. */
  private asked = 0;
  /** Frames in the answer shown. */
  resolvedFrames = 0;

  constructor(
    private readonly requests: Requests,
    private readonly post: (message: WebviewMessage) => void,
  ) {
    const form = el('form', { id: 'address-form', role: 'search', 'aria-label': 'Resolve an address' });
    const label = el('label', { for: 'address', className: 'visually-hidden' }, 'Address to resolve, in hex');
    this.input = el('input', { id: 'address', type: 'text', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'address-error' });
    this.button = el('button', { id: 'address-resolve', type: 'submit' }, 'Resolve');
    this.error = el('p', { id: 'address-error', className: 'error' });
    this.error.hidden = true;
    this.answer = el('div', { id: 'address-answer', 'aria-live': 'polite' });
    form.append(label, this.input, this.button);
    // Enter in the field submits the form; nothing is sent anywhere but to the host.
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.resolve();
    });
    this.input.addEventListener('input', () => this.setError(undefined));
    this.element = el('div', { id: 'address-pane' });
    this.element.append(form, this.error, this.answer);
    this.setProcess(undefined);
  }

  /** The process whose addresses are resolved; none disables the field. The last answer stays until the next question. */
  setProcess(context: AddressContext | undefined): void {
    this.context = context;
    this.input.disabled = this.button.disabled = context === undefined;
    this.input.placeholder = context ? PLACEHOLDER : DISABLED_PLACEHOLDER;
    this.input.title = context ? `An address of pid ${context.pid} at the selected moment, in hex, with or without 0x; Enter resolves it` : DISABLED_PLACEHOLDER;
  }

  /** Forgets the answer of an earlier stream, and drops any still to come. */
  reset(): void {
    this.asked++;
    this.resolvedFrames = 0;
    this.answer.replaceChildren();
    this.setError(undefined);
  }

  private resolve(): void {
    const context = this.context;
    if (!context) return;
    const text = this.input.value.trim();
    const address = parseAddress(text);
    if (address === undefined) {
      this.setError(text ? `“${text}” is not an address: write hex digits, as /proc/PID/maps does (7f3a12b4c000), with or without 0x.` : 'Type an address in hex, as /proc/PID/maps writes it (7f3a12b4c000), with or without 0x.');
      return;
    }
    this.setError(undefined);
    const asked = ++this.asked;
    this.resolvedFrames = 0;
    const hex = address.toString(16);
    const holding = context.regions.filter((r) => r.start <= address && address < r.end);
    // JIT code lies inside the anonymous mapping that holds it: its jitdump's name says more.
    const region = holding.find((r) => r.provenance === 'jitdump') ?? holding[0];
    if (!region) {
      this.answer.replaceChildren(el('p', { className: 'unmapped' }, `0x${hex} is not mapped in pid ${context.pid} at that moment.`));
      return;
    }
    const heading = this.heading(address, region, context.pid);
    if (region.jitdump) {
      this.show(heading, { frames: [{ function: region.filename, inWorkspace: false, exists: false }], backend: `JIT code named by ${region.jitdump}` });
      return;
    }
    // The button stays enabled: an answer that never comes is asked for again by resolving again.
    this.answer.replaceChildren(heading, el('p', { className: 'waiting' }, 'Resolving…'));
    void this.requests.resolveAddress(context.pid, hex, wireRegion(region)).then((resolution) => {
      if (asked === this.asked) this.show(heading, resolution);
    });
  }

  /** Where the address is: the region's file (or what it is, if no file) and the offset in it the host looks up. */
  private heading(address: bigint, region: Region, pid: number): HTMLElement {
    const name = region.filename || '(anonymous)';
    const where = region.filename.startsWith('/') ? `, file offset 0x${(address - region.start + region.pgoff).toString(16)}` : '';
    return el('p', { className: 'address-heading', title: `region ${region.start.toString(16)}–${region.end.toString(16)}` }, `0x${address.toString(16)} in ${name} (pid ${pid}${where})`);
  }

  private show(heading: HTMLElement, resolution: AddressResolution): void {
    const parts: HTMLElement[] = [heading];
    if (resolution.error !== undefined) parts.push(el('p', { className: 'error' }, resolution.error));
    if (resolution.frames.length) {
      const list = el('ol', { className: 'frames', 'aria-label': 'Functions at the address, innermost first' });
      list.append(...resolution.frames.map((frame, k) => this.frame(frame, k)));
      parts.push(list);
    } else if (resolution.error === undefined) {
      parts.push(el('p', { className: 'error' }, 'No function covers this address.'));
    }
    if (resolution.read) parts.push(fileReadLine(resolution.read));
    parts.push(el('p', { className: 'backend' }, resolution.backend));
    this.resolvedFrames = resolution.frames.length;
    this.answer.replaceChildren(...parts);
  }

  /** One frame: the function, then its file:line, a link when the file is there to open. Frames after the first are the ones the previous is inlined into. */
  private frame(frame: WireFrame, k: number): HTMLLIElement {
    const item = el('li', { className: 'frame' });
    if (k > 0) item.append(el('span', { className: 'inlined' }, 'inlined into '));
    item.append(el('span', { className: 'function' }, frame.function), ' ');
    if (frame.file === undefined) {
      item.append(el('span', { className: 'no-source' }, 'no source line'));
      return item;
    }
    const place = frame.line === undefined ? frame.file : `${frame.file}:${frame.line}`;
    const title = `${frame.file}${frame.line === undefined ? '' : `, line ${frame.line}`}${frame.column === undefined ? '' : `, column ${frame.column}`}`;
    if (frame.exists) {
      item.append(openLink(place, `Open ${title}`, frame.line === undefined ? { type: 'openFile', path: frame.file } : { type: 'openFile', path: frame.file, line: frame.line }, this.post, 'source-link'));
    } else {
      item.append(el('span', { className: 'source', title: `${title}: not on this machine` }, place));
    }
    return item;
  }

  private setError(message: string | undefined): void {
    this.error.hidden = message === undefined;
    this.error.textContent = message ?? '';
    this.input.setAttribute('aria-invalid', String(message !== undefined));
  }
}

/** Which file an answer was read from: in a container, a region's path may name another file here. */
export function fileReadLine(read: WireFileRead): HTMLElement {
  return el('p', { className: 'read-from' }, `Read from ${read.path}${read.via ? `: ${read.via}` : ''}`);
}
