#!/usr/bin/env node
/**
 * The `kest` bin (package.json "bin": dist/cli/main.js; `npm run kest` runs it from a cached esbuild
 * bundle, scripts/run-ts.mjs). Only wires the process to `run`, which tests call in-process.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { processIo } from './io.js';
import { exitQuietlyOnEpipe } from './manners.js';
import { run } from './run.js';

/** True when node was started on this file (directly, or through the npm bin symlink). */
function isBinEntry(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isBinEntry()) {
  exitQuietlyOnEpipe(process.stdout, (code) => process.exit(code));
  process.exitCode = await run(process.argv.slice(2), processIo);
}
