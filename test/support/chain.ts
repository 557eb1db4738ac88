/**
 * Builds signed passports for tests the way a signer following docs/spec.md §2/§4 would: parents'
 * trust and taints carried forward with the real trust evaluator, then signed by each hop's identity.
 */

import { buildEntry, signEntry } from '../../src/entry/index.js';
import {
  DefaultTrustEvaluator,
  hopTrust,
  type IdentityProvider,
  JwksTrustSource,
  type KestEntryPayload,
  Passport,
} from '../../src/index.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { computeTaints } from '../../src/trust/taints.js';

export interface HopSpec {
  identity: IdentityProvider;
  operation?: string;
  sourceType?: string;
  addedTaints?: string[];
  removedTaints?: string[];
  trustOverride?: number;
  /** Indices of parent entries; default: the previous entry (or root for the first). */
  parents?: number[];
  /** Edit the payload before signing (to forge lineage in tests). */
  mutate?: (p: KestEntryPayload) => void;
}

export async function buildPassport(hops: HopSpec[], start: Passport = Passport.empty()): Promise<Passport> {
  const evaluator = new DefaultTrustEvaluator();
  let passport = start;
  for (const [n, hop] of hops.entries()) {
    const entries = passport.entries;
    const parentIdx = hop.parents ?? (entries.length > 0 ? [entries.length - 1] : []);
    const parents = parentIdx.map((i) => entries[i]!);
    const added = hop.addedTaints ?? [];
    const removed = hop.removedTaints ?? [];
    const labels: Record<string, string> = {};
    if (hop.sourceType !== undefined) labels['kest.source_type'] = hop.sourceType;
    if (hop.trustOverride !== undefined) labels['kest.trust_override'] = String(hop.trustOverride);
    const payload = buildEntry({
      operation: hop.operation ?? `op${n}`,
      principal: hop.identity.getWorkloadId(),
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      parentIds: parents.map((p) => p.hash),
      addedTaints: added,
      removedTaints: removed,
      taints: computeTaints(
        parents.map((p) => p.payload.taints),
        added,
        removed,
      ),
      trustScore: hopTrust(evaluator, {
        parentScores: parents.map((p) => p.payload.trust_score),
        sourceType: hop.sourceType,
        override: hop.trustOverride,
        addedTaints: added,
      }),
      labels,
    });
    hop.mutate?.(payload);
    passport = passport.append(await signEntry(hop.identity, payload));
  }
  return passport;
}

/** n mock workloads with deterministic keys and a trust source that anchors them all. */
export function workloads(n: number, prefix = 'spiffe://test.kest/svc') {
  const ids = Array.from({ length: n }, (_, i) => new MockIdentityProvider({ workloadId: `${prefix}${i}` }));
  const trust = new JwksTrustSource(...ids.map((id) => id.getPublicJwks()));
  return { ids, trust };
}
