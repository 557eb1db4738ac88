/**
 * Integration (real servers on 127.0.0.1): the Kest context survives request-body parsing in every
 * adapter (Express's json parser, Fastify's content-type parser, Hono's c.req.json, node streams),
 * and concurrent requests never see each other's passports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FRAMEWORKS } from '../../examples/trusted-chain/servers.js';
import { configure, resetConfiguration, silentLogger } from '../../src/index.js';
import { buildPassport, workloads } from '../support/chain.js';
import { baggageFor, type ProbeBody, startProbe } from './helpers.js';

beforeAll(() => configure({ logger: silentLogger }));
afterAll(() => resetConfiguration());

describe.each(FRAMEWORKS)('%s', (framework) => {
  const { ids, trust } = workloads(3);

  it('POST with a JSON body: the protected handler runs on the verified passport', async () => {
    const probe = await startProbe(framework, ids[2]!, { trust });
    try {
      const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
      const res = await fetch(probe.service.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', baggage: await baggageFor(passport) },
        body: JSON.stringify({ pad: 'x'.repeat(60_000) }),
      });
      const body = (await res.json()) as ProbeBody;
      expect(res.status).toBe(200);
      expect(body.depth).toBe(3);
    } finally {
      await probe.close();
    }
  });

  it('20 concurrent requests with different lineages each see their own', async () => {
    const probe = await startProbe(framework, ids[2]!, { trust });
    try {
      const lineages = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          buildPassport(Array.from({ length: (i % 4) + 1 }, (_, k) => ({ identity: ids[k % 2]! }))),
        ),
      );
      const results = await Promise.all(
        lineages.map(async (p) => {
          const res = await fetch(probe.service.url, { headers: { baggage: await baggageFor(p) } });
          return (await res.json()) as ProbeBody;
        }),
      );
      results.forEach((r, i) => {
        expect(r.depth).toBe(lineages[i]!.length + 1);
      });
    } finally {
      await probe.close();
    }
  });
});
