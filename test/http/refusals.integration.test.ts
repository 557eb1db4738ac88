/**
 * Integration (real servers on 127.0.0.1): every refusal of the lineage interceptor, through every
 * adapter. The handler must never run on a refusal (its run counter stays 0).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FRAMEWORKS } from '../../examples/trusted-chain/servers.js';
import { b64urlDecode, b64urlEncode, canonicalize } from '../../src/entry/index.js';
import { configure, type Passport, resetConfiguration, silentLogger } from '../../src/index.js';
import { MockPolicyEngine } from '../../src/policy/mock.js';
import { BaggageManager, MemoryCacheProvider } from '../../src/propagation/index.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { buildPassport, workloads } from '../support/chain.js';
import { baggageFor, get, type Probe, startProbe } from './helpers.js';

beforeAll(() => configure({ logger: silentLogger }));
afterAll(() => resetConfiguration());

/** Replace the payload of a compact JWS, keeping its header and signature (a forgery). */
function editPayload(jws: string, edit: (p: Record<string, unknown>) => void): string {
  const [h, p, s] = jws.split('.') as [string, string, string];
  const payload = JSON.parse(new TextDecoder().decode(b64urlDecode(p))) as Record<string, unknown>;
  edit(payload);
  return `${h}.${b64urlEncode(new TextEncoder().encode(canonicalize(payload)))}.${s}`;
}

describe.each(FRAMEWORKS)('refusals through %s', (framework) => {
  const { ids, trust } = workloads(3);
  let probe: Probe;
  const open: Probe[] = [];
  const start = async (...args: Parameters<typeof startProbe> extends [unknown, ...infer R] ? R : never) => {
    const p = await startProbe(framework, ...args);
    open.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  it('accepts a valid passport and extends it (control)', async () => {
    probe = await start(ids[2]!, { trust });
    const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const res = await get(probe.service.url, { baggage: await baggageFor(passport) });
    expect(res.status).toBe(200);
    expect(res.body.depth).toBe(3);
    expect(probe.runs).toBe(1);
  });

  it.each([
    ['garbage', 'not a baggage header;;;'],
    ['bad percent-encoding', 'kest.user=%zz'],
    ['trailing comma', 'a=1,'],
    ['passport without chain tip', `kest.passport=${encodeURIComponent('[]')}`],
    ['chain tip that is not a hash', `kest.passport=${encodeURIComponent('[]')},kest.chain_tip=abc`],
    ['passport that is not JSON', `kest.passport=nope,kest.chain_tip=${'a'.repeat(64)}`],
    [
      'passport of non-JWS strings',
      `kest.passport=${encodeURIComponent('["x.y.z"]')},kest.chain_tip=${'a'.repeat(64)}`,
    ],
    ['claim check that is not a UUID', `kest.claim_check=123,kest.chain_tip=${'a'.repeat(64)}`],
  ])('malformed baggage (%s) → 400, handler never runs', async (_name, header) => {
    probe = await start(ids[2]!, { trust });
    const res = await get(probe.service.url, { baggage: header });
    expect(res.status).toBe(400);
    expect(['ERR_BAGGAGE_INVALID', 'ERR_PASSPORT_INVALID']).toContain(res.body.error);
    expect(typeof res.body.message).toBe('string');
    expect(probe.runs).toBe(0);
  });

  it('forged upstream entry (payload edited after signing) → 401 bad_signature at entry 0', async () => {
    probe = await start(ids[2]!, { trust });
    const honest = await buildPassport([{ identity: ids[0]!, sourceType: 'internet' }]);
    const forgedJws = editPayload(honest.entries[0]!.jws, (p) => {
      p.trust_score = 100;
      (p.labels as Record<string, string>)['kest.source_type'] = 'internal';
    });
    const { Passport } = await import('../../src/index.js');
    const forged = Passport.fromJws([forgedJws]);
    const res = await get(probe.service.url, { baggage: await baggageFor(forged) });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      error: 'ERR_VERIFICATION_FAILED',
      reason: 'bad_signature',
      index: 0,
      entry_id: honest.entries[0]!.payload.entry_id,
    });
    expect(probe.runs).toBe(0);
  });

  it('upstream entry re-signed with a key not anchored for its principal → 401, handler never runs', async () => {
    probe = await start(ids[2]!, { trust });
    // Same principal name as ids[0], but the attacker's own key.
    const impostor = new MockIdentityProvider({ workloadId: ids[0]!.getWorkloadId(), seed: 'attacker' });
    const passport = await buildPassport([{ identity: impostor }, { identity: ids[1]! }]);
    const res = await get(probe.service.url, { baggage: await baggageFor(passport) });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'ERR_VERIFICATION_FAILED', index: 0 });
    // The impostor's kid is not among the principal's anchored keys.
    expect(['key_not_anchored', 'bad_signature']).toContain(res.body.reason);
    expect(probe.runs).toBe(0);
  });

  it('entry of an unknown principal → 401', async () => {
    probe = await start(ids[2]!, { trust });
    const stranger = new MockIdentityProvider({ workloadId: 'spiffe://evil.example/svc' });
    const res = await get(probe.service.url, {
      baggage: await baggageFor(await buildPassport([{ identity: stranger }])),
    });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('ERR_VERIFICATION_FAILED');
    expect(['unknown_principal', 'key_not_anchored']).toContain(res.body.reason);
    expect(probe.runs).toBe(0);
  });

  it('inflated trust from upstream (override by a non-sanitizer) → 401 unauthorized_sanitizer', async () => {
    probe = await start(ids[2]!, { trust });
    const passport = await buildPassport([
      { identity: ids[0]!, sourceType: 'internet' },
      { identity: ids[1]!, trustOverride: 100 },
    ]);
    expect(passport.tip!.payload.trust_score).toBe(100);
    const res = await get(probe.service.url, { baggage: await baggageFor(passport) });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ reason: 'unauthorized_sanitizer', index: 1 });
    expect(probe.runs).toBe(0);
  });

  it('inflated trust without an override label (signed, but wrong) → 401 trust_mismatch', async () => {
    probe = await start(ids[2]!, { trust });
    const passport = await buildPassport([
      { identity: ids[0]!, sourceType: 'internet' },
      {
        identity: ids[1]!,
        mutate: (p) => {
          p.trust_score = 100;
        },
      },
    ]);
    const res = await get(probe.service.url, { baggage: await baggageFor(passport) });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ reason: 'trust_mismatch', index: 1 });
    expect(probe.runs).toBe(0);
  });

  it('the same override from a declared sanitizer is accepted', async () => {
    probe = await start(ids[2]!, {
      trust,
      sanitizers: [{ principal: ids[1]!.getWorkloadId(), maxTrust: 100 }],
    });
    const passport = await buildPassport([
      { identity: ids[0]!, sourceType: 'internet' },
      { identity: ids[1]!, trustOverride: 100 },
    ]);
    const res = await get(probe.service.url, { baggage: await baggageFor(passport) });
    expect(res.status).toBe(200);
    expect(probe.runs).toBe(1);
  });

  it('truncated passport (chain tip of a longer one) → 401 chain_tip_mismatch', async () => {
    probe = await start(ids[2]!, { trust });
    const full = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const truncated = (await import('../../src/index.js')).Passport.fromJws([full.entries[0]!.jws]);
    const header = `kest.passport=${encodeURIComponent(truncated.serialize())},kest.chain_tip=${full.tipHash}`;
    const res = await get(probe.service.url, { baggage: header });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'ERR_VERIFICATION_FAILED', reason: 'chain_tip_mismatch' });
    expect(probe.runs).toBe(0);
  });

  it('chain tip without any passport (passport lost in transit) → 400', async () => {
    probe = await start(ids[2]!, { trust });
    const res = await get(probe.service.url, { baggage: `kest.chain_tip=${'b'.repeat(64)}` });
    expect(res.status).toBe(400);
    expect(probe.runs).toBe(0);
  });

  it('missing claim check (never stored) → 401 ERR_CLAIM_CHECK', async () => {
    const cache = new MemoryCacheProvider();
    probe = await start(ids[2]!, { trust, cache });
    const header = `kest.claim_check=${randomUUID()},kest.chain_tip=${'c'.repeat(64)}`;
    const res = await get(probe.service.url, { baggage: header });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('ERR_CLAIM_CHECK');
    expect(probe.runs).toBe(0);
  });

  it('expired claim check → 401 ERR_CLAIM_CHECK; the same one before expiry is accepted', async () => {
    let now = 1_000_000;
    const cache = new MemoryCacheProvider({ now: () => now });
    probe = await start(ids[2]!, { trust, cache });
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const manager = new BaggageManager({ minTier: 'claim_check', claimCheckTtlSeconds: 5 });
    const header = await baggageFor(passport, { cache, manager });
    expect(header).toContain('kest.claim_check=');
    const ok = await get(probe.service.url, { baggage: header });
    expect(ok.status).toBe(200);
    now += 6_000;
    const expired = await get(probe.service.url, { baggage: header });
    expect(expired.status).toBe(401);
    expect(expired.body.error).toBe('ERR_CLAIM_CHECK');
    expect(probe.runs).toBe(1);
  });

  it('claim check but no cache configured on the receiver → 401', async () => {
    probe = await start(ids[2]!, { trust });
    const cache = new MemoryCacheProvider();
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const header = await baggageFor(passport, {
      cache,
      manager: new BaggageManager({ minTier: 'claim_check' }),
    });
    const res = await get(probe.service.url, { baggage: header });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('ERR_CLAIM_CHECK');
    expect(probe.runs).toBe(0);
  });

  it('claim-check store failing → 503 with Retry-After', async () => {
    const cache = new MemoryCacheProvider();
    probe = await start(ids[2]!, { trust, cache });
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const header = await baggageFor(passport, {
      cache,
      manager: new BaggageManager({ minTier: 'claim_check' }),
    });
    await cache.close(); // every get now throws KestCacheError
    const res = await get(probe.service.url, { baggage: header });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(probe.runs).toBe(0);
  });

  it('passport but no trust source configured → 500 ERR_CONFIGURATION (never accepted unverified)', async () => {
    probe = await start(ids[2]!, {});
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const res = await get(probe.service.url, { baggage: await baggageFor(passport) });
    expect(res.status).toBe(500);
    expect(res.body.error).toBe('ERR_CONFIGURATION');
    expect(probe.runs).toBe(0);
  });

  it('requirePassport: a request without one → 401', async () => {
    probe = await start(ids[2]!, { trust, requirePassport: true });
    const res = await get(probe.service.url);
    expect(res.status).toBe(401);
    expect(probe.runs).toBe(0);
  });

  it('a denying policy → 403 with policy and tier, function body never runs', async () => {
    probe = await start(ids[2]!, { trust }, MockPolicyEngine.denyAll());
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const res = await get(probe.service.url, { baggage: await baggageFor(passport) });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'ERR_AUTHORIZATION', tier: 'function' });
    expect(typeof res.body.entry_id).toBe('string');
    expect(probe.runs).toBe(0);
  });

  it('reports each refusal to onRefusal', async () => {
    const seen: number[] = [];
    probe = await start(ids[2]!, { trust, onRefusal: (r) => seen.push(r.status) });
    await get(probe.service.url, { baggage: 'kest.passport=' });
    expect(seen).toEqual([400]);
  });
});

describe('verified-tip cache', () => {
  it('a second request with the same lineage verifies only its new entries', async () => {
    const { ids, trust } = workloads(2);
    const { KestHttpCore } = await import('../../src/http/core.js');
    // The restored-passport cache off, to see the verifier's own tip cache at work.
    const core = new KestHttpCore({ trust, restoreCacheSize: 0 });
    const passport: Passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const headers = { baggage: await baggageFor(passport) };
    const first = await core.admit(headers);
    expect(first.report?.cachedEntries).toBe(0);
    const second = await core.admit(headers);
    expect(second.report?.cachedEntries).toBe(2);
    const longer = await buildPassport([{ identity: ids[0]! }], passport);
    const third = await core.admit({ baggage: await baggageFor(longer) });
    expect(third.report?.cachedEntries).toBe(2);
    expect(third.report?.entries.map((e) => e.cached)).toEqual([true, true, false]);
  });
});

describe('restored-passport cache', () => {
  it('reuses parse and verdict for identical bytes, re-checks the chain tip, never keeps failures', async () => {
    const { ids, trust } = workloads(2);
    const { KestHttpCore } = await import('../../src/http/core.js');
    const { KestError } = await import('../../src/index.js');
    const core = new KestHttpCore({ trust });
    const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const headers = { baggage: await baggageFor(passport) };
    const verify = vi.spyOn(core.verifier(), 'verify');
    const first = await core.admit(headers);
    const second = await core.admit(headers);
    // The verdict is reused (verified once) but each request gets its own Passport (L4).
    expect(verify).toHaveBeenCalledTimes(1);
    expect(second.report?.tipHash).toBe(first.report?.tipHash);
    expect(second.passport).not.toBe(first.passport);
    expect(second.passport.entries.map((e) => e.hash)).toEqual(first.passport.entries.map((e) => e.hash));
    expect(second.report?.passport).toBe(second.passport);
    // clearCaches() forgets both caches: the next arrival is verified from scratch.
    core.clearCaches();
    const third = await core.admit(headers);
    expect(third.report).not.toBe(first.report);
    expect(third.report?.cachedEntries).toBe(0);

    // Same passport bytes, another chain tip: refused although the bytes are cached.
    const swapped = headers.baggage.replace(passport.tipHash!, passport.entries[0]!.hash);
    await expect(core.admit({ baggage: swapped })).rejects.toMatchObject({ reason: 'chain_tip_mismatch' });

    // A forgery is refused on every arrival (the cache holds parses, never verdicts).
    const forged = (await import('../../src/index.js')).Passport.fromJws([
      editPayload(passport.entries[0]!.jws, (p) => {
        p.operation = 'forged';
      }),
    ]);
    const forgedHeaders = { baggage: await baggageFor(forged) };
    for (let i = 0; i < 2; i++) {
      const err = await core.admit(forgedHeaders).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KestError);
      expect(err).toMatchObject({ reason: 'bad_signature' });
    }
  });
});
