/**
 * Where the demo's workload identities come from — the seam for `npm run demo -- --spiffe`.
 *
 * `local` (default): one LocalEd25519Provider per service (an ephemeral in-memory key each); the
 * verifier trusts exactly their three public keys (a JWKS), as an auditor would be handed them.
 * `spiffe`: reserved for SVIDs from a SPIFFE Workload API (the dev agent of src/spiffe); it must
 * return SPIREProviders and a SpiffeTrustSource built from the trust bundle instead.
 */
import { LocalEd25519Provider } from '../../src/identity/local.js';
import type { IdentityProvider, PublicJwk } from '../../src/identity/provider.js';
import { JwksTrustSource } from '../../src/keys/jwks.js';
import type { TrustSource } from '../../src/keys/trust-source.js';

export type IdentityMode = 'local' | 'spiffe';

export interface DemoIdentities {
  mode: IdentityMode;
  /** One per workload id, in order. */
  providers: IdentityProvider[];
  /** What every hop (and the offline auditor) verifies entries against. */
  trust: () => TrustSource;
  /** Human description for the banner. */
  description: string;
  close(): Promise<void>;
}

export async function createIdentities(
  workloadIds: readonly string[],
  mode: IdentityMode,
): Promise<DemoIdentities> {
  if (mode === 'spiffe') {
    // Seam: start (or connect to) a SPIFFE Workload API, fetch one SVID per workload, and return
    // SPIREProviders with a SpiffeTrustSource over the bundle (see docs/demo.md).
    throw new Error('--spiffe is not wired into the demo yet (see docs/demo.md, "SPIFFE mode")');
  }
  const providers = workloadIds.map((workloadId) => new LocalEd25519Provider({ workloadId, quiet: true }));
  const jwks: { keys: PublicJwk[] }[] = providers.map((p) => p.getPublicJwks());
  return {
    mode,
    providers,
    // A fresh source per consumer: each hop and the auditor hold their own copy of the keys.
    trust: () => new JwksTrustSource(...jwks),
    description: 'LocalEd25519Provider per service (ephemeral dev keys; the verifiers get the 3 public keys)',
    close: async () => {},
  };
}
