/**
 * The machinery of the pack test (pack.integration.test.ts): build dist the way `prepack` does,
 * `npm pack` it, install the tarball in consumer projects, compile and run files there.
 *
 * Cost is the point of this file. The build is the `build` script's `tsc -p tsconfig.build.json`
 * (`prepack` = clean + build; the test checks that), run in a staged copy of the tree kept in a
 * per-checkout cache directory: not at all when no input changed since the last build (sources,
 * tsconfigs, package.json, the lock); otherwise incrementally, re-emitting what changed, with
 * --noCheck (see below); outputs whose source is gone are deleted, so dist is what a clean build
 * writes. `npm pack --ignore-scripts` then packs that tree. Consumers get the tarball as a real
 * copy and our installed packages as links.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const OUR_MODULES = join(ROOT, 'node_modules');
const TSC = join(OUR_MODULES, 'typescript', 'bin', 'tsc');
/** What a clean checkout needs to build and pack (package.json `files` plus the build inputs). */
const STAGED = [
  'package.json',
  'README.md',
  'LICENSE',
  'policies',
  'src',
  'tsconfig.json',
  'tsconfig.build.json',
];

export function sh(cmd: string, args: string[], cwd: string, timeout = 150_000): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout });
}

/** Per checkout, outside node_modules (worktrees may share node_modules files as hard links). */
export function cacheDir(): string {
  const key = createHash('sha256').update(ROOT).digest('hex').slice(0, 12);
  return join(tmpdir(), `kest-pack-cache-${key}`);
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .map((f) => f.replace(/\\/g, '/'));
}

/** dist/x.js, x.js.map, x.d.ts → src/x.ts */
function sourceOf(distFile: string): string {
  return `${distFile.replace(/(\.d\.ts|\.js\.map|\.js)$/, '')}.ts`;
}

/** Everything tsc's output depends on: the build inputs and the installed dependencies (the lock). */
function buildStamp(stage: string): string {
  const hash = createHash('sha256');
  const inputs = [
    'tsconfig.json',
    'tsconfig.build.json',
    'package.json',
    ...walk(join(stage, 'src')).map((f) => `src/${f}`),
  ];
  for (const f of inputs.sort())
    hash
      .update(`${f}\0`)
      .update(readFileSync(join(stage, f)))
      .update('\0');
  return hash.update(readFileSync(join(ROOT, 'package-lock.json'))).digest('hex');
}

/**
 * The staged tree, built: a fresh copy of the build inputs and a dist emitted by the build script's
 * tsc command (incremental), or kept as is when no input changed since it was emitted. Returns the
 * stage directory; `dist/` in it is what prepack would write.
 */
export function buildStage(cache: string): string {
  const stage = join(cache, 'stage');
  mkdirSync(stage, { recursive: true });
  for (const f of STAGED) {
    rmSync(join(stage, f), { recursive: true, force: true });
    cpSync(join(ROOT, f), join(stage, f), { recursive: true });
  }
  const dist = join(stage, 'dist');
  const sources = new Set(walk(join(stage, 'src')));
  const outputs = walk(dist);
  // Outputs of deleted sources go; a missing output (cache tampered with) means a full rebuild.
  for (const f of outputs) if (!sources.has(sourceOf(f))) rmSync(join(dist, f));
  const info = join(cache, 'build.tsbuildinfo');
  const stampFile = join(cache, 'build.stamp');
  const have = new Set(outputs);
  const complete = [...sources].every(
    (s) => have.has(s.replace(/\.ts$/, '.js')) && have.has(s.replace(/\.ts$/, '.d.ts')),
  );
  if (!complete) {
    rmSync(dist, { recursive: true, force: true });
    rmSync(info, { force: true });
  }
  const stamp = buildStamp(stage);
  if (complete && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return stage;
  rmSync(stampFile, { force: true });
  const modules = join(stage, 'node_modules');
  rmSync(modules, { force: true });
  symlinkSync(OUR_MODULES, modules);
  try {
    // --noCheck: the same output (type checking never changes what tsc emits) without re-checking
    // src, which `npm test` has just typechecked (`tsc --noEmit`: the same sources and options).
    const args = ['-p', 'tsconfig.build.json', '--noCheck', '--incremental', '--tsBuildInfoFile', info];
    sh(process.execPath, [TSC, ...args], stage);
  } finally {
    rmSync(modules); // npm pack walks a node_modules it finds: ~1 s for nothing
  }
  writeFileSync(stampFile, stamp);
  return stage;
}

export interface Packed {
  tarball: string;
  files: string[];
}

/** `npm pack` of the built stage (its dist is already what prepack writes). */
export function pack(stage: string, dest: string): Packed {
  const out = JSON.parse(
    sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], stage),
  ) as { filename: string; files: { path: string }[] }[];
  return { tarball: join(dest, out[0]!.filename), files: out[0]!.files.map((f) => f.path) };
}

/**
 * A consumer project: package.json (type module), the tarball unpacked as node_modules/kest (a real
 * copy, so kest resolves its own imports from the consumer), and links to those of our installed
 * packages that `keep` accepts.
 */
export function makeConsumer(dir: string, tarball: string, keep: (name: string) => boolean): void {
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, 'kest'), { recursive: true });
  sh('tar', ['xzf', tarball, '--strip-components=1', '-C', join(modules, 'kest')], dir);
  for (const name of readdirSync(OUR_MODULES)) {
    if (name.startsWith('.') || name === 'kest') continue;
    const names = name.startsWith('@')
      ? readdirSync(join(OUR_MODULES, name)).map((n) => `${name}/${n}`)
      : [name];
    for (const full of names.filter(keep)) {
      mkdirSync(join(modules, full, '..'), { recursive: true });
      symlinkSync(join(OUR_MODULES, full), join(modules, full));
    }
  }
  writeFileSync(join(dir, 'package.json'), '{"name":"consumer","private":true,"type":"module"}\n');
}

/**
 * The consumer settings the README promises (strict, nodenext, skipLibCheck false), as one program
 * over `files`, checked by typecheck.mjs in a node child (see its header for what it reports).
 * Resolves to the diagnostics as `tsc --pretty false` prints them, paths relative to the consumer.
 */
export function typecheck(consumer: string, files: string[]): Promise<string> {
  const config = {
    compilerOptions: {
      strict: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      skipLibCheck: false,
      types: ['node'],
      noEmit: true,
    },
    files,
  };
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify(config, null, 2));
  const script = fileURLToPath(new URL('./typecheck.mjs', import.meta.url));
  return new Promise((resolve, reject) => {
    const options = { cwd: consumer, encoding: 'utf8', timeout: 150_000, maxBuffer: 64 << 20 } as const;
    execFile(process.execPath, [script, consumer], options, (err, stdout, stderr) =>
      err ? reject(new Error(`typecheck failed: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

/**
 * A typechecked file as node runs it: one file's JavaScript (.js beside the .ts, in the consumer's
 * type-module package). A program emit would first check every declaration file it loads.
 */
export function transpile(file: string): string {
  const out = file.replace(/\.ts$/, '.js');
  const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
    fileName: file,
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  });
  writeFileSync(out, outputText);
  return out;
}

export interface RunResult {
  code: number | null;
  output: string;
}

/**
 * node on each compiled file, in an empty working directory of its own; all started at once (the
 * caller's thread may be busy meanwhile: a queue would not move).
 */
export async function runAll(
  consumer: string,
  scripts: string[],
  timeout = 30_000,
): Promise<Map<string, RunResult>> {
  const results = new Map<string, RunResult>();
  const one = (script: string) =>
    new Promise<void>((resolve) => {
      const cwd = join(consumer, 'run', relative(consumer, script).replace(/[^\w.-]/g, '_'));
      mkdirSync(cwd, { recursive: true });
      execFile(
        process.execPath,
        ['--no-warnings', script],
        { cwd, timeout, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
          results.set(script, {
            code,
            output: `${stdout}${stderr}${err?.killed ? '\n(killed: timeout)' : ''}`,
          });
          resolve();
        },
      );
    });
  await Promise.all(scripts.map(one));
  return results;
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
