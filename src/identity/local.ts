import { hostname } from 'node:os';
import { type KestLogger, stderrLogger } from '../logger.js';
import { Ed25519Key } from './ed25519.js';
import { Ed25519KeyIdentity } from './key-identity.js';

let warned = false;

/**
 * Development identity: a fresh Ed25519 key in memory per process, never written to disk. Its
 * public key must be handed to verifiers (getPublicJwks) — nothing anchors it otherwise. Logs one
 * prominent warning per process: production workloads use SPIFFE (SPIREProvider) or OIDC.
 */
export class LocalEd25519Provider extends Ed25519KeyIdentity {
  constructor(options: { workloadId?: string; quiet?: boolean; logger?: KestLogger } = {}) {
    super(
      Ed25519Key.generate(),
      options.workloadId ?? `spiffe://kest.local/workload/${hostname()}-${process.pid}`,
    );
    if (!options.quiet && !warned) {
      warned = true;
      (options.logger ?? stderrLogger).warn(
        { workload_id: this.getWorkloadId(), kid: this.kid },
        'LocalEd25519Provider is for development only: an ephemeral in-memory key that no verifier trusts unless you publish it. Use SPIFFE/SPIRE or OIDC in production.',
      );
    }
  }
}
