// Strings from the traced program (comms, file names) in the hover's
// Markdown: shown as the characters they are, never as emphasis, links or
// markup.

/**
 * `text` escaped for Markdown: every ASCII punctuation character behind a
 * backslash (CommonMark's escape, which also keeps `<` from opening a tag),
 * and line breaks as spaces, so a name cannot end the line or list item it
 * sits in.
 */
export function markdownText(text: string): string {
  return text.replace(/[!-/:-@[-`{-~]/g, '\\$&').replace(/\r\n?|\n/g, ' ');
}
