import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KestConfigurationError, KestPolicyEngineError } from '../../src/errors.js';
import { CedarLocalEngine } from '../../src/policy/cedar.js';
import {
  AllOfPolicyEngine,
  allOf,
  engineForTier,
  KestUnknownPolicyError,
  OPAPolicyEngine,
  TieredPolicyEngine,
} from '../../src/policy/index.js';
import { MockPolicyEngine } from '../../src/testing/index.js';
import { type LoopbackServer, makeContext, sendJson, startServer } from './fixtures.js';

let opa: LoopbackServer;
beforeAll(async () => {
  // A minimal OPA Data API: enterprise policy "kest/enterprise" allows trust >= 20.
  opa = await startServer((_req, body, res) => {
    const input = (body as { input: { subject: { trust_score: number } } }).input;
    sendJson(res, 200, { result: { allow: input.subject.trust_score >= 20 } });
  });
});
afterAll(() => opa.close());

describe('TieredPolicyEngine', () => {
  it('sends enterprise to OPA and function to local Cedar by context.environment.policy_tier', async () => {
    const cedar = new CedarLocalEngine({
      policies:
        'permit (principal, action == Kest::Action::"fn", resource) when { context.subject.trust_score >= 50 };',
    });
    const tiered = new TieredPolicyEngine({
      enterprise: new OPAPolicyEngine({ url: opa.url }),
      function: cedar,
    });
    const enterprise = (trust: number) => makeContext({ trust, tier: 'enterprise' });
    const fn = (trust: number) => makeContext({ trust, tier: 'function' });
    const before = opa.requests.length;
    expect((await tiered.evaluate('e', ['kest.enterprise'], enterprise(30))).allow).toBe(true);
    expect((await tiered.evaluate('e', ['kest.enterprise'], enterprise(10))).allow).toBe(false);
    expect(opa.requests.length - before).toBe(2);
    expect((await tiered.evaluate('e', ['fn'], fn(30))).allow).toBe(false);
    expect((await tiered.evaluate('e', ['fn'], fn(60))).allow).toBe(true);
    expect(opa.requests.length - before).toBe(2);
    expect(tiered.engineForTier('function')).toBe(cedar);
    expect(() => tiered.assertPolicies(['fn'], 'function')).not.toThrow();
    expect(() => tiered.assertPolicies(['nf'], 'function')).toThrow(KestConfigurationError);
    // A tier with no engine and no default is a denial (an engine error), not a pass.
    await expect(tiered.evaluate('e', ['fn'], makeContext({ tier: 'platform' }))).rejects.toBeInstanceOf(
      KestPolicyEngineError,
    );
    await tiered.close();
    await expect(cedar.evaluate('e', ['fn'], fn(60))).rejects.toThrow(/closed/);
  });

  it('falls back to the default engine and rejects bad configuration', () => {
    const fallback = MockPolicyEngine.allowAll();
    const own = MockPolicyEngine.denyAll();
    expect(engineForTier({ default: fallback, platform: own }, 'platform')).toBe(own);
    expect(engineForTier({ default: fallback, platform: own }, 'application')).toBe(fallback);
    expect(() => engineForTier({ platform: own }, 'function')).toThrow(KestConfigurationError);
    expect(() => new TieredPolicyEngine({})).toThrow(KestConfigurationError);
    expect(() => new TieredPolicyEngine({ enterprize: own } as never)).toThrow(/unknown tier/);
  });
});

describe('AllOfPolicyEngine', () => {
  it('allows only if every engine allows, and stops at the first denial', async () => {
    const a = new MockPolicyEngine({ policies: { p: 'allow' } });
    const b = new MockPolicyEngine({ policies: { p: 'deny' } });
    const c = new MockPolicyEngine({ policies: { p: 'allow' } });
    expect(await allOf(a, c).evaluate('e', ['p'], makeContext())).toEqual({ allow: true });
    const decision = await new AllOfPolicyEngine([a, b, c]).evaluate('e', ['p'], makeContext());
    expect(decision).toMatchObject({ allow: false, policy: 'p' });
    expect(c.callCount).toBe(1);
    expect(() => new AllOfPolicyEngine([])).toThrow(KestConfigurationError);
  });

  it('an error in any engine propagates (fail secure)', async () => {
    const combined = allOf(MockPolicyEngine.allowAll(), new MockPolicyEngine({ fallback: 'throw' }));
    await expect(combined.evaluate('e', ['p'], makeContext())).rejects.toMatchObject({
      reason: 'unreachable',
    });
  });
});

describe('MockPolicyEngine', () => {
  it('decides per policy and records calls', async () => {
    const mock = new MockPolicyEngine({
      policies: { ok: 'allow', no: 'deny', trusted: (ctx) => ctx.trust_score >= 50 },
    });
    expect((await mock.evaluate('e1', ['ok'], makeContext())).allow).toBe(true);
    expect(await mock.evaluate('e2', ['ok', 'no'], makeContext())).toEqual({
      allow: false,
      policy: 'no',
      reason: 'denied by MockPolicyEngine',
    });
    expect((await mock.evaluate('e3', ['trusted'], makeContext({ trust: 10 }))).allow).toBe(false);
    expect(mock.callCount).toBe(3);
    expect(mock.calls[1]).toMatchObject({ entryId: 'e2', policyNames: ['ok', 'no'] });
    await expect(mock.evaluate('e4', ['unknown'], makeContext())).rejects.toBeInstanceOf(
      KestUnknownPolicyError,
    );
    mock.reset();
    expect(mock.callCount).toBe(0);
  });

  it('throws or hangs until the caller aborts, to exercise fail-secure paths', async () => {
    const custom = new Error('custom');
    const mock = new MockPolicyEngine({ policies: { down: 'throw', stuck: 'hang', odd: { throw: custom } } });
    await expect(mock.evaluate('e', ['down'], makeContext())).rejects.toMatchObject({
      reason: 'unreachable',
    });
    await expect(mock.evaluate('e', ['odd'], makeContext())).rejects.toBe(custom);
    const controller = new AbortController();
    const hung = mock.evaluate('e', ['stuck'], makeContext(), { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(hung).rejects.toMatchObject({ reason: 'timeout' });
  });
});

describe('MockPolicyEngine call records', () => {
  it('keeps the most recent calls only, and counts every call', async () => {
    const { MockPolicyEngine } = await import('../../src/policy/mock.js');
    const engine = new MockPolicyEngine({ fallback: 'allow', maxRecordedCalls: 3 });
    const ctx = { environment: { policy_tier: 'function' } } as unknown as Parameters<
      typeof engine.evaluate
    >[2];
    for (let i = 0; i < 10; i++) await engine.evaluate(`e${i}`, ['p'], ctx);
    expect(engine.callCount).toBe(10);
    expect(engine.calls.length).toBeLessThan(6);
    expect(engine.calls[engine.calls.length - 1]?.entryId).toBe('e9');
    engine.reset();
    expect(engine.callCount).toBe(0);
  });
});
