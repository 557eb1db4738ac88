/**
 * Docs are code: the ```ts blocks of README.md and docs/*.md, extracted so the pack test can
 * typecheck them against the packed package (one consumer tsc program) and run the ones marked
 * `<!-- snippet: run -->` (the marker is the closest non-blank line above the fence). Every block
 * must be complete: imports from the public subpaths, placeholders declared
 * (`declare function render(id: string): string;`). Unmarked blocks are only typechecked.
 *
 * Diagnostics come back as `README.md:231:5: error TS2304: …`, the markdown file and line.
 */

export interface Snippet {
  /** The markdown file, as given (relative to the repository root). */
  readonly file: string;
  /** 1-based line, in the markdown file, of the snippet's first code line. */
  readonly line: number;
  readonly code: string;
  /** Marked `<!-- snippet: run -->`: compiled, then run with node; it must exit 0. */
  readonly run: boolean;
  /** A file-name-safe id, unique per snippet: `docs_http.md_L23`. */
  readonly name: string;
}

const TS_LANGS = new Set(['ts', 'typescript', 'mts']);
const MARKER_RE = /^\s*<!--\s*snippet:\s*([\w-]+)\s*-->\s*$/;
const OPEN_RE = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/;

/** The fenced ```ts blocks of one markdown text. Throws on an unclosed fence or a stray marker. */
export function extractSnippets(markdown: string, file: string): Snippet[] {
  const lines = markdown.split(/\r?\n/);
  const out: Snippet[] = [];
  let marker: { kind: string; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    const m = MARKER_RE.exec(text);
    if (m) {
      if (m[1] !== 'run') throw new Error(`${file}:${i + 1}: unknown snippet marker '${m[1]}' (only 'run')`);
      if (marker) throw new Error(`${file}:${marker.line}: snippet marker not followed by a ts block`);
      marker = { kind: m[1], line: i + 1 };
      continue;
    }
    const open = OPEN_RE.exec(text);
    if (!open) {
      if (marker && text.trim() !== '') {
        throw new Error(`${file}:${marker.line}: snippet marker not followed by a ts block`);
      }
      continue;
    }
    const [, indent = '', fence = '', info = ''] = open;
    const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    const start = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !close.test(lines[i]!); i++) {
      body.push(lines[i]!.startsWith(indent) ? lines[i]!.slice(indent.length) : lines[i]!.trimStart());
    }
    if (i >= lines.length) throw new Error(`${file}:${start}: unclosed code fence`);
    const lang = info.toLowerCase();
    if (!TS_LANGS.has(lang)) {
      if (marker) throw new Error(`${file}:${marker.line}: snippet marker not followed by a ts block`);
      continue;
    }
    out.push({
      file,
      line: start + 1,
      code: `${body.join('\n')}\n`,
      run: marker !== undefined,
      name: `${file.replace(/[^\w.-]/g, '_')}_L${start + 1}`,
    });
    marker = undefined;
  }
  if (marker) throw new Error(`${file}:${marker.line}: snippet marker not followed by a ts block`);
  return out;
}

/**
 * tsc's `--pretty false` output with every location inside a snippet file (`<dir>/<name>.ts(l,c)`)
 * rewritten to its markdown file and line; other lines are kept. One string per diagnostic.
 */
export function mapDiagnostics(output: string, snippets: readonly Snippet[], dir: string): string[] {
  const byName = new Map(snippets.map((s) => [s.name, s]));
  const diagnostics: string[] = [];
  const location = /^(.+?)\((\d+),(\d+)\): (.*)$/;
  for (const raw of output.split(/\r?\n/)) {
    if (raw.trim() === '') continue;
    if (/^\s/.test(raw) && diagnostics.length > 0) {
      diagnostics[diagnostics.length - 1] += `\n${raw}`;
      continue;
    }
    const m = location.exec(raw);
    const path = m?.[1]?.replace(/\\/g, '/');
    const snippet =
      path?.startsWith(`${dir}/`) && path.endsWith('.ts')
        ? byName.get(path.slice(dir.length + 1, -3))
        : undefined;
    diagnostics.push(
      m && snippet ? `${snippet.file}:${snippet.line + Number(m[2]) - 1}:${m[3]}: ${m[4]}` : raw,
    );
  }
  return diagnostics;
}
