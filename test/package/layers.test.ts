/**
 * The layering rule (docs/architecture.md): imports point only down the layer list and no files
 * import each other in a cycle. Runs scripts/check-layers.mjs on src/ and on small trees that break
 * the rule, so the check itself is shown to fail when it should.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = join(root, 'scripts', 'check-layers.mjs');

function check(srcDir: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [script, srcDir], { encoding: 'utf8' });
  return { status: run.status, output: run.stdout + run.stderr };
}

const trees: string[] = [];
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kest-layers-'));
  trees.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

afterEach(() => {
  for (const dir of trees.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('layers', () => {
  it('src/ has no upward import and no import cycle', () => {
    const { status, output } = check(join(root, 'src'));
    expect(output).toMatch(/^layers ok/);
    expect(status).toBe(0);
  });

  it('a downward import passes', () => {
    const dir = tree({
      'wire/a.ts': 'export const a = 1;\n',
      'passport/b.ts': "import { a } from '../wire/a.js';\nexport const b = a;\n",
    });
    expect(check(dir).status).toBe(0);
  });

  it('an upward import fails and names the file', () => {
    const dir = tree({
      'wire/a.ts': "import type { B } from '../passport/b.js';\nexport type A = B;\n",
      'passport/b.ts': 'export type B = number;\n',
    });
    const { status, output } = check(dir);
    expect(status).toBe(1);
    expect(output).toContain('wire/a.ts: upward import of passport/b.ts');
  });

  it('a file cycle inside one folder fails', () => {
    const dir = tree({
      'entry/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'entry/b.ts': "export { a as b } from './a.js';\n",
    });
    const { status, output } = check(dir);
    expect(status).toBe(1);
    expect(output).toContain('file cycle: entry/a.ts → entry/b.ts → entry/a.ts');
  });

  it('a folder cycle between folders of one layer fails', () => {
    const dir = tree({
      'trust/a.ts': "import { b } from '../keys/b.js';\nexport const a = b;\n",
      'keys/b.ts': 'export const b = 1;\n',
      'keys/c.ts': "import { a } from '../trust/a.js';\nexport const c = a;\n",
    });
    const { status, output } = check(dir);
    expect(status).toBe(1);
    expect(output).toMatch(/folder cycle: (trust → keys → trust|keys → trust → keys)/);
  });

  it('a folder outside the layer list fails', () => {
    const dir = tree({ 'misc/a.ts': 'export const a = 1;\n' });
    const { status, output } = check(dir);
    expect(status).toBe(1);
    expect(output).toContain('folder misc/ has no layer');
  });
});
