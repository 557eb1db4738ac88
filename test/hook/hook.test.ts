import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCompletion } from '../../src/hook/completion.js';
import {
  configure,
  getCurrentPassport,
  getCurrentUser,
  getUntrustedBaggageClaims,
  JwksTrustSource,
  KestAuthorizationError,
  KestConfigurationError,
  KestIdentityError,
  kestVerified,
  Passport,
  PassportVerifier,
  resetConfiguration,
  runWithPassport,
  runWithUpstreamClaims,
  runWithValidatedIdentity,
  silentLogger,
  verified,
} from '../../src/index.js';
import { MockPolicyEngine } from '../../src/policy/mock.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { buildPassport } from '../support/chain.js';

const svcA = new MockIdentityProvider({ workloadId: 'spiffe://test.kest/a' });
const svcB = new MockIdentityProvider({ workloadId: 'spiffe://test.kest/b' });
const cleaner = new MockIdentityProvider({ workloadId: 'spiffe://test.kest/sanitizer' });
const trust = new JwksTrustSource(svcA.getPublicJwks(), svcB.getPublicJwks(), cleaner.getPublicJwks());
const verifier = () =>
  new PassportVerifier({
    trust,
    sanitizers: [{ principal: cleaner.workloadId, mayRemove: ['pii'], maxTrust: 100 }],
  });

let engine: MockPolicyEngine;
beforeEach(() => {
  resetConfiguration();
  engine = MockPolicyEngine.allowAll();
  configure({ identity: svcA, engine, logger: silentLogger });
});
afterEach(() => resetConfiguration());

/** Run fn in a fresh scope and return what it returned plus the scope's final passport. */
async function inScope<T>(fn: () => Promise<T>, start = Passport.empty()) {
  return runWithPassport(start, async () => {
    const result = await fn();
    return { result, passport: getCurrentPassport() };
  });
}

describe('kestVerified: wrapping', () => {
  it('keeps this, arguments and the return value; sync functions resolve to their value', async () => {
    const obj = {
      factor: 3,
      mul: kestVerified(
        function mul(this: { factor: number }, x: number, y: number) {
          return this.factor * x * y;
        },
        { policy: 'p' },
      ),
    };
    const { result, passport } = await inScope(() => obj.mul(2, 5));
    expect(result).toBe(30);
    // the call entry and its completion (outcome ok, the canonical result's hash)
    expect(passport.length).toBe(2);
    const [call, done] = passport.entries;
    expect(call!.payload.content_hash).toBe('');
    expect(done!.payload.operation).toBe('mul');
    expect(done!.payload.parent_ids).toEqual([call!.hash]);
    expect(done!.payload.labels).toMatchObject({ 'kest.completes': call!.hash, 'kest.outcome': 'ok' });
    const { createHash } = await import('node:crypto');
    expect(done!.payload.content_hash).toBe(createHash('sha256').update('30').digest('hex'));
  });

  it('re-throws the function error unchanged and records failed_execution with trust 0 (spec §3)', async () => {
    const boom = new RangeError('boom');
    const failing = kestVerified(
      async function failing() {
        throw boom;
      },
      { policy: 'p', sourceType: 'internal' },
    );
    let caught: unknown;
    const { passport } = await inScope(async () => {
      try {
        await failing();
      } catch (err) {
        caught = err;
      }
    });
    expect(caught).toBe(boom);
    expect(passport.tip?.payload.trust_score).toBe(0);
    expect(passport.tip?.payload.taints).toEqual(['failed_execution']);
    const report = await verifier().verify(passport);
    expect(report.trustScore).toBe(0);
  });

  it('an empty policy list is a configuration error at wrap time', () => {
    expect(() => kestVerified(() => 1, { policy: [] })).toThrow(KestConfigurationError);
    expect(() => kestVerified(() => 1, { policy: '' })).toThrow(KestConfigurationError);
  });

  it('a policy name the engine does not know fails when the hook is created', () => {
    const known = new Set(['min-trust']);
    const strict = Object.assign(MockPolicyEngine.allowAll(), {
      assertPolicies(names: Iterable<string>) {
        const unknown = [...names].filter((n) => !known.has(n));
        if (unknown.length) throw new KestConfigurationError(`unknown policy ${unknown.join(',')}`);
      },
    });
    expect(() => kestVerified(async function f() {}, { policy: 'min-trsut', engine: strict })).toThrow(
      /unknown policy min-trsut/,
    );
    expect(() => kestVerified(async function f() {}, { policy: 'min-trust', engine: strict })).not.toThrow();
  });

  it('an anonymous function without `operation` is a configuration error', () => {
    const named = () => 1;
    expect(kestVerified(named, { policy: 'p' }).name).toBe('named');
    const anon = [() => 1][0] as () => number;
    expect(() => kestVerified(anon, { policy: 'p' })).toThrow(KestConfigurationError);
  });

  it('without identity or engine the call fails with a configuration error and never runs', async () => {
    resetConfiguration();
    let runs = 0;
    const f = kestVerified(
      function f() {
        runs++;
      },
      { policy: 'p' },
    );
    await expect(f()).rejects.toBeInstanceOf(KestConfigurationError);
    configure({ identity: svcA, logger: silentLogger });
    await expect(f()).rejects.toBeInstanceOf(KestConfigurationError);
    expect(runs).toBe(0);
  });

  it('TC39 method decorator: operation defaults to the method name', async () => {
    class Reports {
      prefix = 'report:';
      @verified({ policy: 'export' })
      async exportReport(id: string) {
        return this.prefix + id;
      }
    }
    const { result, passport } = await inScope(() => new Reports().exportReport('42'));
    expect(result).toBe('report:42');
    expect(passport.tip?.payload.operation).toBe('exportReport');
    expect(passport.tip?.payload.policy_context.function_policies).toEqual(['export']);
  });

  it('records input_hash of the canonical arguments and labels identity/resource', async () => {
    const f = kestVerified(async function f(_a: { b: number; a: number }) {}, {
      policy: 'p',
      user: 'alice',
      agent: (x) => `agent-${x.a}`,
      resourceId: 'doc-1',
      resourceAttr: { owner: 'alice' },
    });
    const { passport } = await inScope(() => f({ b: 2, a: 1 }));
    const e = passport.entries[0]!.payload;
    const { createHash } = await import('node:crypto');
    expect(e.input_hash).toBe(createHash('sha256').update('[{"a":1,"b":2}]').digest('hex'));
    expect(JSON.parse(e.labels['kest.identity']!)).toEqual({ user: 'alice', agent: 'agent-1', task: null });
    expect(JSON.parse(e.labels['kest.resource_attr']!)).toEqual({ owner: 'alice' });
    expect(engine.calls[0]?.context.object).toEqual({ id: 'doc-1', attributes: { owner: 'alice' } });
  });
});

describe('trust and taints (spec §4)', () => {
  it('TC-04: internet(10) → internal(100) gives 10', async () => {
    const first = kestVerified(async function first() {}, { policy: 'p', sourceType: 'internet' });
    const second = kestVerified(async function second() {}, { policy: 'p', sourceType: 'internal' });
    const { passport } = await inScope(async () => {
      await first();
      await second();
    });
    // first, its completion, second, its completion
    expect(passport.entries.map((e) => e.payload.trust_score)).toEqual([10, 10, 10, 10]);
    await expect(verifier().verify(passport)).resolves.toMatchObject({ trustScore: 10 });
  });

  it('TC-05: a sanitizer override of 100 over a parent of 10 gives 100; only declared sanitizers may', async () => {
    configure({ sanitizers: [{ principal: cleaner.workloadId, maxTrust: 100 }] });
    const ingest = kestVerified(async function ingest() {}, { policy: 'p', sourceType: 'internet' });
    const clean = kestVerified(async function clean() {}, {
      policy: 'p',
      trustOverride: 100,
      identity: cleaner,
    });
    const { passport } = await inScope(async () => {
      await ingest();
      await clean();
    });
    expect(passport.tip?.payload.trust_score).toBe(100);
    await expect(verifier().verify(passport)).resolves.toMatchObject({ trustScore: 100 });
    // the same override by a workload that is no declared sanitizer never runs (and a verifier
    // refuses such an entry anyway: see test/core)
    let rogueRuns = 0;
    const rogue = kestVerified(
      async function rogue() {
        rogueRuns++;
      },
      { policy: 'p', trustOverride: 100, identity: svcB },
    );
    const err = await inScope(async () => {
      await ingest();
      await rogue();
    }).catch((e) => e);
    expect(err).toBeInstanceOf(KestAuthorizationError);
    expect(err).toMatchObject({ policy: 'kest:sanitizers', tier: 'enterprise' });
    expect(rogueRuns).toBe(0);
    // lowering trust needs no sanitizer
    const lower = kestVerified(async function lower() {}, { policy: 'p', trustOverride: 5, identity: svcB });
    const lowered = await inScope(async () => {
      await ingest();
      await lower();
    });
    expect(lowered.passport.tip?.payload.trust_score).toBe(5);
  });

  it('TC-06: taints [a,b] + [c] − [b] = [a,c]', async () => {
    const start = await buildPassport([{ identity: svcA, sourceType: 'system', addedTaints: ['a', 'b'] }]);
    const step = kestVerified(async function step() {}, {
      policy: 'p',
      addedTaints: ['c'],
      removedTaints: ['b'],
      identity: cleaner,
    });
    // removing a taint needs a declared sanitizer: a deployment file's rule counts
    await expect(inScope(() => step(), start)).rejects.toMatchObject({ policy: 'kest:sanitizers' });
    resetConfiguration();
    const dir = mkdtempSync(join(tmpdir(), 'kest-'));
    writeFileSync(
      join(dir, 'kest.json'),
      JSON.stringify({ sanitizers: [{ principal: cleaner.workloadId, may_remove: ['b'] }] }),
    );
    process.env.KEST_CONFIG = join(dir, 'kest.json');
    let passport: Passport;
    try {
      configure({ identity: svcA, engine, logger: silentLogger });
      ({ passport } = await inScope(() => step(), start));
    } finally {
      delete process.env.KEST_CONFIG;
    }
    expect(passport.tip?.payload.taints).toEqual(['a', 'c']);
    const v = new PassportVerifier({
      trust,
      sanitizers: [{ principal: cleaner.workloadId, mayRemove: ['b'] }],
    });
    await expect(v.verify(passport)).resolves.toMatchObject({ taints: ['a', 'c'] });
  });

  it('nested calls chain: the inner entry’s parent is the outer entry; the scope continues after', async () => {
    const inner = kestVerified(
      async function inner() {
        return getCurrentPassport().length;
      },
      { policy: 'p', addedTaints: ['pii'] },
    );
    const outer = kestVerified(
      async function outer() {
        const seen = await inner();
        return { seen, after: getCurrentPassport().length };
      },
      { policy: 'p', sourceType: 'internal' },
    );
    const after = kestVerified(async function after() {}, { policy: 'p' });
    const { result, passport } = await inScope(async () => {
      const r = await outer();
      await after();
      return r;
    });
    // after inner returned: outer's call, inner's call and inner's completion
    expect(result).toEqual({ seen: 2, after: 3 });
    const [o, i, ic, oc, a] = passport.entries;
    expect(i!.payload.parent_ids).toEqual([o!.hash]);
    expect(ic!.payload.parent_ids).toEqual([i!.hash]);
    // outer's completion closes over the nested call's completion; the scope continues from it
    expect(oc!.payload.parent_ids).toEqual([ic!.hash]);
    expect(oc!.payload.labels['kest.completes']).toBe(o!.hash);
    expect(a!.payload.parent_ids).toEqual([oc!.hash]);
    expect(a!.payload.taints).toEqual(['pii']);
    await expect(verifier().verify(passport)).resolves.toMatchObject({ trustScore: 100, taints: ['pii'] });
  });

  it('concurrent branches (Promise.all) each chain from the last shared entry and never see each other', async () => {
    const leaf = kestVerified(
      async function leaf(tag: string) {
        await new Promise((r) => setTimeout(r, tag === 'slow' ? 20 : 1));
        return getCurrentPassport();
      },
      { policy: 'p', addedTaints: (tag) => [tag] },
    );
    const root = kestVerified(
      async function root() {
        return Promise.all([leaf('slow'), leaf('fast')]);
      },
      { policy: 'p', sourceType: 'system' },
    );
    const { result } = await inScope(() => root());
    const [slow, fast] = result;
    expect(slow.length).toBe(2);
    expect(fast.length).toBe(2);
    expect(slow.entries[0]!.hash).toBe(fast.entries[0]!.hash);
    expect(slow.tip!.payload.taints).toEqual(['slow']);
    expect(fast.tip!.payload.taints).toEqual(['fast']);
    for (const p of [slow, fast])
      await expect(verifier().verify(p)).resolves.toMatchObject({ trustScore: 100 });
  });

  it.each([
    ['the tainted branch finishes last', 20, 1],
    ['the tainted branch finishes first', 1, 20],
  ])('after concurrent branches (%s) the next call joins every branch tip', async (_n, webDelay, dbDelay) => {
    const fetchWeb = kestVerified(
      async function fetchWeb() {
        await new Promise((r) => setTimeout(r, webDelay));
      },
      { policy: 'p', sourceType: 'internet', addedTaints: ['untrusted_web'] },
    );
    const readDb = kestVerified(
      async function readDb() {
        await new Promise((r) => setTimeout(r, dbDelay));
      },
      { policy: 'p' },
    );
    const sendEmail = kestVerified(async function sendEmail() {}, { policy: 'p' });
    const handler = kestVerified(
      async function handler() {
        await Promise.all([fetchWeb(), readDb()]);
        await sendEmail();
      },
      { policy: 'p', sourceType: 'internal' },
    );
    const { passport } = await inScope(() => handler());
    const byOp = new Map(
      passport.entries.filter((e) => !isCompletion(e)).map((e) => [e.payload.operation, e]),
    );
    const closed = new Map(passport.entries.filter(isCompletion).map((e) => [e.payload.operation, e]));
    const send = byOp.get('sendEmail')!;
    // each branch closed; the join lists both completions
    expect(send.payload.parent_ids.sort()).toEqual(
      [closed.get('fetchWeb')!.hash, closed.get('readDb')!.hash].sort(),
    );
    expect(closed.get('handler')!.payload.parent_ids).toEqual([closed.get('sendEmail')!.hash]);
    expect(send.payload.taints).toEqual(['untrusted_web']);
    expect(send.payload.trust_score).toBe(10);
    // the policy engine saw the joined lineage, not one branch
    const sendCtx = engine.calls[engine.calls.length - 1]!.context;
    expect(sendCtx.subject).toMatchObject({ trust_score: 10, taints: ['untrusted_web'] });
    const report = await verifier().verify(passport);
    expect(report.trustScore).toBe(10);
    expect(report.taints).toEqual(['untrusted_web']);
  });

  it('1,000 concurrent calls, each seeded with a different passport, end with isolated chains that verify', async () => {
    const step = kestVerified(
      async function step(n: number) {
        await new Promise((r) => setImmediate(r));
        return n;
      },
      { policy: 'p', addedTaints: (n) => [`t${n}`] },
    );
    const seeds = await Promise.all(
      Array.from({ length: 1000 }, (_, n) =>
        buildPassport([
          { identity: svcB, sourceType: n % 2 ? 'internet' : 'internal', operation: `seed${n}` },
        ]),
      ),
    );
    const results = await Promise.all(
      seeds.map((seed, n) =>
        runWithPassport(seed, async () => {
          await step(n);
          await step(n + 1000);
          return getCurrentPassport();
        }),
      ),
    );
    const v = verifier();
    for (const [n, p] of results.entries()) {
      expect(p.length).toBe(5); // seed, then a call and its completion per step
      expect(p.entries[0]!.payload.operation).toBe(`seed${n}`);
      expect(p.tip!.payload.taints).toEqual([`t${n + 1000}`, `t${n}`].sort());
      const report = await v.verify(p);
      expect(report.trustScore).toBe(n % 2 ? 10 : 100);
    }
  });
});

describe('policy tiers and fail-secure (spec §3)', () => {
  it('TC-07: a denying engine stops the function and raises an authorization error', async () => {
    engine.set('deny-me', 'deny');
    let runs = 0;
    const f = kestVerified(
      async function f() {
        runs++;
      },
      { policy: 'deny-me' },
    );
    const err = await inScope(() => f()).catch((e) => e);
    expect(err).toBeInstanceOf(KestAuthorizationError);
    expect(err).toMatchObject({ code: 'ERR_AUTHORIZATION', tier: 'function', policy: 'deny-me' });
    expect(runs).toBe(0);
  });

  it('TC-08: AND over policies — one deny among allows denies', async () => {
    engine.set('ok1', 'allow').set('ok2', 'allow').set('no', 'deny');
    let runs = 0;
    const f = kestVerified(
      async function f() {
        runs++;
      },
      { policy: ['ok1', 'no', 'ok2'] },
    );
    await expect(inScope(() => f())).rejects.toMatchObject({ policy: 'no' });
    const g = kestVerified(
      async function g() {
        runs++;
      },
      { policy: ['ok1', 'ok2'] },
    );
    await inScope(() => g());
    expect(runs).toBe(1);
  });

  it.each([
    ['throw', 'throw' as const],
    ['hang', 'hang' as const],
    ['malformed', () => 'yes' as unknown as boolean],
  ])('an engine that fails (%s) denies and never runs the function', async (_name, behaviour) => {
    configure({ engineTimeoutMs: 50 });
    engine.set('p', behaviour);
    let runs = 0;
    const f = kestVerified(
      async function f() {
        runs++;
      },
      { policy: 'p' },
    );
    const err = await inScope(() => f()).catch((e) => e);
    expect(err).toBeInstanceOf(KestAuthorizationError);
    expect(runs).toBe(0);
  });

  it('an identity that cannot sign halts the call with no entry', async () => {
    const broken = new MockIdentityProvider({
      workloadId: 'spiffe://test.kest/broken',
      failWith: new Error('SVID expired'),
    });
    let runs = 0;
    const f = kestVerified(
      async function f() {
        runs++;
      },
      { policy: 'p', identity: broken },
    );
    let passport: Passport | undefined;
    const err = await runWithPassport(Passport.empty(), async () => {
      try {
        await f();
      } catch (e) {
        passport = getCurrentPassport();
        return e;
      }
    });
    expect(err).toBeInstanceOf(KestIdentityError);
    expect((err as Error).message).toContain('SVID expired');
    expect(runs).toBe(0);
    expect(passport?.length).toBe(0);
    expect(engine.callCount).toBe(0);
  });

  it.each([
    ['garbage', () => 'not-a-jws'],
    ['a JWS over other bytes', () => svcA.sign(Buffer.from('{"other":"payload"}'))],
    ['a truncated signature', (bytes: Uint8Array) => svcA.sign(bytes).slice(0, -4)],
  ])(
    'an identity provider that returns %s is an identity error and the function never runs',
    async (_n, sign) => {
      const liar = {
        getWorkloadId: () => svcA.workloadId,
        sign: (bytes: Uint8Array) => sign(bytes),
      };
      let runs = 0;
      const f = kestVerified(
        async function f() {
          runs++;
        },
        { policy: 'p', identity: liar },
      );
      await expect(inScope(() => f())).rejects.toBeInstanceOf(KestIdentityError);
      expect(runs).toBe(0);
    },
  );

  it('enterprise policy from the deployment cannot be bypassed from options; deviations only for their scope', async () => {
    configure({
      deployment: {
        enterprise_policies: ['no-pii-egress'],
        platform_policies: ['rate-ok'],
        deviations: [
          {
            policy: 'rate-ok',
            tier: 'platform',
            reason: 'batch job',
            approver: 'secops',
            operations: ['nightlyBatch'],
          },
        ],
      },
    });
    engine.set('no-pii-egress', 'deny').set('rate-ok', 'deny');
    let runs = 0;
    const f = kestVerified(
      async function f() {
        runs++;
      },
      { policy: 'p', engine: MockPolicyEngine.allowAll() },
    );
    // the function's own engine allows everything, but enterprise is evaluated by the configured engine
    const err = await inScope(() => f()).catch((e) => e);
    expect(err).toMatchObject({ tier: 'enterprise', policy: 'no-pii-egress' });
    expect(runs).toBe(0);
    // the deployment cannot be replaced at run time
    expect(() => configure({ deployment: {} })).toThrow(KestConfigurationError);

    engine.set('no-pii-egress', 'allow');
    const nightly = kestVerified(async function nightlyBatch() {}, { policy: 'p' });
    const other = kestVerified(async function other() {}, { policy: 'p' });
    const { passport } = await inScope(() => nightly());
    expect(passport.tip?.payload.policy_context).toMatchObject({
      enterprise_policies: ['no-pii-egress'],
      platform_policies: ['rate-ok'],
      deviations: [{ policy: 'rate-ok', tier: 'platform', reason: 'batch job', approver: 'secops' }],
    });
    await expect(inScope(() => other())).rejects.toMatchObject({ tier: 'platform', policy: 'rate-ok' });
  });

  it('once deployment policies are in force, code cannot swap the engine that answers them', () => {
    configure({ deployment: { enterprise_policies: ['corp'] } });
    expect(() => configure({ tierEngines: { enterprise: MockPolicyEngine.allowAll() } })).toThrow(
      KestConfigurationError,
    );
    // the default engine answers the enterprise tier here, so it cannot be replaced either
    expect(() => configure({ engine: MockPolicyEngine.allowAll() })).toThrow(
      /enterprise policies are in force/,
    );
    // a function-tier engine and other settings can still change
    expect(() =>
      configure({ tierEngines: { function: MockPolicyEngine.allowAll() }, engineTimeoutMs: 500 }),
    ).not.toThrow();
  });

  it('with KEST_CONFIG set, code cannot supply its own deployment policies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kest-'));
    writeFileSync(join(dir, 'kest.json'), JSON.stringify({ enterprise_policies: ['corp'] }));
    process.env.KEST_CONFIG = join(dir, 'kest.json');
    try {
      resetConfiguration();
      expect(() => configure({ deployment: { enterprise_policies: [] } })).toThrow(/KEST_CONFIG/);
    } finally {
      delete process.env.KEST_CONFIG;
    }
  });

  it('a deviation for a policy that is not in its tier is a configuration error', () => {
    expect(() =>
      configure({
        deployment: {
          enterprise_policies: ['a'],
          deviations: [{ policy: 'b', tier: 'enterprise', reason: 'r', approver: 'x', operations: ['*'] }],
        },
      }),
    ).toThrow(/not a enterprise policy/);
  });

  it('loads the deployment from KEST_CONFIG (YAML) on first use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kest-'));
    const file = join(dir, 'kest.yaml');
    writeFileSync(file, 'enterprise_policies:\n  - corp-baseline\napplication_policies: [app-x]\n');
    process.env.KEST_CONFIG = file;
    try {
      resetConfiguration();
      configure({ identity: svcA, engine, logger: silentLogger });
      const f = kestVerified(async function f() {}, { policy: 'p' });
      await inScope(() => f());
      expect(engine.calls.map((c) => [c.context.environment.policy_tier, c.policyNames])).toEqual([
        ['enterprise', ['corp-baseline']],
        ['application', ['app-x']],
        ['function', ['p']],
      ]);
    } finally {
      delete process.env.KEST_CONFIG;
    }
  });

  it('passes the evaluation context of spec §6 to the engine', async () => {
    const start = await buildPassport([{ identity: svcB, sourceType: 'user_input', addedTaints: ['pii'] }]);
    const f = kestVerified(async function f() {}, { policy: 'p', user: 'alice', task: 't1' });
    await inScope(() => f(), start);
    const ctx = engine.calls[0]!.context;
    expect(ctx).toMatchObject({
      subject: {
        workload: svcA.workloadId,
        user: 'alice',
        agent: null,
        task: 't1',
        trust_score: 40,
        taints: ['pii'],
      },
      environment: {
        is_root: false,
        parent_hash: start.tipHash,
        policy_names: ['p'],
        policy_tier: 'function',
      },
      identity: { user: 'alice', agent: null, task: 't1' },
      trust_score: 40,
    });
  });
});

describe('identity resolution order (spec §3) and TC-12', () => {
  const whoAmI = () =>
    kestVerified(
      async function whoAmI() {
        return getCurrentUser();
      },
      { policy: 'p' },
    );

  it('TC-12: getCurrentUser() reads the upstream baggage inside the protected function', async () => {
    configure({ deployment: { trust_upstream_baggage: true } });
    const user = await runWithUpstreamClaims({ user: 'bob' }, () => inScope(() => whoAmI()()));
    expect(user.result).toBe('bob');
  });

  it('inside a protected call a raw baggage claim the hook did not accept is not the user', async () => {
    const raw = kestVerified(
      async function raw() {
        return { user: getCurrentUser(), untrusted: getUntrustedBaggageClaims()?.user };
      },
      { policy: 'p' },
    );
    const { result } = await runWithUpstreamClaims({ user: 'admin' }, () => inScope(() => raw()));
    expect(result).toEqual({ user: undefined, untrusted: 'admin' });
  });

  it('raw baggage is not recorded as the user unless the deployment opts in', async () => {
    const { passport } = await runWithUpstreamClaims({ user: 'mallory' }, () => inScope(() => whoAmI()()));
    expect(JSON.parse(passport.tip!.payload.labels['kest.identity']!).user).toBeNull();
  });

  it('validated identity beats the last entry, which beats opted-in baggage; explicit beats all', async () => {
    configure({ deployment: { trust_upstream_baggage: true } });
    const upstream = await buildPassport([{ identity: svcB, sourceType: 'internal' }]);
    // last verified entry records user carol
    const seedUser = kestVerified(async function seed() {}, { policy: 'p', user: 'carol' });
    const { passport: withCarol } = await inScope(() => seedUser(), upstream);
    const recorded = (p: Passport) => JSON.parse(p.tip!.payload.labels['kest.identity']!).user;

    const a = await runWithUpstreamClaims({ user: 'baggage-user' }, () =>
      inScope(() => whoAmI()(), withCarol),
    );
    expect(recorded(a.passport)).toBe('carol');
    const b = await runWithUpstreamClaims({ user: 'baggage-user' }, () =>
      inScope(() => whoAmI()(), upstream),
    );
    expect(recorded(b.passport)).toBe('baggage-user');
    const c = await runWithValidatedIdentity({ user: 'dave' }, () => inScope(() => whoAmI()(), withCarol));
    expect(recorded(c.passport)).toBe('dave');
    const explicit = kestVerified(async function e() {}, { policy: 'p', user: 'erin' });
    const d = await runWithValidatedIdentity({ user: 'dave' }, () => inScope(() => explicit(), withCarol));
    expect(recorded(d.passport)).toBe('erin');
  });
});

describe('trace ids', () => {
  it('a root call outside any trace still records a non-empty trace_id, inherited by children', async () => {
    const root = kestVerified(async function root() {}, { policy: 'p', sourceType: 'internal' });
    const child = kestVerified(async function child() {}, { policy: 'p' });
    const { passport } = await inScope(async () => {
      await root();
      await child();
    });
    const [r, c] = passport.entries;
    expect(r!.payload.labels.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(c!.payload.labels.trace_id).toBe(r!.payload.labels.trace_id);
  });
});
