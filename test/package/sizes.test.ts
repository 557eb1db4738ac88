/**
 * The size rule (docs/architecture.md): no source file over 450 lines, no function over 100 lines.
 * Runs scripts/check-sizes.mjs on src/ and on small trees that break the rule, so the check itself
 * is shown to fail when it should. The script is imported, not spawned: loading the TypeScript
 * compiler once costs seconds on a loaded machine. One case runs it as `npm test` users would.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { checkSizes } from '../../scripts/check-sizes.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = join(root, 'scripts', 'check-sizes.mjs');

/** The script's verdict as its command line reports it: exit status and output lines. */
function check(srcDir: string): { status: number; output: string } {
  const problems = checkSizes(srcDir);
  return problems.length === 0
    ? { status: 0, output: 'sizes ok\n' }
    : { status: 1, output: `${problems.join('\n')}\n` };
}

const trees: string[] = [];
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kest-sizes-'));
  trees.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** A function body of `n` statement lines. */
const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join('\n');

afterEach(() => {
  for (const dir of trees.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('sizes', () => {
  it('src/ has no file over 450 lines and no function over 100 lines', () => {
    const { status, output } = check(join(root, 'src'));
    expect(output).toBe('sizes ok\n');
    expect(status).toBe(0);
  });

  it('the command line exits 1 and prints one line per offender', () => {
    const lines = Array.from({ length: 451 }, (_, i) => `export const c${i} = ${i};`);
    const dir = tree({ 'a/big.ts': `${lines.join('\n')}\n` });
    const run = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
    expect(run.stdout).toBe('a/big.ts: 451 lines (max 450)\n');
    expect(run.status).toBe(1);
  });

  it('a 100-line function and a 450-line file pass', () => {
    const fn = `export function ok() {\n${body(98)}\n}\n`;
    const filler = Array.from({ length: 450 - 100 }, (_, i) => `export const c${i} = ${i};`);
    const dir = tree({ 'a/ok.ts': `${fn}${filler.join('\n')}\n` });
    const { status, output } = check(dir);
    expect(output).toMatch(/^sizes ok/);
    expect(status).toBe(0);
  });

  it('a file over 450 lines fails and names the file', () => {
    const lines = Array.from({ length: 451 }, (_, i) => `export const c${i} = ${i};`);
    const { status, output } = check(tree({ 'a/big.ts': `${lines.join('\n')}\n` }));
    expect(status).toBe(1);
    expect(output).toContain('a/big.ts: 451 lines (max 450)');
  });

  it('a long function, method or arrow function fails and names it', () => {
    const dir = tree({
      'a/fn.ts': `export function tooLong() {\n${body(99)}\n}\n`,
      'b/method.ts': `export class K {\n  run() {\n${body(99)}\n  }\n}\n`,
      'c/arrow.ts': `export const arrow = () => {\n${body(99)}\n};\n`,
    });
    const { status, output } = check(dir);
    expect(status).toBe(1);
    expect(output).toContain('a/fn.ts:1: function tooLong is 101 lines (max 100)');
    expect(output).toContain('b/method.ts:2: function run is 101 lines (max 100)');
    expect(output).toContain('c/arrow.ts:1: function arrow is 101 lines (max 100)');
  });
});
