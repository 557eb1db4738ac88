import type { KeyObject } from 'node:crypto';
import type { JwsAlg } from '../wire/constants.js';

/** A public JWK as Kest publishes it: the key, its kid, and the principal it is anchored to. */
export interface PublicJwk {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  kid: string;
  alg?: JwsAlg;
  use?: 'sig';
  /** The workload id (labels.principal) this key may sign for. Private-use JWK member. */
  principal?: string;
  [member: string]: unknown;
}

/**
 * Who this workload is and how it signs. `sign` receives the canonical payload bytes and returns a
 * compact JWS; a provider that cannot sign (no key, expired SVID, agent down) throws
 * KestIdentityError: there is never an unsigned fallback.
 */
export interface IdentityProvider {
  /** The workload id written into labels.principal. */
  getWorkloadId(): string;
  sign(payload: Uint8Array, options?: SignOptions): string | Promise<string>;
  /** The public key(s) a verifier can anchor to this workload, when the provider has them. */
  getPublicJwks?(): { keys: PublicJwk[] } | Promise<{ keys: PublicJwk[] }>;
  /** Labels the provider adds to every entry (e.g. OIDC issuer/subject). */
  getLabels?(): Record<string, string>;
}

export interface SignOptions {
  /**
   * Leaf-certificate thumbprints (x5t#S256) whose chains the passport being extended already
   * carries in an earlier entry's x5c: an X.509 provider may then send only the thumbprint.
   */
  knownChains?: ReadonlySet<string>;
}

/** Key material of providers that sign in-process. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly alg: JwsAlg;
  readonly kid: string;
}
