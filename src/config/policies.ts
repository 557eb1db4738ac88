/**
 * Policy names checked against the engine that will answer them, before anything runs. Engines
 * that know their catalogue implement `assertPolicies` (CedarLocalEngine; OPAPolicyEngine with a
 * `paths` record; CedarAgentEngine with `policies`); the others cannot tell, and a name they do not
 * have surfaces when they answer (docs/policy.md). Names found known are remembered per engine, so
 * a protected call pays one set lookup per name.
 */
import { KestConfigurationError } from '../errors.js';
import type { PolicyEngine, PolicyTier } from '../policy/types.js';

/** Per engine, per tier, the names it said it has. */
const known = new WeakMap<PolicyEngine, Map<PolicyTier, Set<string>>>();

/**
 * What to do when the engine's catalogue is still loading (`engine_not_ready`): `defer` the check
 * to a later one (wrapping, configure()), or `throw` (a call, `ready()`).
 */
export type WhenNotReady = 'defer' | 'throw';

/**
 * Throws KestConfigurationError (reason `unknown_policy` with `policies`, and `tier`) for names the
 * engine says it does not have. Returns false when the check was deferred, true otherwise.
 */
export function assertKnownPolicies(
  engine: PolicyEngine,
  tier: PolicyTier,
  names: readonly string[],
  where: string,
  whenNotReady: WhenNotReady,
): boolean {
  let tiers = known.get(engine);
  const seen = tiers?.get(tier);
  // The common case, every call after the first: no allocation.
  if (seen && names.every((name) => seen.has(name))) return true;
  const unchecked = seen ? names.filter((name) => !seen.has(name)) : names;
  if (engine.assertPolicies) {
    try {
      engine.assertPolicies(unchecked, tier);
    } catch (err) {
      if (!(err instanceof KestConfigurationError)) throw err;
      const notReady = err.reason === 'engine_not_ready';
      if (notReady && whenNotReady === 'defer') return false;
      // The engine's reason stands (`unknown_policy` from Kest's engines; a custom engine may say less).
      throw new KestConfigurationError(`${where}: ${tier} tier: ${err.message}`, {
        reason: err.reason,
        policies: err.policies,
        tier,
        suggestion: err.suggestion,
        cause: err,
      });
    }
  }
  if (!tiers) {
    tiers = new Map();
    known.set(engine, tiers);
  }
  const set = seen ?? new Set<string>();
  if (!seen) tiers.set(tier, set);
  for (const name of unchecked) set.add(name);
  return true;
}
