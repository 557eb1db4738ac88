/**
 * Test support: a real Redis Cluster of three masters on 127.0.0.1 (no replicas, no persistence),
 * started and stopped by the test (facts: /work/shared/DEPENDENCY-NOTES.md "Redis Cluster, locally").
 *
 *   const cluster = await startRedisCluster();
 *   const client = new Cluster(cluster.nodes);
 *   await cluster.stop();
 *
 * Built with the CLUSTER commands `redis-cli --cluster create` sends, from ioredis, without its
 * one-second waits and without blocking the event loop: tests run meanwhile. The cluster still takes
 * 2-4 s to serve (gossip, and a new master waits 2 s after its start before it accepts writes), so
 * start it early and await it where it is needed.
 */
import { Redis } from 'ioredis';
import { type RedisServer, startRedisServer } from './redis.js';

export interface RedisCluster {
  readonly nodes: { host: string; port: number }[];
  readonly servers: readonly RedisServer[];
  stop(): Promise<void>;
}

const SLOTS = 16384;

/** Resolves once `check` holds (polled every 20 ms), or throws after `ms`. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`redis cluster: ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const started = await Promise.allSettled(
    Array.from({ length: masters }, () =>
      // The node file lives in the server's own temp dir (--dir), so nothing is left behind.
      startRedisServer({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] }),
    ),
  );
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const clients = servers.map(
    (s) => new Redis(s.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 }),
  );
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    await Promise.all(clients.map((c) => c.connect()));
    const cluster = (c: Redis, ...args: (string | number)[]) => c.call('CLUSTER', ...args);
    // Slots split evenly, distinct config epochs, then every node meets the first.
    await Promise.all(
      clients.map((c, i) =>
        cluster(
          c,
          'ADDSLOTSRANGE',
          Math.floor((SLOTS * i) / masters),
          Math.floor((SLOTS * (i + 1)) / masters) - 1,
        ),
      ),
    );
    await Promise.all(clients.map((c, i) => cluster(c, 'SET-CONFIG-EPOCH', i + 1)));
    await Promise.all(servers.slice(1).map((s) => cluster(clients[0]!, 'MEET', '127.0.0.1', s.port)));
    await until('cluster_state:ok on every node', 15_000, async () => {
      const infos = await Promise.all(clients.map((c) => cluster(c, 'INFO') as Promise<string>));
      return infos.every((info) => info.includes('cluster_state:ok'));
    });
  } catch (err) {
    await stop();
    throw err;
  } finally {
    for (const c of clients) c.disconnect();
  }
  return { nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })), servers, stop };
}
