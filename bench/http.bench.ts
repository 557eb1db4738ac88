/**
 * HTTP benchmark: requests/s of each framework adapter, bare vs with Kest on the route, at an
 * incoming chain depth of 1 and 10, in one run. autocannon drives loopback load from a worker
 * thread (the servers keep the main thread). Three servers per framework, all sent the same
 * headers: `bare`; `ingress` = the lineage interceptor (strict baggage parse, restore, chain-tip
 * check, verification on the verified-tip cache) before a plain handler; `full` = ingress plus a
 * kestVerified route (build and sign an entry, one MockPolicyEngine decision per request).
 *
 *   npx tsx bench/http.bench.ts [--duration=3] [--connections=10]
 *
 * Writes bench/results/http.json. Target: ≥ 60 % of bare at depth 10. ~90 s with the defaults.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { FRAMEWORKS, type Framework, startService } from '../examples/trusted-chain/servers.js';
import { configure } from '../src/hook/config.js';
import { kestVerified } from '../src/hook/verified.js';
import { silentLogger } from '../src/logger.js';
import { MockPolicyEngine } from '../src/policy/mock.js';
import { parseBaggageMembers, serializeBaggage } from '../src/propagation/baggage.js';
import { MemoryCacheProvider } from '../src/propagation/cache.js';
import { BaggageManager, passportTier } from '../src/propagation/manager.js';
import { buildPassport, workloads } from '../test/support/chain.js';

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
// autocannon ships no types.
const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string;
  headers: Record<string, string>;
  connections: number;
  duration: number;
  workers: number;
}) => Promise<AutocannonResult>;

const arg = (name: string, def: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : def;
};
const DURATION = arg('duration', 3);
const CONNECTIONS = arg('connections', 10);
const WARMUP = 0.5;
const DEPTHS = [1, 10];

interface Run {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, headers: Record<string, string>, duration: number): Promise<Run> {
  const r = await autocannon({ url, headers, connections: CONNECTIONS, duration, workers: 1 });
  return {
    requestsPerSec: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

async function main(): Promise<void> {
  configure({ logger: silentLogger });
  const { ids, trust } = workloads(3, 'spiffe://bench.kest/svc');
  const cache = new MemoryCacheProvider();
  const manager = new BaggageManager();
  const headersAt = new Map<number, { baggage: string; tier: string }>();
  for (const depth of DEPTHS) {
    const passport = await buildPassport(
      Array.from({ length: depth }, (_, i) => ({ identity: ids[i % 2]! })),
    );
    const baggage = serializeBaggage(await manager.store(passport, cache));
    headersAt.set(depth, { baggage, tier: passportTier(parseBaggageMembers(baggage)) ?? 'none' });
  }
  const engine = MockPolicyEngine.allowAll();
  const protectedRoute = kestVerified(() => ({ ok: true }), {
    policy: 'bench',
    engine,
    identity: ids[2]!,
    operation: 'bench.route',
  });

  const rows: Record<string, unknown>[] = [];
  console.log(
    `node ${process.version}, ${cpus().length} CPU(s), autocannon ${CONNECTIONS} connections, ${DURATION} s per run (shared, noisy machine)`,
  );
  const rps = (n: number) => String(Math.round(n)).padStart(6);
  for (const framework of FRAMEWORKS as readonly Framework[]) {
    const bare = await startService({ framework, path: '/r', kest: false, handler: () => ({ ok: true }) });
    // Ingress only: the lineage interceptor in front of a plain handler.
    const ingress = await startService({
      framework,
      path: '/r',
      kest: { trust, cache },
      handler: () => ({ ok: true }),
    });
    // Full: the interceptor plus a kestVerified route (a signed entry per request).
    const full = await startService({
      framework,
      path: '/r',
      kest: { trust, cache },
      handler: () => protectedRoute(),
    });
    try {
      for (const depth of DEPTHS) {
        const { baggage, tier } = headersAt.get(depth)!;
        const headers = { baggage };
        const runs: Run[] = [];
        for (const svc of [bare, ingress, full]) {
          await load(svc.url, headers, WARMUP); // JIT, connections, the verified-tip cache
          const r = await load(svc.url, headers, DURATION);
          if (r.non2xx > 0 || r.errors > 0) {
            throw new Error(`${framework} depth ${depth}: ${r.non2xx} non-2xx, ${r.errors} errors`);
          }
          runs.push(r);
        }
        const [b, i, f] = runs as [Run, Run, Run];
        const ingressRatio = i.requestsPerSec / b.requestsPerSec;
        const fullRatio = f.requestsPerSec / b.requestsPerSec;
        rows.push({
          framework,
          depth,
          tier,
          headerBytes: baggage.length,
          bareRps: Math.round(b.requestsPerSec),
          ingressRps: Math.round(i.requestsPerSec),
          fullRps: Math.round(f.requestsPerSec),
          ingressRatio: Number(ingressRatio.toFixed(3)),
          fullRatio: Number(fullRatio.toFixed(3)),
          bareP99Ms: b.p99Ms,
          ingressP99Ms: i.p99Ms,
          fullP99Ms: f.p99Ms,
        });
        console.log(
          `${framework.padEnd(8)} depth ${String(depth).padStart(2)} (${tier.padEnd(10)}) bare ${rps(b.requestsPerSec)}  ingress ${rps(i.requestsPerSec)} (${(ingressRatio * 100).toFixed(0).padStart(3)} %)  full ${rps(f.requestsPerSec)} (${(fullRatio * 100).toFixed(0).padStart(3)} %)  req/s`,
        );
      }
    } finally {
      await Promise.all([bare.close(), ingress.close(), full.close()]);
    }
  }
  console.table(rows);
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/http.json', import.meta.url),
    `${JSON.stringify(
      {
        bench: 'http',
        date: new Date().toISOString(),
        node: process.version,
        cpus: cpus().length,
        load: { tool: 'autocannon', connections: CONNECTIONS, durationSeconds: DURATION, workers: 1 },
        variants: {
          bare: 'the framework alone, same request headers',
          ingress:
            'lineage interceptor: strict baggage parse, restore (parse cache), chain tip, verify (tip cache)',
          full: 'ingress + kestVerified route: build + sign an Ed25519 entry, one MockPolicyEngine decision',
        },
        target: 'kest >= 60 % of bare requests/s at depth 10 (with the verified-tip cache)',
        results: rows,
      },
      null,
      2,
    )}\n`,
  );
  await cache.close();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
