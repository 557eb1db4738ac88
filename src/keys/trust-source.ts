import type { KeyObject } from 'node:crypto';
import type { KestEntryPayload } from '../entry/types.js';
import type { JwsHeader } from '../wire/jws.js';

/** What a trust source sees when asked for the key that anchors one entry. */
export interface KeyRequest {
  /** labels.principal of the entry: the workload that claims to have signed it. */
  readonly principal: string;
  readonly header: JwsHeader;
  readonly entry: KestEntryPayload;
  /** Index of the entry in the passport being verified. */
  readonly index: number;
  /**
   * Certificate chains the passport carries once for all its entries (compact x5t#S256 form),
   * keyed by the leaf's base64url SHA-256 thumbprint; leaf first, standard base64 DER.
   */
  readonly chains?: ReadonlyMap<string, readonly string[]>;
}

/**
 * Where a verifier gets the keys it trusts (docs/spec.md §2 check 3). A key is anchored when the
 * source holds it for the entry's principal (JWKS / static map) or an X.509 chain validates to the
 * principal's trust-domain bundle with a URI SAN equal to the principal. A key that the entry only
 * carries about itself is never enough. Throw KestVerificationError ('unknown_principal' or
 * 'key_not_anchored') when no anchored key exists.
 */
export interface TrustSource {
  resolveKey(request: KeyRequest): KeyObject | Promise<KeyObject>;
  /**
   * A value that changes whenever the set of anchored keys may have shrunk (a key revoked, a
   * bundle updated, an SVID expired): verifiers drop what they cached under another epoch (the
   * verified-tip cache). Called once per verification, so it must be cheap. Sources without it are
   * treated as never changing (call PassportVerifier.clearCache() yourself).
   */
  epoch?(): string | number;
}
