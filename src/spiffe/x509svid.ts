/**
 * X.509-SVIDs (SPIFFE X509-SVID standard): a leaf certificate first, then intermediates; the leaf
 * has exactly one URI SAN that is a SPIFFE ID, is not a CA, has key usage digitalSignature and
 * neither keyCertSign nor cRLSign; the chain validates to the bundle of the ID's trust domain.
 */
import { createPrivateKey, KeyObject } from 'node:crypto';
import type { BundleSource } from './bundle.js';
import { KeyUsage, type ParsedCertificate, parseCertificates } from './certificate.js';
import { KestSpiffeError } from './errors.js';
import { SpiffeId } from './spiffeid.js';

/** Longest chain accepted (leaf + intermediates), against path-building abuse. */
export const MAX_CHAIN_LENGTH = 8;

/** Check the leaf rules of the X509-SVID standard and return the leaf's SPIFFE ID. */
export function svidIdFromLeaf(leaf: ParsedCertificate): SpiffeId {
  const invalid = (m: string) => new KestSpiffeError('invalid_svid', `not an X.509-SVID leaf: ${m}`);
  if (leaf.uris.length !== 1) throw invalid(`expected exactly one URI SAN, found ${leaf.uris.length}`);
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(leaf.uris[0]!);
  } catch (err) {
    throw new KestSpiffeError(
      'invalid_svid',
      `not an X.509-SVID leaf: URI SAN is not a SPIFFE ID (${(err as Error).message})`,
      {
        cause: err,
      },
    );
  }
  if (id.path === '') throw invalid('the SPIFFE ID of a leaf must have a path');
  if (leaf.isCA) throw invalid('leaf is a CA certificate');
  if (leaf.keyUsage === undefined || (leaf.keyUsage & KeyUsage.digitalSignature) === 0) {
    throw invalid('key usage lacks digitalSignature');
  }
  if (leaf.keyUsage & (KeyUsage.keyCertSign | KeyUsage.cRLSign))
    throw invalid('leaf has keyCertSign or cRLSign');
  if (leaf.unhandledCritical.length > 0) {
    throw invalid(`unsupported critical extension(s) ${leaf.unhandledCritical.join(', ')}`);
  }
  return id;
}

export interface ChainVerification {
  readonly id: SpiffeId;
  readonly leaf: ParsedCertificate;
  /** The path actually validated: leaf, intermediates used, and the bundle authority. */
  readonly path: readonly ParsedCertificate[];
  /** The time window in which every certificate of the path is valid (epoch ms, inclusive). */
  readonly validFrom: number;
  readonly validTo: number;
}

/**
 * Validate an SVID chain (leaf first) to the bundle of its trust domain. Time-independent: the
 * result says in which window the whole path is valid (see `checkValidAt`), so a verifier can cache
 * it and still check each entry's own signing time.
 */
export function verifySvidChain(
  chain: readonly ParsedCertificate[],
  bundles: BundleSource,
): ChainVerification {
  if (chain.length === 0) throw new KestSpiffeError('invalid_svid', 'empty certificate chain');
  if (chain.length > MAX_CHAIN_LENGTH) {
    throw new KestSpiffeError('invalid_svid', `certificate chain longer than ${MAX_CHAIN_LENGTH}`);
  }
  const leaf = chain[0]!;
  const id = svidIdFromLeaf(leaf);
  const bundle = bundles.getBundleForTrustDomain(id.trustDomain);
  if (!bundle) throw new KestSpiffeError('no_bundle', `no bundle for trust domain ${id.trustDomain.name}`);
  const notAnchored = (m: string) =>
    new KestSpiffeError(
      'chain_not_anchored',
      `chain of ${id} does not validate to the ${id.trustDomain.name} bundle: ${m}`,
    );

  const path: ParsedCertificate[] = [leaf];
  let validFrom = leaf.notBefore;
  let validTo = leaf.notAfter;
  let current = leaf;
  for (let i = 1; ; i++) {
    const anchor = bundle.x509Authorities.find((a) => issued(a, current));
    if (anchor) {
      path.push(anchor);
      validFrom = Math.max(validFrom, anchor.notBefore);
      validTo = Math.min(validTo, anchor.notAfter);
      break;
    }
    const next = chain[i];
    if (!next) throw notAnchored('no bundle authority issued the last certificate of the chain');
    if (!next.isCA) throw notAnchored(`chain certificate ${i} is not a CA`);
    if (next.keyUsage !== undefined && (next.keyUsage & KeyUsage.keyCertSign) === 0) {
      throw notAnchored(`chain certificate ${i} lacks keyCertSign`);
    }
    if (next.unhandledCritical.length > 0) {
      throw notAnchored(
        `chain certificate ${i} has unsupported critical extension(s) ${next.unhandledCritical.join(', ')}`,
      );
    }
    if (!issued(next, current)) throw notAnchored(`certificate ${i - 1} was not issued by certificate ${i}`);
    path.push(next);
    validFrom = Math.max(validFrom, next.notBefore);
    validTo = Math.min(validTo, next.notAfter);
    current = next;
  }
  if (validFrom > validTo) throw notAnchored('the validity windows of the chain do not overlap');
  return { id, leaf, path, validFrom, validTo };
}

function issued(issuer: ParsedCertificate, subject: ParsedCertificate): boolean {
  // checkIssued compares names (and key identifiers / issuer key usage); verify checks the signature.
  return subject.x509.checkIssued(issuer.x509) && subject.x509.verify(issuer.x509.publicKey);
}

/** Throw unless `at` (epoch ms) lies in the verified window, widened by `skewMs` on both sides. */
export function checkValidAt(
  v: Pick<ChainVerification, 'id' | 'validFrom' | 'validTo'>,
  at: number,
  skewMs = 0,
): void {
  if (at + skewMs < v.validFrom) {
    throw new KestSpiffeError(
      'certificate_expired',
      `SVID ${v.id} is not yet valid at ${new Date(at).toISOString()} (valid from ${new Date(v.validFrom).toISOString()})`,
    );
  }
  if (at - skewMs > v.validTo) {
    throw new KestSpiffeError(
      'certificate_expired',
      `SVID ${v.id} has expired at ${new Date(at).toISOString()} (valid to ${new Date(v.validTo).toISOString()})`,
    );
  }
}

/** An X.509-SVID with its private key, as a workload holds it. Keys never leave memory. */
export class X509SVID {
  readonly id: SpiffeId;
  /** Leaf first. */
  readonly certificates: readonly ParsedCertificate[];
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly hint: string;

  constructor(certificates: readonly ParsedCertificate[], privateKey: KeyObject, hint = '') {
    if (certificates.length === 0) throw new KestSpiffeError('invalid_svid', 'SVID has no certificates');
    this.certificates = Object.freeze([...certificates]);
    this.id = svidIdFromLeaf(certificates[0]!);
    if (privateKey.type !== 'private')
      throw new KestSpiffeError('invalid_svid', 'SVID key is not a private key');
    this.privateKey = privateKey;
    this.publicKey = certificates[0]!.x509.publicKey;
    if (!certificates[0]!.x509.checkPrivateKey(privateKey)) {
      throw new KestSpiffeError('invalid_svid', `SVID key does not match the leaf certificate of ${this.id}`);
    }
    this.hint = hint;
  }

  /**
   * From the Workload API form: concatenated DER certificates and a PKCS#8 DER key (or PEM texts,
   * or already parsed values).
   */
  static parse(certificates: Uint8Array | string, key: Uint8Array | string | KeyObject, hint = ''): X509SVID {
    const certs = parseCertificates(certificates);
    let privateKey: KeyObject;
    try {
      privateKey =
        key instanceof KeyObject
          ? key
          : typeof key === 'string'
            ? createPrivateKey(key)
            : createPrivateKey({ key: Buffer.from(key), format: 'der', type: 'pkcs8' });
    } catch (err) {
      throw new KestSpiffeError('invalid_svid', `SVID private key is not PKCS#8: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return new X509SVID(certs, privateKey, hint);
  }

  get leaf(): ParsedCertificate {
    return this.certificates[0]!;
  }

  get notBefore(): number {
    return this.leaf.notBefore;
  }

  /** Expiry of the leaf (epoch ms). */
  get notAfter(): number {
    return this.leaf.notAfter;
  }

  /** The JWS `x5t#S256` of the leaf. */
  get thumbprint(): string {
    return this.leaf.thumbprint;
  }

  /** The JWS `x5c` value: leaf and intermediates, standard base64 DER. */
  x5c(): string[] {
    return this.certificates.map((c) => c.der.toString('base64'));
  }

  /** Validate this SVID against a bundle source at a time (default now). */
  verify(bundles: BundleSource, at = Date.now()): ChainVerification {
    const v = verifySvidChain(this.certificates, bundles);
    checkValidAt(v, at);
    return v;
  }
}
