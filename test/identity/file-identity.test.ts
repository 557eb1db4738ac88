/**
 * FileIdentityProvider loads what `kest keygen` writes (run in-process), signs entries a verifier
 * accepts with keygen's JWKS, and refuses key files that are readable by others or malformed.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FileIdentityProvider,
  JwksTrustSource,
  KestIdentityError,
  PassportVerifier,
} from '../../src/index.js';
import { kest } from '../cli/kest.js';
import { buildPassport } from '../support/chain.js';

const PRINCIPAL = 'spiffe://file.kest/orders';
let dir: string;
let privatePath: string;
let jwksPath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kest-file-identity-'));
  const r = await kest(['keygen', '--out-dir', join(dir, 'keys'), '--principal', PRINCIPAL, '--json']);
  expect(r.code).toBe(0);
  ({ private: privatePath, jwks: jwksPath } = JSON.parse(r.stdout));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of keygen's private JWK, edited, written with `mode`. */
function variant(name: string, edit: (jwk: Record<string, unknown>) => void, mode = 0o600): string {
  const jwk = JSON.parse(readFileSync(privatePath, 'utf8'));
  edit(jwk);
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(jwk), { mode });
  chmodSync(path, mode);
  return path;
}

function refusal(load: () => unknown): KestIdentityError {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(KestIdentityError);
    expect((err as KestIdentityError).code).toBe('ERR_IDENTITY');
    return err as KestIdentityError;
  }
  throw new Error('expected a KestIdentityError');
}

describe('FileIdentityProvider', () => {
  it("signs as keygen's principal; the verifier accepts it with keygen's JWKS", async () => {
    const identity = FileIdentityProvider.fromFile(privatePath);
    expect(identity.getWorkloadId()).toBe(PRINCIPAL);
    const jwks = JSON.parse(readFileSync(jwksPath, 'utf8'));
    expect(identity.getPublicJwks()).toEqual(jwks);
    const passport = await buildPassport([
      { identity, operation: 'a' },
      { identity, operation: 'b' },
    ]);
    const report = await new PassportVerifier({ trust: JwksTrustSource.fromFile(jwksPath) }).verify(
      passport.serialize(),
    );
    expect(report.entries ?? report).toBeTruthy();
    const other = await buildPassport([
      { identity: FileIdentityProvider.fromFile(privatePath), operation: 'a' },
    ]);
    expect(other.entries[0]!.signature).not.toBe('');
  });

  it('refuses a key file readable by group or others (like ssh)', () => {
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      const path = variant(`mode-${mode.toString(8)}.json`, () => {}, mode);
      const err = refusal(() => FileIdentityProvider.fromFile(path));
      expect(err.message).toContain(`chmod 600 ${path}`);
    }
    expect(FileIdentityProvider.fromFile(variant('mode-400.json', () => {}, 0o400)).getWorkloadId()).toBe(
      PRINCIPAL,
    );
  });

  it('refuses a missing, malformed or inconsistent key file, saying what is wrong', () => {
    expect(refusal(() => FileIdentityProvider.fromFile(join(dir, 'absent.json'))).message).toMatch(/ENOENT/);
    const notJson = join(dir, 'not-json.json');
    writeFileSync(notJson, 'not json', { mode: 0o600 });
    expect(refusal(() => FileIdentityProvider.fromFile(notJson)).message).toMatch(/not a JSON private JWK/);
    const cases: [string, (j: Record<string, unknown>) => void, RegExp][] = [
      ['ec', (j) => Object.assign(j, { kty: 'EC', crv: 'P-256' }), /only Ed25519/],
      ['public-only', (j) => delete j.d, /no private key/],
      [
        'other-x',
        (j) => (j.x = JSON.parse(readFileSync(jwksPath, 'utf8')).keys[0].x.replace(/^./, 'A')),
        /x does not match|invalid Ed25519/,
      ],
      ['bad-kid', (j) => (j.kid = 'not-the-thumbprint'), /thumbprint/],
      ['no-spiffe', (j) => (j.principal = 'notaspiffeid'), /not a SPIFFE ID/],
      ['no-principal', (j) => delete j.principal, /not a SPIFFE ID/],
    ];
    for (const [name, edit, message] of cases) {
      expect(
        refusal(() => FileIdentityProvider.fromFile(variant(`${name}.json`, edit))).message,
        name,
      ).toMatch(message);
    }
    expect(
      refusal(() => FileIdentityProvider.fromFile(privatePath, { workloadId: 'spiffe://file.kest/other' }))
        .message,
    ).toMatch(/differs from workloadId/);
    const named = FileIdentityProvider.fromFile(
      variant('unnamed.json', (j) => delete j.principal),
      {
        workloadId: 'spiffe://file.kest/named',
      },
    );
    expect(named.getWorkloadId()).toBe('spiffe://file.kest/named');
  });
});

describe('kest keygen principal', () => {
  it('requires --principal and a valid SPIFFE ID; writes nothing otherwise (exit 2)', async () => {
    for (const args of [
      [],
      ['--principal', 'notaspiffeid'],
      ['--principal', 'spiffe://UPPER/x'],
      ['--principal', ''],
    ]) {
      const out = join(dir, `refused-${args.length}-${args[1] ?? 'none'}`.replace(/[^a-z0-9-]/gi, '_'));
      const r = await kest(['keygen', '--out-dir', out, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/principal/);
      expect(existsSync(out)).toBe(false);
    }
  });
});
