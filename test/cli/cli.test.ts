/**
 * The `kest` CLI in-process (run(argv, io) from src/cli/run.ts): keygen → sign with the generated
 * key → verify / inspect, exit codes 0 (valid), 1 (invalid), 2 (usage/configuration). The bin
 * itself (src/cli/main.ts as a process) is covered by bin.test.ts.
 */
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signJws } from '../../src/entry/index.js';
import type { IdentityProvider, Passport } from '../../src/index.js';
import { buildPassport } from '../support/chain.js';
import { kest } from './kest.js';

const ROOT = new URL('../..', import.meta.url).pathname;

let dir: string;
let keyDir: (name: string) => string;
const identities: IdentityProvider[] = [];
let passport: Passport;
let passportFile: string;

/** An identity that signs with a private JWK written by `kest keygen`. */
function identityFromKeygen(path: string): IdentityProvider {
  const jwk = JSON.parse(readFileSync(path, 'utf8'));
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  return {
    getWorkloadId: () => jwk.principal,
    sign: (bytes) => signJws(bytes, key, { typ: 'JWS', kid: jwk.kid }),
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kest-cli-'));
  keyDir = (name) => join(dir, name);
  for (const [name, principal] of [
    ['a', 'spiffe://cli.kest/frontend'],
    ['b', 'spiffe://cli.kest/sanitizer'],
  ] as const) {
    const r = await kest(['keygen', '--out-dir', keyDir(name), '--principal', principal, '--json']);
    expect(r.code).toBe(0);
    identities.push(identityFromKeygen(join(keyDir(name), 'kest-private.jwk.json')));
  }
  // One JWKS holding both principals' keys.
  const merged = {
    keys: ['a', 'b'].flatMap((n) => JSON.parse(readFileSync(join(keyDir(n), 'kest-jwks.json'), 'utf8')).keys),
  };
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(merged));
  passport = await buildPassport([
    { identity: identities[0]!, sourceType: 'user_input', addedTaints: ['pii'], operation: 'ingest' },
    { identity: identities[1]!, trustOverride: 80, removedTaints: ['pii'], operation: 'scrub' },
    { identity: identities[0]!, operation: 'answer' },
  ]);
  passportFile = join(dir, 'passport.json');
  writeFileSync(passportFile, passport.serialize());
  writeFileSync(
    join(dir, 'sanitizers.json'),
    JSON.stringify({
      sanitizers: [{ principal: 'spiffe://cli.kest/sanitizer', may_remove: ['pii'], max_trust: 90 }],
    }),
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('kest keygen', () => {
  it('writes a 0600 private JWK and a public JWKS naming the principal', async () => {
    const priv = join(keyDir('a'), 'kest-private.jwk.json');
    expect(statSync(priv).mode & 0o777).toBe(0o600);
    const jwk = JSON.parse(readFileSync(priv, 'utf8'));
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', principal: 'spiffe://cli.kest/frontend' });
    expect(typeof jwk.d).toBe('string');
    const jwks = JSON.parse(readFileSync(join(keyDir('a'), 'kest-jwks.json'), 'utf8'));
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kid: jwk.kid, x: jwk.x, principal: 'spiffe://cli.kest/frontend' });
    expect('d' in jwks.keys[0]).toBe(false);
  });

  it('refuses to overwrite without --force (exit 2), overwrites with it', async () => {
    const before = readFileSync(join(keyDir('a'), 'kest-jwks.json'), 'utf8');
    const r = await kest(['keygen', '--out-dir', keyDir('a'), '--principal', 'spiffe://cli.kest/frontend']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exists/);
    expect(readFileSync(join(keyDir('a'), 'kest-jwks.json'), 'utf8')).toBe(before);
    const forced = await kest(['keygen', '--out-dir', keyDir('c'), '--principal', 'spiffe://x/y']);
    expect(forced.code).toBe(0);
    const again = await kest([
      'keygen',
      '--out-dir',
      keyDir('c'),
      '--principal',
      'spiffe://x/y',
      '--force',
      '--json',
    ]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).principal).toBe('spiffe://x/y');
  });
});

describe('kest verify', () => {
  const jwks = () => join(dir, 'jwks.json');
  const sanitizers = () => join(dir, 'sanitizers.json');

  it('exit 0 for a valid passport (file and stdin), text and --json', async () => {
    const r = await kest(['verify', passportFile, '--jwks', jwks(), '--sanitizers', sanitizers()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^VALID: 3 entries, 2 principal\(s\), trust 80, taints \[\]/);
    expect(r.stdout).toContain(`tip ${passport.tipHash}`);
    const j = await kest(
      ['verify', '-', '--jwks', jwks(), '--sanitizers', sanitizers(), '--json'],
      passport.serialize(),
    );
    expect(j.code).toBe(0);
    const out = JSON.parse(j.stdout);
    expect(out).toMatchObject({ valid: true, trustScore: 80, taints: [], tipHash: passport.tipHash });
    expect(out.entries.map((e: { operation: string }) => e.operation)).toEqual(['ingest', 'scrub', 'answer']);
    expect(out.entries[1].sanitized).toBe(true);
  });

  it('exit 1 with code, reason, index and entry id for an invalid passport', async () => {
    // Without the sanitizers file the override in entry 1 is unauthorized.
    const r = await kest(['verify', passportFile, '--jwks', jwks(), '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      valid: false,
      code: 'ERR_VERIFICATION_FAILED',
      reason: 'unauthorized_sanitizer',
      index: 1,
      entryId: passport.entries[1]!.payload.entry_id,
      message: expect.stringContaining('may not'),
    });
    // A dropped middle entry, in text form.
    const list = passport.toJSON();
    const dropped = join(dir, 'dropped.json');
    writeFileSync(dropped, JSON.stringify([list[0], list[2]]));
    const t = await kest(['verify', dropped, '--jwks', jwks(), '--sanitizers', sanitizers()]);
    expect(t.code).toBe(1);
    expect(t.stdout).toContain(
      `INVALID: ERR_VERIFICATION_FAILED broken_link at entry 1 (${passport.entries[2]!.payload.entry_id})`,
    );
    // A key for another principal only.
    const onlyA = join(keyDir('a'), 'kest-jwks.json');
    const u = await kest(['verify', passportFile, '--jwks', onlyA, '--json']);
    expect(u.code).toBe(1);
    expect(JSON.parse(u.stdout)).toMatchObject({ reason: 'unknown_principal', index: 1 });
    // Not a passport at all.
    const n = await kest(['verify', '-', '--jwks', jwks(), '--json'], '{"not":"a passport"}');
    expect(n.code).toBe(1);
    expect(JSON.parse(n.stdout)).toMatchObject({ valid: false, index: -1 });
  });

  it('--expected-tip: match → 0, mismatch → 1 (chain_tip_mismatch), malformed → 2', async () => {
    const base = ['verify', passportFile, '--jwks', jwks(), '--sanitizers', sanitizers(), '--json'];
    expect((await kest([...base, '--expected-tip', passport.tipHash!])).code).toBe(0);
    const m = await kest([...base, '--expected-tip', passport.entries[0]!.hash]);
    expect(m.code).toBe(1);
    expect(JSON.parse(m.stdout)).toMatchObject({ reason: 'chain_tip_mismatch', index: -1 });
    expect((await kest([...base, '--expected-tip', 'abc'])).code).toBe(2);
  });

  it('--partial-lineage: entries of another runtime without kest.source_type verify with trust unchecked', async () => {
    // What the Python reference writes: no kest.source_type label, its own runtime name, root trust 100.
    const foreign = await buildPassport([
      {
        identity: identities[0]!,
        operation: 'py.ingest',
        mutate: (p) => {
          p.runtime = { name: 'kest-python', version: '0.3.0' };
          p.trust_score = 100;
        },
      },
      { identity: identities[0]!, operation: 'ts.answer' },
    ]);
    const file = join(dir, 'foreign.json');
    writeFileSync(file, foreign.serialize());
    const strict = await kest(['verify', file, '--jwks', jwks()]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/trust_mismatch at entry 0/);
    const partial = await kest(['verify', file, '--jwks', jwks(), '--partial-lineage', '--json']);
    expect(partial.code).toBe(0);
    expect(JSON.parse(partial.stdout)).toMatchObject({ valid: true, uncheckedTrust: [0] });
    // a kest-ts entry is never exempt: our runtime always writes the label it needs
    const ours = await buildPassport([
      {
        identity: identities[0]!,
        operation: 'ts.root',
        mutate: (p) => {
          p.trust_score = 100;
        },
      },
    ]);
    writeFileSync(file, ours.serialize());
    const stillStrict = await kest(['verify', file, '--jwks', jwks(), '--partial-lineage']);
    expect(stillStrict.code).toBe(1);
  });

  const typoSanitizers = () => {
    const file = join(dir, 'sanitizers-typo.json');
    writeFileSync(file, JSON.stringify({ sanitizers: [{ principal: 'spiffe://x/y', may_remov: '*' }] }));
    return file;
  };

  it('exit 2 for usage and configuration errors', async () => {
    const cases: [string[], RegExp][] = [
      [['verify', passportFile], /--jwks/],
      [['verify', '--jwks', jwks()], /missing required argument/],
      [['verify', join(dir, 'missing.json'), '--jwks', jwks()], /ENOENT/],
      [['verify', passportFile, '--jwks', join(dir, 'missing-jwks.json')], /JWKS/],
      [['verify', passportFile, '--jwks', join(keyDir('a'), 'kest-private.jwk.json')], /principal|private/],
      [['verify', passportFile, '--jwks', jwks(), '--sanitizers', jwks()], /sanitizers/],
      [
        ['verify', passportFile, '--jwks', jwks(), '--sanitizers', typoSanitizers()],
        /unknown key "may_remov" in sanitizers\[0\]; did you mean "may_remove"\?/,
      ],
      [['verify', passportFile, '--jwks', jwks(), '--bogus'], /unknown option/],
      [['frobnicate'], /unknown command/],
      [[], /Usage: kest/],
    ];
    for (const [args, message] of cases) {
      const r = await kest(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(message);
    }
  });

  it('--help and --version exit 0', async () => {
    const h = await kest(['verify', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('--expected-tip');
    const v = await kest(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });
});

describe('kest inspect', () => {
  it('prints a table: index, operation, principal, trust, taints, parents', async () => {
    const r = await kest(['inspect', passportFile]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('3 entries (not verified: run kest verify)');
    expect(lines[1]).toMatch(/^#\s+operation\s+principal\s+trust\s+taints\s+parents$/);
    expect(lines[3]).toMatch(/^0\s+ingest\s+spiffe:\/\/cli\.kest\/frontend\s+40\s+pii\s+root$/);
    expect(lines[4]).toMatch(/^1\s+scrub\s+spiffe:\/\/cli\.kest\/sanitizer\s+80\s+-\s+#0$/);
    expect(lines[5]).toMatch(/^2\s+answer\s+spiffe:\/\/cli\.kest\/frontend\s+80\s+-\s+#1$/);
    expect(lines[6]).toBe(`tip ${passport.tipHash}`);
  });

  it('reads stdin, marks unknown parents, and exits 1 on a malformed passport', async () => {
    const list = passport.toJSON();
    const r = await kest(['inspect', '-'], JSON.stringify({ entries: [list[2]] }));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`\\?${passport.entries[1]!.hash.slice(0, 12)}`));
    const j = await kest(['inspect', passportFile, '--json']);
    expect(JSON.parse(j.stdout)[1].payload.operation).toBe('scrub');
    const bad = await kest(['inspect', '-'], '["not.a.jws"]');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/ERR_PASSPORT_INVALID: entry 0/);
    expect((await kest(['inspect', join(dir, 'nope.json')])).code).toBe(2);
  });
});
