/**
 * The `kest` bin as a real process (started as `npm run kest` starts it, also through a symlink as
 * npm installs it): the process exit code is run()'s. Everything else is tested in-process.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPassport, workloads } from '../support/chain.js';
import {
  buildKestBin,
  KEST_ENTRY,
  kestArgv,
  outputOf,
  type ProcessOutput,
  ROOT,
} from '../support/kest-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'kest-bin-'));
/**
 * The symlink lives at a fixed path under the runner's cache (not in `dir`): the runner caches one
 * bundle per entry path, so a fresh path per run would leave a bundle behind each time.
 */
const link = join(ROOT, 'node_modules/.cache/kest-bin-test/kest');
beforeAll(async () => {
  mkdirSync(join(link, '..'), { recursive: true });
  rmSync(link, { force: true });
  symlinkSync(KEST_ENTRY, link);
  await Promise.all([buildKestBin(), buildKestBin(link)]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bin(entry: string, args: string[]): Promise<ProcessOutput> {
  return outputOf(
    spawn(process.execPath, kestArgv(args, entry), {
      cwd: ROOT,
      env: { ...process.env, KEST_LOG_LEVEL: 'silent', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

describe('kest bin', () => {
  it('exits 0 / 1 / 2 as run() returns, also when started through a symlink', async () => {
    const { ids } = workloads(1, 'spiffe://bin.test/svc');
    const passport = await buildPassport([{ identity: ids[0]!, operation: 'only' }]);
    const file = join(dir, 'passport.json');
    const jwks = join(dir, 'jwks.json');
    writeFileSync(file, passport.serialize());
    writeFileSync(jwks, JSON.stringify(ids[0]!.getPublicJwks()));
    const [valid, invalid, usage] = await Promise.all([
      bin(link, ['verify', file, '--jwks', jwks]),
      bin(KEST_ENTRY, ['verify', '-', '--jwks', jwks]),
      bin(KEST_ENTRY, ['frobnicate']),
    ]);
    expect(valid).toMatchObject({ code: 0, stderr: '' });
    expect(valid.stdout).toMatch(/^VALID: 1 entry/);
    expect(invalid.code).toBe(1); // empty stdin is not a passport
    expect(invalid.stdout).toMatch(/^INVALID: /);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('importing the bin module runs nothing', async () => {
    const saved = process.exitCode;
    // A query of its own: evaluated here even if another file in this worker imported it before.
    const fresh: string = '../../src/cli/main.js?fresh';
    await import(fresh);
    expect(process.exitCode).toBe(saved);
  });
});
