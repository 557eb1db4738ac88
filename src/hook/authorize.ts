/** Policy evaluation for one protected call: every tier in order, each with a deadline; all must allow. */
import { getConfiguration } from '../config/config.js';
import type { KestEntryPayload } from '../entry/types.js';
import { KestAuthorizationError, KestError, KestPolicyEngineError } from '../errors.js';
import type { KestLogger } from '../logger.js';
import type { EvaluateOptions, EvaluationContext, PolicyEngine, PolicyTier } from '../policy/types.js';

/** The policy names of each tier, in evaluation order (enterprise first, function last). */
export type Tiers = [PolicyTier, readonly string[]][];

type Decision = Awaited<ReturnType<PolicyEngine['evaluate']>>;

/** What one tier is asked with, and what is logged and raised when it fails or denies. */
interface TierCall {
  engine: PolicyEngine;
  tier: PolicyTier;
  names: readonly string[];
  ctx: EvaluationContext;
  payload: KestEntryPayload;
  workloadId: string;
  logger: KestLogger;
}

/**
 * Evaluate every non-empty tier in order; the first denial or engine failure throws. Tiers whose
 * engine decides synchronously (evaluateSync) are answered without a promise: while every tier is
 * synchronous this returns undefined (or throws), otherwise a promise for the remaining tiers.
 */
export function evaluateTiers(
  tiers: Tiers,
  engines: Map<PolicyTier, PolicyEngine>,
  ctx: EvaluationContext,
  payload: KestEntryPayload,
  workloadId: string,
  timeoutMs: number,
): Promise<void> | undefined {
  for (let i = 0; i < tiers.length; i++) {
    const [tier, names] = tiers[i] as Tiers[number];
    if (names.length === 0) continue;
    const call = tierCall(engines.get(tier) as PolicyEngine, tier, names, ctx, payload, workloadId);
    if (!call.engine.evaluateSync) return evaluateFrom(i, call, tiers, engines, ctx, timeoutMs);
    authorizeSync(call);
  }
  return undefined;
}

/** The tiers from `first` on, the first of which (`call`) has an asynchronous engine. */
async function evaluateFrom(
  first: number,
  call: TierCall,
  tiers: Tiers,
  engines: Map<PolicyTier, PolicyEngine>,
  ctx: EvaluationContext,
  timeoutMs: number,
): Promise<void> {
  await authorizeAsync(call, timeoutMs);
  const { payload, workloadId } = call;
  for (let i = first + 1; i < tiers.length; i++) {
    const [tier, names] = tiers[i] as Tiers[number];
    if (names.length === 0) continue;
    const next = tierCall(engines.get(tier) as PolicyEngine, tier, names, ctx, payload, workloadId);
    if (next.engine.evaluateSync) authorizeSync(next);
    else await authorizeAsync(next, timeoutMs);
  }
}

function tierCall(
  engine: PolicyEngine,
  tier: PolicyTier,
  names: readonly string[],
  ctx: EvaluationContext,
  payload: KestEntryPayload,
  workloadId: string,
): TierCall {
  // The members of evaluationContext() (verified.ts), in its order: what `{ ...ctx }` would copy.
  const env = ctx.environment;
  const tierCtx: EvaluationContext = {
    subject: ctx.subject,
    object: ctx.object,
    environment: {
      is_root: env.is_root,
      source_type: env.source_type,
      parent_hash: env.parent_hash,
      policy_names: [...names],
      policy_tier: tier,
      active_deviations: env.active_deviations,
    },
    identity: ctx.identity,
    trust_score: ctx.trust_score,
  };
  const logger = getConfiguration().logger;
  return { engine, tier, names, ctx: tierCtx, payload, workloadId, logger };
}

/** A synchronous engine cannot be interrupted by a timer: no deadline machinery for it. */
function authorizeSync(call: TierCall): void {
  let decision: Decision;
  try {
    decision = checked(call.engine.evaluateSync?.(call.payload.entry_id, call.names, call.ctx));
  } catch (err) {
    throw engineFailed(call, err);
  }
  enforce(call, decision);
}

/** One tier: an engine failure, a malformed answer or a timeout denies like a policy would. */
async function authorizeAsync(call: TierCall, timeoutMs: number): Promise<void> {
  let decision: Decision;
  try {
    const { engine, names, ctx, payload } = call;
    decision = checked(
      await withTimeout(
        (options) => engine.evaluate(payload.entry_id, names, ctx, options),
        timeoutMs,
        `policy engine (${call.tier})`,
      ),
    );
  } catch (err) {
    throw engineFailed(call, err);
  }
  enforce(call, decision);
}

function checked(decision: Decision | undefined): Decision {
  if (typeof decision !== 'object' || decision === null || typeof decision.allow !== 'boolean') {
    throw new KestPolicyEngineError('policy engine returned no decision', 'malformed');
  }
  return decision;
}

function engineFailed(call: TierCall, err: unknown): KestAuthorizationError {
  const { names, tier, payload } = call;
  const reason =
    err instanceof KestError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
  call.logger.warn(
    {
      entry_id: payload.entry_id,
      policies: names,
      tier,
      workload_id: call.workloadId,
      operation: payload.operation,
      reason,
    },
    'kest: policy engine failed; denying',
  );
  return new KestAuthorizationError(`${tier} policy engine failed for ${names.join(', ')}: ${reason}`, {
    policy: names.join(','),
    tier,
    entryId: payload.entry_id,
    cause: err,
  });
}

function enforce(call: TierCall, decision: Decision): void {
  if (decision.allow === true) return;
  const { names, tier, payload } = call;
  const policy = decision.policy ?? names.join(',');
  call.logger.warn(
    {
      entry_id: payload.entry_id,
      policies: names,
      denied_by: policy,
      tier,
      workload_id: call.workloadId,
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

/**
 * `options.signal` for one evaluation, created when first read: constructing an AbortController
 * costs more than the rest of the deadline machinery together, and many engines never read it. A
 * signal first read after the deadline is already aborted. `signal` is an own enumerable accessor
 * (a spread of the options keeps it) whose getter is shared, so every instance keeps one fast map.
 */
class LazySignal {
  #controller: AbortController | undefined;
  #expired = false;
  declare readonly signal: AbortSignal;

  constructor() {
    Object.defineProperty(this, 'signal', SIGNAL);
  }

  read(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#expired) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  expire(): void {
    this.#expired = true;
    this.#controller?.abort();
  }
}

const SIGNAL: PropertyDescriptor = {
  get(this: LazySignal): AbortSignal {
    return this.read();
  },
  enumerable: true,
  configurable: true,
};

/**
 * Run `work` with a deadline: after `ms` its signal aborts and the result rejects with
 * KestPolicyEngineError('timeout'). As with a race against a timer, a rejection the abort causes
 * synchronously wins over the timeout error (it settles first), and the timer is cleared as soon as
 * the work settles (or throws synchronously: no timer is left to fire).
 */
function withTimeout<T>(
  work: (options: EvaluateOptions) => Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  const options = new LazySignal();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      options.expire();
      const err = new KestPolicyEngineError(`${what} did not answer within ${ms} ms`, 'timeout');
      // One microtask later, as a rejected racer would: a work promise the abort rejected wins.
      queueMicrotask(() => reject(err));
    }, ms);
    let pending: Promise<T>;
    try {
      pending = work(options);
    } catch (err) {
      clearTimeout(timer);
      throw err;
    }
    Promise.resolve(pending).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
