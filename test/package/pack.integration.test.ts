/**
 * Integration test (slow: a real `npm pack` with its prepack build, then a consumer-side tsc):
 * the tarball a user installs ships dist, LICENSE and self-contained source maps; installed in an
 * empty consumer project WITHOUT the optional peer better-sqlite3, a file importing every subpath
 * compiles with strict, module nodenext and skipLibCheck false; every subpath loads with `import`
 * and with `require` (Node >= 20.19 loads ESM synchronously); the missing peer is a clear error.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const OUR_MODULES = join(ROOT, 'node_modules');
/** Left out of the consumer: the types must not need it, and loading it must fail clearly. */
const ABSENT = new Set(['better-sqlite3', '@types/better-sqlite3']);

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
};
const subpaths = Object.keys(pkg.exports)
  .filter((k) => k !== './package.json')
  .map((k) => `kest${k.slice(1)}`);

let dir: string;
let files: string[];
let consumer: string;

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 150_000,
  });
}

/** The consumer's node_modules: the unpacked tarball as `kest`, our installed packages (links) as peers. */
function linkModules(target: string): void {
  for (const name of readdirSync(OUR_MODULES)) {
    if (name.startsWith('.') || name === 'kest') continue;
    const scoped = name.startsWith('@')
      ? readdirSync(join(OUR_MODULES, name)).map((n) => `${name}/${n}`)
      : [name];
    for (const full of scoped) {
      if (ABSENT.has(full)) continue;
      mkdirSync(join(target, full, '..'), { recursive: true });
      symlinkSync(join(OUR_MODULES, full), join(target, full));
    }
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kest-pack-'));
  // A copy of what a clean checkout has: prepack must build dist itself.
  const stage = join(dir, 'stage');
  mkdirSync(stage);
  for (const f of [
    'package.json',
    'README.md',
    'LICENSE',
    'policies',
    'src',
    'tsconfig.json',
    'tsconfig.build.json',
  ]) {
    cpSync(join(ROOT, f), join(stage, f), { recursive: true });
  }
  symlinkSync(OUR_MODULES, join(stage, 'node_modules'));
  const packed = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', dir], stage)) as {
    filename: string;
    files: { path: string }[];
  }[];
  files = packed[0]!.files.map((f) => f.path);

  consumer = join(dir, 'consumer');
  mkdirSync(join(consumer, 'node_modules'), { recursive: true });
  sh('tar', ['xzf', join(dir, packed[0]!.filename)], consumer);
  cpSync(join(consumer, 'package'), join(consumer, 'node_modules', 'kest'), { recursive: true });
  linkModules(join(consumer, 'node_modules'));
  writeFileSync(join(consumer, 'package.json'), '{"name":"consumer","private":true,"type":"module"}\n');
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the packed package (integration)', () => {
  it('ships dist for every export, the bin, LICENSE and README; no sources; maps carry sourcesContent', () => {
    expect(files).toEqual(
      expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/cli/main.js']),
    );
    for (const target of Object.values(pkg.exports).filter((t) => typeof t === 'object')) {
      const { types, default: js } = target as { types: string; default: string };
      expect(files).toContain(js.slice(2));
      expect(files).toContain(types.slice(2));
    }
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
    const maps = files.filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const map of maps) {
      const json = JSON.parse(readFileSync(join(consumer, 'package', map), 'utf8'));
      expect(json.sourcesContent?.[0], map).toEqual(expect.any(String));
    }
  });

  it('compiles a consumer importing every subpath: strict, nodenext, skipLibCheck false, no better-sqlite3', () => {
    const imports = subpaths.map((s, i) => `import * as m${i} from '${s}';`).join('\n');
    writeFileSync(
      join(consumer, 'all.ts'),
      `${imports}\nexport const all: object[] = [${subpaths.map((_, i) => `m${i}`).join(', ')}];\n`,
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          skipLibCheck: false,
          noEmit: true,
          types: ['node'],
        },
        files: ['all.ts'],
      }),
    );
    let output = '';
    try {
      sh(process.execPath, [join(OUR_MODULES, 'typescript', 'bin', 'tsc'), '-p', '.'], consumer);
    } catch (err) {
      output = String((err as { stdout?: string }).stdout ?? err);
    }
    expect(output).toBe('');
  }, 180_000);

  it('loads every subpath by import and by require; a missing optional peer names npm install', () => {
    const script = `
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const subpaths = ${JSON.stringify(subpaths)};
      for (const s of subpaths) { await import(s); require(s); }
      const { openSpanDatabase } = await import('kest/telemetry');
      try { openSpanDatabase('spans.sqlite'); console.log('opened'); }
      catch (e) { console.log(e.name, e.code, e.message); }`;
    writeFileSync(join(consumer, 'load.mjs'), script);
    const out = sh(process.execPath, ['--no-warnings', 'load.mjs'], consumer);
    expect(out.trim()).toBe(
      'KestConfigurationError ERR_CONFIGURATION SQLite span files need the optional peer better-sqlite3: npm install better-sqlite3@12.11',
    );
  }, 60_000);
});
