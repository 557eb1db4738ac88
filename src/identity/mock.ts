import { createHash } from 'node:crypto';
import { Ed25519Key } from './ed25519.js';
import type { IdentityProvider, PublicJwk } from './provider.js';

/**
 * For unit tests: a deterministic Ed25519 key derived from a seed string, so fixtures are
 * reproducible, and entries still verify against getPublicJwks(). `failWith` makes sign() throw.
 */
export class MockIdentityProvider implements IdentityProvider {
  readonly #key: Ed25519Key;
  readonly workloadId: string;
  failWith: Error | undefined;
  signCount = 0;

  constructor(options: { workloadId?: string; seed?: string; failWith?: Error } = {}) {
    this.workloadId = options.workloadId ?? 'spiffe://test.kest/workload/mock';
    this.#key = Ed25519Key.fromSeed(
      createHash('sha256')
        .update(options.seed ?? this.workloadId)
        .digest(),
    );
    this.failWith = options.failWith;
  }

  getWorkloadId(): string {
    return this.workloadId;
  }

  sign(payload: Uint8Array): string {
    if (this.failWith) throw this.failWith;
    this.signCount++;
    return this.#key.sign(payload);
  }

  getPublicJwks(): { keys: PublicJwk[] } {
    return { keys: [this.#key.publicJwk(this.workloadId)] };
  }
}
