/**
 * `--attack=reroot`: the design's second attack, "claim the request came from a different origin".
 * hop2 drops the lineage it received (hop1's entry, and with it the trust hop2's own origin lowered)
 * and sends a fresh root signed with its own real key, claiming source_type `system` (trust 100).
 * Every signature and link holds; only root rules can tell: hop3 lists hop1 as the one principal
 * that may start a lineage, so it refuses with 401 `unauthorized_root` at entry 0.
 */
import { signEntry } from '../../src/entry/sign.js';
import type { KestEntryPayload } from '../../src/entry/types.js';
import type { IdentityProvider } from '../../src/identity/provider.js';
import { Passport } from '../../src/passport/passport.js';
import { LABEL, ROOT_PARENT } from '../../src/wire/constants.js';

/** hop2's own (last) entry, re-signed as a root of origin `system`; everything before it dropped. */
export async function rerootAsSystem(passport: Passport, self: IdentityProvider): Promise<Passport> {
  const own = passport.entries[passport.length - 1];
  if (!own) return passport;
  const payload: KestEntryPayload = {
    ...own.payload,
    parent_ids: [ROOT_PARENT],
    trust_score: 100,
    taints: [...own.payload.added_taints],
    removed_taints: [],
    labels: { ...own.payload.labels, [LABEL.sourceType]: 'system' },
  };
  return Passport.fromJws([await signEntry(self, payload)]);
}
