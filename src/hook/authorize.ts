/** Policy evaluation for one protected call: every tier in order, each with a deadline; all must allow. */
import { getConfiguration } from '../config/config.js';
import type { KestEntryPayload } from '../entry/types.js';
import { KestAuthorizationError, KestError, KestPolicyEngineError } from '../errors.js';
import type { EvaluationContext, PolicyEngine, PolicyTier } from '../policy/types.js';

/** The policy names of each tier, in evaluation order (enterprise first, function last). */
export type Tiers = [PolicyTier, readonly string[]][];

/** Evaluate every non-empty tier in order; the first denial or engine failure throws. */
export async function evaluateTiers(
  tiers: Tiers,
  engines: Map<PolicyTier, PolicyEngine>,
  ctx: EvaluationContext,
  payload: KestEntryPayload,
  workloadId: string,
  timeoutMs: number,
): Promise<void> {
  for (const [tier, names] of tiers) {
    if (names.length === 0) continue;
    await authorize(engines.get(tier) as PolicyEngine, tier, names, ctx, payload, workloadId, timeoutMs);
  }
}

function withTimeout<T>(work: (signal: AbortSignal) => Promise<T>, ms: number, what: string): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new KestPolicyEngineError(`${what} did not answer within ${ms} ms`, 'timeout'));
    }, ms);
  });
  return Promise.race([work(controller.signal), timeout]).finally(() => clearTimeout(timer));
}

type Decision = Awaited<ReturnType<PolicyEngine['evaluate']>>;

/** One tier: an engine failure, a malformed answer or a timeout denies like a policy would. */
async function authorize(
  engine: PolicyEngine,
  tier: PolicyTier,
  names: readonly string[],
  ctx: EvaluationContext,
  payload: KestEntryPayload,
  workloadId: string,
  timeoutMs: number,
): Promise<void> {
  const tierCtx: EvaluationContext = {
    ...ctx,
    environment: { ...ctx.environment, policy_names: [...names], policy_tier: tier },
  };
  const logger = getConfiguration().logger;
  let decision: Decision;
  try {
    decision = await decide(engine, names, tierCtx, payload, timeoutMs);
  } catch (err) {
    const reason =
      err instanceof KestError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
    logger.warn(
      {
        entry_id: payload.entry_id,
        policies: names,
        tier,
        workload_id: workloadId,
        operation: payload.operation,
        reason,
      },
      'kest: policy engine failed; denying',
    );
    throw new KestAuthorizationError(`${tier} policy engine failed for ${names.join(', ')}: ${reason}`, {
      policy: names.join(','),
      tier,
      entryId: payload.entry_id,
      cause: err,
    });
  }
  if (decision.allow !== true) {
    const policy = decision.policy ?? names.join(',');
    logger.warn(
      {
        entry_id: payload.entry_id,
        policies: names,
        denied_by: policy,
        tier,
        workload_id: workloadId,
        operation: payload.operation,
        reason: decision.reason,
      },
      'kest: call denied by policy',
    );
    throw new KestAuthorizationError(
      `${payload.operation}: denied by ${tier} policy ${policy}${decision.reason ? `: ${decision.reason}` : ''}`,
      { policy, tier, entryId: payload.entry_id },
    );
  }
}

async function decide(
  engine: PolicyEngine,
  names: readonly string[],
  tierCtx: EvaluationContext,
  payload: KestEntryPayload,
  timeoutMs: number,
): Promise<Decision> {
  const tier = tierCtx.environment.policy_tier;
  // A synchronous engine cannot be interrupted by a timer: no deadline machinery for it.
  const decision = engine.evaluateSync
    ? engine.evaluateSync(payload.entry_id, names, tierCtx)
    : await withTimeout(
        (signal) => engine.evaluate(payload.entry_id, names, tierCtx, { signal }),
        timeoutMs,
        `policy engine (${tier})`,
      );
  if (typeof decision !== 'object' || decision === null || typeof decision.allow !== 'boolean') {
    throw new KestPolicyEngineError('policy engine returned no decision', 'malformed');
  }
  return decision;
}
