/**
 * SpiffeTrustSource: anchors entry signatures in SPIFFE trust bundles (docs/spec.md §2 check 3).
 * An entry's key is trusted only when its X.509 chain — from the entry's own `x5c`, or, in the
 * compact form, from the chain an earlier entry of the passport carried under the same `x5t#S256`
 * — validates to the bundle of the principal's trust domain, the leaf's single URI SAN equals
 * `labels.principal`, and the whole path is valid within a skew: now and at the entry's
 * `timestamp_ms` (svidValidity 'live', the default), or only at `timestamp_ms` ('signing-time', for
 * offline audits of old traces). The signer chooses `timestamp_ms`, so 'signing-time' alone lets the
 * holder of an expired SVID's key sign new entries backdated into the old window.
 *
 * Validated chains are cached by (bundle version, chain bytes): a passport whose hops share a few
 * SVIDs pays for X.509 path validation once per SVID, not once per entry. A bundle update is a new
 * bundle version, so a removed authority is never served from the cache; epoch() exposes those
 * versions (and, when live, the expiry of accepted SVIDs) so verifiers drop their cached tips too.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { KestConfigurationError, KestVerificationError, type VerificationReason } from '../errors.js';
import type { KeyRequest, TrustSource } from '../keys/trust-source.js';
import { algForKey } from '../wire/jws.js';
import { BundleSet, type BundleSource, SpiffeBundle } from './bundle.js';
import { decodeX5c, parseCertificate } from './certificate.js';
import { SpiffeId, type TrustDomain } from './spiffeid.js';
import { type ChainVerification, checkValidAt, MAX_CHAIN_LENGTH, verifySvidChain } from './x509svid.js';

/**
 * When an SVID chain must be valid:
 * - 'live' (default): now and at the entry's `timestamp_ms`, each within skewMs. For requests in
 *   flight: an expired SVID anchors nothing, whatever time its entries claim.
 * - 'signing-time': only at the entry's `timestamp_ms`. For offline audits of traces older than
 *   their SVIDs; trusts the signer's clock claim (an expired SVID's key can backdate entries).
 */
export type SvidValidity = 'live' | 'signing-time';

export interface SpiffeTrustSourceOptions {
  /** Bundles by trust domain: an X509Source, a SpiffeBundle, or a BundleSet (federation). */
  bundles: BundleSource;
  /** Clock skew allowed around each certificate's validity (ms). Default 60000. */
  skewMs?: number;
  /** Default 'live' (see SvidValidity); use 'signing-time' for offline audits only. */
  svidValidity?: SvidValidity;
  /** Clock for 'live' checks (ms since the epoch). Default Date.now. */
  now?: () => number;
  /**
   * Chains known outside the passport (e.g. an audit store), by leaf x5t#S256. Consulted after
   * the entry's own x5c and the passport's chains.
   */
  chainResolver?: (thumbprint: string) => readonly string[] | undefined;
  /** Validated chains kept in memory. Default 4096. */
  maxCachedChains?: number;
}

interface CachedChain {
  readonly verification: ChainVerification;
  readonly key: KeyObject;
  readonly principal: string;
}

export class SpiffeTrustSource implements TrustSource {
  readonly #bundles: BundleSource;
  readonly #skewMs: number;
  readonly #resolver: ((t: string) => readonly string[] | undefined) | undefined;
  readonly #max: number;
  readonly #cache = new Map<string, CachedChain>();
  readonly #digests = new WeakMap<readonly string[], string>();
  readonly #live: boolean;
  readonly #now: () => number;
  /** Bundle version last seen per trust domain that anchored something: a change bumps the epoch. */
  readonly #versions = new Map<string, { td: TrustDomain; version: number }>();
  /** Earliest validTo of the chains accepted since the last epoch bump (live mode). */
  #expiresAt = Number.POSITIVE_INFINITY;
  #epoch = 0;
  #hits = 0;
  #misses = 0;

  constructor(options: SpiffeTrustSourceOptions) {
    this.#bundles = options.bundles;
    this.#skewMs = options.skewMs ?? 60_000;
    const validity = options.svidValidity ?? 'live';
    if (validity !== 'live' && validity !== 'signing-time') {
      throw new KestConfigurationError(
        `svidValidity must be 'live' or 'signing-time', not ${String(validity)}`,
      );
    }
    this.#live = validity === 'live';
    this.#now = options.now ?? Date.now;
    this.#resolver = options.chainResolver;
    this.#max = options.maxCachedChains ?? 4096;
  }

  /** Trust one trust domain's bundle file (SPIFFE JSON bundle, PEM or DER). */
  static fromBundleFile(
    trustDomain: string,
    path: string,
    options: Omit<SpiffeTrustSourceOptions, 'bundles'> = {},
  ): SpiffeTrustSource {
    return new SpiffeTrustSource({ ...options, bundles: SpiffeBundle.load(trustDomain, path) });
  }

  /** Trust a federated bundle map file ({"example.org": <bundle>, ...}). */
  static fromFederatedFile(
    path: string,
    options: Omit<SpiffeTrustSourceOptions, 'bundles'> = {},
  ): SpiffeTrustSource {
    return new SpiffeTrustSource({ ...options, bundles: BundleSet.load(path) });
  }

  get svidValidity(): SvidValidity {
    return this.#live ? 'live' : 'signing-time';
  }

  /**
   * Changes when the bundle of a trust domain this source has anchored keys in is replaced (an
   * X509Source rotation, BundleSet.add) and, when live, once an accepted SVID has expired: a
   * verifier's cached tips may then rest on keys that anchor nothing any more.
   */
  epoch(): number {
    if (this.#live && this.#now() - this.#skewMs > this.#expiresAt) this.#bump();
    for (const seen of this.#versions.values()) {
      const version = this.#bundles.getBundleForTrustDomain(seen.td)?.version ?? 0;
      if (version !== seen.version) {
        seen.version = version;
        this.#bump();
      }
    }
    return this.#epoch;
  }

  #bump(): void {
    this.#epoch++;
    // Every cached tip is dropped by this bump: the expiry floor starts afresh.
    this.#expiresAt = Number.POSITIVE_INFINITY;
  }

  /** Cache statistics (chain validations skipped / performed). */
  get stats(): { hits: number; misses: number; size: number } {
    return { hits: this.#hits, misses: this.#misses, size: this.#cache.size };
  }

  resolveKey(request: KeyRequest): KeyObject {
    const { principal, header, entry, index } = request;
    const fail = (reason: VerificationReason, message: string, cause?: unknown) =>
      new KestVerificationError(reason, message, { index, entryId: entry.entry_id, cause });

    let id: SpiffeId;
    try {
      id = SpiffeId.parse(principal);
    } catch (err) {
      throw fail('unknown_principal', `principal ${JSON.stringify(principal)} is not a SPIFFE ID`, err);
    }
    const bundle = this.#bundles.getBundleForTrustDomain(id.trustDomain);
    if (!bundle)
      throw fail(
        'unknown_principal',
        `no trust bundle for the trust domain ${id.trustDomain.name} of ${principal}`,
      );

    const x5c = this.#chainFor(request, fail);
    const digest = this.#digest(x5c);
    const cacheKey = `${bundle.version}:${digest}`;
    let cached = this.#cache.get(cacheKey);
    if (cached) {
      this.#hits++;
      // LRU: re-insert at the end.
      this.#cache.delete(cacheKey);
      this.#cache.set(cacheKey, cached);
    } else {
      this.#misses++;
      let verification: ChainVerification;
      try {
        const certs = decodeX5c(x5c).map(parseCertificate);
        verification = verifySvidChain(certs, bundle);
      } catch (err) {
        throw fail('key_not_anchored', `x5c chain rejected: ${(err as Error).message}`, err);
      }
      cached = { verification, key: verification.leaf.x509.publicKey, principal: verification.id.toString() };
      this.#cache.set(cacheKey, cached);
      if (this.#cache.size > this.#max) this.#cache.delete(this.#cache.keys().next().value as string);
    }

    if (cached.principal !== principal) {
      throw fail(
        'key_not_anchored',
        `the SVID's URI SAN ${cached.principal} is not the entry's principal ${principal}`,
      );
    }
    if (this.#live) {
      try {
        checkValidAt(cached.verification, this.#now(), this.#skewMs);
      } catch (err) {
        throw fail('key_not_anchored', `SVID not valid now: ${(err as Error).message}`, err);
      }
    }
    try {
      checkValidAt(cached.verification, entry.timestamp_ms, this.#skewMs);
    } catch (err) {
      throw fail(
        'key_not_anchored',
        `SVID not valid at the entry's signing time: ${(err as Error).message}`,
        err,
      );
    }
    let keyAlg: string;
    try {
      keyAlg = algForKey(cached.key);
    } catch (err) {
      throw fail('key_not_anchored', `the SVID key cannot sign Kest entries: ${(err as Error).message}`, err);
    }
    if (keyAlg !== header.alg) {
      throw fail('alg_key_mismatch', `header alg ${header.alg} does not match the SVID's ${keyAlg} key`);
    }
    const seen = this.#versions.get(id.trustDomain.name);
    if (!seen) this.#versions.set(id.trustDomain.name, { td: id.trustDomain, version: bundle.version });
    else if (seen.version !== bundle.version) {
      seen.version = bundle.version;
      this.#bump();
    }
    if (cached.verification.validTo < this.#expiresAt) this.#expiresAt = cached.verification.validTo;
    return cached.key;
  }

  #chainFor(
    request: KeyRequest,
    fail: (reason: VerificationReason, message: string, cause?: unknown) => KestVerificationError,
  ): readonly string[] {
    const { header } = request;
    const thumbprint = header['x5t#S256'];
    if (header.x5c) {
      if (header.x5c.length > MAX_CHAIN_LENGTH) throw fail('key_not_anchored', 'x5c chain is too long');
      if (thumbprint !== undefined && thumbprint !== leafThumbprint(header.x5c[0]!)) {
        throw fail('key_not_anchored', 'x5t#S256 does not match the leaf of x5c');
      }
      return header.x5c;
    }
    if (thumbprint === undefined) {
      throw fail(
        'key_not_anchored',
        'entry carries neither x5c nor x5t#S256: no certificate chain to anchor its key',
      );
    }
    const chain = request.chains?.get(thumbprint) ?? this.#resolver?.(thumbprint);
    if (!chain || chain.length === 0) {
      throw fail(
        'key_not_anchored',
        `no certificate chain for x5t#S256 ${thumbprint} in the passport or the chain store`,
      );
    }
    // Never trust the map's key: the leaf must hash to the thumbprint the signed header names.
    if (leafThumbprint(chain[0]!) !== thumbprint) {
      throw fail('key_not_anchored', `the chain found for x5t#S256 ${thumbprint} has a different leaf`);
    }
    return chain;
  }

  #digest(x5c: readonly string[]): string {
    let d = this.#digests.get(x5c);
    if (!d) {
      // Length-prefixed: ['a.b'] and ['a', 'b'] must not share a cache key.
      const h = createHash('sha256');
      for (const cert of x5c) h.update(`${cert.length}:`).update(cert);
      d = h.digest('base64url');
      this.#digests.set(x5c, d);
    }
    return d;
  }
}

function leafThumbprint(b64: string): string {
  return createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64url');
}
