// The hover tooltip: a record's lines, as text, beside the pointer and kept
// inside the window.

export class Tooltip {
  constructor(private readonly element: HTMLElement) {}

  /** Shows `lines` (the first as the title) near client position x, y: below and right, else above where there is no room below. */
  show(lines: readonly string[], clientX: number, clientY: number): void {
    const tip = this.element;
    tip.replaceChildren(
      ...lines.map((line, k) => {
        const div = document.createElement('div');
        div.textContent = line;
        if (k === 0) div.className = 'tip-title';
        return div;
      }),
    );
    tip.hidden = false;
    const box = tip.getBoundingClientRect();
    tip.style.left = `${Math.min(clientX + 14, window.innerWidth - box.width - 4)}px`;
    tip.style.top = `${clientY + 16 + box.height > window.innerHeight ? clientY - box.height - 8 : clientY + 16}px`;
  }

  hide(): void {
    this.element.hidden = true;
  }
}
