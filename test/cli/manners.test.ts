/**
 * Issue 16 item 6 (CLI manners) and issue 14 item 4 (hostile files): in-process where possible, a
 * real process (started as `npm run kest` starts it) for EPIPE and /dev/zero.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spansOfPassport, writeLines } from '../audit/run.js';
import { buildPassport, workloads } from '../support/chain.js';
import { buildKestBin, kestShell, outputOf, type ProcessOutput, ROOT } from '../support/kest-bin.js';
import { kest } from './kest.js';

let dir: string;
let spansFile: string;
let jwksFile: string;

beforeAll(async () => {
  const built = buildKestBin();
  dir = mkdtempSync(join(tmpdir(), 'kest-manners-'));
  const { ids } = workloads(1, 'spiffe://manners.kest/svc');
  const hops = Array.from({ length: 60 }, (_, i) => ({
    identity: ids[0]!,
    operation: `step${i}`,
    ...(i === 0 ? { sourceType: 'internal' } : {}),
  }));
  const passport = await buildPassport(hops);
  spansFile = join(dir, 'spans.jsonl');
  writeLines(spansFile, spansOfPassport(passport.entries.map((e) => e.jws)));
  jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify(ids[0]!.getPublicJwks()));
  await built;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The bin as a real process through a shell pipeline; prints the kest process's exit code last. */
function shell(script: string): Promise<ProcessOutput> {
  return outputOf(
    spawn('bash', ['-c', script], {
      cwd: ROOT,
      env: { ...process.env, KEST_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}
const KEST = kestShell();

describe('kest audit manners', () => {
  it('--summary prints one line per trace and the totals', async () => {
    const r = await kest(['audit', spansFile, '--jwks', jwksFile, '--workers', '0', '--summary']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3); // per trace, totals, and the note that origins were not checked (no --roots)
    expect(lines[0]).toMatch(/^abab\S+ \[crafted\] VERIFIED entries=60 gaps=0 forks=0$/);
    expect(lines[1]).toMatch(/^1 trace\(s\): 1 verified/);
    expect(lines[2]).toMatch(/self-asserted/);
    expect(r.stderr).toBe(''); // not a TTY: no progress line
  });

  it('--bundle without --trust-domain on a single bundle says to give --trust-domain', async () => {
    const bundle = join(dir, 'bundle.json');
    writeFileSync(bundle, JSON.stringify({ keys: [] }));
    const r = await kest(['audit', spansFile, '--bundle', bundle]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give --trust-domain');
  });

  it('every command documents its exit codes in --help', async () => {
    for (const command of ['verify', 'inspect', 'audit', 'viz', 'keygen', 'detect', 'dev-agent']) {
      const r = await kest([command, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Exit codes: 0 /);
    }
  });
});

describe('kest detect --spiffe-id', () => {
  it('fails (exit 2) when that id is not issued instead of falling back to a local key', async () => {
    const r = await kest([
      'detect',
      '--spiffe-id',
      'spiffe://nowhere.kest/unknown',
      '--socket',
      `unix://${join(dir, 'no-agent.sock')}`,
      '--timeout',
      '300',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('spiffe://nowhere.kest/unknown');
    expect(r.stdout).not.toContain('LocalEd25519Provider');
  });
});

// Independent processes (own pipes, shared inputs only read): run side by side.
describe.concurrent('a real kest process', () => {
  it('exits 0 quietly when the reader of stdout goes away (| head)', async () => {
    const r = await shell(
      `${KEST} audit ${spansFile} --jwks ${jwksFile} --workers 0 --json | head -c 10 >/dev/null; echo "exit=\${PIPESTATUS[0]}"`,
    );
    expect(r.stdout.trim()).toBe('exit=0');
    expect(r.stderr).not.toContain('EPIPE');
  }, 60_000);

  it('kest audit /dev/zero stops with a clear error (exit 2)', async () => {
    const r = await shell(`${KEST} audit /dev/zero --jwks ${jwksFile} --workers 0; echo "exit=$?"`);
    expect(r.stdout.trim()).toBe('exit=2');
    expect(r.stderr).toContain('line longer than');
  }, 60_000);

  it('kest verify --jwks /dev/zero stops with a clear error (exit 2)', async () => {
    const r = await shell(`echo '[]' | ${KEST} verify - --jwks /dev/zero; echo "exit=$?"`);
    expect(r.stdout.trim()).toBe('exit=2');
    expect(r.stderr).toContain('larger than');
  }, 60_000);
});
