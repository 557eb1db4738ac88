/**
 * Issue 15: passports, headers and exports shaped like the Python reference runtime's (written by
 * the independent generator test/interop/kest_reference_shape.py from the documented facts) are
 * admitted under profile 'reference' and refused under the default; cryptographic and lineage
 * attacks stay refused under the profile. Needs /usr/bin/python3 with `cryptography` (never skipped).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JwksTrustSource, KestVerificationError, PassportVerifier } from '../../src/index.js';
import { BaggageManager, parseBaggageMembers, readReferenceBaggage } from '../../src/propagation/index.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SCRIPT = join(ROOT, 'test/interop/kest_reference_shape.py');

let dir: string;
let trust: JwksTrustSource;
const read = (name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8'));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kest-refshape-'));
  const r = spawnSync('/usr/bin/python3', [SCRIPT, dir], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) throw new Error(`generator failed: ${r.error?.message ?? r.stderr}`);
  trust = new JwksTrustSource(read('jwks.json'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const reference = () => new PassportVerifier({ trust, profile: 'reference' });
const strict = () => new PassportVerifier({ trust });

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KestVerificationError) return err.reason;
    return (err as { code?: string }).code ?? String(err);
  }
  return 'admitted';
}

describe('reference passports', () => {
  it.each(['ref3.json', 'ref6.json'])('%s verifies under the reference profile', async (file) => {
    const jws = read(file) as string[];
    const report = await reference().verify(jws);
    expect(report.entries).toHaveLength(jws.length);
    // Every reference entry is unlabelled: its trust is bounded, not recomputed.
    expect(report.uncheckedTrust).toEqual(jws.map((_, i) => i));
    expect(report.taints.length).toBeGreaterThan(0);
  });

  it.each(['ref3.json', 'ref6.json'])('%s is refused under the default profile', async (file) => {
    expect(await reason(strict().verify(read(file)))).toBe('malformed_entry');
  });

  it.each([
    ['inflated', 'unauthorized_sanitizer'],
    ['dropped', 'taint_mismatch'],
    ['invented', 'taint_mismatch'],
    ['foreign', 'bad_signature'],
    // A DER ECDSA signature is not a 64-byte Ed25519 signature: refused before any key is tried.
    ['der_eddsa', 'malformed_jws'],
    ['broken_link', 'broken_link'],
  ])('%s stays refused under the reference profile (%s)', async (kind, expected) => {
    const bad = read('bad.json') as Record<string, string[]>;
    expect(await reason(reference().verify(bad[kind] as string[]))).toBe(expected);
  });
});

describe('reference baggage', () => {
  const manager = new BaggageManager();
  const wide = { maxHeaderBytes: 16_384, maxMemberBytes: 16_384 };

  it.each([
    ['ref3', 'inline'],
    ['ref3', 'z'],
    ['ref3', 'both'],
    ['ref6', 'z'],
  ])('%s as %s is admitted under the profile', async (name, form) => {
    const header = (read('headers.json') as Record<string, Record<string, string>>)[name]?.[form] as string;
    const passport = await readReferenceBaggage(header, manager);
    expect(passport.toJSON()).toEqual(read(`${name}.json`));
    await expect(reference().verify(passport)).resolves.toMatchObject({ valid: true });
  });

  it('the 6-entry header with both members (over W3C 8192 bytes) needs wider receive limits', async () => {
    const header = read('headers.json').ref6.both as string;
    expect(header.length).toBeGreaterThan(8192);
    await expect(readReferenceBaggage(header, manager)).rejects.toMatchObject({
      code: 'ERR_BAGGAGE_INVALID',
    });
    const passport = await readReferenceBaggage(header, new BaggageManager({ limits: wide }), {
      limits: wide,
    });
    expect(passport.length).toBe(6);
  });

  it.each(['inline', 'z'])('ref3 as %s is refused by the default (strict) reader', async (form) => {
    const header = read('headers.json').ref3[form] as string;
    await expect((async () => manager.restore(parseBaggageMembers(header)))()).rejects.toThrow();
  });

  it('both members that disagree are refused; a wrong chain tip is refused', async () => {
    const h = read('headers.json');
    const raw = (h.ref3.inline as string).split(',kest.chain_tip=')[0] as string;
    const z6 = (h.ref6.z as string).split(',')[0] as string;
    const tip6 = (h.ref6.z as string).split('kest.chain_tip=')[1] as string;
    // inline ref3 + _z ref6 with ref6's tip: only _z holds (the inline is not "complete" for that tip)
    const p = await readReferenceBaggage(`${raw},${z6},kest.chain_tip=${tip6}`, manager, { limits: wide });
    expect(p.length).toBe(6);
    const tip3 = (h.ref3.inline as string).split('kest.chain_tip=')[1] as string;
    await expect(readReferenceBaggage(`${z6},kest.chain_tip=${tip3}`, manager)).rejects.toMatchObject({
      reason: 'chain_tip_mismatch',
    });
  });

  it('keeps the strict bounds: bad padding, trailing junk, oversize members', async () => {
    const h = read('headers.json');
    const z = (h.ref3.z as string).replace(/=*,kest\.chain_tip/, '===,kest.chain_tip');
    await expect(readReferenceBaggage(z, manager)).rejects.toThrow();
    const junk = (h.ref3.inline as string).replace('"]', '"]x');
    await expect(readReferenceBaggage(junk, manager)).rejects.toThrow();
    await expect(readReferenceBaggage(h.ref6.inline as string, manager)).rejects.toMatchObject({
      code: 'ERR_BAGGAGE_INVALID',
    });
  });
});
