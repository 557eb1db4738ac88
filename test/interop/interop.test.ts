/**
 * Interop (issue 2): an independent implementation of the public spec (test/interop/kest_ref.py,
 * Python + the Debian package python3-cryptography) and this package verify each other's passports,
 * and an independent JOSE library (jose) verifies every entry this package signs.
 * Requires /usr/bin/python3 with `cryptography` (apt-get install -y python3-cryptography; .ci/run
 * installs it): without it this test FAILS — it is never skipped.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64urlEncode, buildEntry, canonicalBytes, signJws } from '../../src/entry/index.js';
import { JwksTrustSource, type Passport, PassportVerifier, type PublicJwk } from '../../src/index.js';
import { buildPassport, workloads } from '../support/chain.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const PYTHON = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'test/interop/kest_ref.py');

function python(args: string[]) {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return r;
}

function kest(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, KEST_LOG_LEVEL: 'silent' },
  });
}

let dir: string;

beforeAll(() => {
  const probe = spawnSync(PYTHON, ['-c', 'import cryptography; print(cryptography.__version__)'], {
    encoding: 'utf8',
  });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `interop needs ${PYTHON} with the cryptography module: apt-get install -y python3-cryptography ` +
        `(${probe.error?.message ?? probe.stderr.trim()})`,
    );
  }
  dir = mkdtempSync(join(tmpdir(), 'kest-interop-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the independent Python implementation', () => {
  it('passes its own RFC 8785 vectors (so its JCS is a fair judge)', () => {
    const r = python(['selftest']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('selftest ok');
  });
});

describe('Python → kest-ts', () => {
  it('`kest verify` accepts a 3-entry passport (with a fan-in) made by the Python implementation', () => {
    const out = join(dir, 'py');
    const made = python(['make', out]);
    expect(made.status).toBe(0);
    const summary = JSON.parse(made.stdout);
    expect(summary).toMatchObject({ entries: 3, trust: 36, taints: ['pii', 'web'] });

    const r = kest(['verify', join(out, 'passport.json'), '--jwks', join(out, 'jwks.json'), '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      valid: true,
      trustScore: 36,
      taints: ['pii', 'web'],
      tipHash: summary.tip,
    });
    expect(report.entries.map((e: { trustScore: number }) => e.trustScore)).toEqual([40, 36, 36]);
    expect(report.principals).toEqual(['spiffe://py.kest/ingest', 'spiffe://py.kest/rag']);
  });

  it('the library verifier agrees, and a flipped byte in the Python passport is refused', async () => {
    const out = join(dir, 'py');
    const list = JSON.parse(readFileSync(join(out, 'passport.json'), 'utf8')) as string[];
    const trust = JwksTrustSource.fromFile(join(out, 'jwks.json'));
    const report = await new PassportVerifier({ trust }).verify(list);
    expect(report.entries[2]!.parents).toHaveLength(2);
    const payload = report.passport.entries[0]!.payload;
    expect(payload.runtime.name).toBe('kest-python');
    expect(payload.labels.note).toBe('café € 😀');
    expect(payload.metadata).toEqual({ ratio: 0.000001, big: 1e21, third: 1 / 3, neg: -2.5, n: 7 });
    // Our canonical form of the Python payload is byte-identical to what Python signed.
    const signedBytes = report.passport.entries.map((e) => Buffer.from(e.jws.split('.')[1]!, 'base64url'));
    for (const [i, e] of report.passport.entries.entries()) {
      expect(canonicalBytes(e.payload).equals(signedBytes[i]!)).toBe(true);
    }
    const tampered = list.slice();
    const s = tampered[1]!;
    tampered[1] = `${s.slice(0, 40)}${s[40] === 'A' ? 'B' : 'A'}${s.slice(41)}`;
    const bad = join(out, 'tampered.json');
    writeFileSync(bad, JSON.stringify(tampered));
    const r = kest(['verify', bad, '--jwks', join(out, 'jwks.json'), '--json']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: false, index: 1 });
  });
});

describe('kest-ts → Python and jose', () => {
  const { ids, trust } = workloads(3, 'spiffe://ts.kest/svc');
  let passport: Passport;
  let jwks: { keys: PublicJwk[] };
  const out = () => join(dir, 'ts');

  beforeAll(async () => {
    passport = await buildPassport([
      { identity: ids[0]!, sourceType: 'third_party_api', addedTaints: ['external'] },
      {
        identity: ids[1]!,
        sourceType: 'verified_rag',
        addedTaints: ['pii'],
        // Unicode and float content exercise both JCS implementations.
        mutate: (p) => {
          p.labels['kest.identity'] = JSON.stringify({ user: 'zoë', agent: 'a', task: 't' });
          p.labels['\ufb33'] = 'dalet';
          p.labels['😀'] = 'grinning';
          p.labels.control = 'tab\there \u000f';
          p.metadata = { ratio: 0.000001, big: 1e21, neg: -0.5, third: 1 / 3, exp: 1e-7, list: [4.5, 2e-3] };
        },
      },
      { identity: ids[2]!, parents: [0, 1], operation: 'merge' },
    ]);
    jwks = { keys: ids.flatMap((id) => id.getPublicJwks().keys) };
    mkdirSync(out(), { recursive: true });
    writeFileSync(join(out(), 'passport.json'), passport.serialize());
    writeFileSync(join(out(), 'jwks.json'), JSON.stringify(jwks));
  });

  it('the Python implementation verifies a passport made by this package', async () => {
    const ours = await new PassportVerifier({ trust }).verify(passport);
    const r = python(['verify', join(out(), 'passport.json'), join(out(), 'jwks.json')]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      valid: true,
      entries: 3,
      trust: ours.trustScore,
      taints: ours.taints,
      tip: ours.tipHash,
      runtimes: ['kest-ts'],
    });
    expect(r.status).toBe(0);
    expect(ours.trustScore).toBe(54); // floor(min(60, 54) * 100 / 100)
  });

  it('the Python implementation refuses it when tampered (so its acceptance means something)', () => {
    const list = passport.toJSON();
    const cases: [string, string[], number][] = [
      ['signature byte', [list[0]!, list[1]!.replace(/.$/, (c) => (c === 'A' ? 'Q' : 'A')), list[2]!], 1],
      ['dropped parent', [list[0]!, list[2]!], 1],
      [
        'payload edited, signature kept',
        [
          list[0]!,
          (() => {
            const [h, p, s] = list[1]!.split('.') as [string, string, string];
            const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
            payload.trust_score = 100;
            return `${h}.${b64urlEncode(canonicalBytes(payload))}.${s}`;
          })(),
          list[2]!,
        ],
        1,
      ],
    ];
    for (const [name, tampered, index] of cases) {
      const file = join(out(), `tampered-${index}.json`);
      writeFileSync(file, JSON.stringify(tampered));
      const r = python(['verify', file, join(out(), 'jwks.json')]);
      expect({ name, status: r.status }).toEqual({ name, status: 1 });
      expect(JSON.parse(r.stdout)).toMatchObject({ valid: false, index });
    }
  });

  it('jose (an independent JOSE library) verifies every entry with the published JWK', async () => {
    for (const entry of passport.entries) {
      const jwk = jwks.keys.find((k) => k.principal === entry.payload.labels.principal)!;
      const { principal: _p, ...publicJwk } = jwk;
      const key = await importJWK(publicJwk, 'EdDSA');
      const { payload, protectedHeader } = await compactVerify(entry.jws, key, { algorithms: ['EdDSA'] });
      expect(protectedHeader).toEqual({ alg: 'EdDSA', typ: 'JWS', kid: jwk.kid });
      expect(Buffer.from(payload).equals(canonicalBytes(entry.payload))).toBe(true);
      // And jose refuses the entry under another principal's key.
      const other = jwks.keys.find((k) => k.principal !== entry.payload.labels.principal)!;
      const { principal: _o, ...otherJwk } = other;
      await expect(compactVerify(entry.jws, await importJWK(otherJwk, 'EdDSA'))).rejects.toThrow();
    }
  });

  it('an ES256 entry made by this package verifies with jose too', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const entry = buildEntry({ operation: 'es', principal: 'spiffe://ts.kest/ec', trustScore: 10 });
    const jws = signJws(canonicalBytes(entry), ec.privateKey, { typ: 'JWS' });
    const { payload } = await compactVerify(
      jws,
      await importJWK(ec.publicKey.export({ format: 'jwk' }), 'ES256'),
    );
    expect(JSON.parse(Buffer.from(payload).toString())).toEqual(entry);
  });
});
