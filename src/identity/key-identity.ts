import type { Ed25519Key } from './ed25519.js';
import type { IdentityProvider, PublicJwk } from './provider.js';

/**
 * An identity that signs with one Ed25519 key held in memory: what LocalEd25519Provider (a fresh
 * key) and FileIdentityProvider (a key kest keygen wrote) share once they hold their key.
 */
export abstract class Ed25519KeyIdentity implements IdentityProvider {
  readonly #key: Ed25519Key;
  readonly #workloadId: string;

  protected constructor(key: Ed25519Key, workloadId: string) {
    this.#key = key;
    this.#workloadId = workloadId;
  }

  getWorkloadId(): string {
    return this.#workloadId;
  }

  sign(payload: Uint8Array): string {
    return this.#key.sign(payload);
  }

  /** The public JWKS verifiers anchor for this workload. */
  getPublicJwks(): { keys: PublicJwk[] } {
    return { keys: [this.#key.publicJwk(this.#workloadId)] };
  }

  get kid(): string {
    return this.#key.kid;
  }
}
