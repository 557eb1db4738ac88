/**
 * The docs-snippet extractor (test/package/snippets.ts) that the pack test uses: which blocks it
 * takes, their markdown lines, the `<!-- snippet: run -->` marker, and diagnostics mapped back to
 * the markdown. A snippet the extractor silently skipped would never be checked, so its mistakes
 * (an unclosed fence, a stray or misspelt marker) are errors.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractSnippets, mapDiagnostics } from './snippets.js';

const ROOT = new URL('../..', import.meta.url).pathname;

const md = [
  '# Title', //                               1
  '',
  '```ts', //                                 3
  "import { configure } from 'kest';", //     4
  'configure({});',
  '```',
  '',
  '```sh', //                                 8
  'npm test',
  '```',
  '',
  '<!-- snippet: run -->', //                12
  '',
  '~~~typescript', //                         14
  'console.log(1);', //                       15
  '~~~',
  '',
  '- a list item:',
  '',
  '  ```ts', //                               20
  '  const x: number = 1;', //                21
  '  ```',
].join('\n');

describe('extractSnippets', () => {
  it('takes the ts blocks (any fence, indented ones too) with the line of their first code line', () => {
    const snippets = extractSnippets(md, 'docs/x.md');
    expect(snippets).toEqual([
      {
        file: 'docs/x.md',
        line: 4,
        code: "import { configure } from 'kest';\nconfigure({});\n",
        run: false,
        name: 'docs_x.md_L4',
      },
      { file: 'docs/x.md', line: 15, code: 'console.log(1);\n', run: true, name: 'docs_x.md_L15' },
      { file: 'docs/x.md', line: 21, code: 'const x: number = 1;\n', run: false, name: 'docs_x.md_L21' },
    ]);
  });

  it('refuses an unclosed fence, an unknown marker and a marker not followed by a ts block', () => {
    expect(() => extractSnippets('text\n```ts\nconst a = 1;\n', 'a.md')).toThrow(
      'a.md:2: unclosed code fence',
    );
    expect(() => extractSnippets('<!-- snippet: runn -->\n```ts\n```\n', 'a.md')).toThrow(
      "a.md:1: unknown snippet marker 'runn'",
    );
    expect(() => extractSnippets('<!-- snippet: run -->\nSome text.\n```ts\n```\n', 'a.md')).toThrow(
      'a.md:1: snippet marker not followed by a ts block',
    );
    expect(() => extractSnippets('<!-- snippet: run -->\n```sh\nls\n```\n', 'a.md')).toThrow(
      'a.md:1: snippet marker not followed by a ts block',
    );
    expect(() => extractSnippets('text\n<!-- snippet: run -->\n', 'a.md')).toThrow(
      'a.md:2: snippet marker not followed by a ts block',
    );
  });

  it('does not read fences inside another language block as ts blocks', () => {
    const text = '````md\n```ts\nnot code\n```\n````\n';
    expect(extractSnippets(text, 'a.md')).toEqual([]);
  });

  it('reads every markdown file of the repository without error', () => {
    const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
      f.endsWith('.md'),
    );
    const all = files.flatMap((f) => extractSnippets(readFileSync(join(ROOT, f), 'utf8'), f));
    expect(all.length).toBeGreaterThan(20);
    expect(new Set(all.map((s) => s.name)).size).toBe(all.length);
  });
});

describe('mapDiagnostics', () => {
  it("puts a snippet's diagnostics at its markdown file and line; keeps the others as they are", () => {
    const snippets = extractSnippets(md, 'docs/x.md');
    const output = [
      "snippets/docs_x.md_L4.ts(2,3): error TS2304: Cannot find name 'y'.",
      "snippets/docs_x.md_L15.ts(1,1): error TS2322: Type 'string' is not assignable to type 'number'.",
      "  The expected type comes from property 'a'.",
      'node_modules/kest/dist/index.d.ts(1,10): error TS2307: Cannot find module',
      '',
    ].join('\n');
    expect(mapDiagnostics(output, snippets, 'snippets')).toEqual([
      "docs/x.md:5:3: error TS2304: Cannot find name 'y'.",
      "docs/x.md:15:1: error TS2322: Type 'string' is not assignable to type 'number'.\n  The expected type comes from property 'a'.",
      'node_modules/kest/dist/index.d.ts(1,10): error TS2307: Cannot find module',
    ]);
  });
});
