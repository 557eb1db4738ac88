/**
 * Integration (real servers on 127.0.0.1, real fetch): the three-hop trusted chain through every
 * framework adapter, and mixed (Express → Fastify → Hono). Each hop restores and verifies the
 * incoming passport, signs its own entry with kestVerified and propagates the result.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HopResult, startChain } from '../../examples/trusted-chain/chain.js';
import { FRAMEWORKS, type Framework } from '../../examples/trusted-chain/servers.js';
import {
  configure,
  type Passport,
  PassportVerifier,
  resetConfiguration,
  silentLogger,
} from '../../src/index.js';
import { MockPolicyEngine } from '../../src/policy/mock.js';
import { workloads } from '../support/chain.js';

const EXPECTED: HopResult = {
  service: 'hop1',
  next: { service: 'hop2', next: { service: 'hop3', status: 'end_of_chain' } },
};

beforeAll(() => configure({ logger: silentLogger }));
afterAll(() => resetConfiguration());

async function runChain(frameworks: Framework[]) {
  const { ids, trust } = workloads(3, 'spiffe://test.kest/hop');
  const sent: Passport[] = [];
  const chain = await startChain({
    engine: MockPolicyEngine.allowAll(),
    policies: ['allow'],
    hops: frameworks.map((framework, i) => ({
      name: `hop${i + 1}`,
      framework,
      identity: ids[i]!,
      // hop1 (ids[0]) is the only one that may start the lineage (as `system`, the chain's default).
      kest: { trust, roots: [{ principal: ids[0]!.getWorkloadId() }] },
      // Observe (not alter) what each hop sends downstream.
      tamper: (p: Passport) => {
        sent.push(p);
        return p;
      },
    })),
  });
  try {
    const res = await fetch(chain.url);
    return { status: res.status, body: (await res.json()) as HopResult, calls: chain.calls, sent, trust };
  } finally {
    await chain.close();
  }
}

describe.each(FRAMEWORKS)('three-hop chain through %s', (framework) => {
  it('returns the nested result, each hop runs once and extends a verified lineage', async () => {
    const { status, body, calls, sent, trust } = await runChain([framework, framework, framework]);
    expect(status).toBe(200);
    expect(body).toEqual(EXPECTED);
    expect([...calls.values()]).toEqual([1, 1, 1]);
    // hop1 sent its root entry; hop2 sent hop1's entry + its own, linked.
    expect(sent.map((p) => p.length)).toEqual([1, 2]);
    const second = sent[1]!;
    expect(second.entries[1]!.payload.parent_ids).toEqual([second.entries[0]!.hash]);
    expect(second.entries[0]!.hash).toBe(sent[0]!.tipHash);
    const report = await new PassportVerifier({ trust }).verify(second);
    expect(report.principals).toEqual(['spiffe://test.kest/hop0', 'spiffe://test.kest/hop1']);
    expect(report.entries.map((e) => e.operation)).toEqual(['hop1.handle', 'hop2.handle']);
  });
});

describe('mixed chain', () => {
  it('Express → Fastify → Hono', async () => {
    const { status, body, calls, sent } = await runChain(['express', 'fastify', 'hono']);
    expect(status).toBe(200);
    expect(body).toEqual(EXPECTED);
    expect([...calls.values()]).toEqual([1, 1, 1]);
    expect(sent.map((p) => p.length)).toEqual([1, 2]);
  });

  it('node:http → Hono → Express', async () => {
    const { status, body } = await runChain(['node', 'hono', 'express']);
    expect(status).toBe(200);
    expect(body).toEqual(EXPECTED);
  });
});
