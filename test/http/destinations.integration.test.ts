/**
 * Integration (real servers on 127.0.0.1, real fetch / undici / axios): `propagateTo` keeps the
 * passport and kest.user / agent / task away from destinations that are not Kest services (review
 * M5). Service A is a listed Kest hop; service B stands for a third-party host (another port).
 */
import { context, trace } from '@opentelemetry/api';
import axios from 'axios';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installKestAxios } from '../../src/http/axios.js';
import { createKestFetch, kestInterceptor } from '../../src/http/fetch.js';
import { destinationMatcher } from '../../src/http/outbound.js';
import {
  configure,
  type KestLogger,
  type Passport,
  resetConfiguration,
  runWithPassport,
  runWithValidatedIdentity,
  silentLogger,
  UNGUARDED_ROOTS,
} from '../../src/index.js';
import { parseBaggageMembers } from '../../src/propagation/index.js';
import { buildPassport, workloads } from '../support/chain.js';
import { type Probe, type ProbeBody, startProbe } from './helpers.js';

const { ids, trust } = workloads(3);
let a: Probe;
let b: Probe;
let passport: Passport;
const warnings: string[] = [];
const logger: KestLogger = {
  ...silentLogger,
  warn: (_record: unknown, message?: string) => {
    warnings.push(String(message));
  },
};

const originOf = (p: Probe) => new URL(p.service.url).origin;
const kestKeys = (baggage: string | undefined) =>
  Object.keys(parseBaggageMembers(baggage)).filter((k) => k.startsWith('kest.'));

/** A call made inside a verified lineage, with a validated caller identity. */
const inCall = <T>(fn: () => T): T =>
  runWithValidatedIdentity({ user: 'alice', agent: 'bot' }, () => runWithPassport(passport, fn));

beforeAll(async () => {
  configure({ logger });
  // Roots configured (UNGUARDED_ROOTS: unknown origins only): no start warning besides propagateTo's.
  a = await startProbe('node', ids[2]!, { trust, roots: UNGUARDED_ROOTS });
  b = await startProbe('node', ids[2]!, { trust, roots: UNGUARDED_ROOTS });
  passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
});
afterAll(async () => {
  await Promise.all([a.close(), b.close()]);
  resetConfiguration();
});

describe('kestFetch', () => {
  it('without propagateTo it sends everywhere and warns once per process; with it, no warning', async () => {
    const scoped = createKestFetch({ propagateTo: [originOf(a)] });
    await inCall(() => scoped(a.service.url));
    expect(warnings).toEqual([]);
    const f = createKestFetch();
    const g = createKestFetch();
    const res = await inCall(() => f(b.service.url));
    await inCall(() => g(b.service.url));
    await inCall(() => f(a.service.url));
    expect(((await res.json()) as ProbeBody).depth).toBe(3); // unrestricted: B got the passport
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/propagateTo/);
  });

  it('a listed origin gets passport and identity; another gets no kest.* member, its own members kept', async () => {
    const f = createKestFetch({ propagateTo: [originOf(a)] });
    const own = `app.tenant=acme,kest.user=mallory,kest.chain_tip=${'f'.repeat(64)}`;
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const toA = (await (
      await inCall(() => f(a.service.url, { headers: { baggage: own } }))
    ).json()) as ProbeBody;
    expect(toA.depth).toBe(3);
    // The caller's identity travels as kest.user (A's handler does not take it as its user: raw
    // baggage claims count only with trust_upstream_baggage).
    expect(parseBaggageMembers(toA.baggage)['kest.user']).toBe('alice');
    expect(parseBaggageMembers(toA.baggage)['app.tenant']).toBe('acme');

    const toB = (await (
      await inCall(() => f(b.service.url, { headers: { baggage: own, traceparent } }))
    ).json()) as ProbeBody;
    expect(kestKeys(toB.baggage)).toEqual([]);
    expect(toB.baggage).toBe('app.tenant=acme');
    expect(toB.traceparent).toBe(traceparent);
    expect(toB.depth).toBe(1); // B received nothing to extend: its call is a root
    expect(toB.user).toBeUndefined();
  });

  it('another destination gets no traceparent from Kest either (nothing is added)', async () => {
    const f = createKestFetch({ propagateTo: [originOf(a)] });
    const ctx = trace.setSpanContext(context.active(), {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
    });
    const toB = (await (await context.with(ctx, () => inCall(() => f(b.service.url)))).json()) as ProbeBody;
    expect(toB.traceparent).toBeUndefined();
    expect(toB.baggage).toBeUndefined();
    const toA = (await (await context.with(ctx, () => inCall(() => f(a.service.url)))).json()) as ProbeBody;
    expect(toA.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-/);
  });

  it('a Request object is matched on its own URL', async () => {
    const f = createKestFetch({ propagateTo: [originOf(a)] });
    const toB = (await (await inCall(() => f(new Request(b.service.url)))).json()) as ProbeBody;
    expect(toB.depth).toBe(1);
    const toA = (await (await inCall(() => f(new Request(a.service.url)))).json()) as ProbeBody;
    expect(toA.depth).toBe(3);
  });
});

describe('undici dispatcher interceptor', () => {
  it('requires propagateTo', () => {
    expect(() => kestInterceptor({} as never)).toThrow(/propagateTo/);
    expect(() => kestInterceptor(undefined as never)).toThrow(/propagateTo/);
  });

  it('a predicate decides per request', async () => {
    const port = new URL(a.service.url).port;
    const agent = new Agent().compose(kestInterceptor({ propagateTo: (url) => url.port === port }));
    try {
      const toA = await inCall(() => request(a.service.url, { dispatcher: agent }));
      expect(((await toA.body.json()) as ProbeBody).depth).toBe(3);
      const toB = await inCall(() =>
        request(b.service.url, { dispatcher: agent, headers: { baggage: 'kest.user=alice,x=1' } }),
      );
      const body = (await toB.body.json()) as ProbeBody;
      expect(body.depth).toBe(1);
      expect(body.baggage).toBe('x=1');
    } finally {
      await agent.close();
    }
  });
});

describe('axios request interceptor', () => {
  it('host:port rule, absolute URLs and baseURL + relative path', async () => {
    const http = axios.create();
    installKestAxios(http, { propagateTo: [new URL(a.service.url).host] });
    const toA = await inCall(() => http.get<ProbeBody>(a.service.url));
    expect(toA.data.depth).toBe(3);
    const toB = await inCall(() => http.get<ProbeBody>(b.service.url));
    expect(toB.data.depth).toBe(1);
    expect(kestKeys(toB.data.baggage)).toEqual([]);

    const based = axios.create({ baseURL: originOf(b) });
    installKestAxios(based, { propagateTo: [originOf(a)] });
    const relative = await inCall(() => based.get<ProbeBody>(new URL(b.service.url).pathname));
    expect(relative.data.depth).toBe(1);
  });
});

describe('destinationMatcher', () => {
  const u = (s: string) => new URL(s);
  it('origins, hosts, host:port and subdomain wildcards', () => {
    const m = destinationMatcher([
      'https://orders.internal:8443',
      'billing.internal',
      '10.0.0.7:8080',
      '*.svc.cluster.local',
    ]);
    expect(m(u('https://orders.internal:8443/x'))).toBe(true);
    expect(m(u('http://orders.internal:8443/x'))).toBe(false); // scheme is part of an origin
    expect(m(u('https://orders.internal/x'))).toBe(false);
    expect(m(u('http://billing.internal:9000/'))).toBe(true);
    expect(m(u('https://BILLING.internal/'))).toBe(true);
    expect(m(u('https://billing.internal.evil.example/'))).toBe(false);
    expect(m(u('http://10.0.0.7:8080/'))).toBe(true);
    expect(m(u('http://10.0.0.7/'))).toBe(false);
    expect(m(u('http://a.b.svc.cluster.local/'))).toBe(true);
    expect(m(u('http://svc.cluster.local/'))).toBe(false);
    expect(m(u('http://evilsvc.cluster.local/'))).toBe(false);
    expect(m(u('https://api.github.com/'))).toBe(false);
    expect(m(undefined)).toBe(false);
  });

  it('a default port matches its explicit form', () => {
    const m = destinationMatcher(['billing.internal:443', 'https://orders.internal']);
    expect(m(u('https://billing.internal/'))).toBe(true);
    expect(m(u('https://orders.internal:443/'))).toBe(true);
  });

  it("'*' allows everything; a throwing predicate allows nothing", () => {
    expect(destinationMatcher('*')(u('https://anything.example/'))).toBe(true);
    const m = destinationMatcher(() => {
      throw new Error('boom');
    });
    expect(m(u('https://orders.internal/'))).toBe(false);
  });

  it('malformed rules are configuration errors, never a wider match', () => {
    for (const bad of [
      'https://orders.internal/path',
      '*',
      '*.',
      'http://',
      'two words',
      '',
      'a*.example.com',
    ]) {
      expect(() => destinationMatcher([bad]), bad).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIGURATION' }),
      );
    }
    expect(() => destinationMatcher('all' as never)).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIGURATION' }),
    );
  });
});
