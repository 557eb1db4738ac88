/**
 * What both ends of SPIFFE mutual TLS share: the TLS material derived from an X509Source (our SVID
 * to present, every trusted bundle authority for OpenSSL's first check), rebuilt only when the
 * source rotates, and the SPIFFE verification of the peer's chain (X509-SVID standard §5).
 *
 * Verification is two-layered. OpenSSL validates the chain to the union of all trusted bundles
 * during the handshake (a self-signed, expired or unknown-CA peer gets a TLS alert). Then the SPIFFE
 * rules are checked in JS with verifySvidChain: exactly one URI SAN that is a SPIFFE ID, leaf not a
 * CA, digitalSignature, and — what OpenSSL cannot do — the chain anchors in the bundle of the
 * peer's *own* trust domain. No hostname is compared, by design of SPIFFE.
 */

import { constants, createHash } from 'node:crypto';
import { createSecureContext, type DetailedPeerCertificate, type SecureContext } from 'node:tls';
import type { BundleSet, BundleSource, SpiffeBundle } from '../bundle.js';
import { derToPem, parseCertificates } from '../certificate.js';
import { KestSpiffeError } from '../errors.js';
import type { TrustDomain } from '../spiffeid.js';
import {
  type ChainVerification,
  checkValidAt,
  MAX_CHAIN_LENGTH,
  verifySvidChain,
  type X509SVID,
} from '../x509svid.js';
import { checkAuthorized, type PeerAuthorizer } from './authorize.js';

/** Where the material comes from: an X509Source, or anything with its two members. */
export interface MtlsSource {
  getX509SVID(): X509SVID;
  readonly bundles: BundleSet;
}

export interface MtlsOptions {
  /** Who may connect (server) / whom we accept to talk to (client). Required: no silent default. */
  authorize: PeerAuthorizer;
  /**
   * Federated bundles from elsewhere (e.g. `BundleSet.load(file)`), trusted in addition to the
   * source's own and federated bundles; the source wins for a trust domain present in both.
   */
  federatedBundles?: BundleSet;
  /** Clock for the validity check of the peer chain (epoch ms). Default Date.now. */
  now?: () => number;
}

/** TLS material of one SVID + bundle generation. */
export interface TlsMaterial {
  /** Changes whenever the SVID or any trusted bundle changes. */
  readonly generation: string;
  readonly svid: X509SVID;
  readonly bundles: BundleSource;
  /** PEM options for tls.createSecureContext / server.setSecureContext. */
  readonly pem: { key: string; cert: string; ca: string[] };
  readonly secureContext: SecureContext;
  /** Peer chains already verified against these bundles (keyed by chain hash); see verifyPeer. */
  readonly verifiedChains: Map<string, ChainVerification>;
}

/** Bound of the per-generation cache of verified peer chains (cleared when full). */
const MAX_CACHED_CHAINS = 1024;

/**
 * No TLS session resumption: a resumed session skips certificate verification (Node does not even
 * call checkServerIdentity), so after a rotation or an authorizer change it could admit a peer the
 * current material would refuse. Every connection does a full handshake.
 */
export const NO_RESUMPTION = constants.SSL_OP_NO_TICKET;

function trustedBundles(source: MtlsSource, federated: BundleSet | undefined): SpiffeBundle[] {
  const own = source.bundles;
  const out = own.trustDomains.map((td) => own.getBundleForTrustDomain(td)!);
  for (const td of federated?.trustDomains ?? []) {
    if (!own.getBundleForTrustDomain(td)) out.push(federated!.getBundleForTrustDomain(td)!);
  }
  return out;
}

/** Reads the source on every call and rebuilds the material only when the source changed. */
export class MaterialCache {
  readonly #source: MtlsSource;
  readonly #federated: BundleSet | undefined;
  #current: TlsMaterial | undefined;

  constructor(source: MtlsSource, federated?: BundleSet) {
    this.#source = source;
    this.#federated = federated;
  }

  current(now = Date.now()): TlsMaterial {
    const svid = this.#source.getX509SVID();
    if (svid.notAfter < now) {
      throw new KestSpiffeError(
        'certificate_expired',
        `own SVID ${svid.id} expired at ${new Date(svid.notAfter).toISOString()}`,
      );
    }
    const bundles = trustedBundles(this.#source, this.#federated);
    const generation = `${svid.thumbprint}|${bundles.map((b) => b.version).join(',')}`;
    if (this.#current?.generation === generation) return this.#current;
    const byDomain = new Map(bundles.map((b) => [b.trustDomain.name, b]));
    const pem = {
      key: svid.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      cert: svid.certificates.map((c) => derToPem(c.der)).join(''),
      ca: bundles.flatMap((b) => b.x509Authorities.map((a) => derToPem(a.der))),
    };
    if (pem.ca.length === 0)
      throw new KestSpiffeError('no_bundle', 'no trusted X.509 authority in any bundle');
    this.#current = {
      generation,
      svid,
      bundles: { getBundleForTrustDomain: (td: TrustDomain) => byDomain.get(td.name) },
      pem,
      secureContext: createSecureContext({ ...pem, secureOptions: NO_RESUMPTION }),
      verifiedChains: new Map(),
    };
    return this.#current;
  }
}

/** The DER chain the peer sent, leaf first, from Node's detailed peer certificate. */
export function peerChain(cert: DetailedPeerCertificate | Record<string, never> | undefined): Buffer[] {
  const out: Buffer[] = [];
  let c = cert as DetailedPeerCertificate | undefined;
  while (c?.raw && out.length <= MAX_CHAIN_LENGTH) {
    out.push(c.raw);
    // Node appends the issuer it found in the trust store; anchors come from the bundle instead.
    if (!c.issuerCertificate || c.issuerCertificate === c || c.issuerCertificate.raw?.equals(c.raw)) break;
    c = c.issuerCertificate;
  }
  return out;
}

/** SPIFFE-verify a peer chain against the material's bundles, then authorize it. Throws KestSpiffeError. */
export function verifyPeer(
  chain: readonly Buffer[],
  material: TlsMaterial,
  options: MtlsOptions,
  side: 'client' | 'server',
): ChainVerification {
  if (chain.length === 0) {
    throw new KestSpiffeError('missing_peer_certificate', `the ${side} presented no certificate`);
  }
  // Chain validation is pure in (chain, bundles): cached per material generation, so a rotation
  // starts afresh. Validity time and the authorizer are checked on every handshake.
  const hash = createHash('sha256');
  for (const der of chain) hash.update(der);
  const key = hash.digest('base64');
  let verified = material.verifiedChains.get(key);
  if (!verified) {
    verified = verifySvidChain(parseCertificates(chain), material.bundles);
    if (material.verifiedChains.size >= MAX_CACHED_CHAINS) material.verifiedChains.clear();
    material.verifiedChains.set(key, verified);
  }
  checkValidAt(verified, (options.now ?? Date.now)());
  checkAuthorized(options.authorize, verified, side);
  return verified;
}
