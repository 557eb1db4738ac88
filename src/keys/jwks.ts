import { createPublicKey, type KeyObject } from 'node:crypto';
import { KestConfigurationError, KestVerificationError } from '../errors.js';
import { readFileBounded } from '../wire/bounded-file.js';
import type { PublicJwk } from '../wire/jwk.js';
import { algForKey } from '../wire/jws.js';
import type { KeyRequest, TrustSource } from './trust-source.js';

interface AnchoredKey {
  kid: string | undefined;
  key: KeyObject;
}

type JwksLike = { keys: PublicJwk[] };

/**
 * Static trust: public keys anchored per principal. Accepts
 * - a JWKS whose keys name their principal: {"keys":[{..., "kid", "principal": "spiffe://..."}]}
 * - a map principal → JWKS (or → single JWK): {"spiffe://a": {"keys":[...]}}
 * A key is used only for the principal it is registered under; the entry's own header never adds
 * a key (a `jwk`/`x5c` it carries is ignored here).
 */
export class JwksTrustSource implements TrustSource {
  readonly #keys = new Map<string, AnchoredKey[]>();
  /** Bumped on every change of the key set, so verifiers drop tips verified under old keys. */
  #epoch = 0;

  constructor(...sources: unknown[]) {
    for (const s of sources) this.add(s);
  }

  static fromFile(...paths: string[]): JwksTrustSource {
    return new JwksTrustSource(
      ...paths.map((p) => {
        try {
          return JSON.parse(readFileBounded(p));
        } catch (err) {
          throw new KestConfigurationError(`cannot read JWKS ${p}: ${(err as Error).message}`, {
            cause: err,
          });
        }
      }),
    );
  }

  /** Add keys (same forms as the constructor). */
  add(source: unknown): this {
    if (typeof source !== 'object' || source === null)
      throw new KestConfigurationError('JWKS must be an object');
    const s = source as Record<string, unknown>;
    if (Array.isArray(s.keys)) {
      for (const jwk of s.keys as PublicJwk[]) {
        if (typeof jwk !== 'object' || jwk === null || typeof jwk.principal !== 'string') {
          throw new KestConfigurationError(
            `JWKS key ${jwk?.kid ?? '?'} has no "principal" member: cannot anchor it`,
          );
        }
        this.addKey(jwk.principal, jwk);
      }
      return this;
    }
    if (typeof s.kty === 'string') {
      // A bare JWK names no principal (and may be a private key file passed by mistake).
      throw new KestConfigurationError(
        'a bare JWK cannot be anchored: use {"keys":[{..., "principal": "<workload id>"}]} or {"<workload id>": <JWK>}',
      );
    }
    for (const [principal, value] of Object.entries(s)) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new KestConfigurationError(`JWKS entry for ${principal} is not a JWK or JWKS object`);
      }
      const v = value as JwksLike | PublicJwk;
      const list = Array.isArray((v as JwksLike).keys) ? (v as JwksLike).keys : [v as PublicJwk];
      for (const jwk of list) {
        if (jwk && typeof jwk === 'object' && jwk.principal !== undefined && jwk.principal !== principal) {
          throw new KestConfigurationError(
            `JWKS key ${jwk.kid ?? '?'} names principal ${String(jwk.principal)} but is listed under ${principal}`,
          );
        }
        this.addKey(principal, jwk);
      }
    }
    return this;
  }

  addKey(principal: string, jwk: PublicJwk): void {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
      throw new KestConfigurationError(`JWKS entry for ${principal} is not a JWK object`);
    }
    if ('d' in jwk) throw new KestConfigurationError(`trust JWKS for ${principal} contains a private key`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch (err) {
      throw new KestConfigurationError(`invalid JWK for ${principal}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    // Only keys Kest verifies with (Ed25519, P-256), and a declared alg must match the key.
    let alg: string;
    try {
      alg = algForKey(key);
    } catch (err) {
      throw new KestConfigurationError(`JWK for ${principal}: ${(err as Error).message}`, { cause: err });
    }
    if (jwk.alg !== undefined && jwk.alg !== alg) {
      throw new KestConfigurationError(
        `JWK for ${principal}: alg ${String(jwk.alg)} does not match its ${alg} key`,
      );
    }
    const list = this.#keys.get(principal) ?? [];
    list.push({ kid: jwk.kid, key });
    this.#keys.set(principal, list);
    this.#epoch++;
  }

  /**
   * Revoke: remove the key `kid` of `principal`, or all its keys when no kid is given. Returns how
   * many keys were removed. Verifiers using this source stop accepting passports verified earlier
   * with a removed key (the epoch changes), without a clearCache() call.
   */
  remove(principal: string, kid?: string): number {
    const list = this.#keys.get(principal);
    if (!list) return 0;
    const kept = kid === undefined ? [] : list.filter((k) => k.kid !== kid);
    const removed = list.length - kept.length;
    if (removed === 0) return 0;
    if (kept.length === 0) this.#keys.delete(principal);
    else this.#keys.set(principal, kept);
    this.#epoch++;
    return removed;
  }

  /** Changes whenever a key is added or removed (see TrustSource.epoch). */
  epoch(): number {
    return this.#epoch;
  }

  get principals(): string[] {
    return [...this.#keys.keys()];
  }

  resolveKey({ principal, header, entry, index }: KeyRequest): KeyObject {
    const list = this.#keys.get(principal);
    if (!list || list.length === 0) {
      throw new KestVerificationError('unknown_principal', `no trusted key for principal ${principal}`, {
        index,
        entryId: entry.entry_id,
      });
    }
    if (header.kid !== undefined) {
      const found = list.find((k) => k.kid === header.kid);
      if (found) return found.key;
      throw new KestVerificationError(
        'key_not_anchored',
        `kid ${header.kid} is not a trusted key of ${principal}`,
        {
          index,
          entryId: entry.entry_id,
        },
      );
    }
    if (list.length === 1) return (list[0] as AnchoredKey).key;
    throw new KestVerificationError(
      'key_not_anchored',
      `${principal} has several keys and the entry names no kid`,
      {
        index,
        entryId: entry.entry_id,
      },
    );
  }
}
