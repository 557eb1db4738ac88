/**
 * Text from entries and span files is attacker-chosen: printed raw, an `operation` can move the
 * cursor, recolour or conceal what follows, or print a fake "VERIFIED" line. Every human-readable
 * output of Kest goes through `escapeTerminal`; JSON output through `escapeJsonForTerminal`.
 */

/**
 * C0 controls (incl. ESC, CR, LF, TAB), DEL, C1 controls (incl. CSI U+009B), and the invisible
 * code points that reorder or hide text: bidi embeddings/overrides/isolates, marks, line/paragraph
 * separators, zero-width characters and the BOM.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching controls is the point
const DANGEROUS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
/** Same set without LF and TAB, for whole documents whose lines are Kest's own. */
const DANGEROUS_KEEP_LINES =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching controls is the point
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

const hex = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
const visible = (c: string) =>
  c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : c === '\u001b' ? '\\e' : hex(c);

/**
 * `text` safe to print on a terminal: every dangerous code point becomes a visible escape (`\e`,
 * `\n`, `\u009b`, `\u202e`…). With `keepLines`, LF and TAB pass (for multi-line output Kest built).
 */
export function escapeTerminal(text: string, options: { keepLines?: boolean } = {}): string {
  return text.replace(options.keepLines ? DANGEROUS_KEEP_LINES : DANGEROUS, visible);
}

/**
 * JSON text safe for a terminal and still the same JSON value: JSON.stringify already escapes C0
 * controls; the rest of the set (which it leaves raw) can only occur inside strings, where `\uXXXX`
 * means the same character.
 */
export function escapeJsonForTerminal(json: string): string {
  return json.replace(DANGEROUS_KEEP_LINES, hex);
}
