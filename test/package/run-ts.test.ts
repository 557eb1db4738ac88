/**
 * scripts/run-ts.mjs, the runner behind `npm run demo` and `npm run kest`: a cached esbuild bundle
 * of a TypeScript entry that is rebuilt whenever any input's content changes. Shown on a small tree
 * of its own (a temporary root and cache directory); each bundle is run by a real node process.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureBundle } from '../../scripts/run-ts.mjs';

const trees: string[] = [];
afterEach(() => {
  for (const d of trees.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A root with the given files and its own cache directory. */
function tree(files: Record<string, string>): { root: string; cacheDir: string; write: typeof write } {
  const root = mkdtempSync(join(tmpdir(), 'kest-run-ts-'));
  trees.push(root);
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  for (const [path, text] of Object.entries(files)) write(path, text);
  return { root, cacheDir: join(root, 'cache'), write };
}

function run(main: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.trim();
}

const MAIN = `import { msg } from './lib/msg.ts';
console.log(msg, import.meta.url);
`;

describe('scripts/run-ts.mjs', () => {
  it('builds once, then runs the cached bundle until a source changes; never a stale one', async () => {
    const t = tree({ 'main.ts': MAIN, 'lib/msg.ts': "export const msg: string = 'one';\n" });
    const opts = { root: t.root, cacheDir: t.cacheDir };
    const first = await ensureBundle('main.ts', opts);
    expect(first.built).toBe(true);
    // Each source keeps its own import.meta.url (paths next to it resolve as from the sources).
    expect(run(first.main)).toBe(`one ${pathToFileURL(join(t.root, 'main.ts')).href}`);

    const again = await ensureBundle('main.ts', opts);
    expect(again).toEqual({ main: first.main, built: false });

    // An imported file changes: rebuilt, with the new content.
    t.write('lib/msg.ts', "export const msg: string = 'two';\n");
    const changed = await ensureBundle('main.ts', opts);
    expect(changed.built).toBe(true);
    expect(run(changed.main)).toMatch(/^two /);

    // A new import (and a removed one) is seen through the importer's own change.
    t.write('lib/other.ts', "export const msg = 'three';\n");
    t.write('main.ts', MAIN.replace('./lib/msg.ts', './lib/other.ts'));
    expect(run((await ensureBundle('main.ts', opts)).main)).toMatch(/^three /);
    unlinkSync(join(t.root, 'lib/msg.ts'));
    expect((await ensureBundle('main.ts', opts)).built).toBe(false); // no longer an input

    // Inputs esbuild does not list: tsconfig.json changes how sources compile.
    t.write('tsconfig.json', '{ "compilerOptions": { "strict": true } }\n');
    expect((await ensureBundle('main.ts', opts)).built).toBe(true);
    expect((await ensureBundle('main.ts', opts)).built).toBe(false);
  });

  it('concurrent runs after a change agree on one bundle', async () => {
    const t = tree({ 'main.ts': MAIN, 'lib/msg.ts': "export const msg = 'one';\n" });
    const opts = { root: t.root, cacheDir: t.cacheDir };
    await ensureBundle('main.ts', opts);
    t.write('lib/msg.ts', "export const msg = 'two';\n");
    const all = await Promise.all([1, 2, 3, 4].map(() => ensureBundle('main.ts', opts)));
    expect(new Set(all.map((b) => b.main)).size).toBe(1);
    expect(run(all[0]!.main)).toMatch(/^two /);
    expect((await ensureBundle('main.ts', opts)).built).toBe(false);
  });

  it('a source that does not compile fails with its file and line, and builds once fixed', async () => {
    const t = tree({ 'main.ts': MAIN, 'lib/msg.ts': 'export const msg = ;\n' });
    const opts = { root: t.root, cacheDir: t.cacheDir };
    await expect(ensureBundle('main.ts', opts)).rejects.toThrow(/cannot bundle main\.ts: .*lib\/msg\.ts:1/s);
    t.write('lib/msg.ts', "export const msg = 'fixed';\n");
    expect(run((await ensureBundle('main.ts', opts)).main)).toMatch(/^fixed /);
  });

  it('never reuses a bundle built under another root (a cache copied with its node_modules)', async () => {
    const files = { 'main.ts': MAIN, 'lib/msg.ts': "export const msg = 'one';\n" };
    const a = tree(files);
    const b = tree(files);
    // Same sources, one cache: as in a worktree whose node_modules was copied from another checkout.
    await ensureBundle('main.ts', { root: a.root, cacheDir: a.cacheDir });
    const inB = await ensureBundle('main.ts', { root: b.root, cacheDir: a.cacheDir });
    expect(inB.built).toBe(true);
    // Its sources' import.meta.url are b's own (a's bundle would read policies/, the audit worker … from a).
    expect(run(inB.main)).toBe(`one ${pathToFileURL(join(b.root, 'main.ts')).href}`);
    expect((await ensureBundle('main.ts', { root: b.root, cacheDir: a.cacheDir })).built).toBe(false);
  });

  it('an entry that does not exist is an error', async () => {
    const t = tree({});
    await expect(ensureBundle('nope.ts', { root: t.root, cacheDir: t.cacheDir })).rejects.toThrow(
      'run-ts: no such entry nope.ts',
    );
  });
});
