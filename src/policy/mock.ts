/**
 * MockPolicyEngine for unit tests: per-policy allow/deny, or fail (throw, hang until aborted) to
 * exercise the fail-secure paths. Records every call.
 */
import { KestPolicyEngineError } from '../errors.js';
import { KestUnknownPolicyError, requirePolicyNames } from './errors.js';
import type { EvaluateOptions, EvaluationContext, PolicyDecision, PolicyEngine } from './types.js';

export type MockBehaviour =
  | 'allow'
  | 'deny'
  /** Throws KestPolicyEngineError('unreachable'), like an engine that is down. */
  | 'throw'
  /** Never answers; rejects with KestPolicyEngineError('timeout') when the call's signal aborts. */
  | 'hang'
  | { throw: unknown }
  | ((context: EvaluationContext, policy: string) => boolean | Promise<boolean>);

export interface MockPolicyEngineOptions {
  policies?: Readonly<Record<string, MockBehaviour>>;
  /** For names not in `policies`. Default: an unknown-policy error, as real engines do. */
  fallback?: MockBehaviour;
  /** How many recent calls `calls` keeps. Default 10,000. */
  maxRecordedCalls?: number;
}

export interface MockPolicyCall {
  entryId: string;
  policyNames: readonly string[];
  context: EvaluationContext;
}

export class MockPolicyEngine implements PolicyEngine {
  /** The most recent calls (at most `maxRecordedCalls`), oldest first. */
  readonly calls: MockPolicyCall[] = [];
  #callCount = 0;
  readonly #maxRecorded: number;
  readonly #policies = new Map<string, MockBehaviour>();
  #fallback: MockBehaviour | undefined;
  closed = false;

  constructor(options: MockPolicyEngineOptions = {}) {
    for (const [name, behaviour] of Object.entries(options.policies ?? {}))
      this.#policies.set(name, behaviour);
    this.#fallback = options.fallback;
    this.#maxRecorded = options.maxRecordedCalls ?? 10_000;
  }

  static allowAll(): MockPolicyEngine {
    return new MockPolicyEngine({ fallback: 'allow' });
  }

  static denyAll(): MockPolicyEngine {
    return new MockPolicyEngine({ fallback: 'deny' });
  }

  /** Every call since construction or reset(), recorded or not. */
  get callCount(): number {
    return this.#callCount;
  }

  set(policy: string, behaviour: MockBehaviour): this {
    this.#policies.set(policy, behaviour);
    return this;
  }

  setFallback(behaviour: MockBehaviour | undefined): this {
    this.#fallback = behaviour;
    return this;
  }

  reset(): void {
    this.calls.length = 0;
    this.#callCount = 0;
  }

  async evaluate(
    entryId: string,
    policyNames: readonly string[],
    context: EvaluationContext,
    options?: EvaluateOptions,
  ): Promise<PolicyDecision> {
    this.#record(entryId, policyNames, context);
    for (const name of policyNames) {
      const allow = await run(this.#behaviour(name), name, context, options);
      if (!allow) return denied(name);
    }
    return { allow: true };
  }

  /**
   * The same answers without a promise, offered only while every behaviour is synchronous (no
   * 'hang', no function) and `evaluate` is this class's own (not overridden or spied on): the hook
   * then skips the deadline machinery, which such behaviours never need.
   */
  get evaluateSync(): PolicyEngine['evaluateSync'] {
    return this.#allSync() && this.evaluate === MockPolicyEngine.prototype.evaluate
      ? this.#evaluateSync
      : undefined;
  }

  readonly #evaluateSync = (
    entryId: string,
    policyNames: readonly string[],
    context: EvaluationContext,
  ): PolicyDecision => {
    this.#record(entryId, policyNames, context);
    for (const name of policyNames) {
      if (!runSync(this.#behaviour(name), name)) return denied(name);
    }
    return { allow: true };
  };

  #allSync(): boolean {
    if (!isSync(this.#fallback)) return false;
    for (const behaviour of this.#policies.values()) if (!isSync(behaviour)) return false;
    return true;
  }

  #record(entryId: string, policyNames: readonly string[], context: EvaluationContext): void {
    this.#callCount++;
    this.calls.push({ entryId, policyNames: [...policyNames], context });
    // Bounded, so a long benchmark or dev server does not accumulate every context (amortised O(1)).
    if (this.calls.length >= 2 * this.#maxRecorded)
      this.calls.splice(0, this.calls.length - this.#maxRecorded);
    requirePolicyNames(policyNames, 'MockPolicyEngine');
  }

  #behaviour(name: string): MockBehaviour {
    const behaviour = this.#policies.get(name) ?? this.#fallback;
    if (behaviour === undefined) throw new KestUnknownPolicyError(name, 'MockPolicyEngine');
    return behaviour;
  }

  close(): void {
    this.closed = true;
  }
}

function denied(name: string): PolicyDecision {
  return { allow: false, policy: name, reason: 'denied by MockPolicyEngine' };
}

function isSync(behaviour: MockBehaviour | undefined): boolean {
  return behaviour !== 'hang' && typeof behaviour !== 'function';
}

/** A behaviour isSync() accepts. */
function runSync(behaviour: MockBehaviour, name: string): boolean {
  if (behaviour === 'allow') return true;
  if (behaviour === 'deny') return false;
  if (behaviour === 'throw')
    throw new KestPolicyEngineError(`MockPolicyEngine: ${name} is down`, 'unreachable');
  throw (behaviour as { throw: unknown }).throw;
}

async function run(
  behaviour: MockBehaviour,
  name: string,
  context: EvaluationContext,
  options: EvaluateOptions | undefined,
): Promise<boolean> {
  if (behaviour === 'hang') return hang(name, options?.signal);
  if (typeof behaviour === 'function') return (await behaviour(context, name)) === true;
  return runSync(behaviour, name);
}

function hang(name: string, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((_resolve, reject) => {
    const abort = () =>
      reject(
        new KestPolicyEngineError(`MockPolicyEngine: ${name} aborted`, 'timeout', { cause: signal?.reason }),
      );
    if (signal?.aborted) abort();
    else signal?.addEventListener('abort', abort, { once: true });
  });
}
