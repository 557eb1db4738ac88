import { describe, expect, it } from 'vitest';
import { parseSignedEntry } from '../../src/entry/signed.js';
import { KestIdentityError, KestVerificationError } from '../../src/errors.js';
import { PassportVerifier } from '../../src/passport/verifier.js';
import { BundleSet, DevCertificateAuthority, type X509SVID } from '../../src/spiffe/index.js';
import { SPIREProvider } from '../../src/spiffe/spire.js';
import { SpiffeTrustSource } from '../../src/spiffe/trust-source.js';
import { ChainBuilder } from './helpers.js';

const backdate = new Date(Date.now() - 3_600_000);
const ca = DevCertificateAuthority.create({ trustDomain: 'example.org', notBefore: backdate });
const fixed = (svid: X509SVID) => ({ getX509SVID: () => svid });

async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KestVerificationError) return err.reason;
    throw err;
  }
  return 'verified';
}

function verifierFor(bundles = ca.bundle() as ConstructorParameters<typeof SpiffeTrustSource>[0]['bundles']) {
  const trust = new SpiffeTrustSource({ bundles });
  return { trust, verifier: new PassportVerifier({ trust }) };
}

describe('SPIREProvider signing', () => {
  it('signs ES256 (raw r||s) for a P-256 SVID and EdDSA for an Ed25519 SVID', async () => {
    for (const [keyType, alg] of [
      ['ec-p256', 'ES256'],
      ['ed25519', 'EdDSA'],
    ] as const) {
      const provider = new SPIREProvider(fixed(ca.issue({ id: '/svc/a', keyType })));
      const b = new ChainBuilder();
      const jws = await b.append(provider);
      const entry = parseSignedEntry(jws);
      expect(entry.header.alg).toBe(alg);
      expect(entry.signature).toHaveLength(64);
      expect(entry.header.x5c).toHaveLength(1);
      expect(entry.payload.labels.principal).toBe('spiffe://example.org/svc/a');
      const { verifier } = verifierFor();
      await expect(verifier.verify(b.entries)).resolves.toMatchObject({ valid: true });
    }
  });

  it('compact form: x5c in the first entry of the SVID only, x5t#S256 in every entry (docs/spec.md §1, §2)', async () => {
    const provider = new SPIREProvider(fixed(ca.issue({ id: '/svc/a' })));
    const b = new ChainBuilder();
    for (let i = 0; i < 5; i++) await b.append(provider);
    const headers = b.entries.map((j) => parseSignedEntry(j).header);
    expect(headers.map((h) => h.x5c !== undefined)).toEqual([true, false, false, false, false]);
    expect(new Set(headers.map((h) => h['x5t#S256'])).size).toBe(1);
    expect(b.entries[1]!.length).toBeLessThan(b.entries[0]!.length - 500);
    const { trust, verifier } = verifierFor();
    const report = await verifier.verify(b.entries);
    expect(report.entries).toHaveLength(5);
    expect(trust.stats).toMatchObject({ misses: 1, hits: 4 });
  });

  it('full mode carries x5c in every entry', async () => {
    const provider = new SPIREProvider(fixed(ca.issue({ id: '/svc/a' })), { chainMode: 'full' });
    const b = new ChainBuilder();
    for (let i = 0; i < 3; i++) await b.append(provider);
    expect(b.entries.every((j) => parseSignedEntry(j).header.x5c !== undefined)).toBe(true);
    await expect(verifierFor().verifier.verify(b.entries)).resolves.toMatchObject({ valid: true });
  });

  it('refuses to sign with an expired SVID (no unsigned fallback)', () => {
    const now = Date.now();
    const svid = ca.issue({
      id: '/svc/a',
      notBefore: new Date(now - 20_000),
      notAfter: new Date(now - 10_000),
    });
    const provider = new SPIREProvider(fixed(svid));
    expect(() => provider.sign(Buffer.from('{}'))).toThrow(KestIdentityError);
    expect(() => provider.getWorkloadId()).toThrow(KestIdentityError);
  });
});

describe('SpiffeTrustSource rejects', () => {
  it('an SVID from another trust domain (no bundle): unknown_principal', async () => {
    const other = DevCertificateAuthority.create({ trustDomain: 'other.org', notBefore: backdate });
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(other.issue({ id: '/svc/x' }))));
    expect(await reasonOf(verifierFor().verifier.verify(b.entries))).toBe('unknown_principal');
  });

  it('an SVID from another trust domain claiming a principal of ours: key_not_anchored', async () => {
    const other = DevCertificateAuthority.create({ trustDomain: 'other.org', notBefore: backdate });
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(other.issue({ id: '/svc/a' }))), {
      principal: 'spiffe://example.org/svc/a',
    });
    const set = new BundleSet([ca.bundle(), other.bundle()]);
    expect(await reasonOf(verifierFor(set).verifier.verify(b.entries))).toBe('key_not_anchored');
  });

  it('an entry signed after its SVID expired: key_not_anchored', async () => {
    const now = Date.now();
    const svid = ca.issue({
      id: '/svc/a',
      notBefore: new Date(now - 600_000),
      notAfter: new Date(now - 300_000),
    });
    const b = new ChainBuilder();
    // A provider clock inside the window lets it sign; the entry claims a time after expiry.
    await b.append(new SPIREProvider(fixed(svid), { now: () => now - 400_000 }), { timestampMs: now });
    expect(await reasonOf(verifierFor().verifier.verify(b.entries))).toBe('key_not_anchored');
    // The same SVID with an in-window timestamp verifies offline (old traces stay auditable after
    // rotation), but not live: the SVID has expired now (H4, see trust-changes.test.ts).
    const ok = new ChainBuilder();
    await ok.append(new SPIREProvider(fixed(svid), { now: () => now - 400_000 }), {
      timestampMs: now - 400_000,
    });
    const audit = new SpiffeTrustSource({ bundles: ca.bundle(), svidValidity: 'signing-time' });
    expect(await reasonOf(new PassportVerifier({ trust: audit }).verify(ok.entries))).toBe('verified');
    expect(await reasonOf(verifierFor().verifier.verify(ok.entries))).toBe('key_not_anchored');
  });

  it('a chain not anchored in the bundle (rogue CA, same trust domain): key_not_anchored', async () => {
    const rogue = DevCertificateAuthority.create({ trustDomain: 'example.org', notBefore: backdate });
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(rogue.issue({ id: '/svc/a' }))));
    expect(await reasonOf(verifierFor().verifier.verify(b.entries))).toBe('key_not_anchored');
  });

  it('a URI SAN different from labels.principal: key_not_anchored', async () => {
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(ca.issue({ id: '/svc/a' }))), {
      principal: 'spiffe://example.org/svc/admin',
    });
    expect(await reasonOf(verifierFor().verifier.verify(b.entries))).toBe('key_not_anchored');
  });

  it('a compact entry whose chain the passport does not carry: key_not_anchored', async () => {
    const provider = new SPIREProvider(fixed(ca.issue({ id: '/svc/a' })));
    const b = new ChainBuilder();
    await b.append(provider);
    await b.append(provider);
    // Drop the chain-carrying root by starting verification from a passport that lacks it: re-sign
    // a compact root instead.
    const c = new ChainBuilder();
    for (const t of b.known) c.known.add(t);
    await c.append(provider);
    expect(parseSignedEntry(c.entries[0]!).header.x5c).toBeUndefined();
    expect(await reasonOf(verifierFor().verifier.verify(c.entries))).toBe('key_not_anchored');
  });

  it('an entry whose x5t#S256 does not match its own x5c leaf: key_not_anchored', async () => {
    const a = ca.issue({ id: '/svc/a' });
    const other = ca.issue({ id: '/svc/a' });
    const trust = new SpiffeTrustSource({ bundles: ca.bundle() });
    const b = new ChainBuilder();
    const entry = parseSignedEntry(await b.append(new SPIREProvider(fixed(a)), { compact: false }));
    const request = {
      principal: 'spiffe://example.org/svc/a',
      header: { ...entry.header, 'x5t#S256': other.thumbprint },
      entry: entry.payload,
      index: 0,
    };
    expect(() => trust.resolveKey(request)).toThrow(KestVerificationError);
    // A chains map whose entry has a different leaf than the key it is filed under is refused.
    const forged = {
      ...request,
      header: { alg: 'ES256' as const, 'x5t#S256': a.thumbprint },
      chains: new Map([[a.thumbprint, other.x5c()]]),
    };
    expect(() => trust.resolveKey(forged)).toThrow(/different leaf/);
    // And the genuine mapping resolves to the SVID's key.
    const genuine = { ...forged, chains: new Map([[a.thumbprint, a.x5c()]]) };
    expect(trust.resolveKey(genuine).equals(a.publicKey)).toBe(true);
  });

  it('a principal that is not a SPIFFE ID: unknown_principal', async () => {
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(ca.issue({ id: '/svc/a' }))), { principal: 'local://svc-a' });
    expect(await reasonOf(verifierFor().verifier.verify(b.entries))).toBe('unknown_principal');
  });

  it('a tampered signature after anchoring: bad_signature', async () => {
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(ca.issue({ id: '/svc/a' }))));
    const [h, p, s] = b.entries[0]!.split('.');
    const sig = Buffer.from(s!, 'base64url');
    sig[10]! ^= 1;
    expect(await reasonOf(verifierFor().verifier.verify([`${h}.${p}.${sig.toString('base64url')}`]))).toBe(
      'bad_signature',
    );
  });
});

describe('passport of SVID-signed entries, verified with SpiffeTrustSource only', () => {
  it('verifies three hops of three workloads through an intermediate CA', async () => {
    const inter = ca.createIntermediate();
    const hops = ['/frontend', '/orders', '/payments'].map(
      (p, i) => new SPIREProvider(fixed((i === 1 ? inter : ca).issue({ id: p }))),
    );
    const b = new ChainBuilder();
    for (const p of hops) await b.append(p);
    for (const p of hops) await b.append(p);
    const { trust, verifier } = verifierFor();
    const report = await verifier.verify(b.entries);
    expect(report.principals).toEqual([
      'spiffe://example.org/frontend',
      'spiffe://example.org/orders',
      'spiffe://example.org/payments',
    ]);
    expect(trust.stats.misses).toBe(3);
    // The orders chain carries its intermediate: leaf + intermediate.
    expect(parseSignedEntry(b.entries[1]!).header.x5c).toHaveLength(2);
  });
});
