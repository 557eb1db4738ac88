/**
 * The deadline of an asynchronous policy engine: a hung engine denies with
 * KestPolicyEngineError('timeout') after engineTimeoutMs and the signal it was given aborts, whether
 * it read the signal at once, late, or never; an engine that throws synchronously denies without
 * leaving a timer behind. And MockPolicyEngine answers synchronously only when that is exact.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  configure,
  KestAuthorizationError,
  KestPolicyEngineError,
  kestVerified,
  Passport,
  resetConfiguration,
  runWithPassport,
  silentLogger,
} from '../../src/index.js';
import { MockPolicyEngine } from '../../src/policy/mock.js';
import type { EvaluateOptions, PolicyDecision, PolicyEngine } from '../../src/policy/types.js';
import { MockIdentityProvider } from '../../src/testing/index.js';

const identity = new MockIdentityProvider({ workloadId: 'spiffe://deadline.test/svc' });

beforeEach(() => configure({ logger: silentLogger, engineTimeoutMs: 40 }));
afterEach(() => resetConfiguration());

/** Call a protected no-op guarded by `engine`; returns the denial (or undefined) and whether it ran. */
async function callWith(engine: PolicyEngine): Promise<{ err: unknown; runs: number }> {
  let runs = 0;
  const fn = kestVerified(
    async function op() {
      runs++;
    },
    { policy: 'p', engine, identity },
  );
  const err = await runWithPassport(Passport.empty(), () => fn()).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, runs };
}

function causeOf(err: unknown): unknown {
  expect(err).toBeInstanceOf(KestAuthorizationError);
  return (err as Error).cause;
}

const never = () => new Promise<PolicyDecision>(() => {});

describe('deadline of asynchronous engines', () => {
  it('an engine that never answers and never reads the signal is denied with reason timeout', async () => {
    const { err, runs } = await callWith({ evaluate: never });
    const cause = causeOf(err);
    expect(cause).toBeInstanceOf(KestPolicyEngineError);
    expect(cause).toMatchObject({ reason: 'timeout' });
    expect((cause as Error).message).toMatch(/policy engine \(function\) did not answer within 40 ms/);
    expect(runs).toBe(0);
  });

  it('the signal read at once aborts at the deadline; the timeout error is the cause', async () => {
    let signal: AbortSignal | undefined;
    const { err } = await callWith({
      evaluate: (_id, _names, _ctx, options) => {
        signal = options?.signal;
        return never();
      },
    });
    expect(signal?.aborted).toBe(true);
    expect(causeOf(err)).toMatchObject({ reason: 'timeout' });
  });

  it('a signal first read after the deadline is already aborted', async () => {
    let options: EvaluateOptions | undefined;
    const { err } = await callWith({
      evaluate: (_id, _names, _ctx, o) => {
        options = o;
        return never();
      },
    });
    expect(causeOf(err)).toMatchObject({ reason: 'timeout' });
    expect(options?.signal?.aborted).toBe(true);
    expect(options?.signal?.reason).toBeInstanceOf(DOMException);
  });

  it('spreading the options keeps the signal (engines that wrap others)', async () => {
    let signal: AbortSignal | undefined;
    await callWith({
      evaluate: (_id, _names, _ctx, o) => {
        signal = { ...o }.signal;
        return never();
      },
    });
    expect(signal?.aborted).toBe(true);
  });

  it('a rejection the abort causes synchronously is the cause, as with a race', async () => {
    const own = new KestPolicyEngineError('engine saw the abort', 'timeout');
    const { err } = await callWith({
      evaluate: (_id, _names, _ctx, o) =>
        new Promise((_resolve, reject) => o?.signal?.addEventListener('abort', () => reject(own))),
    });
    expect(causeOf(err)).toBe(own);
  });

  it('the hung mock is denied through its abort listener', async () => {
    const { err, runs } = await callWith(new MockPolicyEngine({ fallback: 'hang' }));
    expect(causeOf(err)).toMatchObject({ reason: 'timeout' });
    expect(runs).toBe(0);
  });

  it('an engine whose evaluate throws synchronously denies, and no timer fires later', async () => {
    const boom = new Error('sync boom');
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const { err, runs } = await callWith({
        evaluate: () => {
          throw boom;
        },
      });
      expect(causeOf(err)).toBe(boom);
      expect(runs).toBe(0);
      await new Promise((r) => setTimeout(r, 80));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });

  it('a value that is not a promise is treated as the answer, and a bad one denies', async () => {
    const ok = await callWith({ evaluate: () => ({ allow: true }) as unknown as Promise<PolicyDecision> });
    expect(ok).toEqual({ err: undefined, runs: 1 });
    const bad = await callWith({ evaluate: () => 'yes' as unknown as Promise<PolicyDecision> });
    expect(causeOf(bad.err)).toMatchObject({ reason: 'malformed' });
  });
});

describe('MockPolicyEngine.evaluateSync', () => {
  it('is offered only while every behaviour is synchronous', () => {
    const engine = new MockPolicyEngine({ policies: { a: 'allow', b: 'deny', c: 'throw' } });
    expect(engine.evaluateSync).toBeTypeOf('function');
    engine.set('d', 'hang');
    expect(engine.evaluateSync).toBeUndefined();
    engine.set('d', { throw: new Error('x') });
    expect(engine.evaluateSync).toBeTypeOf('function');
    engine.setFallback(() => true);
    expect(engine.evaluateSync).toBeUndefined();
    engine.setFallback('allow');
    expect(engine.evaluateSync).toBeTypeOf('function');
  });

  it('is not offered when evaluate is spied on or overridden', async () => {
    const spied = MockPolicyEngine.allowAll();
    const spy = vi.spyOn(spied, 'evaluate');
    expect(spied.evaluateSync).toBeUndefined();
    expect(await callWith(spied)).toEqual({ err: undefined, runs: 1 });
    expect(spy).toHaveBeenCalledTimes(1);
    class Counting extends MockPolicyEngine {
      override evaluate(...args: Parameters<MockPolicyEngine['evaluate']>) {
        return super.evaluate(...args);
      }
    }
    expect(new Counting({ fallback: 'allow' }).evaluateSync).toBeUndefined();
  });

  it('answers, records and fails exactly as evaluate does', async () => {
    const custom = new Error('custom');
    const policies = { a: 'allow', b: 'deny', c: 'throw', d: { throw: custom } } as const;
    const sync = new MockPolicyEngine({ policies });
    const async = new MockPolicyEngine({ policies });
    const ctx = { environment: { policy_tier: 'function' } } as unknown as Parameters<
      MockPolicyEngine['evaluate']
    >[2];
    const outcome = async (f: () => unknown) => {
      try {
        return { value: await f() };
      } catch (error) {
        return { error };
      }
    };
    for (const names of [['a'], ['a', 'b', 'c'], ['c'], ['d'], ['zzz'], [], ['a', 'a']]) {
      const s = await outcome(() => sync.evaluateSync?.('e', names, ctx));
      const a = await outcome(() => async.evaluate('e', names, ctx));
      expect(s).toEqual(a);
      if ('error' in s) expect((s.error as Error).constructor).toBe((a.error as Error).constructor);
    }
    expect(sync.callCount).toBe(async.callCount);
    expect(sync.calls).toEqual(async.calls);
  });

  it('the hook uses it: no deadline timer for an allow-all mock', async () => {
    const engine = MockPolicyEngine.allowAll();
    const timers = vi.spyOn(globalThis, 'setTimeout');
    try {
      expect(await callWith(engine)).toEqual({ err: undefined, runs: 1 });
      expect(timers).not.toHaveBeenCalled();
    } finally {
      timers.mockRestore();
    }
    expect(engine.callCount).toBe(1);
  });
});
