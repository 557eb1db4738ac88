/**
 * Integration: the Redis replay store against a real redis-server and a real three-master Redis
 * Cluster (ioredis `Redis` and `Cluster` clients): single use under 1,000 concurrent copies, expiry,
 * and a store that is down → 503 at the ingress.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHandoff } from '../../src/http/index.js';
import { configure, resetConfiguration, silentLogger } from '../../src/index.js';
import { RedisReplayStore } from '../../src/propagation/redis.js';
import { BAGGAGE_KEY } from '../../src/wire/constants.js';
import { buildPassport, workloads } from '../support/chain.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';
import { type RedisCluster, startRedisCluster } from '../support/redis-cluster.js';
import { baggageFor, get, getMany, startProbe } from './helpers.js';

const { ids, trust } = workloads(3);
const AUD = ids[2]!.getWorkloadId();
let server: RedisServer;
let cluster: RedisCluster | undefined;
let single: Redis;
let clustered: Cluster | undefined;
/** The cluster takes seconds to serve: it starts with the file and is awaited by its own cases. */
let clusterReady: Promise<Cluster>;

beforeAll(async () => {
  configure({ logger: silentLogger });
  clusterReady = startRedisCluster().then(async (c) => {
    cluster = c;
    clustered = new Cluster(c.nodes, { redisOptions: { maxRetriesPerRequest: 0 } });
    await clustered.set('probe', '1');
    return clustered;
  });
  clusterReady.catch(() => {}); // reported by the cases that await it
  server = await startRedisServer();
  single = new Redis(server.port, '127.0.0.1', {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    lazyConnect: true,
  });
  await single.connect();
  await single.ping();
}, 60_000);

afterAll(async () => {
  await clusterReady?.catch(() => {});
  single?.disconnect();
  clustered?.disconnect();
  await Promise.all([server?.stop(), cluster?.stop()]);
  resetConfiguration();
});

describe.each(['redis-server', 'Redis Cluster'] as const)('RedisReplayStore on %s', (kind) => {
  let client: Redis | Cluster;
  beforeAll(async () => {
    client = kind === 'redis-server' ? single : await clusterReady;
  }, 60_000);
  const store = () => new RedisReplayStore({ client });

  it('claims a key once, and again after it expired', async () => {
    const s = new RedisReplayStore({ client, keyPrefix: 'test:claim:' });
    const key = `k-${Math.random()}`;
    expect(await s.claim(key, 1000)).toBe(true);
    expect(await s.claim(key, 1000)).toBe(false);
    const ttl = await client.pttl(`test:claim:${key}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
    // Until Redis has expired the key (no fixed sleep), then it is claimed again.
    while ((await client.exists(`test:claim:${key}`)) === 1) await new Promise((r) => setTimeout(r, 10));
    expect(await s.claim(key, 1000)).toBe(true);
  });

  it('at the ingress: 1,000 concurrent distinct requests all admitted, 1,000 copies of one → exactly one', async () => {
    const probe = await startProbe('node', ids[2]!, { trust, handoff: { audience: [AUD], store: store() } });
    try {
      const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
      const headersOf = async () => ({
        baggage: await baggageFor(passport, {
          extra: { [BAGGAGE_KEY.handoff]: (await signHandoff(ids[1]!, passport, AUD)) as string },
        }),
      });
      const distinct = await Promise.all(Array.from({ length: 1000 }, headersOf));
      const admitted = await getMany(probe.service.url, distinct);
      expect(admitted.filter((r) => r.status === 200)).toHaveLength(1000);
      const one = await headersOf();
      const copies = await getMany(probe.service.url, Array(1000).fill(one));
      expect(copies.filter((r) => r.status === 200)).toHaveLength(1);
      expect(copies.filter((r) => r.body.reason === 'replayed')).toHaveLength(999);
      expect(probe.runs).toBe(1001);
    } finally {
      await probe.close();
    }
  }, 90_000);
});

it('a Redis store that is down → 503 replay_store_unavailable, the handler never runs', async () => {
  const dead = await startRedisServer();
  const client = new Redis(dead.port, '127.0.0.1', {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => 200,
    lazyConnect: true,
  });
  client.on('error', () => {});
  await client.connect();
  await dead.stop();
  const probe = await startProbe('express', ids[2]!, {
    trust,
    handoff: { audience: [AUD], store: new RedisReplayStore({ client }) },
  });
  try {
    const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const res = await get(probe.service.url, {
      baggage: await baggageFor(passport, {
        extra: { [BAGGAGE_KEY.handoff]: (await signHandoff(ids[1]!, passport, AUD)) as string },
      }),
    });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ reason: 'replay_store_unavailable' });
    expect(probe.runs).toBe(0);
  } finally {
    client.disconnect();
    await probe.close();
  }
});
