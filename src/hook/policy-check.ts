/**
 * A protected function's policy names, checked against the engines that will answer them: when it
 * is wrapped (with the configuration known then; the deployment tiers too once fixed), and on demand
 * with `await protectedFn.ready()`. Every call checks again before it runs (resolve.ts), remembered
 * per engine, so an engine configured later is checked at the first call.
 */
import { getConfiguration, getDeployment, peekDeployment } from '../config/config.js';
import { EMPTY_DEPLOYMENT } from '../config/deployment.js';
import { assertKnownPolicies } from '../config/policies.js';
import { KestConfigurationError } from '../errors.js';
import type { KestVerifiedOptions } from './options.js';
import { planTiers } from './resolve.js';

/** At wrap time: every tier whose engine is known now; an engine still loading is checked later. */
export function checkAtWrap(
  options: KestVerifiedOptions<never>,
  functionPolicies: string[],
  operation: string,
): void {
  const deployment = peekDeployment() ?? EMPTY_DEPLOYMENT;
  const plan = planTiers(options, functionPolicies, operation, getConfiguration(), deployment);
  for (const [tier, names] of plan.tiers) {
    const engine = plan.engines.get(tier);
    if (engine && names.length > 0) {
      assertKnownPolicies(engine, tier, names, `kestVerified(${operation})`, 'defer');
    }
  }
}

/**
 * Waits for every engine that answers this function's tiers to load its catalogue, then checks
 * the names: resolves when a call would reach a decision, rejects with KestConfigurationError
 * (`unknown_policy`, `engine_not_ready`, or a missing engine) otherwise. Call it after configure().
 */
export async function checkWhenReady(
  options: KestVerifiedOptions<never>,
  functionPolicies: string[],
  operation: string,
): Promise<void> {
  const plan = planTiers(options, functionPolicies, operation, getConfiguration(), getDeployment());
  for (const [tier, names] of plan.tiers) {
    if (names.length === 0) continue;
    const engine = plan.engines.get(tier);
    if (!engine) throw new KestConfigurationError(`${operation}: no policy engine for the ${tier} tier`);
    try {
      await engine.ready?.();
    } catch (cause) {
      throw new KestConfigurationError(
        `${operation}: the ${tier} tier's engine did not load its policies: ${(cause as Error)?.message ?? cause}`,
        { reason: 'engine_not_ready', tier, cause },
      );
    }
    assertKnownPolicies(engine, tier, names, operation, 'throw');
  }
}
