/**
 * kestVerified: protect a function with one wrapper (docs/spec.md §3). Per call, in order: resolve
 * identity and engine → passport from the ambient context → user/agent/task → trust and taints →
 * build and sign the entry → evaluate every policy tier (AND) before running → run → append to the
 * scope's passport → emit the span. Every failure before the run denies with a typed error and the
 * function never runs; there is no unsigned fallback. The steps before the span are in resolve.ts.
 *
 * The entry is signed *before* the function runs, so nested protected calls and downstream hops can
 * chain to it and the engine decides over a signed statement. Hence `content_hash` is "" in call
 * entries: the result does not exist at signing time. After the function returns, throws or is
 * denied, a completion entry closes the call (completion.ts, docs/spec.md §11): outcome, duration,
 * the result's hash, the downstream tips received back. The enclosing scope continues from it; a
 * failed call's completion has trust 0 and taint failed_execution, so everything downstream of a
 * failure inherits trust 0.
 */
import { context, isSpanContextValid, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  ensureContextManager,
  type IdentityClaims,
  type PassportScope,
  runInScope,
  withCallIdentity,
  withCallSigner,
} from '../context/context.js';
import { buildEntry } from '../entry/build.js';
import type { SignedEntry } from '../entry/signed.js';
import type { KestEntryPayload } from '../entry/types.js';
import { KestConfigurationError, KestError } from '../errors.js';
import type { EvaluationContext } from '../policy/types.js';
import { canonicalize } from '../wire/canonical.js';
import { COMPLETION_EXPECTED, LABEL, type Outcome, SPAN } from '../wire/constants.js';
import { sha256Hex } from '../wire/hash.js';
import { randomHex } from '../wire/random.js';
import { evaluateTiers } from './authorize.js';
import { type CompletionInput, signCompletion } from './completion.js';
import type { KestVerifiedOptions } from './options.js';
import { checkAtWrap, checkWhenReady } from './policy-check.js';
import {
  assertSanitizer,
  type CallSetup,
  computeHop,
  type HopState,
  type Lineage,
  resolve,
  resolveWho,
  setupResolver,
  takePassport,
  workloadIdOf,
} from './resolve.js';
import { advance, passportOf, setPassportAttribute } from './scope.js';
import { signOrHalt } from './signed-entry.js';

export type { KestVerifiedOptions, Resolvable } from './options.js';

/** Largest canonical argument JSON that is hashed into input_hash (bigger: ""). */
export const MAX_HASHED_INPUT_BYTES = 1024 * 1024;

const tracer = () => trace.getTracer(SPAN.scope);

function hashOf(value: unknown): string {
  try {
    const json = canonicalize(value);
    return json.length <= MAX_HASHED_INPUT_BYTES ? sha256Hex(json) : '';
  } catch {
    return '';
  }
}

/** Everything one call decided before its span opened. */
interface Call<A extends unknown[]> {
  setup: CallSetup;
  lineage: Lineage;
  options: KestVerifiedOptions<A>;
  operation: string;
  functionPolicies: string[];
  args: A;
  who: IdentityClaims;
  hop: HopState;
  workloadId: string;
}

/**
 * A protected function. `await fn.ready()` (after configure()) waits until every engine that
 * answers its tiers has loaded its policies and checks their names: start-up can then fail before
 * the first call would.
 */
export type KestVerifiedFunction<A extends unknown[], R> = ((...args: A) => Promise<Awaited<R>>) & {
  ready(): Promise<void>;
};

/**
 * Wrap `fn` so every call is signed into the lineage and authorised first. The wrapper always
 * returns a Promise (policy evaluation is asynchronous), keeps `this` and the arguments, and
 * re-throws the function's own errors unchanged.
 */
export function kestVerified<A extends unknown[], R>(
  fn: (...args: A) => R,
  options: KestVerifiedOptions<A>,
): KestVerifiedFunction<A, R> {
  const functionPolicies =
    typeof options?.policy === 'string' ? [options.policy] : [...(options?.policy ?? [])];
  if (
    functionPolicies.length === 0 ||
    !functionPolicies.every((p) => typeof p === 'string' && p.length > 0)
  ) {
    throw new KestConfigurationError('kestVerified: `policy` must name at least one policy');
  }
  const operation = options.operation ?? fn.name;
  if (!operation)
    throw new KestConfigurationError('kestVerified: anonymous function needs an `operation` name');
  // A policy name its engine does not know fails here, not as a denial of every call.
  const opts = options as KestVerifiedOptions<never>;
  checkAtWrap(opts, functionPolicies, operation);
  ensureContextManager();

  const setupOf = setupResolver(opts, functionPolicies, operation);
  const wrapped = async function (this: unknown, ...args: A): Promise<Awaited<R>> {
    const call = prepareCall(setupOf(), options, functionPolicies, operation, args);
    const run = () => fn.apply(this, args);
    // `return await`: adopting the promise directly costs a thenable job and two more ticks.
    return await tracer().startActiveSpan(`${SPAN.namePrefix}${operation}`, (span) =>
      inSpan(call, span, run),
    );
  };
  Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
  const ready = () => checkWhenReady(opts, functionPolicies, operation);
  return Object.assign(wrapped, { ready });
}

/** The steps before the span, in order (each may deny; nothing has run yet). */
function prepareCall<A extends unknown[]>(
  setup: CallSetup,
  options: KestVerifiedOptions<A>,
  functionPolicies: string[],
  operation: string,
  args: A,
): Call<A> {
  const lineage = takePassport();
  const who = resolveWho(options, args, lineage.parent, setup.deployment);
  const evaluator = options.trustEvaluator ?? setup.config.trustEvaluator;
  const hop = computeHop(options, args, lineage.parents, evaluator, operation);
  const workloadId = workloadIdOf(setup.identity);
  assertSanitizer(hop, workloadId, evaluator, operation);
  return {
    setup,
    lineage,
    options,
    operation,
    functionPolicies,
    args,
    who,
    hop,
    workloadId,
  };
}

/**
 * Inside the call's span: sign, authorise, run, append; a Kest error marks the span. A provider
 * that signs synchronously and engines that answer synchronously are not awaited: the only
 * suspension left on that path is the protected function itself.
 */
async function inSpan<A extends unknown[], R>(call: Call<A>, span: Span, run: () => R): Promise<Awaited<R>> {
  const startedAt = performance.now();
  try {
    const payload = buildCallPayload(call, span);
    // Sign (no signature, no call)
    const signed = signOrHalt(call.setup.identity, payload, call.lineage.start, call.operation);
    const entry = signed instanceof Promise ? await signed : signed;
    span.setAttribute(SPAN.signature, entry.jws);
    span.setAttribute(SPAN.trustScore, call.hop.trustScore);
    const ctx = evaluationContext(call, payload);
    try {
      const pending = evaluateTiers(
        call.setup.tiers,
        call.setup.engines,
        ctx,
        payload,
        call.workloadId,
        call.setup.config.engineTimeoutMs,
      );
      if (pending) await pending;
    } catch (denial) {
      const closing = closeDenied(call, span, entry, startedAt);
      if (closing) await closing;
      throw denial;
    }
    // Run in a new scope that starts with this call's entry.
    const scope = callScope(call, entry);
    let result: Awaited<R> | undefined;
    let failure: { err: unknown } | undefined;
    try {
      result = await runInScope(
        scope,
        run,
        withCallIdentity(withCallSigner(context.active(), call.setup.identity), call.who),
      );
    } catch (err) {
      failure = { err };
    }
    const outcome: Outcome = failure ? 'error' : 'ok';
    const closed = signCompletion(completionInput(call, entry, scope, outcome, startedAt, result));
    const done = closed instanceof Promise ? await closed : closed;
    return append(call, span, scope, done, failure, result);
  } catch (err) {
    if (err instanceof KestError) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${err.code}: ${err.message}` });
    }
    throw err;
  } finally {
    span.end();
  }
}

function callScope<A extends unknown[]>(call: Call<A>, entry: SignedEntry): PassportScope {
  const { start } = call.lineage;
  return { passport: start ? start.append(entry) : passportOf(entry) };
}

/**
 * A denied call still closes its record (outcome `denied`) on its span. The enclosing scope does not
 * move: the denied call never ran. If even that signature fails the denial stands (the audit then
 * reports the call `incomplete`). A promise only when the provider signs asynchronously.
 */
function closeDenied<A extends unknown[]>(
  call: Call<A>,
  span: Span,
  entry: SignedEntry,
  startedAt: number,
): Promise<void> | undefined {
  const scope = callScope(call, entry);
  try {
    const done = signCompletion(completionInput(call, entry, scope, 'denied', startedAt));
    if (done instanceof Promise) return completionLater(span, done);
    span.setAttribute(SPAN.completion, done.jws);
  } catch {
    // the denial is what the caller must see
  }
  return undefined;
}

async function completionLater(span: Span, done: Promise<SignedEntry>): Promise<void> {
  try {
    span.setAttribute(SPAN.completion, (await done).jws);
  } catch {
    // the denial is what the caller must see
  }
}

function completionInput<A extends unknown[]>(
  call: Call<A>,
  entry: SignedEntry,
  scope: PassportScope,
  outcome: Outcome,
  startedAt: number,
  result?: unknown,
): CompletionInput {
  return {
    identity: call.setup.identity,
    evaluator: call.options.trustEvaluator ?? call.setup.config.trustEvaluator,
    call: entry,
    scope,
    outcome,
    durationMs: performance.now() - startedAt,
    result,
  };
}

/** The call entry's payload; it records this call's span and sets the span's entry attributes. */
function buildCallPayload<A extends unknown[]>(call: Call<A>, span: Span): KestEntryPayload {
  const { hop } = call;
  const { deployment } = call.setup;
  const { parent } = call.lineage;
  // A root outside any trace gets a fresh trace id so labels.trace_id is never empty.
  const spanCtx = span.spanContext();
  const traced = isSpanContextValid(spanCtx);
  const traceId = parent?.payload.labels.trace_id || (traced ? spanCtx.traceId : randomHex(16));
  const labels = callLabels(call);
  const payload = buildEntry({
    operation: call.operation,
    principal: call.workloadId,
    traceId,
    trustScore: hop.trustScore,
    parentIds: call.lineage.parents.map((e) => e.hash),
    classification: call.options.classification ?? 'system',
    addedTaints: hop.added,
    removedTaints: hop.removed,
    taints: hop.taints,
    labels,
    policyContext: {
      enterprise_policies: [...deployment.enterprisePolicies],
      platform_policies: [...deployment.platformPolicies],
      app_policies: [...deployment.applicationPolicies],
      function_policies: call.functionPolicies,
      deviations: call.setup.deviations.map(({ policy, tier, reason, approver }) => ({
        policy,
        tier,
        reason,
        approver,
      })),
    },
    otelContext: traced ? { trace_id: spanCtx.traceId, span_id: spanCtx.spanId } : {},
    metadata: resolve(call.options.metadata, call.args) ?? null,
    inputHash: hashOf(call.args),
  });
  span.setAttribute(SPAN.operation, call.operation);
  span.setAttribute(SPAN.entryId, payload.entry_id);
  span.setAttribute(SPAN.workloadId, call.workloadId);
  span.setAttribute(SPAN.parentHash, call.lineage.parentHash);
  return payload;
}

/** The entry's labels: the provider's, who the call is for, the resource, and the hop's origin. */
function callLabels<A extends unknown[]>(call: Call<A>): Record<string, string> {
  const { hop, who } = call;
  const labels = ownCopy(call.setup.identity.getLabels?.());
  labels[LABEL.identity] = JSON.stringify({
    user: who.user ?? null,
    agent: who.agent ?? null,
    task: who.task ?? null,
  });
  labels[LABEL.resourceAttr] = JSON.stringify(hop.resourceAttr);
  labels[LABEL.completion] = COMPLETION_EXPECTED;
  if (hop.sourceType !== undefined) labels[LABEL.sourceType] = hop.sourceType;
  if (hop.override !== undefined) labels[LABEL.trustOverride] = String(hop.override);
  return labels;
}

/**
 * `{ ...record }` for the string keys (labels drop symbol keys anyway): a spread of an object with
 * dotted keys costs ~2 µs on Node 20, this loop a fraction. `__proto__` is defined as its own
 * property, as the spread would.
 */
function ownCopy(record: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (record === undefined || record === null) return out;
  for (const key of Object.keys(record)) {
    const value = record[key] as string;
    if (key === '__proto__') {
      Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
    } else out[key] = value;
  }
  return out;
}

/** What every policy tier decides over (the tier fields are filled in per tier). */
function evaluationContext<A extends unknown[]>(call: Call<A>, payload: KestEntryPayload): EvaluationContext {
  const { who, hop } = call;
  return {
    subject: {
      workload: call.workloadId,
      user: who.user ?? null,
      agent: who.agent ?? null,
      task: who.task ?? null,
      trust_score: hop.trustScore,
      taints: hop.taints,
    },
    object: { id: hop.resourceId, attributes: hop.resourceAttr },
    environment: {
      is_root: call.lineage.parent === undefined,
      source_type: hop.sourceType ?? '',
      parent_hash: call.lineage.parentHash,
      policy_names: [],
      policy_tier: 'function',
      active_deviations: payload.policy_context.deviations,
    },
    identity: { user: who.user ?? null, agent: who.agent ?? null, task: who.task ?? null },
    trust_score: hop.trustScore,
  };
}

/**
 * After the run and its signed completion: move the enclosing scope forward to the completion. If
 * the function threw, the completion has trust 0 and taint failed_execution, so everything
 * downstream of a failure inherits trust 0; the function's error is re-thrown unchanged.
 */
function append<A extends unknown[], R>(
  call: Call<A>,
  span: Span,
  scope: PassportScope,
  done: SignedEntry,
  failure: { err: unknown } | undefined,
  result: Awaited<R> | undefined,
): Awaited<R> {
  const { start, enclosing, startTips } = call.lineage;
  const next = scope.passport.append(done);
  advance(enclosing, start, startTips, next);
  span.setAttribute(SPAN.completion, done.jws);
  setPassportAttribute(span, enclosing?.passport ?? next);
  if (failure) {
    const err = failure.err;
    span.setAttribute(SPAN.trustScore, 0);
    span.recordException(err as Error);
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: `failed_execution: ${(err as Error)?.message ?? err}`,
    });
    throw err;
  }
  return result as Awaited<R>;
}
