import { describe, expect, it } from 'vitest';
import {
  BundleSet,
  DevCertificateAuthority,
  KestSpiffeError,
  KeyUsage,
  parseCertificates,
  parseEndpoint,
  SpiffeBundle,
  TrustDomain,
  verifySvidChain,
  X509SVID,
} from '../../src/spiffe/index.js';

const ca = DevCertificateAuthority.create({
  trustDomain: 'example.org',
  notBefore: new Date(Date.now() - 3_600_000),
});

function reason(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof KestSpiffeError) return err.reason;
    throw err;
  }
  return undefined;
}

describe('X.509-SVID leaf rules (X509-SVID standard)', () => {
  it('accepts a well-formed SVID and exposes its ID, thumbprint and x5c', () => {
    const svid = ca.issue({ id: '/svc/a' });
    expect(svid.id.toString()).toBe('spiffe://example.org/svc/a');
    expect(svid.thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(svid.x5c()).toHaveLength(1);
    const v = svid.verify(ca.bundle());
    expect(v.id.toString()).toBe('spiffe://example.org/svc/a');
    expect(v.path).toHaveLength(2);
  });

  it.each([
    ['no URI SAN', { uris: [] }],
    ['two URI SANs', { uris: ['spiffe://example.org/a', 'spiffe://example.org/b'] }],
    ['a non-SPIFFE URI SAN', { uris: ['https://example.org/a'] }],
    ['a trust-domain ID (no path)', { uris: ['spiffe://example.org'] }],
    ['a CA leaf', { isCA: true, keyUsage: KeyUsage.digitalSignature | KeyUsage.keyCertSign }],
    ['no digitalSignature', { keyUsage: KeyUsage.keyEncipherment }],
    ['keyCertSign on a leaf', { keyUsage: KeyUsage.digitalSignature | KeyUsage.keyCertSign }],
    ['cRLSign on a leaf', { keyUsage: KeyUsage.digitalSignature | KeyUsage.cRLSign }],
  ])('rejects a leaf with %s', (_name, overrides) => {
    const raw = ca.issueRaw({ id: '/svc/a', ...overrides });
    expect(reason(() => new X509SVID(raw.certificates, raw.privateKey))).toBe('invalid_svid');
    expect(reason(() => verifySvidChain(raw.certificates, ca.bundle()))).toBe('invalid_svid');
  });

  it('rejects a private key that does not belong to the leaf', () => {
    const a = ca.issue({ id: '/a' });
    const b = ca.issue({ id: '/b' });
    expect(reason(() => new X509SVID(a.certificates, b.privateKey))).toBe('invalid_svid');
  });

  it('validates a chain through an intermediate, and refuses it without the intermediate', () => {
    const inter = ca.createIntermediate();
    const svid = inter.issue({ id: '/svc/deep' });
    expect(svid.certificates).toHaveLength(2);
    expect(verifySvidChain(svid.certificates, ca.bundle()).path).toHaveLength(3);
    expect(reason(() => verifySvidChain([svid.leaf], ca.bundle()))).toBe('chain_not_anchored');
  });

  it('refuses a chain from another CA of the same trust domain', () => {
    const rogue = DevCertificateAuthority.create({ trustDomain: 'example.org' });
    const svid = rogue.issue({ id: '/svc/a' });
    expect(reason(() => verifySvidChain(svid.certificates, ca.bundle()))).toBe('chain_not_anchored');
  });

  it('refuses an SVID of a trust domain without a bundle', () => {
    const other = DevCertificateAuthority.create({ trustDomain: 'other.org' });
    expect(reason(() => verifySvidChain(other.issue({ id: '/x' }).certificates, ca.bundle()))).toBe(
      'no_bundle',
    );
  });

  it('checks validity at a given time', () => {
    const now = Date.now();
    // The root was created up to a minute back-dated; the leaf window lies inside the root's.
    const svid = ca.issue({ id: '/t', notBefore: new Date(now - 40_000), notAfter: new Date(now - 20_000) });
    expect(reason(() => svid.verify(ca.bundle(), now))).toBe('certificate_expired');
    expect(() => svid.verify(ca.bundle(), now - 30_000)).not.toThrow();
    expect(reason(() => svid.verify(ca.bundle(), now - 200_000))).toBe('certificate_expired');
  });

  it('signs with Ed25519 SVID keys too', () => {
    const svid = ca.issue({ id: '/ed', keyType: 'ed25519' });
    expect(svid.privateKey.asymmetricKeyType).toBe('ed25519');
    expect(() => svid.verify(ca.bundle())).not.toThrow();
  });

  it('parses the Workload API form (concatenated DER + PKCS#8) and PEM', () => {
    const inter = ca.createIntermediate();
    const svid = inter.issue({ id: '/w' });
    const der = Buffer.concat(svid.certificates.map((c) => c.der));
    const key = svid.privateKey.export({ type: 'pkcs8', format: 'der' });
    const parsed = X509SVID.parse(der, key);
    expect(parsed.id.toString()).toBe('spiffe://example.org/w');
    expect(parsed.certificates).toHaveLength(2);
    const pem = svid.certificates.map((c) => c.x509.toString()).join('');
    expect(parseCertificates(pem).map((c) => c.thumbprint)).toEqual(
      svid.certificates.map((c) => c.thumbprint),
    );
    expect(reason(() => parseCertificates(Buffer.concat([der, Buffer.from([0x30, 0x05, 0x01])])))).toBe(
      'invalid_certificate',
    );
  });
});

describe('bundles', () => {
  it('round-trips the SPIFFE bundle format (JWKS), PEM and DER', () => {
    const bundle = ca.bundle();
    const jwks = bundle.toJwks() as { keys: { use: string; x5c: string[] }[] };
    expect(jwks.keys[0]!.use).toBe('x509-svid');
    expect(jwks.keys[0]!.x5c).toHaveLength(1);
    for (const copy of [
      SpiffeBundle.fromJwks('example.org', JSON.stringify(jwks)),
      SpiffeBundle.parse('example.org', bundle.toPem()),
      SpiffeBundle.parse('example.org', bundle.toDer()),
    ]) {
      expect(copy.x509Authorities.map((c) => c.thumbprint)).toEqual(
        bundle.x509Authorities.map((c) => c.thumbprint),
      );
      expect(() => verifySvidChain(ca.issue({ id: '/b' }).certificates, copy)).not.toThrow();
      expect(copy.version).not.toBe(bundle.version);
    }
  });

  it('rejects malformed bundles', () => {
    expect(reason(() => SpiffeBundle.fromJwks('example.org', '{'))).toBe('invalid_bundle');
    expect(reason(() => SpiffeBundle.fromJwks('example.org', { nokeys: [] }))).toBe('invalid_bundle');
    expect(
      reason(() => SpiffeBundle.fromJwks('example.org', { keys: [{ use: 'x509-svid', x5c: [] }] })),
    ).toBe('invalid_bundle');
    expect(
      reason(() => SpiffeBundle.fromJwks('example.org', { keys: [{ use: 'x509-svid', x5c: ['AAAA'] }] })),
    ).toBe('invalid_bundle');
  });

  it('keeps federated bundles per trust domain', () => {
    const other = DevCertificateAuthority.create({ trustDomain: 'other.org' });
    const set = BundleSet.fromFederatedMap({
      'spiffe://example.org': ca.bundle().toJwks(),
      'other.org': other.bundle().toPem(),
    });
    expect(set.trustDomains.map(String).sort()).toEqual(['example.org', 'other.org']);
    expect(() => verifySvidChain(other.issue({ id: '/o' }).certificates, set)).not.toThrow();
    expect(() => verifySvidChain(ca.issue({ id: '/e' }).certificates, set)).not.toThrow();
    expect(set.getBundleForTrustDomain(TrustDomain.parse('third.org'))).toBeUndefined();
  });
});

describe('Workload API endpoint addresses', () => {
  it.each([
    ['unix:///tmp/agent.sock', 'unix:/tmp/agent.sock'],
    ['/run/spire/agent.sock', 'unix:/run/spire/agent.sock'],
    ['tcp://127.0.0.1:8081', 'ipv4:127.0.0.1:8081'],
    ['tcp://[::1]:8081', 'ipv6:[::1]:8081'],
  ])('parses %s', (address, target) => {
    expect(parseEndpoint(address).target).toBe(target);
  });

  it.each([
    'unix://host/tmp/agent.sock',
    'unix:///',
    'unix:///tmp/a.sock?x=1',
    'tcp://localhost:8081',
    'tcp://127.0.0.1',
    'tcp://127.0.0.1:8081/path',
    'tcp://user@127.0.0.1:8081',
    'http://127.0.0.1:8081',
    'relative/path.sock',
    '',
  ])('rejects %s', (address) => {
    expect(reason(() => parseEndpoint(address))).toBe('invalid_endpoint');
  });
});
