/**
 * Integration test (slow: a build, `npm pack`, one consumer-side tsc, a few node runs): the tarball
 * a user installs ships dist, LICENSE and self-contained source maps; installed in a consumer project
 * WITHOUT the optional peer better-sqlite3, one tsc program (strict, module nodenext, skipLibCheck
 * false) compiles a file importing every subpath and every ```ts snippet of README.md and
 * docs/*.md; the snippets marked `<!-- snippet: run -->` run with node and exit 0 (test/package/
 * snippets.ts has the convention). test/package/fixtures/snippets.md holds a broken snippet that
 * must be reported at its markdown line, and a run snippet that must be reported failing. Every
 * subpath loads with `import` and `require`. In a second consumer holding only the required
 * dependencies (and kest/spiffe's gRPC), the subpaths that import a peer at load fail naming it, the
 * others load, and a peer loaded on use (better-sqlite3, undici, the CLI's ioredis) is a
 * KestConfigurationError giving the npm install command.
 *
 * The build is the `build` script's tsc, incremental in a per-checkout cache (consumer.ts), not
 * `prepack` itself: a checked equality makes prepack = clean + that build.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildStage,
  cacheDir,
  makeConsumer,
  type Packed,
  pack,
  ROOT,
  type RunResult,
  readJson,
  runAll,
  transpile,
  typecheck,
} from './consumer.js';
import { extractSnippets, mapDiagnostics, type Snippet } from './snippets.js';

/** Left out of the consumer: the types must not need it, and loading it must fail clearly. */
const ABSENT = new Set(['better-sqlite3', '@types/better-sqlite3']);
const FIXTURES = 'test/package/fixtures';
const FIXTURE = `${FIXTURES}/snippets.md`;
const GRPC = ['@grpc/grpc-js', '@grpc/proto-loader'];
const SNIPPET_DIR = 'snippets';

const pkg = readJson<{
  exports: Record<string, unknown>;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
}>(join(ROOT, 'package.json'));
const subpaths = Object.keys(pkg.exports)
  .filter((k) => k !== './package.json')
  .map((k) => `kest${k.slice(1)}`);

const docs = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const snippets: Snippet[] = [...docs, FIXTURE].flatMap((f) =>
  extractSnippets(readFileSync(join(ROOT, f), 'utf8'), f),
);

let dir: string;
let packed: Packed;
let consumer: string;
let diagnostics: string[];
let runs: Map<string, RunResult>;
let loads: { all: RunResult; bare: RunResult };

const ofDocs = (d: string) => !d.startsWith(FIXTURE);
const script = (s: Snippet) => join(consumer, SNIPPET_DIR, `${s.name}.js`);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kest-pack-'));
  const stage = buildStage(cacheDir());
  packed = pack(stage, dir);
  consumer = join(dir, 'consumer');
  makeConsumer(consumer, packed.tarball, (name) => !ABSENT.has(name));
  mkdirSync(join(consumer, SNIPPET_DIR));
  const imports = subpaths.map((s, i) => `import * as m${i} from '${s}';`).join('\n');
  writeFileSync(
    join(consumer, 'all.ts'),
    `${imports}\nexport const all: object[] = [${subpaths.map((_, i) => `m${i}`).join(', ')}];\n`,
  );
  for (const s of snippets) writeFileSync(join(consumer, SNIPPET_DIR, `${s.name}.ts`), s.code);
  // The second consumer: `npm install kest @opentelemetry/api@1.9` (README "Installing") and
  // kest/spiffe's gRPC peers (kest/spiffe then loads, so its lazily loaded undici can be missed).
  const bare = join(dir, 'bare');
  const required = new Set([...Object.keys(pkg.dependencies), '@opentelemetry/api', ...GRPC]);
  makeConsumer(bare, packed.tarball, (name) => required.has(name));
  cpSync(join(ROOT, FIXTURES, 'load-all.mjs'), join(consumer, 'load-all.mjs'));
  cpSync(join(ROOT, FIXTURES, 'load-bare.mjs'), join(bare, 'load-bare.mjs'));
  // Everything below is child processes, side by side: the typecheck, the runs, the loads.
  const checking = typecheck(consumer, ['all.ts', ...snippets.map((s) => `${SNIPPET_DIR}/${s.name}.ts`)]);
  const running = runAll(
    consumer,
    snippets.filter((s) => s.run).map((s) => transpile(join(consumer, SNIPPET_DIR, `${s.name}.ts`))),
  );
  const loading = [
    runAll(consumer, [join(consumer, 'load-all.mjs')]),
    runAll(bare, [join(bare, 'load-bare.mjs')]),
  ];
  diagnostics = mapDiagnostics(await checking, snippets, SNIPPET_DIR);
  runs = await running;
  const [all, none] = await Promise.all(loading);
  loads = { all: [...all!.values()][0]!, bare: [...none!.values()][0]! };
}, 240_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the packed package (integration)', () => {
  it('is built by prepack: clean, then the build this test runs', () => {
    expect(pkg.scripts.prepack).toBe('npm run clean && npm run build');
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    expect(pkg.scripts.clean).toContain("rmSync('dist'");
  });

  it('ships dist for every export, the bin, LICENSE and README; no sources; maps carry sourcesContent', () => {
    const files = packed.files;
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
      const json = readJson<{ sourcesContent?: string[] }>(join(consumer, 'node_modules', 'kest', map));
      expect(json.sourcesContent?.[0], map).toEqual(expect.any(String));
    }
  });

  it("kest/spiffe's declarations name no undici type (only kest/spiffe/undici's do)", () => {
    const kestDir = join(consumer, 'node_modules', 'kest');
    const declarations = packed.files.filter((f) => f.startsWith('dist/spiffe/') && f.endsWith('.d.ts'));
    expect(declarations.length).toBeGreaterThan(10);
    const naming = declarations.filter((f) =>
      /from ['"]undici['"]|import\(['"]undici['"]\)/.test(readFileSync(join(kestDir, f), 'utf8')),
    );
    expect(naming.sort()).toEqual(['dist/spiffe/tls/undici.d.ts']);
  });

  it('compiles every subpath and every docs snippet: strict, nodenext, skipLibCheck false, no better-sqlite3', () => {
    expect(snippets.filter((s) => ofDocs(s.file)).length).toBeGreaterThan(20);
    expect(diagnostics.filter(ofDocs)).toEqual([]);
  });

  it('runs every snippet marked run: each exits 0', () => {
    const marked = snippets.filter((s) => s.run && ofDocs(s.file));
    expect(marked.length).toBeGreaterThan(0);
    const failed = marked
      .map((s) => ({ at: `${s.file}:${s.line}`, ...runs.get(script(s))! }))
      .filter((r) => r.code !== 0);
    expect(failed).toEqual([]);
  });

  it('reports a broken fixture snippet at its markdown line and a failing run snippet', () => {
    expect(diagnostics.filter((d) => !ofDocs(d))).toEqual([
      `${FIXTURE}:15:21: error TS2304: Cannot find name 'render'.`,
    ]);
    const fixtures = snippets.filter((s) => s.file === FIXTURE && s.run);
    expect(fixtures.map((s) => runs.get(script(s))!.code)).toEqual([0, 1]);
    expect(runs.get(script(fixtures[0]!))!.output).toBe('{"a":[true,null],"b":1}\n');
  });

  it('loads every subpath by import and by require; a missing optional peer names npm install', () => {
    expect(loads.all).toEqual({
      code: 0,
      output:
        'KestConfigurationError ERR_CONFIGURATION SQLite span files need the optional peer better-sqlite3: npm install better-sqlite3@12.11\n',
    });
  });

  it('without the optional peers: the rest loads; each missing peer is named, lazy ones with npm install', () => {
    expect(loads.bare.code, loads.bare.output).toBe(0);
    const out = JSON.parse(loads.bare.output) as Record<string, string>;
    const telemetryPeer =
      /^ERR_MODULE_NOT_FOUND @opentelemetry\/(sdk-trace-base|core|resources|exporter-trace-otlp-http)$/;
    expect(out).toEqual({
      ...Object.fromEntries(subpaths.map((s) => [s, 'ok'])),
      'kest/cedar': 'ERR_MODULE_NOT_FOUND @cedar-policy/cedar-wasm',
      'kest/redis': 'ERR_MODULE_NOT_FOUND ioredis',
      'kest/telemetry': expect.stringMatching(telemetryPeer),
      sqlite:
        'KestConfigurationError: SQLite span files need the optional peer better-sqlite3: npm install better-sqlite3@12.11',
      undici:
        'KestConfigurationError: spiffeUndiciAgent and spiffeConnector need the optional peer undici: npm install undici@^7.30.2',
      cli: '2 kest audit: ERR_CONFIGURATION: --redis (claim checks in Redis) needs the optional peer ioredis: npm install ioredis@^6.0.0',
    });
  });
});
