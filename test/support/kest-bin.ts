/**
 * The `kest` bin as a real process, started as `npm run kest` starts it (package.json: node, the
 * runner scripts/run-ts.mjs, src/cli/main.ts): a cached esbuild bundle, ~0.2 s of CPU per start
 * against ~0.65 s through tsx. For what needs a real process (exit codes, signals, pipes, /dev/zero);
 * everything else runs in-process (test/cli/kest.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ensureBundle } from '../../scripts/run-ts.mjs';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `npm run kest` as package.json defines it: node, the runner, the entry. */
const SCRIPT = (JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')).scripts.kest as string).split(
  ' ',
);
const RUNNER = resolve(ROOT, SCRIPT[1]!);
export const KEST_ENTRY = resolve(ROOT, SCRIPT.at(-1)!);

/**
 * Builds the bundle of `entry` (the bin, or a symlink to it) unless it is current. Call it in
 * beforeAll: the first start after a source change builds it, and concurrent first starts would
 * each build it.
 */
export async function buildKestBin(entry = KEST_ENTRY): Promise<void> {
  if (SCRIPT.length !== 3 || SCRIPT[0] !== 'node') throw new Error(`unexpected npm run kest: ${SCRIPT}`);
  await ensureBundle(entry);
}

/** The arguments after node that start `kest args…` (absolute paths: any working directory). */
export function kestArgv(args: readonly string[] = [], entry = KEST_ENTRY): string[] {
  return [RUNNER, entry, ...args];
}

/** `kest` as a shell command (node and the runner quoted), for pipelines. */
export function kestShell(entry = KEST_ENTRY): string {
  return [process.execPath, ...kestArgv([], entry)].map((a) => JSON.stringify(a)).join(' ');
}

export interface ProcessOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What a child process printed, and its exit code, once it has closed (rejects if it cannot start). */
export function outputOf(
  child: ChildProcess & { stdout: Readable; stderr: Readable },
): Promise<ProcessOutput> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
