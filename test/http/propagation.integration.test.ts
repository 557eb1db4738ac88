/**
 * Integration (real servers on 127.0.0.1, real fetch / undici / axios, real redis-server): the
 * outbound propagators carry the passport across a hop in every tier, including TC-11 (claim check
 * round trip through Redis), an oversized passport, and traceparent.
 */
import { context, trace } from '@opentelemetry/api';
import axios from 'axios';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChain } from '../../examples/trusted-chain/chain.js';
import { installKestAxios } from '../../src/http/axios.js';
import { createKestFetch, kestInterceptor } from '../../src/http/fetch.js';
import {
  configure,
  type Passport,
  resetConfiguration,
  runWithPassport,
  silentLogger,
} from '../../src/index.js';
import { MockPolicyEngine } from '../../src/policy/mock.js';
import {
  BAGGAGE_LIMITS,
  MemoryCacheProvider,
  parseBaggage,
  parseBaggageMembers,
  passportTier,
} from '../../src/propagation/index.js';
import { RedisCacheProvider } from '../../src/propagation/redis.js';
import { buildPassport, workloads } from '../support/chain.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { type Probe, type ProbeBody, startProbe } from './helpers.js';

const { ids, trust } = workloads(3);
let probe: Probe;
let probeCache: MemoryCacheProvider;
const passports = new Map<number, Passport>();

async function passportOf(n: number): Promise<Passport> {
  let p = passports.get(n);
  if (!p) {
    p = await buildPassport(Array.from({ length: n }, (_, i) => ({ identity: ids[i % 2]! })));
    passports.set(n, p);
  }
  return p;
}

beforeAll(async () => {
  configure({ logger: silentLogger });
  probeCache = new MemoryCacheProvider();
  probe = await startProbe('node', ids[2]!, { trust, cache: probeCache });
});
afterAll(async () => {
  await probe.close();
  resetConfiguration();
});

describe('fetch wrapper: every tier crosses the hop', () => {
  it.each([
    [1, 'inline'],
    [6, 'compressed'],
    [40, 'claim_check'],
  ])('%i entries travel %s and are verified and extended', async (n, tier) => {
    const passport = await passportOf(n);
    const f = createKestFetch({ cache: probeCache });
    const res = await runWithPassport(passport, () => f(probe.service.url));
    const body = (await res.json()) as ProbeBody;
    expect(res.status).toBe(200);
    expect(passportTier(parseBaggageMembers(body.baggage))).toBe(tier);
    expect(body.depth).toBe(n + 1);
    // Never over what OpenTelemetry JS would silently drop.
    expect(body.baggage!.length).toBeLessThanOrEqual(BAGGAGE_LIMITS.maxHeaderBytes);
    for (const m of parseBaggage(body.baggage)) {
      expect(m.key.length + 1 + encodeURIComponent(m.value).length).toBeLessThanOrEqual(4096);
    }
  });

  it('an oversized passport with no claim-check cache is not sent: the fetch rejects, the hop never runs', async () => {
    const before = probe.runs;
    const f = createKestFetch();
    await expect(runWithPassport(await passportOf(40), () => f(probe.service.url))).rejects.toMatchObject({
      code: 'ERR_PASSPORT_TOO_LARGE',
    });
    expect(probe.runs).toBe(before);
  });

  it("keeps the request's own baggage members and replaces forged Kest transport members", async () => {
    const passport = await passportOf(1);
    const f = createKestFetch();
    const res = await runWithPassport(passport, () =>
      f(probe.service.url, { headers: { baggage: `app.tenant=acme,kest.chain_tip=${'f'.repeat(64)}` } }),
    );
    const body = (await res.json()) as ProbeBody;
    expect(res.status).toBe(200);
    const members = parseBaggageMembers(body.baggage);
    expect(members['app.tenant']).toBe('acme');
    expect(members['kest.chain_tip']).toBe(passport.tipHash);
  });

  it('never forwards the raw JWT unless configured', async () => {
    const { runWithValidatedIdentity } = await import('../../src/index.js');
    const id = { user: 'alice', jwt: 'eyJhbGciOiJFUzI1NiJ9.e30.sig' };
    const plain = await runWithValidatedIdentity(id, () => createKestFetch()(probe.service.url));
    expect(((await plain.json()) as ProbeBody).baggage).not.toContain('kest.jwt');
    const fwd = await runWithValidatedIdentity(id, () =>
      createKestFetch({ forwardJwt: true })(probe.service.url),
    );
    expect(parseBaggageMembers(((await fwd.json()) as ProbeBody).baggage)['kest.jwt']).toBe(id.jwt);
  });

  it('traceparent: injected from the active span and used as the parent on the server', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const ctx = trace.setSpanContext(context.active(), {
      traceId,
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
    });
    const res = await context.with(ctx, () => createKestFetch()(probe.service.url));
    const body = (await res.json()) as ProbeBody;
    expect(body.traceparent).toBe(`00-${traceId}-00f067aa0ba902b7-01`);
    expect(body.traceId).toBe(traceId);
  });
});

describe('undici dispatcher interceptor', () => {
  let agent: ReturnType<Agent['compose']>;
  beforeAll(() => {
    agent = new Agent().compose(kestInterceptor({ cache: probeCache, propagateTo: ['127.0.0.1'] }));
  });
  afterAll(() => agent.close());

  it("with Node's global fetch", async () => {
    const passport = await passportOf(6);
    const res = await runWithPassport(passport, () =>
      fetch(probe.service.url, { dispatcher: agent } as unknown as RequestInit),
    );
    const body = (await res.json()) as ProbeBody;
    expect(res.status).toBe(200);
    expect(body.depth).toBe(7);
  });

  it("with undici's request, claim-check tier", async () => {
    const passport = await passportOf(40);
    const res = await runWithPassport(passport, () => request(probe.service.url, { dispatcher: agent }));
    const body = (await res.body.json()) as ProbeBody;
    expect(res.statusCode).toBe(200);
    expect(body.depth).toBe(41);
    expect(passportTier(parseBaggageMembers(body.baggage))).toBe('claim_check');
  });

  it('a passport that cannot travel fails the request with the Kest error', async () => {
    const bare = new Agent().compose(kestInterceptor({ propagateTo: '*' }));
    try {
      await expect(
        runWithPassport(await passportOf(40), () => request(probe.service.url, { dispatcher: bare })),
      ).rejects.toMatchObject({ code: 'ERR_PASSPORT_TOO_LARGE' });
    } finally {
      await bare.close();
    }
  });
});

describe('axios request interceptor', () => {
  it('carries the passport (compressed tier) and the caller identity', async () => {
    const http = axios.create();
    installKestAxios(http, { cache: probeCache });
    const passport = await passportOf(6);
    const res = await runWithPassport(passport, () => http.get<ProbeBody>(probe.service.url));
    expect(res.status).toBe(200);
    expect(res.data.depth).toBe(7);
  });

  it('a passport that cannot travel rejects the axios call, nothing sent', async () => {
    const before = probe.runs;
    const http = axios.create();
    installKestAxios(http);
    await expect(
      runWithPassport(await passportOf(40), () => http.get(probe.service.url)),
    ).rejects.toMatchObject({
      code: 'ERR_PASSPORT_TOO_LARGE',
    });
    expect(probe.runs).toBe(before);
  });
});

describe('TC-11: claim check round trip through real Redis across hops', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('sender stores, receiver (its own client) resolves, verifies and extends', async () => {
    const sender = new RedisCacheProvider({ url: redis.url });
    const receiverCache = new RedisCacheProvider({ url: redis.url });
    const hop = await startProbe('fastify', ids[2]!, { trust, cache: receiverCache });
    try {
      const passport = await passportOf(3);
      const f = createKestFetch({ cache: sender, baggage: { minTier: 'claim_check' } });
      const res = await runWithPassport(passport, () => f(hop.service.url));
      const body = (await res.json()) as ProbeBody;
      expect(res.status).toBe(200);
      const members = parseBaggageMembers(body.baggage);
      const id = members['kest.claim_check']!;
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(members['kest.passport']).toBeUndefined();
      expect(await sender.get(id)).toBe(passport.serialize());
      expect(body.depth).toBe(4);
      expect(body.tip).not.toBe(passport.tipHash);
    } finally {
      await hop.close();
      await sender.close();
      await receiverCache.close();
    }
  });

  it('a three-hop chain (Express → Fastify → Hono) with every passport in Redis', async () => {
    const clientCache = new RedisCacheProvider({ url: redis.url, keyPrefix: 'chain:' });
    const serverCache = new RedisCacheProvider({ url: redis.url, keyPrefix: 'chain:' });
    const { ids: hopIds, trust: hopTrust } = workloads(3, 'spiffe://test.kest/hop');
    const chain = await startChain({
      engine: MockPolicyEngine.allowAll(),
      policies: ['allow'],
      propagation: { cache: clientCache, baggage: { minTier: 'claim_check' } },
      hops: (['express', 'fastify', 'hono'] as const).map((framework, i) => ({
        name: `hop${i + 1}`,
        framework,
        identity: hopIds[i]!,
        // hop1 starts the lineage (as `system`, the chain's default origin).
        kest: { trust: hopTrust, cache: serverCache, roots: [{ principal: hopIds[0]!.getWorkloadId() }] },
      })),
    });
    try {
      const res = await fetch(chain.url);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        service: 'hop1',
        next: { service: 'hop2', next: { service: 'hop3', status: 'end_of_chain' } },
      });
      // Two claim checks were written (hop1 → hop2, hop2 → hop3).
      expect((await clientCache.client.keys('chain:*')).length).toBe(2);
    } finally {
      await chain.close();
      await clientCache.close();
      await serverCache.close();
    }
  });

  it('Redis down on the receiver → 503, handler never runs', async () => {
    const sender = new RedisCacheProvider({ url: redis.url });
    const deadCache = new RedisCacheProvider({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200 });
    const hop = await startProbe('hono', ids[2]!, { trust, cache: deadCache });
    try {
      const f = createKestFetch({ cache: sender, baggage: { minTier: 'claim_check' } });
      const res = await runWithPassport(await passportOf(2), () => f(hop.service.url));
      expect(res.status).toBe(503);
      expect(hop.runs).toBe(0);
    } finally {
      await hop.close();
      await sender.close();
      await deadCache.close();
    }
  });
});
