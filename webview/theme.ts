// The colors and fonts the canvas draws with, read from the --vscode-* CSS
// variables VS Code sets on the page, and read again when the theme changes
// (VS Code swaps the body's vscode-light / vscode-dark / vscode-high-contrast
// classes and the variables with them). No color is invented here: each role
// falls back to another VS Code variable, never to a literal.

export interface Palette {
  background: string;
  foreground: string;
  muted: string;
  border: string;
  grid: string;
  focus: string;
  /** Outline around marks in high contrast themes; empty in the others. */
  contrast: string;
  selection: string;
  blue: string;
  orange: string;
  green: string;
  red: string;
  purple: string;
  yellow: string;
  font: string;
  monoFont: string;
  fontSize: number;
}

/** Each role's variables, first set wins. */
const ROLES: Record<Exclude<keyof Palette, 'font' | 'monoFont' | 'fontSize'>, string[]> = {
  background: ['--vscode-editor-background', '--vscode-panel-background', '--vscode-sideBar-background'],
  foreground: ['--vscode-editor-foreground', '--vscode-foreground'],
  muted: ['--vscode-descriptionForeground', '--vscode-disabledForeground', '--vscode-foreground'],
  border: ['--vscode-contrastBorder', '--vscode-panel-border', '--vscode-widget-border', '--vscode-descriptionForeground'],
  grid: ['--vscode-charts-lines', '--vscode-editorIndentGuide-background', '--vscode-panel-border', '--vscode-descriptionForeground'],
  focus: ['--vscode-focusBorder', '--vscode-contrastActiveBorder', '--vscode-foreground'],
  contrast: ['--vscode-contrastBorder'],
  selection: ['--vscode-editor-selectionBackground', '--vscode-list-activeSelectionBackground', '--vscode-focusBorder'],
  blue: ['--vscode-charts-blue', '--vscode-foreground'],
  orange: ['--vscode-charts-orange', '--vscode-foreground'],
  green: ['--vscode-charts-green', '--vscode-foreground'],
  red: ['--vscode-charts-red', '--vscode-errorForeground', '--vscode-foreground'],
  purple: ['--vscode-charts-purple', '--vscode-foreground'],
  yellow: ['--vscode-charts-yellow', '--vscode-foreground'],
};

export function readPalette(element: HTMLElement = document.body): Palette {
  const style = getComputedStyle(element);
  const read = (names: string[]): string => {
    for (const name of names) {
      const value = style.getPropertyValue(name).trim();
      if (value) return value;
    }
    return '';
  };
  const palette = {} as Palette;
  // Outside VS Code (no variables at all) the page's own colors stand in, so nothing is drawn black on black.
  const fallback: Partial<Record<string, string>> = { background: style.backgroundColor, contrast: '' };
  for (const [role, names] of Object.entries(ROLES)) (palette as unknown as Record<string, string>)[role] = read(names) || (fallback[role] ?? style.color);
  palette.font = read(['--vscode-font-family']) || style.fontFamily;
  palette.monoFont = read(['--vscode-editor-font-family']) || 'monospace';
  palette.fontSize = parseFloat(read(['--vscode-font-size'])) || parseFloat(style.fontSize) || 13;
  return palette;
}

/** Calls `changed` with the new palette whenever the body's theme classes or inline variables change. */
export function watchTheme(changed: (palette: Palette) => void): MutationObserver {
  const observer = new MutationObserver(() => changed(readPalette()));
  observer.observe(document.body, { attributes: true, attributeFilter: ['class', 'style', 'data-vscode-theme-kind'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  return observer;
}
