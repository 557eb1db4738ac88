/**
 * Test support: a real Redis Cluster of three masters on 127.0.0.1 (no replicas, no persistence),
 * started and stopped by the test (facts: /work/shared/DEPENDENCY-NOTES.md "Redis Cluster, locally").
 *
 *   const cluster = await startRedisCluster();
 *   const client = new Cluster(cluster.nodes);
 *   await cluster.stop();
 */
import { spawnSync } from 'node:child_process';
import { type RedisServer, startRedisServer } from './redis.js';

export interface RedisCluster {
  readonly nodes: { host: string; port: number }[];
  readonly servers: readonly RedisServer[];
  stop(): Promise<void>;
}

function cli(args: string[]): string {
  const r = spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 20_000 });
  if (r.error || r.status !== 0)
    throw new Error(`redis-cli ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const servers: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      // The node file lives in the server's own temp dir (--dir), so nothing is left behind.
      servers.push(
        await startRedisServer({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] }),
      );
    }
    cli([
      '--cluster',
      'create',
      ...servers.map((s) => `127.0.0.1:${s.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ok = servers.every((s) =>
        cli(['-p', String(s.port), 'cluster', 'info']).includes('cluster_state:ok'),
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error('redis cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })), servers, stop };
}
