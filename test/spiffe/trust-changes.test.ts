/**
 * SpiffeTrustSource over time: SVID validity now vs at the entry's claimed signing time (H4), and
 * bundle changes / SVID expiry reaching both its own validated-chain cache and the verifier's
 * verified-tip cache through epoch() (M3).
 */
import { describe, expect, it } from 'vitest';
import { KestConfigurationError, KestVerificationError } from '../../src/errors.js';
import { PassportVerifier } from '../../src/passport/verifier.js';
import { BundleSet, DevCertificateAuthority, type X509SVID } from '../../src/spiffe/index.js';
import { SPIREProvider } from '../../src/spiffe/spire.js';
import { SpiffeTrustSource, type SpiffeTrustSourceOptions } from '../../src/spiffe/trust-source.js';
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

function verifierWith(options: SpiffeTrustSourceOptions, tipCacheSize?: number) {
  const trust = new SpiffeTrustSource(options);
  return {
    trust,
    verifier: new PassportVerifier({ trust, ...(tipCacheSize === undefined ? {} : { tipCacheSize }) }),
  };
}

describe('svidValidity (H4)', () => {
  const now = Date.now();
  const expired = ca.issue({
    id: '/svc/a',
    notBefore: new Date(now - 600_000),
    notAfter: new Date(now - 300_000),
  });

  async function backdatedEntry(): Promise<string[]> {
    // Whoever kept the expired SVID's key signs today, claiming a time inside the old window.
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(expired), { now: () => now - 400_000 }), {
      timestampMs: now - 400_000,
    });
    return b.entries;
  }

  it("default 'live': an expired SVID's backdated entry is refused", async () => {
    const { trust, verifier } = verifierWith({ bundles: ca.bundle() });
    expect(trust.svidValidity).toBe('live');
    expect(await reasonOf(verifier.verify(await backdatedEntry()))).toBe('key_not_anchored');
  });

  it("'signing-time' (offline audit): the same entry is accepted", async () => {
    const { verifier } = verifierWith({ bundles: ca.bundle(), svidValidity: 'signing-time' });
    expect(await reasonOf(verifier.verify(await backdatedEntry()))).toBe('verified');
  });

  it('both modes refuse an entry claiming a time outside the window of a valid SVID', async () => {
    const fresh = ca.issue({ id: '/svc/a', notBefore: new Date(now - 60_000), ttlSeconds: 600 });
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(fresh)), { timestampMs: now - 3_600_000 });
    for (const svidValidity of ['live', 'signing-time'] as const) {
      const { verifier } = verifierWith({ bundles: ca.bundle(), svidValidity });
      expect(await reasonOf(verifier.verify(b.entries))).toBe('key_not_anchored');
    }
  });

  it("'live' honours skewMs around now", async () => {
    const justExpired = ca.issue({
      id: '/svc/a',
      notBefore: new Date(now - 600_000),
      notAfter: new Date(now - 30_000),
    });
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(justExpired), { now: () => now - 60_000 }), {
      timestampMs: now - 60_000,
    });
    expect(await reasonOf(verifierWith({ bundles: ca.bundle() }).verifier.verify(b.entries))).toBe(
      'verified',
    );
    expect(await reasonOf(verifierWith({ bundles: ca.bundle(), skewMs: 0 }).verifier.verify(b.entries))).toBe(
      'key_not_anchored',
    );
  });

  it('an unknown mode is a configuration error', () => {
    expect(() => new SpiffeTrustSource({ bundles: ca.bundle(), svidValidity: 'never' as never })).toThrow(
      KestConfigurationError,
    );
  });
});

describe('bundle changes and expiry reach every cache (M3)', () => {
  it("SpiffeTrustSource's own chain cache: an authority removed from the bundle anchors nothing", async () => {
    const next = DevCertificateAuthority.create({ trustDomain: 'example.org', notBefore: backdate });
    const set = new BundleSet([ca.bundle()]);
    // No verifier tip cache: only the trust source's validated-chain cache is in play.
    const { trust, verifier } = verifierWith({ bundles: set }, 0);
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(ca.issue({ id: '/svc/a' }))));
    await verifier.verify(b.entries);
    await verifier.verify(b.entries);
    expect(trust.stats).toMatchObject({ misses: 1, hits: 1 });
    set.add(next.bundle()); // same BundleSet object, the old root is gone
    expect(await reasonOf(verifier.verify(b.entries))).toBe('key_not_anchored');
    expect(trust.stats).toMatchObject({ misses: 2, hits: 1 });
    // An SVID of the new authority verifies.
    const n = new ChainBuilder();
    await n.append(new SPIREProvider(fixed(next.issue({ id: '/svc/a' }))));
    expect(await reasonOf(verifier.verify(n.entries))).toBe('verified');
  });

  it("the verifier's tip cache: a passport cached before the bundle changed is refused after", async () => {
    const next = DevCertificateAuthority.create({ trustDomain: 'example.org', notBefore: backdate });
    const set = new BundleSet([ca.bundle()]);
    const { trust, verifier } = verifierWith({ bundles: set });
    const b = new ChainBuilder();
    const provider = new SPIREProvider(fixed(ca.issue({ id: '/svc/a' })));
    await b.append(provider);
    await b.append(provider);
    await verifier.verify(b.entries);
    expect((await verifier.verify(b.entries)).cachedEntries).toBe(2);
    const before = trust.epoch();
    set.add(next.bundle());
    expect(trust.epoch()).not.toBe(before);
    expect(await reasonOf(verifier.verify(b.entries))).toBe('key_not_anchored');
  });

  it('the epoch ignores bundles of trust domains it never anchored in', async () => {
    const other = DevCertificateAuthority.create({ trustDomain: 'other.org', notBefore: backdate });
    const set = new BundleSet([ca.bundle(), other.bundle()]);
    const { trust, verifier } = verifierWith({ bundles: set });
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(ca.issue({ id: '/svc/a' }))));
    await verifier.verify(b.entries);
    const e = trust.epoch();
    set.add(DevCertificateAuthority.create({ trustDomain: 'other.org' }).bundle());
    expect(trust.epoch()).toBe(e);
    expect((await verifier.verify(b.entries)).cachedEntries).toBe(1);
  });

  it("'live': once an accepted SVID expires, passports cached with it are verified again (and refused)", async () => {
    const t0 = Date.now();
    let clock = t0;
    const svid = ca.issue({ id: '/svc/a', notBefore: new Date(t0 - 60_000), ttlSeconds: 120 });
    const b = new ChainBuilder();
    await b.append(new SPIREProvider(fixed(svid)), { timestampMs: t0 });
    const live = verifierWith({ bundles: ca.bundle(), now: () => clock });
    const audit = verifierWith({ bundles: ca.bundle(), now: () => clock, svidValidity: 'signing-time' });
    for (const { verifier } of [live, audit]) {
      await verifier.verify(b.entries);
      expect((await verifier.verify(b.entries)).cachedEntries).toBe(1);
    }
    clock = svid.certificates[0]!.notAfter + 60_000 + 1;
    expect(await reasonOf(live.verifier.verify(b.entries))).toBe('key_not_anchored');
    expect((await audit.verifier.verify(b.entries)).cachedEntries).toBe(1);
  });
});
