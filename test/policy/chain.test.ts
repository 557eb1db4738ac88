/**
 * Policy over the whole lineage through the hook (docs/spec.md §3, §4, §6): a 3-hop chain on the real
 * Cedar engine with the shipped policies. Between hops the passport travels serialized and is
 * verified, as the lineage interceptor does, before the next hop runs.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { configure, resetConfiguration } from '../../src/config/config.js';
import { getCurrentPassport, runWithPassport } from '../../src/context/index.js';
import { KestAuthorizationError, KestConfigurationError, KestVerificationError } from '../../src/errors.js';
import { kestVerified } from '../../src/hook/index.js';
import { MockIdentityProvider } from '../../src/identity/mock.js';
import { JwksTrustSource } from '../../src/keys/jwks.js';
import { Passport } from '../../src/passport/passport.js';
import { PassportVerifier } from '../../src/passport/verifier.js';
import { CedarLocalEngine } from '../../src/policy/cedar.js';
import type { SanitizerRule } from '../../src/trust/sanitizers.js';

const engine = CedarLocalEngine.library();
const gateway = new MockIdentityProvider({ workloadId: 'spiffe://kest.demo/gateway' });
const enricher = new MockIdentityProvider({ workloadId: 'spiffe://kest.demo/enricher' });
const exporter = new MockIdentityProvider({ workloadId: 'spiffe://kest.demo/exporter' });
const trust = new JwksTrustSource(
  gateway.getPublicJwks(),
  enricher.getPublicJwks(),
  exporter.getPublicJwks(),
);
const sanitizer: SanitizerRule = { principal: enricher.workloadId, maxTrust: 80, mayRemove: ['web'] };

beforeEach(() => {
  resetConfiguration();
  // the enricher's own hook lets it sanitize only as a declared sanitizer
  configure({ sanitizers: [sanitizer] });
});
afterAll(() => {
  resetConfiguration();
  engine.close();
});

/** One hop: restore + verify the incoming passport, run the protected call, return the outgoing passport. */
async function hop(
  incoming: string | undefined,
  run: () => Promise<string>,
  sanitizers: readonly SanitizerRule[] = [sanitizer],
): Promise<string> {
  if (incoming === undefined) return run();
  const report = await new PassportVerifier({ trust, sanitizers }).verify(incoming);
  return runWithPassport(report.passport, run);
}

const outgoing = async () => getCurrentPassport().serialize();

function ingest(taints: string[] = []) {
  return kestVerified(async () => outgoing(), {
    operation: 'ingest',
    policy: 'allowed-workloads',
    identity: gateway,
    engine,
    sourceType: 'internet',
    addedTaints: taints,
    user: 'alice',
  });
}

function enrich(sanitize: boolean) {
  return kestVerified(async () => outgoing(), {
    operation: 'enrich',
    policy: 'allowed-workloads',
    identity: enricher,
    engine,
    ...(sanitize ? { classification: 'sanitizer' as const, trustOverride: 80, removedTaints: ['web'] } : {}),
  });
}

let exported = 0;
function exportReport(policies: string[]) {
  return kestVerified(
    async () => {
      exported++;
      return outgoing();
    },
    { operation: 'export', policy: policies, identity: exporter, engine },
  );
}

describe('3-hop chain on CedarLocalEngine through kestVerified', () => {
  it('an internet-origin request is refused at a trust >= 50 route; the export never runs', async () => {
    exported = 0;
    const p1 = await ingest()();
    const p2 = await hop(p1, () => enrich(false)());
    expect(Passport.deserialize(p2).tip?.payload.trust_score).toBe(10);
    const error = await hop(p2, () => exportReport(['min-trust'])()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KestAuthorizationError);
    expect(error).toMatchObject({ policy: 'min-trust', tier: 'function' });
    expect((error as Error).message).toMatch(/no permit policy matched/);
    expect(exported).toBe(0);
  });

  it('the same request is allowed after a declared sanitizer raised its trust', async () => {
    exported = 0;
    const p1 = await ingest()();
    const p2 = await hop(p1, () => enrich(true)());
    const p3 = await hop(p2, () => exportReport(['min-trust', 'no-pii-export', 'user-required'])());
    expect(exported).toBe(1);
    const report = await new PassportVerifier({ trust, sanitizers: [sanitizer] }).verify(p3);
    expect(report.entries.map((e) => [e.operation, e.trustScore])).toEqual([
      ['ingest', 10],
      ['enrich', 80],
      ['export', 80],
    ]);
    // Undeclared, the same override is refused by the next hop's verification: no route to 80.
    await expect(hop(p2, () => exportReport(['min-trust'])(), [])).rejects.toMatchObject({
      reason: 'unauthorized_sanitizer',
    });
    await expect(hop(p2, () => exportReport(['min-trust'])(), [])).rejects.toBeInstanceOf(
      KestVerificationError,
    );
  });

  it('a pii taint anywhere upstream blocks the export route, even at full trust', async () => {
    exported = 0;
    const p1 = await ingest(['pii'])();
    const p2 = await hop(p1, () => enrich(true)());
    const error = await hop(p2, () => exportReport(['min-trust', 'no-pii-export'])()).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'ERR_AUTHORIZATION', policy: 'no-pii-export' });
    expect((error as Error).message).toMatch(/no-pii-export\.forbid/);
    expect(exported).toBe(0);
  });

  it('a mistyped policy name fails at wrap time, or before the first call runs; never evaluates everything', async () => {
    exported = 0;
    // the engine is known when the hook is created: the typo is a configuration error then
    expect(() => exportReport(['min-trsut'])).toThrow(KestConfigurationError);
    // the configured engine counts too
    configure({ engine });
    try {
      const err = (() => {
        try {
          kestVerified(async function exportIt() {}, { policy: ['min-trsut'], identity: exporter });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toMatchObject({
        code: 'ERR_CONFIGURATION',
        reason: 'unknown_policy',
        policies: ['min-trsut'],
        tier: 'function',
        suggestion: 'min-trust',
      });
      expect((err as Error).message).toMatch(/did you mean "min-trust"/);
    } finally {
      resetConfiguration();
    }
    // an engine configured only after wrapping is asked at the first call, which fails before running
    const late = kestVerified(
      async () => {
        exported++;
      },
      { operation: 'export', policy: ['min-trsut'], identity: exporter },
    );
    configure({ engine });
    try {
      const error = await late().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KestConfigurationError);
      expect(error).toMatchObject({ reason: 'unknown_policy', tier: 'function' });
      expect(exported).toBe(0);
      await expect(late.ready()).rejects.toMatchObject({ reason: 'unknown_policy' });
    } finally {
      resetConfiguration();
    }
  });
});
