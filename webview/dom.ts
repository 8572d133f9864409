// Building the page's elements: properties and text only, never markup, so
// strings from the traced program cannot become elements.

import { type WebviewMessage } from '../protocol/webview';

/** An element with properties set and text (never markup) inside. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<Record<string, string>> = {}, text?: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (key === 'ariaHidden') element.setAttribute('aria-hidden', value);
    else if (key === 'className' || key === 'id' || key === 'title' || key === 'href') (element as unknown as Record<string, string>)[key] = value;
    else element.setAttribute(key, value);
  }
  if (text !== undefined) element.textContent = text;
  return element;
}

/**
 * A link that asks the host to open a file rather than navigating. `focus`,
 * when given, names it among the regions table's controls, so that the table,
 * listed again, gives the focus back to it.
 */
export function openLink(text: string, title: string, message: Extract<WebviewMessage, { type: 'openFile' }>, post: (message: WebviewMessage) => void, className: string, focus?: string): HTMLAnchorElement {
  const link = el('a', { href: '#', className, title, 'data-focus': focus }, text);
  link.addEventListener('click', (e) => {
    e.preventDefault();
    post(message);
  });
  return link;
}
