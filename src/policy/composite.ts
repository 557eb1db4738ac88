/**
 * Engines compose. TieredPolicyEngine sends each evaluation to the engine of its tier (the hook
 * sets `context.environment.policy_tier`), e.g. enterprise policies on OPA and function policies
 * on local Cedar. AllOfPolicyEngine asks several engines and allows only if all allow.
 */
import { KestConfigurationError, KestPolicyEngineError } from '../errors.js';
import {
  type EvaluateOptions,
  type EvaluationContext,
  POLICY_TIERS,
  type PolicyDecision,
  type PolicyEngine,
  type PolicyTier,
} from './types.js';

export type TierEngines = Partial<Record<PolicyTier, PolicyEngine>> & {
  /** Engine for tiers not listed. Without it, an unlisted tier is an error (a denial). */
  default?: PolicyEngine;
};

/** The engine for a tier: its own, else the default, else a configuration error. */
export function engineForTier(engines: TierEngines, tier: PolicyTier): PolicyEngine {
  if (!POLICY_TIERS.includes(tier))
    throw new KestConfigurationError(`unknown policy tier ${JSON.stringify(tier)}`);
  const engine = (Object.hasOwn(engines, tier) ? engines[tier] : undefined) ?? engines.default;
  if (engine === undefined) throw new KestConfigurationError(`no policy engine configured for tier ${tier}`);
  return engine;
}

export class TieredPolicyEngine implements PolicyEngine {
  readonly #engines: TierEngines;

  constructor(engines: TierEngines) {
    for (const key of Object.keys(engines)) {
      if (key !== 'default' && !POLICY_TIERS.includes(key as PolicyTier)) {
        throw new KestConfigurationError(`TieredPolicyEngine: unknown tier ${JSON.stringify(key)}`);
      }
    }
    if (Object.values(engines).every((engine) => engine === undefined)) {
      throw new KestConfigurationError('TieredPolicyEngine: no engine configured');
    }
    this.#engines = { ...engines };
  }

  engineForTier(tier: PolicyTier): PolicyEngine {
    return engineForTier(this.#engines, tier);
  }

  /** Checks names per tier on engines that can tell (CedarLocalEngine, OPA with a path map, ...). */
  assertPolicies(names: Iterable<string>, tier: PolicyTier = 'function'): void {
    this.engineForTier(tier).assertPolicies?.(names, tier);
  }

  async ready(): Promise<void> {
    await readyAll(Object.values(this.#engines));
  }

  evaluate(
    entryId: string,
    policyNames: readonly string[],
    context: EvaluationContext,
    options?: EvaluateOptions,
  ): Promise<PolicyDecision> {
    let engine: PolicyEngine;
    try {
      engine = this.engineForTier(context.environment.policy_tier);
    } catch (cause) {
      // A missing engine at call time is a denial like any other engine failure.
      return Promise.reject(
        new KestPolicyEngineError(`TieredPolicyEngine: ${(cause as Error).message}`, 'engine_error', {
          cause,
        }),
      );
    }
    return engine.evaluate(entryId, policyNames, context, options);
  }

  async close(): Promise<void> {
    await closeAll(Object.values(this.#engines));
  }
}

/** Allows only if every engine allows (logical AND), asked in order; the first denial wins. */
export class AllOfPolicyEngine implements PolicyEngine {
  readonly engines: readonly PolicyEngine[];

  constructor(engines: readonly PolicyEngine[]) {
    if (engines.length === 0)
      throw new KestConfigurationError('AllOfPolicyEngine: needs at least one engine');
    this.engines = [...engines];
  }

  /** Every engine is asked every name: each that can tell must know them all. */
  assertPolicies(names: Iterable<string>, tier?: PolicyTier): void {
    const list = [...names];
    for (const engine of this.engines) engine.assertPolicies?.(list, tier);
  }

  async ready(): Promise<void> {
    await readyAll(this.engines);
  }

  async evaluate(
    entryId: string,
    policyNames: readonly string[],
    context: EvaluationContext,
    options?: EvaluateOptions,
  ): Promise<PolicyDecision> {
    for (const engine of this.engines) {
      const decision = await engine.evaluate(entryId, policyNames, context, options);
      if (decision.allow !== true) return decision;
    }
    return { allow: true };
  }

  async close(): Promise<void> {
    await closeAll(this.engines);
  }
}

export function allOf(...engines: PolicyEngine[]): AllOfPolicyEngine {
  return new AllOfPolicyEngine(engines);
}

async function closeAll(engines: readonly (PolicyEngine | undefined)[]): Promise<void> {
  const unique = [...new Set(engines.filter((e): e is PolicyEngine => e !== undefined))];
  await Promise.all(unique.map((engine) => engine.close?.()));
}

async function readyAll(engines: readonly (PolicyEngine | undefined)[]): Promise<void> {
  const unique = [...new Set(engines.filter((e): e is PolicyEngine => e !== undefined))];
  await Promise.all(unique.map((engine) => engine.ready?.()));
}
