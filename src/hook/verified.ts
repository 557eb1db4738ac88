/**
 * kestVerified: protect a function with one wrapper (docs/spec.md §3). Per call, in order: resolve
 * identity and engine → passport from the ambient context → user/agent/task → trust and taints →
 * build and sign the entry → evaluate every policy tier (AND) before running → run → append to the
 * scope's passport → emit the span. Every failure before the run denies with a typed error and the
 * function never runs; there is no unsigned fallback.
 *
 * The entry is signed *before* the function runs, so nested protected calls and downstream hops can
 * chain to it and the engine decides over a signed statement. Hence `content_hash` is "" in call
 * entries: the result does not exist at signing time. When the function throws, a replacement entry
 * (same entry_id and parent, trust 0, taint failed_execution) is signed and the enclosing scope
 * continues from it, so everything downstream of a failure inherits trust 0.
 */
import { randomBytes } from 'node:crypto';
import { context, isSpanContextValid, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  ensureContextManager,
  getCurrentScope,
  getUpstreamClaims,
  getValidatedIdentity,
  type IdentityClaims,
  type PassportScope,
  runInScope,
  withCallIdentity,
} from '../context/context.js';
import { buildEntry } from '../entry/build.js';
import type { SignedEntry } from '../entry/signed.js';
import type { KestEntryPayload } from '../entry/types.js';
import {
  KestAuthorizationError,
  KestConfigurationError,
  KestError,
  KestIdentityError,
  KestPolicyEngineError,
} from '../errors.js';
import type { IdentityProvider } from '../identity/provider.js';
import { Passport } from '../passport/passport.js';
import type { EvaluationContext, PolicyEngine, PolicyTier } from '../policy/types.js';
import type { TrustEvaluator } from '../trust/evaluator.js';
import { hopTrust } from '../trust/lineage.js';
import { computeTaints, effectiveRemovals } from '../trust/taints.js';
import { canonicalize } from '../wire/canonical.js';
import { type Classification, FAILED_EXECUTION_TAINT, LABEL, ROOT_PARENT, SPAN } from '../wire/constants.js';
import { sha256Hex } from '../wire/hash.js';
import { getConfiguration, getDeployment, getSanitizerPolicy } from './config.js';
import { activeDeviations } from './deployment.js';
import { signedEntryFromPayload } from './signed-entry.js';

/** A value, or a function of the protected call's arguments that yields it. */
export type Resolvable<T, A extends unknown[]> = T | ((...args: A) => T);

export interface KestVerifiedOptions<A extends unknown[] = unknown[]> {
  /** Function-tier policies; required, non-empty. */
  policy: string | readonly string[];
  /** Default: the function's name. */
  operation?: string;
  engine?: PolicyEngine;
  identity?: IdentityProvider;
  trustEvaluator?: TrustEvaluator;
  /** Origin of the data this hop handles (docs/spec.md §4): system, internal, internet, llm, ... */
  sourceType?: Resolvable<string | undefined, A>;
  classification?: Classification;
  addedTaints?: Resolvable<readonly string[] | undefined, A>;
  removedTaints?: Resolvable<readonly string[] | undefined, A>;
  /** Sanitizer override (0..100); verifiers accept it only from declared sanitizers. */
  trustOverride?: Resolvable<number | undefined, A>;
  user?: Resolvable<string | undefined, A>;
  agent?: Resolvable<string | undefined, A>;
  task?: Resolvable<string | undefined, A>;
  resourceId?: Resolvable<string | undefined, A>;
  resourceAttr?: Resolvable<Record<string, unknown> | undefined, A>;
  metadata?: Resolvable<unknown, A>;
}

/** Largest canonical argument JSON that is hashed into input_hash (bigger: ""). */
export const MAX_HASHED_INPUT_BYTES = 1024 * 1024;

const tracer = () => trace.getTracer(SPAN.scope);

function resolve<T, A extends unknown[]>(value: Resolvable<T, A> | undefined, args: A): T | undefined {
  return typeof value === 'function' ? (value as (...a: A) => T)(...args) : value;
}

function hashOf(value: unknown): string {
  try {
    const json = canonicalize(value);
    return json.length <= MAX_HASHED_INPUT_BYTES ? sha256Hex(json) : '';
  } catch {
    return '';
  }
}

function identityOfEntry(entry: SignedEntry | undefined): IdentityClaims | undefined {
  const raw = entry?.payload.labels[LABEL.identity];
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    const s = (x: unknown) => (typeof x === 'string' && x.length > 0 ? x : undefined);
    return { user: s(v.user), agent: s(v.agent), task: s(v.task) };
  } catch {
    return undefined;
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

type Tiers = [PolicyTier, readonly string[]][];

/**
 * Wrap `fn` so every call is signed into the lineage and authorised first. The wrapper always
 * returns a Promise (policy evaluation is asynchronous), keeps `this` and the arguments, and
 * re-throws the function's own errors unchanged.
 */
export function kestVerified<A extends unknown[], R>(
  fn: (...args: A) => R,
  options: KestVerifiedOptions<A>,
): (...args: A) => Promise<Awaited<R>> {
  const functionPolicies =
    typeof options?.policy === 'string' ? [options.policy] : [...(options?.policy ?? [])];
  if (
    functionPolicies.length === 0 ||
    !functionPolicies.every((p) => typeof p === 'string' && p.length > 0)
  ) {
    throw new KestConfigurationError('kestVerified: `policy` must name at least one policy');
  }
  // A policy name the engine does not know fails here, not as a denial of every call.
  options.engine?.assertPolicies?.(functionPolicies, 'function');
  const operation = options.operation ?? fn.name;
  if (!operation)
    throw new KestConfigurationError('kestVerified: anonymous function needs an `operation` name');
  ensureContextManager();

  const wrapped = async function (this: unknown, ...args: A): Promise<Awaited<R>> {
    const config = getConfiguration();
    const identity = options.identity ?? config.identity;
    if (!identity) {
      throw new KestConfigurationError(
        `${operation}: no identity provider (pass \`identity\` or call configure())`,
      );
    }
    const deployment = getDeployment();
    const deviations = activeDeviations(deployment, operation);
    const skip = (tier: PolicyTier, policy: string) =>
      deviations.some((d) => d.tier === tier && d.policy === policy);
    const tiers: Tiers = [
      ['enterprise', deployment.enterprisePolicies.filter((p) => !skip('enterprise', p))],
      ['platform', deployment.platformPolicies.filter((p) => !skip('platform', p))],
      ['application', deployment.applicationPolicies.filter((p) => !skip('application', p))],
      ['function', functionPolicies],
    ];
    const engines = new Map<PolicyTier, PolicyEngine>();
    for (const [tier, names] of tiers) {
      if (names.length === 0) continue;
      // Deployment tiers are decided by the deployment's engines only: an `engine` option in code
      // applies to the function tier and can never answer for an enterprise/platform policy.
      const engine =
        tier === 'function'
          ? (options.engine ?? config.tierEngines.function ?? config.engine)
          : (config.tierEngines[tier] ?? config.engine);
      if (!engine) throw new KestConfigurationError(`${operation}: no policy engine for the ${tier} tier`);
      engines.set(tier, engine);
    }

    // Passport and parent
    const enclosing = getCurrentScope();
    const start: Passport | undefined = enclosing?.passport;
    const startTips = enclosing?.tips;
    const parents = parentsOf(start, startTips);
    const parent = parents[parents.length - 1];
    const parentHash = parent?.hash ?? ROOT_PARENT;

    // Identity context: explicit → validated here → last verified entry → upstream baggage (opt-in)
    const validated = getValidatedIdentity();
    const fromEntry = identityOfEntry(parent);
    const upstream = deployment.trustUpstreamBaggage ? getUpstreamClaims() : undefined;
    const pick = (field: keyof IdentityClaims, explicit: string | undefined) =>
      explicit ?? validated?.[field] ?? fromEntry?.[field] ?? upstream?.[field];
    const who: IdentityClaims = {
      user: pick('user', resolve(options.user, args)),
      agent: pick('agent', resolve(options.agent, args)),
      task: pick('task', resolve(options.task, args)),
    };

    // Trust and taints
    const sourceType = resolve(options.sourceType, args);
    const added = [...(resolve(options.addedTaints, args) ?? [])];
    const removed = [...(resolve(options.removedTaints, args) ?? [])];
    const override = resolve(options.trustOverride, args);
    const parentScores = parents.map((e) => e.payload.trust_score);
    const parentTaints = parents.map((e) => e.payload.taints);
    const evaluator = options.trustEvaluator ?? config.trustEvaluator;
    const trustScore = hopTrust(evaluator, { parentScores, sourceType, override, addedTaints: added });
    const taints = computeTaints(parentTaints, added, removed);
    const resourceId = resolve(options.resourceId, args) ?? operation;
    const resourceAttr = resolve(options.resourceAttr, args) ?? {};

    let workloadId: string;
    try {
      workloadId = identity.getWorkloadId();
    } catch (err) {
      throw err instanceof KestError
        ? err
        : new KestIdentityError(`identity unavailable: ${(err as Error).message}`, { cause: err });
    }

    // A hop may raise trust or clear taints only as a declared sanitizer. Verifiers downstream
    // refuse such an entry anyway; refusing here keeps the function from running on a lineage
    // it merely claims.
    const removals = effectiveRemovals(parentTaints, added, removed);
    if (override !== undefined || removals.length > 0) {
      const computed = hopTrust(evaluator, { parentScores, sourceType, addedTaints: added });
      const sanitizers = getSanitizerPolicy();
      const forbidden = removals.length > 0 ? sanitizers.forbiddenRemovals(workloadId, removals) : [];
      const raises = override !== undefined && trustScore > computed;
      if (forbidden.length > 0 || (raises && !sanitizers.mayRaiseTo(workloadId, trustScore))) {
        throw new KestAuthorizationError(
          `${operation}: ${workloadId} is not a declared sanitizer allowed to ${
            forbidden.length > 0
              ? `remove taints ${JSON.stringify(forbidden)}`
              : `raise trust from ${computed} to ${trustScore}`
          }`,
          { policy: 'kest:sanitizers', tier: 'enterprise' },
        );
      }
    }

    return tracer().startActiveSpan(
      `${SPAN.namePrefix}${operation}`,
      async (span: Span): Promise<Awaited<R>> => {
        try {
          // The entry records this call's span; a root outside any trace gets a fresh trace id so
          // labels.trace_id is never empty.
          const spanCtx = span.spanContext();
          const traced = isSpanContextValid(spanCtx);
          const traceId =
            parent?.payload.labels.trace_id || (traced ? spanCtx.traceId : randomBytes(16).toString('hex'));
          const labels: Record<string, string> = {
            ...identity.getLabels?.(),
            [LABEL.identity]: JSON.stringify({
              user: who.user ?? null,
              agent: who.agent ?? null,
              task: who.task ?? null,
            }),
            [LABEL.resourceAttr]: JSON.stringify(resourceAttr),
          };
          if (sourceType !== undefined) labels[LABEL.sourceType] = sourceType;
          if (override !== undefined) labels[LABEL.trustOverride] = String(override);

          const payload = buildEntry({
            operation,
            principal: workloadId,
            traceId,
            trustScore,
            parentIds: parents.map((e) => e.hash),
            classification: options.classification ?? 'system',
            addedTaints: added,
            removedTaints: removed,
            taints,
            labels,
            policyContext: {
              enterprise_policies: [...deployment.enterprisePolicies],
              platform_policies: [...deployment.platformPolicies],
              app_policies: [...deployment.applicationPolicies],
              function_policies: functionPolicies,
              deviations: deviations.map(({ policy, tier, reason, approver }) => ({
                policy,
                tier,
                reason,
                approver,
              })),
            },
            otelContext: traced ? { trace_id: spanCtx.traceId, span_id: spanCtx.spanId } : {},
            metadata: resolve(options.metadata, args) ?? null,
            inputHash: hashOf(args),
          });
          span.setAttribute(SPAN.operation, operation);
          span.setAttribute(SPAN.entryId, payload.entry_id);
          span.setAttribute(SPAN.workloadId, workloadId);
          span.setAttribute(SPAN.parentHash, parentHash);
          // Sign (no signature, no call)
          const entry = await signOrHalt(identity, payload, start, operation);
          span.setAttribute(SPAN.signature, entry.jws);
          span.setAttribute(SPAN.trustScore, trustScore);

          // Policy tiers, in order, all must allow
          const ctx: EvaluationContext = {
            subject: {
              workload: workloadId,
              user: who.user ?? null,
              agent: who.agent ?? null,
              task: who.task ?? null,
              trust_score: trustScore,
              taints,
            },
            object: { id: resourceId, attributes: resourceAttr },
            environment: {
              is_root: parent === undefined,
              source_type: sourceType ?? '',
              parent_hash: parentHash,
              policy_names: [],
              policy_tier: 'function',
              active_deviations: payload.policy_context.deviations,
            },
            identity: { user: who.user ?? null, agent: who.agent ?? null, task: who.task ?? null },
            trust_score: trustScore,
          };
          for (const [tier, names] of tiers) {
            if (names.length === 0) continue;
            await authorize(
              engines.get(tier) as PolicyEngine,
              tier,
              names,
              ctx,
              payload,
              workloadId,
              config.engineTimeoutMs,
            );
          }

          // Run in a new scope that starts with this call's entry
          const scope: PassportScope = { passport: start ? start.append(entry) : passportOf(entry) };
          let result: Awaited<R>;
          try {
            const runCtx = withCallIdentity(context.active(), who);
            result = await runInScope(scope, () => fn.apply(this, args), runCtx);
          } catch (err) {
            // The function failed: record it (trust 0, failed_execution) and re-throw unchanged.
            const failed = await signOrHalt(identity, failurePayload(payload), start, operation);
            advance(enclosing, start, startTips, start ? start.append(failed) : passportOf(failed));
            span.setAttribute(SPAN.signature, failed.jws);
            span.setAttribute(SPAN.trustScore, 0);
            setPassportAttribute(span, enclosing?.passport);
            span.recordException(err as Error);
            span.setStatus({
              code: SpanStatusCode.ERROR,
              message: `failed_execution: ${(err as Error)?.message ?? err}`,
            });
            throw err;
          }
          advance(enclosing, start, startTips, scope.passport);
          setPassportAttribute(span, scope.passport);
          return result;
        } catch (err) {
          if (err instanceof KestError) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: `${err.code}: ${err.message}` });
          }
          throw err;
        } finally {
          span.end();
        }
      },
    );
  };
  Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
  return wrapped;
}

function passportOf(entry: SignedEntry): Passport {
  return Passport.fromSignedEntries([entry]);
}

/** Move the enclosing scope forward; if a concurrent sibling already did, keep both branches open. */
function advance(
  enclosing: PassportScope | undefined,
  start: Passport | undefined,
  startTips: string[] | undefined,
  next: Passport,
): void {
  if (!enclosing) return;
  if (enclosing.passport === start && enclosing.tips === startTips) {
    enclosing.passport = next;
    enclosing.tips = undefined;
    return;
  }
  // A concurrent sibling finished first: keep both branches and join them at the next call.
  const added = next.entries.slice(start?.length ?? 0);
  const tips = enclosing.tips ?? (enclosing.passport.tipHash ? [enclosing.passport.tipHash] : []);
  enclosing.passport = Passport.fromSignedEntries([...enclosing.passport.entries, ...added]);
  enclosing.tips = next.tipHash ? [...tips, next.tipHash] : tips;
}

/** The parents of the next entry in a scope: every open branch tip, else the last entry. */
function parentsOf(passport: Passport | undefined, tips: string[] | undefined): SignedEntry[] {
  if (!passport) return [];
  if (!tips) return passport.tip ? [passport.tip] : [];
  return tips.map((hash) => passport.entries[passport.indexOfHash(hash) as number] as SignedEntry);
}

const MAX_PASSPORT_ATTRIBUTE = 16 * 1024;
function setPassportAttribute(span: Span, passport: Passport | undefined): void {
  if (!passport || !span.isRecording()) return;
  const json = passport.serialize();
  span.setAttribute(SPAN.passport, json.length <= MAX_PASSPORT_ATTRIBUTE ? json : `tip:${passport.tipHash}`);
}

function failurePayload(p: KestEntryPayload): KestEntryPayload {
  const added = p.added_taints.includes(FAILED_EXECUTION_TAINT)
    ? p.added_taints
    : [...p.added_taints, FAILED_EXECUTION_TAINT];
  const taints = [...new Set([...p.taints, FAILED_EXECUTION_TAINT])].sort();
  return { ...p, added_taints: added, taints, trust_score: 0, timestamp_ms: Date.now() };
}

async function signOrHalt(
  identity: IdentityProvider,
  payload: KestEntryPayload,
  start: Passport | undefined,
  operation: string,
): Promise<SignedEntry> {
  let jws: string;
  let bytes: Buffer;
  try {
    bytes = Buffer.from(canonicalize(payload), 'utf8');
    const knownChains = start ? chainsOf(start) : undefined;
    jws = await identity.sign(bytes, knownChains ? { knownChains } : undefined);
  } catch (err) {
    throw new KestIdentityError(`${operation}: cannot sign the entry: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return signedEntryFromPayload(jws, payload, bytes.toString('base64url'));
}

function chainsOf(passport: Passport): Set<string> | undefined {
  let out: Set<string> | undefined;
  for (const e of passport.entries) {
    const t = e.header['x5t#S256'];
    if (e.header.x5c && typeof t === 'string') {
      out ??= new Set();
      out.add(t);
    }
  }
  return out;
}

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
  let decision: Awaited<ReturnType<PolicyEngine['evaluate']>>;
  try {
    decision = await withTimeout(
      (signal) => engine.evaluate(payload.entry_id, names, tierCtx, { signal }),
      timeoutMs,
      `policy engine (${tier})`,
    );
    if (typeof decision !== 'object' || decision === null || typeof decision.allow !== 'boolean') {
      throw new KestPolicyEngineError('policy engine returned no decision', 'malformed');
    }
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
