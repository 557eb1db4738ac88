/**
 * The policy engine contract and the evaluation context (docs/spec.md §6). Engines decide over the
 * whole lineage: trust score and taints of the chain, user/agent/task, the resource.
 */

export type PolicyTier = 'enterprise' | 'platform' | 'application' | 'function';
export const POLICY_TIERS: readonly PolicyTier[] = ['enterprise', 'platform', 'application', 'function'];

export interface Deviation {
  policy: string;
  tier: string;
  reason: string;
  approver: string;
}

export interface IdentityContext {
  user: string | null;
  agent: string | null;
  task: string | null;
}

export interface EvaluationContext {
  subject: {
    workload: string;
    user: string | null;
    agent: string | null;
    task: string | null;
    trust_score: number;
    taints: string[];
  };
  object: {
    id: string;
    attributes: Record<string, unknown>;
  };
  environment: {
    is_root: boolean;
    source_type: string;
    /** Hash of the parent entry (the tip of the incoming passport), or "0" at a root. */
    parent_hash: string;
    policy_names: string[];
    policy_tier: PolicyTier;
    active_deviations: Deviation[];
  };
  identity: IdentityContext;
  trust_score: number;
}

export interface PolicyDecision {
  allow: boolean;
  /** The policy that denied (engines evaluate policies in order and stop at the first denial). */
  policy?: string;
  reason?: string;
}

export interface EvaluateOptions {
  /** Aborted when the hook's engine timeout expires; engines should stop their work. */
  signal?: AbortSignal;
}

/**
 * A policy engine. `evaluate` allows only if *every* named policy allows (logical AND). An engine
 * that cannot decide (unreachable, timeout, non-200, malformed answer, unknown policy) throws
 * KestPolicyEngineError; the hook turns that into a denial. It never allows on error.
 */
export interface PolicyEngine {
  evaluate(
    entryId: string,
    policyNames: readonly string[],
    context: EvaluationContext,
    options?: EvaluateOptions,
  ): Promise<PolicyDecision>;
  /**
   * The same decision without a promise, for engines that decide synchronously in process (the
   * local Cedar engine). The hook then calls it directly: a deadline timer cannot interrupt
   * synchronous work anyway, so the timer, AbortController and promise race are skipped. The hook
   * reads it before each evaluation: an engine may offer it only while it can answer this way.
   */
  evaluateSync?:
    | ((
        entryId: string,
        policyNames: readonly string[],
        context: EvaluationContext,
        options?: EvaluateOptions,
      ) => PolicyDecision)
    | undefined;
  /**
   * Engines that know their policies (local Cedar, OPA with a path map, ...) throw
   * KestConfigurationError (reason `unknown_policy`) for names they do not have, so a typo fails
   * when the hook is created or configure() is called instead of denying every call later. An
   * engine whose catalogue loads asynchronously throws reason `engine_not_ready` until it has
   * loaded: the check then waits for the first call, which fails with that error instead of
   * running the function until the engine is ready.
   */
  assertPolicies?(names: Iterable<string>, tier?: PolicyTier): void;
  /** Resolves once assertPolicies can answer (an asynchronously loaded catalogue); rejects if it cannot load. */
  ready?(): Promise<void>;
  close?(): Promise<void> | void;
}
