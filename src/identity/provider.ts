import type { KeyObject } from 'node:crypto';
import type { EntrySigner, SignOptions } from '../entry/sign.js';
import type { JwsAlg } from '../wire/constants.js';
import type { PublicJwk } from '../wire/jwk.js';

export type { PublicJwk, SignOptions };

/**
 * Who this workload is and how it signs. `sign` receives the canonical payload bytes and returns a
 * compact JWS; a provider that cannot sign (no key, expired SVID, agent down) throws
 * KestIdentityError: there is never an unsigned fallback.
 */
export interface IdentityProvider extends EntrySigner {
  /** The workload id written into labels.principal. */
  getWorkloadId(): string;
  sign(payload: Uint8Array, options?: SignOptions): string | Promise<string>;
  /** The public key(s) a verifier can anchor to this workload, when the provider has them. */
  getPublicJwks?(): { keys: PublicJwk[] } | Promise<{ keys: PublicJwk[] }>;
  /** Labels the provider adds to every entry (e.g. OIDC issuer/subject). */
  getLabels?(): Record<string, string>;
}

/** Key material of providers that sign in-process. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly alg: JwsAlg;
  readonly kid: string;
}
