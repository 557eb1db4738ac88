/**
 * Every policy name is checked against its engine when the function is wrapped (issue 14): a name
 * the engine does not know is a typed configuration error then, not a 403 on every call. Engines
 * that cannot tell (OPA mapping any name) are asked at the call; an engine whose catalogue loads
 * asynchronously fails the call until it is ready, and `await fn.ready()` waits for it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  configure,
  getCurrentPassport,
  KestAuthorizationError,
  KestConfigurationError,
  kestVerified,
  Passport,
  resetConfiguration,
  runWithPassport,
  silentLogger,
  verified,
} from '../../src/index.js';
import { CedarLocalEngine } from '../../src/policy/cedar.js';
import { KEST_POLICY_LIBRARY_DIR, KEST_POLICY_SCHEMA_PATH } from '../../src/policy/cedar-options.js';
import { allOf, OPAPolicyEngine } from '../../src/policy/index.js';
import type { EvaluateOptions, EvaluationContext, PolicyEngine } from '../../src/policy/types.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { type LoopbackServer, sendJson, startServer } from '../policy/fixtures.js';

const svc = new MockIdentityProvider({ workloadId: 'spiffe://test.kest/svc' });
const cedar = CedarLocalEngine.library();
let opa: LoopbackServer;

beforeAll(async () => {
  // OPA's Data API: a document for kest/min_trust only; {} (undefined document) for anything else
  opa = await startServer((req, _body, res) =>
    req.url === '/v1/data/kest/min_trust'
      ? sendJson(res, 200, { result: { allow: true } })
      : sendJson(res, 200, {}),
  );
});
afterAll(async () => {
  cedar.close();
  await opa.close();
  resetConfiguration();
});
beforeEach(() => {
  resetConfiguration();
  configure({ identity: svc, logger: silentLogger });
});

const inScope = <T>(fn: () => Promise<T>) => runWithPassport(Passport.empty(), fn);

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/**
 * The real Cedar engine behind a catalogue that loads asynchronously (read from disk after
 * construction), as an engine fetching its policies from a store would.
 */
class LoadingCedarEngine implements PolicyEngine {
  #engine: CedarLocalEngine | undefined;
  readonly #loading: Promise<void>;
  #release!: () => void;
  constructor() {
    const gate = new Promise<void>((resolve) => {
      this.#release = resolve;
    });
    this.#loading = gate
      .then(() => CedarLocalEngine.fromPath(KEST_POLICY_LIBRARY_DIR, { schemaPath: KEST_POLICY_SCHEMA_PATH }))
      .then((engine) => {
        this.#engine = engine;
      });
  }
  /** Let the load start (so a test can call before it finished). */
  load(): Promise<void> {
    this.#release();
    return this.#loading;
  }
  ready(): Promise<void> {
    return this.load();
  }
  assertPolicies(names: Iterable<string>): void {
    if (!this.#engine) {
      throw new KestConfigurationError('LoadingCedarEngine: policies still loading', {
        reason: 'engine_not_ready',
      });
    }
    this.#engine.assertPolicies(names);
  }
  evaluate(entryId: string, names: readonly string[], ctx: EvaluationContext, options?: EvaluateOptions) {
    if (!this.#engine) return Promise.reject(new Error('not loaded'));
    return this.#engine.evaluate(entryId, names, ctx, options);
  }
  close(): void {
    this.#engine?.close();
  }
}

describe('policy names are checked when the function is wrapped', () => {
  it('against the configured engine, with the nearest loaded name', () => {
    configure({ engine: cedar });
    const err = thrown(() => kestVerified(async function exportReport() {}, { policy: ['min-trsut'] }));
    expect(err).toBeInstanceOf(KestConfigurationError);
    expect(err).toMatchObject({
      code: 'ERR_CONFIGURATION',
      reason: 'unknown_policy',
      tier: 'function',
      policies: ['min-trsut'],
      suggestion: 'min-trust',
    });
    expect((err as Error).message).toMatch(
      /^kestVerified\(exportReport\): function tier: CedarLocalEngine: unknown/,
    );
    expect(() => kestVerified(async function exportReport() {}, { policy: 'min-trust' })).not.toThrow();
  });

  it('the @verified decorator fails when the class is defined', () => {
    configure({ engine: cedar });
    const define = () => {
      class Reports {
        @verified({ policy: 'no-pii-exprot' })
        async exportReport() {}
      }
      return Reports;
    };
    expect(thrown(define)).toMatchObject({ reason: 'unknown_policy', suggestion: 'no-pii-export' });
  });

  it('allOf: every engine that can tell must know every name', () => {
    configure({ engine: cedar });
    expect(
      thrown(() => kestVerified(async function f() {}, { policy: 'min-trust', engine: allOf(cedar, cedar) })),
    ).toBeUndefined();
    const opaMapped = new OPAPolicyEngine({ url: opa.url, paths: { other: 'kest/other' } });
    expect(
      thrown(() =>
        kestVerified(async function f() {}, { policy: 'min-trust', engine: allOf(cedar, opaMapped) }),
      ),
    ).toMatchObject({ reason: 'unknown_policy', policies: ['min-trust'] });
  });

  it('OPA with a paths record can tell at wrap time; without one only OPA can, at the call', async () => {
    const mapped = new OPAPolicyEngine({ url: opa.url, paths: { 'min-trust': 'kest/min_trust' } });
    expect(
      thrown(() => kestVerified(async function f() {}, { policy: 'min-trsut', engine: mapped })),
    ).toMatchObject({
      reason: 'unknown_policy',
      suggestion: 'min-trust',
    });
    // any name maps to a path: the wrap cannot know, OPA's answer (an undefined document) denies
    let runs = 0;
    const open = new OPAPolicyEngine({ url: opa.url });
    const f = kestVerified(
      async function f() {
        runs++;
      },
      { policy: 'kest.min_trsut', engine: open },
    );
    const denial = await inScope(() => f()).catch((e: unknown) => e);
    expect(denial).toBeInstanceOf(KestAuthorizationError);
    expect((denial as Error).message).toMatch(/missing_decision|has no result\.allow/);
    expect(runs).toBe(0);
    const ok = kestVerified(async function ok() {}, { policy: 'kest.min_trust', engine: open });
    await inScope(() => ok());
  });
});

describe('an engine configured later, or still loading', () => {
  it('an engine configured after wrapping is checked before the first call runs', async () => {
    let runs = 0;
    const f = kestVerified(
      async function f() {
        runs++;
      },
      { policy: 'min-trsut' },
    );
    configure({ engine: cedar });
    const err = await inScope(() => f()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KestConfigurationError);
    expect(err).toMatchObject({ reason: 'unknown_policy', tier: 'function' });
    expect(runs).toBe(0);
  });

  it('a catalogue still loading fails the call (typed) instead of running it; ready() waits for it', async () => {
    const engine = new LoadingCedarEngine();
    configure({ engine });
    let runs = 0;
    // wrapping cannot tell yet: the check is deferred, not skipped
    const f = kestVerified(
      async function f() {
        runs++;
        return getCurrentPassport().length;
      },
      { policy: 'min-trust', sourceType: 'internal' },
    );
    const typo = kestVerified(async function typo() {}, { policy: 'min-trst' });
    const early = await inScope(() => f()).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(KestConfigurationError);
    expect(early).toMatchObject({ reason: 'engine_not_ready', tier: 'function' });
    expect(runs).toBe(0);

    await f.ready();
    await expect(typo.ready()).rejects.toMatchObject({
      reason: 'unknown_policy',
      suggestion: 'min-trust',
    });
    await expect(inScope(() => typo())).rejects.toMatchObject({ reason: 'unknown_policy' });
    await expect(inScope(() => f())).resolves.toBe(1);
    expect(runs).toBe(1);
    engine.close();
  });
});

describe('ready()', () => {
  it('rejects when a tier has no engine, and when the engine cannot load', async () => {
    const f = kestVerified(async function f() {}, { policy: 'p' });
    await expect(f.ready()).rejects.toMatchObject({ code: 'ERR_CONFIGURATION', message: /no policy engine/ });
    const broken: PolicyEngine = {
      evaluate: () => Promise.resolve({ allow: false }),
      ready: () => Promise.reject(new Error('store unreachable')),
    };
    configure({ engine: broken });
    await expect(f.ready()).rejects.toMatchObject({
      reason: 'engine_not_ready',
      message: /store unreachable/,
    });
  });
});
