/**
 * A wrapped function remembers its resolved setup (identity, tiers, engines) until configure()
 * changes the configuration or its own identity/engine options change; a setup that failed is never
 * remembered. And a provider that signs asynchronously (or fails either way) is handled like a
 * synchronous one: same entries, same typed errors, the function never runs unsigned.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  configure,
  getCurrentPassport,
  type IdentityProvider,
  JwksTrustSource,
  KestConfigurationError,
  KestIdentityError,
  kestVerified,
  Passport,
  PassportVerifier,
  resetConfiguration,
  runWithPassport,
  silentLogger,
} from '../../src/index.js';
import { MockPolicyEngine } from '../../src/policy/mock.js';
import { MockIdentityProvider } from '../../src/testing/index.js';

const svcA = new MockIdentityProvider({ workloadId: 'spiffe://cache.test/a' });
const svcB = new MockIdentityProvider({ workloadId: 'spiffe://cache.test/b' });

beforeEach(() => resetConfiguration());
afterEach(() => resetConfiguration());

async function inScope<T>(fn: () => Promise<T>): Promise<{ result: T; passport: Passport }> {
  return runWithPassport(Passport.empty(), async () => {
    const result = await fn();
    return { result, passport: getCurrentPassport() };
  });
}

const principals = (p: Passport) => p.entries.map((e) => e.payload.labels.principal);

describe('remembered setup', () => {
  it('follows configure(): a new identity signs and a new engine decides from the next call', async () => {
    const first = MockPolicyEngine.allowAll();
    configure({ identity: svcA, engine: first, logger: silentLogger });
    const f = kestVerified(async function f() {}, { policy: 'p' });
    expect(principals((await inScope(() => f())).passport)).toEqual([svcA.workloadId, svcA.workloadId]);
    const second = MockPolicyEngine.denyAll();
    configure({ identity: svcB, engine: second });
    await expect(inScope(() => f())).rejects.toMatchObject({ policy: 'p' });
    expect(first.callCount).toBe(1);
    expect(second.callCount).toBe(1);
    configure({ engine: MockPolicyEngine.allowAll() });
    expect(principals((await inScope(() => f())).passport)).toEqual([svcB.workloadId, svcB.workloadId]);
  });

  it('follows the function options object when its identity or engine is replaced', async () => {
    configure({ logger: silentLogger });
    const options = { policy: 'p', identity: svcA, engine: MockPolicyEngine.allowAll() };
    const f = kestVerified(async function f() {}, options);
    await inScope(() => f());
    options.identity = svcB;
    const deny = MockPolicyEngine.denyAll();
    options.engine = deny;
    await expect(inScope(() => f())).rejects.toMatchObject({ policy: 'p' });
    expect(deny.callCount).toBe(1);
    expect(deny.calls[0]?.context.subject.workload).toBe(svcB.workloadId);
  });

  it('a failed setup is not remembered: no identity, then one configured', async () => {
    configure({ engine: MockPolicyEngine.allowAll(), logger: silentLogger });
    const f = kestVerified(async function f() {}, { policy: 'p' });
    await expect(inScope(() => f())).rejects.toBeInstanceOf(KestConfigurationError);
    await expect(inScope(() => f())).rejects.toThrow(/no identity provider/);
    configure({ identity: svcA });
    expect((await inScope(() => f())).passport.length).toBe(2);
  });

  it('an engine still loading fails every call until it has loaded', async () => {
    let loaded = false;
    const engine = Object.assign(MockPolicyEngine.allowAll(), {
      assertPolicies() {
        if (!loaded) throw new KestConfigurationError('loading', { reason: 'engine_not_ready' });
      },
    });
    configure({ identity: svcA, logger: silentLogger });
    const f = kestVerified(async function f() {}, { policy: 'p', engine });
    for (let i = 0; i < 2; i++) {
      await expect(inScope(() => f())).rejects.toMatchObject({ reason: 'engine_not_ready' });
    }
    loaded = true;
    expect((await inScope(() => f())).passport.length).toBe(2);
    expect(engine.callCount).toBe(1);
  });
});

/** A provider whose sign() answers with a promise (a remote signer, an agent). */
function asyncSigner(inner: MockIdentityProvider, fail?: 'reject' | 'throw'): IdentityProvider {
  return {
    getWorkloadId: () => inner.getWorkloadId(),
    sign(payload) {
      if (fail === 'throw') throw new Error('agent down');
      if (fail === 'reject') return Promise.reject(new Error('agent down'));
      return Promise.resolve(inner.sign(payload));
    },
  };
}

describe('asynchronous signers', () => {
  it('sign the call and its completion; the passport verifies', async () => {
    configure({ engine: MockPolicyEngine.allowAll(), logger: silentLogger });
    const f = kestVerified(async (x: number) => x * 2, {
      policy: 'p',
      identity: asyncSigner(svcA),
      operation: 'double',
    });
    const { result, passport } = await inScope(() => f(21));
    expect(result).toBe(42);
    expect(passport.length).toBe(2);
    const verifier = new PassportVerifier({ trust: new JwksTrustSource(svcA.getPublicJwks()) });
    await expect(verifier.verify(passport)).resolves.toMatchObject({ valid: true });
  });

  it.each(['reject', 'throw'] as const)('a signer that fails (%s) halts the call', async (fail) => {
    configure({ engine: MockPolicyEngine.allowAll(), logger: silentLogger });
    let runs = 0;
    const f = kestVerified(
      async function f() {
        runs++;
      },
      { policy: 'p', identity: asyncSigner(svcA, fail) },
    );
    const err = await inScope(() => f()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KestIdentityError);
    expect((err as Error).message).toBe('f: cannot sign the entry: agent down');
    expect(runs).toBe(0);
  });

  it('a denied call under an async signer still closes its record', async () => {
    configure({ engine: MockPolicyEngine.denyAll(), logger: silentLogger });
    const f = kestVerified(async function f() {}, { policy: 'p', identity: asyncSigner(svcA) });
    await expect(inScope(() => f())).rejects.toMatchObject({ policy: 'p' });
  });

  it('a signer that returns a bad JWS halts the call: the entry is never taken unchecked', async () => {
    configure({ engine: MockPolicyEngine.allowAll(), logger: silentLogger });
    const good = (payload: Uint8Array) => svcA.sign(payload) as string;
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    const bad: Record<string, (payload: Uint8Array) => string> = {
      'no segments': () => 'garbage',
      'alg none': (p) => `${b64('{"alg":"none"}')}.${good(p).split('.').slice(1).join('.')}`,
      'duplicate header member': (p) =>
        `${b64('{"alg":"EdDSA","alg":"EdDSA"}')}.${good(p).split('.').slice(1).join('.')}`,
      'another payload': (p) => {
        const [h, , sig] = good(p).split('.');
        return `${h}.${b64('{"a":1}')}.${sig}`;
      },
      'short signature': (p) => good(p).slice(0, -4),
    };
    for (const [name, sign] of Object.entries(bad)) {
      let runs = 0;
      const identity: IdentityProvider = { getWorkloadId: () => svcA.getWorkloadId(), sign };
      const f = kestVerified(
        async function f() {
          runs++;
        },
        { policy: 'p', identity },
      );
      const err = await inScope(() => f()).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(KestIdentityError);
      expect((err as Error).message, name).toMatch(/invalid JWS/);
      expect(runs, name).toBe(0);
    }
  });
});
