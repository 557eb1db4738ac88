/**
 * Engines that decide synchronously (evaluateSync, e.g. the local Cedar engine) are called directly
 * by the hook, without the deadline timer: same verdicts, same fail-secure denials.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configure,
  KestAuthorizationError,
  kestVerified,
  resetConfiguration,
  silentLogger,
} from '../../src/index.js';
import type { PolicyDecision, PolicyEngine } from '../../src/policy/types.js';
import { MockIdentityProvider } from '../../src/testing/index.js';

beforeAll(() => configure({ logger: silentLogger }));
afterAll(() => resetConfiguration());

function syncEngine(decide: () => PolicyDecision): PolicyEngine & { sync: number; async: number } {
  const engine = {
    sync: 0,
    async: 0,
    evaluateSync: () => {
      engine.sync++;
      return decide();
    },
    evaluate: async () => {
      engine.async++;
      return decide();
    },
  };
  return engine;
}

const identity = new MockIdentityProvider({ workloadId: 'spiffe://sync.test/svc' });
const guarded = (engine: PolicyEngine, fn: () => number) =>
  kestVerified(fn, { policy: 'p', engine, identity, operation: 'op', sourceType: 'internal' });

describe('synchronous policy engines', () => {
  it('allow: evaluateSync answers, evaluate is never called, the function runs', async () => {
    const engine = syncEngine(() => ({ allow: true }));
    let runs = 0;
    const fn = guarded(engine, () => ++runs);
    expect(await fn()).toBe(1);
    expect({ sync: engine.sync, async: engine.async }).toEqual({ sync: 1, async: 0 });
  });

  it('deny and a throwing engine both deny, and the function never runs', async () => {
    let runs = 0;
    for (const decide of [
      () => ({ allow: false, policy: 'p', reason: 'no' }),
      () => {
        throw new Error('engine broke');
      },
      () => ({ allow: 'yes' }) as unknown as PolicyDecision,
    ]) {
      const engine = syncEngine(decide);
      const fn = guarded(engine, () => ++runs);
      await expect(fn()).rejects.toBeInstanceOf(KestAuthorizationError);
      expect(engine.sync).toBe(1);
    }
    expect(runs).toBe(0);
  });
});
