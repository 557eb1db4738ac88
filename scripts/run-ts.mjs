#!/usr/bin/env node
/**
 * Runs a TypeScript entry of this repository from a cached esbuild bundle:
 *
 *   node scripts/run-ts.mjs <entry.ts> [args…]      (npm run demo, npm run kest)
 *
 * tsx resolves and transforms every source module on each start (~1.6 s on a loaded 2-core
 * machine); this bundles the entry and the sources it imports once (~0.2 s) into
 * node_modules/.cache/kest-run/<entry>/ and afterwards only hashes them (~10 ms) to decide whether
 * the bundle is still current. Any change to an input — every file esbuild's metafile lists, plus
 * tsconfig.json, package.json, this script and the esbuild version — rebuilds it, so the bundle is
 * never stale; nothing needs a prior `npm run build`.
 *
 * Packages stay external (node resolves them from node_modules, as for the sources), and every
 * source keeps its own `import.meta.url`, so what a module finds next to itself (policies/,
 * package.json, the audit worker) it finds exactly as when run from src/. The entry sees
 * `process.argv` as under tsx: [node, <entry.ts>, args…].
 *
 * Stack traces name the bundle's lines; NODE_OPTIONS=--enable-source-maps maps them to the .ts
 * sources (the bundle has a source map) at a start-up cost (~0.5 s here: node then reads the
 * packages' maps too), so it is not the default.
 *
 * Concurrent runs are safe: a build goes to a directory named by the hash of its output, moved into
 * place with rename, and the manifest naming it is replaced with rename too. Build directories
 * unused for ten minutes are removed.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(SELF), '..');
const ESBUILD_PACKAGE = createRequire(import.meta.url).resolve('esbuild/package.json');
const MANIFEST_VERSION = 3;
const STALE_BUILD_MS = 10 * 60_000;

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/** Content hash of a file, or null when there is none (so creating or deleting it is a change). */
function hashFile(path) {
  try {
    return sha256(readFileSync(path));
  } catch {
    return null;
  }
}

/**
 * Inputs esbuild does not list in its metafile but whose change changes the output: the root
 * tsconfig.json and package.json (recorded even when absent), this script, the esbuild version.
 */
function implicitInputs(root) {
  return [join(root, 'tsconfig.json'), join(root, 'package.json'), SELF, ESBUILD_PACKAGE];
}

/** The directory of one entry's bundles, e.g. …/kest-run/examples-trusted-chain-main. */
function entryCacheDir(root, cacheDir, entry) {
  const name = relative(root, entry)
    .replace(/\.[cm]?ts$/, '')
    .replace(/[^A-Za-z0-9_-]+/g, '-');
  return join(cacheDir, name);
}

function readManifest(path) {
  try {
    const m = JSON.parse(readFileSync(path, 'utf8'));
    return m?.version === MANIFEST_VERSION ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The bundle the manifest names, if it is `entry`'s, was built under this root (a bundle holds its
 * sources' absolute URLs, and a cache copied with node_modules from another checkout would run that
 * checkout's files) and each input still has its recorded content.
 */
function currentBundle(root, dir, manifest, entry) {
  if (manifest?.entry !== relative(root, entry) || manifest.root !== root) return undefined;
  for (const [path, hash] of Object.entries(manifest.inputs)) {
    if (hashFile(resolve(root, path)) !== hash) return undefined;
  }
  const main = join(dir, manifest.build, manifest.main);
  return existsSync(main) ? main : undefined;
}

/** Every source keeps its own import.meta (URL, dirname, filename), not the bundle's. */
function ownImportMeta() {
  return {
    name: 'kest-own-import-meta',
    setup(build) {
      build.onLoad({ filter: /\.[cm]?ts$/ }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        const meta = {
          url: pathToFileURL(args.path).href,
          dirname: dirname(args.path),
          filename: args.path,
        };
        return {
          contents: text.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_, k) =>
            JSON.stringify(meta[k]),
          ),
          loader: 'ts',
        };
      });
    },
  };
}

async function build(root, dir, entry) {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { main: entry },
    outdir: join(dir, 'out'), // only names the outputs: write is false
    write: false,
    bundle: true,
    splitting: true, // dynamic imports (e.g. --spiffe's modules) stay lazy
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    packages: 'external',
    keepNames: true, // class and function names as in the sources (error names, logs)
    sourcemap: 'linked',
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    logLevel: 'silent', // the thrown error carries the messages
    plugins: [ownImportMeta()],
  });
  const outputs = result.outputFiles
    .map((f) => ({ path: relative(join(dir, 'out'), f.path), contents: f.contents }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const id = sha256(outputs.map((o) => `${o.path}\0${sha256(o.contents)}`).join('\n')).slice(0, 16);
  const final = join(dir, id);
  if (!existsSync(final)) {
    const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    for (const o of outputs) {
      mkdirSync(dirname(join(tmp, o.path)), { recursive: true });
      writeFileSync(join(tmp, o.path), o.contents);
    }
    try {
      renameSync(tmp, final);
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(final)) throw err; // else a concurrent run built the same output first
    }
  }
  const inputs = {};
  const listed = Object.keys(result.metafile.inputs).map((p) => resolve(root, p));
  for (const path of [...listed, ...implicitInputs(root)]) inputs[relative(root, path)] = hashFile(path);
  const manifest = {
    version: MANIFEST_VERSION,
    root,
    entry: relative(root, entry),
    build: id,
    main: 'main.mjs',
    inputs,
  };
  const tmpManifest = join(dir, `.manifest-${process.pid}-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(tmpManifest, `${JSON.stringify(manifest, null, 1)}\n`);
  renameSync(tmpManifest, join(dir, 'manifest.json'));
  return { id, main: join(final, manifest.main) };
}

/** Removes build directories (and abandoned temporaries) no run has used for a while. */
function removeStaleBuilds(dir, keep) {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    if (name === keep || name === 'manifest.json') continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > STALE_BUILD_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // removed by a concurrent run
    }
  }
}

/**
 * The current bundle of `entry` (a path to a .ts file), building it first when any input changed.
 * @returns the bundle's main module and whether this call built it
 */
export async function ensureBundle(
  entry,
  { root = REPO_ROOT, cacheDir = join(root, 'node_modules', '.cache', 'kest-run') } = {},
) {
  const source = resolve(root, entry);
  if (!existsSync(source)) throw new Error(`run-ts: no such entry ${entry}`);
  const dir = entryCacheDir(root, cacheDir, source);
  const manifest = readManifest(join(dir, 'manifest.json'));
  const current = currentBundle(root, dir, manifest, source);
  if (current) {
    const now = new Date();
    utimesSync(dirname(current), now, now); // in use: not stale
    return { main: current, built: false };
  }
  mkdirSync(dir, { recursive: true });
  let built;
  try {
    built = await build(root, dir, source);
  } catch (err) {
    // esbuild's message lists each error with its file and line; its stack adds nothing
    if (Array.isArray(err?.errors)) throw new Error(`run-ts: cannot bundle ${entry}: ${err.message}`);
    throw err;
  }
  const { id, main } = built;
  removeStaleBuilds(dir, id);
  return { main, built: true };
}

/** Runs `entry` from its bundle with `args` as its command-line arguments. */
export async function runEntry(entry, args, options = {}) {
  const { main } = await ensureBundle(entry, options);
  process.argv = [process.argv[0], resolve(options.root ?? REPO_ROOT, entry), ...args];
  await import(pathToFileURL(main).href);
}

if (process.argv[1] && resolve(process.argv[1]) === SELF) {
  const [entry, ...args] = process.argv.slice(2);
  if (!entry) {
    process.stderr.write('usage: node scripts/run-ts.mjs <entry.ts> [args…]\n');
    process.exitCode = 2;
  } else {
    await runEntry(resolve(entry), args);
  }
}
