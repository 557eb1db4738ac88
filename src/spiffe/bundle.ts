/**
 * SPIFFE trust bundles: the X.509 authorities (and JWT keys) a trust domain publishes. Read from
 * the SPIFFE bundle format (a JWKS with `use: "x509-svid"` / `"jwt-svid"` keys, SPIFFE Trust
 * Domain and Bundle standard §4), from PEM or from concatenated DER (the Workload API form).
 * Bundles are immutable: an update is a new object with a new `version`, so caches keyed by it
 * never serve a stale validation.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readBytesBounded, readFileBounded } from '../wire/bounded-file.js';
import { derToPem, type ParsedCertificate, parseCertificate, parseCertificates } from './certificate.js';
import { KestSpiffeError } from './errors.js';
import { TrustDomain } from './spiffeid.js';

let nextVersion = 1;

export interface SpiffeBundleInit {
  x509Authorities?: readonly ParsedCertificate[];
  jwtAuthorities?: ReadonlyMap<string, KeyObject>;
  sequenceNumber?: number;
  refreshHintSeconds?: number;
}

/** Anything that can hand out the bundle of a trust domain (a bundle, a set, an X509Source). */
export interface BundleSource {
  getBundleForTrustDomain(trustDomain: TrustDomain): SpiffeBundle | undefined;
}

export class SpiffeBundle implements BundleSource {
  readonly trustDomain: TrustDomain;
  readonly x509Authorities: readonly ParsedCertificate[];
  readonly jwtAuthorities: ReadonlyMap<string, KeyObject>;
  readonly sequenceNumber: number | undefined;
  readonly refreshHintSeconds: number | undefined;
  /** Process-unique version: part of every cache key derived from this bundle. */
  readonly version: number;

  constructor(trustDomain: TrustDomain | string, init: SpiffeBundleInit = {}) {
    this.trustDomain = typeof trustDomain === 'string' ? TrustDomain.parse(trustDomain) : trustDomain;
    this.x509Authorities = Object.freeze([...(init.x509Authorities ?? [])]);
    this.jwtAuthorities = new Map(init.jwtAuthorities ?? []);
    this.sequenceNumber = init.sequenceNumber;
    this.refreshHintSeconds = init.refreshHintSeconds;
    this.version = nextVersion++;
  }

  /** From DER certificates, concatenated (the Workload API `bundle` field) or as a list. */
  static fromDer(trustDomain: TrustDomain | string, der: Uint8Array | readonly Uint8Array[]): SpiffeBundle {
    return new SpiffeBundle(trustDomain, { x509Authorities: wrap(() => parseCertificates(der)) });
  }

  static fromPem(trustDomain: TrustDomain | string, pem: string): SpiffeBundle {
    return new SpiffeBundle(trustDomain, { x509Authorities: wrap(() => parseCertificates(pem)) });
  }

  /** From the SPIFFE bundle format (JWKS). `json` may be the text or the parsed object. */
  static fromJwks(trustDomain: TrustDomain | string, json: string | unknown): SpiffeBundle {
    let doc: unknown = json;
    if (typeof json === 'string') {
      try {
        doc = JSON.parse(json);
      } catch (err) {
        throw new KestSpiffeError('invalid_bundle', 'SPIFFE bundle is not JSON', { cause: err });
      }
    }
    if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) {
      throw new KestSpiffeError('invalid_bundle', 'SPIFFE bundle has no "keys" array');
    }
    const d = doc as { keys: unknown[]; spiffe_sequence?: unknown; spiffe_refresh_hint?: unknown };
    const x509: ParsedCertificate[] = [];
    const jwt = new Map<string, KeyObject>();
    d.keys.forEach((k, i) => {
      if (typeof k !== 'object' || k === null)
        throw new KestSpiffeError('invalid_bundle', `keys[${i}] is not an object`);
      const key = k as Record<string, unknown>;
      if (key.use === 'x509-svid') {
        const x5c = key.x5c;
        if (!Array.isArray(x5c) || x5c.length !== 1 || typeof x5c[0] !== 'string') {
          throw new KestSpiffeError(
            'invalid_bundle',
            `keys[${i}]: an x509-svid key must carry exactly one x5c certificate`,
          );
        }
        x509.push(wrap(() => parseCertificate(Buffer.from(x5c[0] as string, 'base64'))));
      } else if (key.use === 'jwt-svid') {
        if (typeof key.kid !== 'string' || key.kid === '') {
          throw new KestSpiffeError('invalid_bundle', `keys[${i}]: a jwt-svid key must have a kid`);
        }
        try {
          jwt.set(key.kid, createPublicKey({ key: key as JsonWebKey, format: 'jwk' }));
        } catch (err) {
          throw new KestSpiffeError('invalid_bundle', `keys[${i}]: bad JWK`, { cause: err });
        }
      }
      // Other `use` values are ignored, as the standard requires of unknown uses.
    });
    const init: SpiffeBundleInit = { x509Authorities: x509, jwtAuthorities: jwt };
    if (typeof d.spiffe_sequence === 'number') init.sequenceNumber = d.spiffe_sequence;
    if (typeof d.spiffe_refresh_hint === 'number') init.refreshHintSeconds = d.spiffe_refresh_hint;
    return new SpiffeBundle(trustDomain, init);
  }

  /** Read a bundle file: SPIFFE JSON bundle, PEM, or DER (detected from the content). */
  static load(trustDomain: TrustDomain | string, path: string): SpiffeBundle {
    let data: Buffer;
    try {
      data = readBytesBounded(path);
    } catch (err) {
      throw new KestSpiffeError('invalid_bundle', `cannot read bundle ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return SpiffeBundle.parse(trustDomain, data);
  }

  static parse(trustDomain: TrustDomain | string, data: Uint8Array | string): SpiffeBundle {
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
    const head = text.trimStart();
    if (head.startsWith('{'))
      return SpiffeBundle.fromJwks(trustDomain, Buffer.from(text, 'latin1').toString('utf8'));
    if (head.startsWith('-----BEGIN')) return SpiffeBundle.fromPem(trustDomain, text);
    return SpiffeBundle.fromDer(trustDomain, typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  getBundleForTrustDomain(trustDomain: TrustDomain): SpiffeBundle | undefined {
    return trustDomain.equals(this.trustDomain) ? this : undefined;
  }

  /** The SPIFFE bundle format (JWKS) with x509-svid keys (and jwt-svid keys when present). */
  toJwks(): Record<string, unknown> {
    const keys: Record<string, unknown>[] = this.x509Authorities.map((c) => ({
      use: 'x509-svid',
      ...(c.x509.publicKey.export({ format: 'jwk' }) as Record<string, unknown>),
      x5c: [c.der.toString('base64')],
    }));
    for (const [kid, key] of this.jwtAuthorities) {
      keys.push({ use: 'jwt-svid', kid, ...(key.export({ format: 'jwk' }) as Record<string, unknown>) });
    }
    const out: Record<string, unknown> = { keys };
    if (this.sequenceNumber !== undefined) out.spiffe_sequence = this.sequenceNumber;
    if (this.refreshHintSeconds !== undefined) out.spiffe_refresh_hint = this.refreshHintSeconds;
    return out;
  }

  toPem(): string {
    return this.x509Authorities.map((c) => derToPem(c.der)).join('');
  }

  /** Concatenated DER, as the Workload API carries bundles. */
  toDer(): Buffer {
    return Buffer.concat(this.x509Authorities.map((c) => c.der));
  }
}

/** Bundles of several trust domains: one's own plus federated ones. */
export class BundleSet implements BundleSource {
  readonly #bundles = new Map<string, SpiffeBundle>();

  constructor(bundles: Iterable<SpiffeBundle> = []) {
    for (const b of bundles) this.add(b);
  }

  /**
   * A federated bundle map: `{"example.org": <SPIFFE bundle JSON>, "spiffe://other.org": ...}` — keys
   * are trust domain names or trust-domain SPIFFE IDs; values bundle objects, JSON or PEM text.
   */
  static fromFederatedMap(map: Record<string, unknown>): BundleSet {
    const set = new BundleSet();
    for (const [td, value] of Object.entries(map)) {
      set.add(typeof value === 'string' ? SpiffeBundle.parse(td, value) : SpiffeBundle.fromJwks(td, value));
    }
    return set;
  }

  /** Read a federated map from a JSON file (see fromFederatedMap). */
  static load(path: string): BundleSet {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileBounded(path));
    } catch (err) {
      throw new KestSpiffeError(
        'invalid_bundle',
        `cannot read bundle map ${path}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new KestSpiffeError('invalid_bundle', `${path} is not a map of trust domain → bundle`);
    }
    return BundleSet.fromFederatedMap(doc as Record<string, unknown>);
  }

  /** Add or replace the bundle of its trust domain. */
  add(bundle: SpiffeBundle): this {
    this.#bundles.set(bundle.trustDomain.name, bundle);
    return this;
  }

  getBundleForTrustDomain(trustDomain: TrustDomain): SpiffeBundle | undefined {
    return this.#bundles.get(trustDomain.name);
  }

  get trustDomains(): TrustDomain[] {
    return [...this.#bundles.values()].map((b) => b.trustDomain);
  }

  /** The federated map form (trust domain name → SPIFFE bundle JSON object). */
  toFederatedMap(): Record<string, unknown> {
    return Object.fromEntries([...this.#bundles].map(([td, b]) => [td, b.toJwks()]));
  }
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof KestSpiffeError && err.reason === 'invalid_bundle') throw err;
    throw new KestSpiffeError('invalid_bundle', `bad bundle certificate: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
