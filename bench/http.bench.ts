import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FRAMEWORKS, type Framework, startService } from '../examples/trusted-chain/servers.js';
import { configure } from '../src/config/config.js';
import { kestVerified } from '../src/hook/verified.js';
import { silentLogger } from '../src/logger.js';
import type { Passport } from '../src/passport/passport.js';
import { MockPolicyEngine } from '../src/policy/mock.js';
import { parseBaggageMembers, serializeBaggage } from '../src/propagation/baggage.js';
import { MemoryCacheProvider } from '../src/propagation/cache.js';
import { BaggageManager, passportTier } from '../src/propagation/manager.js';
import { buildPassport, workloads } from '../test/support/chain.js';
import { handoffMicrobenchmarks, signPool } from './handoff.js';
import { type ResultRow, writeResults } from './result.js';

interface AutocannonResult {
  requests: { average: number; total: number };
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
  requests?: { setupRequest: string }[];
}) => Promise<AutocannonResult>;

const arg = (name: string, def: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : def;
};
const DURATION = arg('duration', 3);
const CONNECTIONS = arg('connections', 10);
const WARMUP = 0.5;
const list = (name: string) =>
  process.argv
    .find((x) => x.startsWith(`--${name}=`))
    ?.split('=')[1]
    ?.split(',');
const DEPTHS = (list('depths') ?? ['1', '10']).map(Number);
const ONLY = list('frameworks');

interface Run {
  requestsPerSec: number;
  /** Main-thread (server) busy time per request, µs: what caps throughput once the client has its own core. */
  serverUsPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  non2xx: number;
}

const SETUP = fileURLToPath(new URL('./handoff-request.cjs', import.meta.url));
/** Per pool file: how many of its handoffs earlier runs may have used (each is single-use). */
const used = new Map<string, number>();

/** A load run; with `pool`, every request carries the next unused pre-signed handoff. */
async function load(
  url: string,
  headers: Record<string, string>,
  duration: number,
  pool?: string,
): Promise<Run> {
  if (pool) {
    process.env.KEST_BENCH_HANDOFFS = pool;
    process.env.KEST_BENCH_OFFSET = String(used.get(pool) ?? 0);
  }
  const elu = performance.eventLoopUtilization();
  const r = await autocannon({
    url,
    headers,
    connections: CONNECTIONS,
    duration,
    workers: 1,
    ...(pool ? { requests: [{ setupRequest: SETUP }] } : {}),
  });
  if (pool)
    used.set(pool, (used.get(pool) ?? 0) + r.requests.total + r.errors + r.timeouts + CONNECTIONS * 2);
  // The client runs in autocannon's worker thread: the main loop's busy time is the server's.
  const busy = performance.eventLoopUtilization(elu);
  return {
    requestsPerSec: r.requests.average,
    serverUsPerRequest: (busy.active * 1000) / Math.max(1, r.requests.total),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests: r.requests.total,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

async function main(): Promise<void> {
  configure({ logger: silentLogger });
  const { ids, trust } = workloads(3, 'spiffe://bench.kest/svc');
  const cache = new MemoryCacheProvider();
  const manager = new BaggageManager();
  const headersAt = new Map<number, { baggage: string; tier: string; passport: Passport }>();
  const AUD = 'spiffe://bench.kest/callee';
  const POOL = arg('handoffs', 200_000);
  for (const depth of DEPTHS) {
    const passport = await buildPassport(
      Array.from({ length: depth }, (_, i) => ({ identity: ids[i % 2]! })),
    );
    const baggage = serializeBaggage(await manager.store(passport, cache));
    headersAt.set(depth, { baggage, tier: passportTier(parseBaggageMembers(baggage)) ?? 'none', passport });
  }
  /** Single-use handoffs signed just before a run (they expire; the caller's cost is measured apart). */
  const freshPool = async (
    depth: number,
    baggage: string,
    passport: Passport,
    n: number,
    name = 'fresh',
  ): Promise<string> => {
    const pool = join(tmpdir(), `kest-bench-handoffs-${process.pid}-${depth}-${name}.json`);
    const handoffs = await signPool(ids[(depth - 1) % 2]!, passport, AUD, n);
    writeFileSync(pool, JSON.stringify(handoffs.map((h) => `${baggage},kest.handoff=${h}`)));
    used.delete(pool);
    return pool;
  };
  const engine = MockPolicyEngine.allowAll();
  const protectedRoute = kestVerified(() => ({ ok: true }), {
    policy: 'bench',
    engine,
    identity: ids[2]!,
    operation: 'bench.route',
  });

  const rows: ResultRow[] = [];
  const ratios: Record<string, unknown>[] = [];
  console.log(
    `node ${process.version}, ${cpus().length} CPU(s), load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, autocannon ${CONNECTIONS} connections, ${DURATION} s per run (shared, noisy machine)`,
  );
  const rps = (n: number) => String(Math.round(n)).padStart(6);
  for (const framework of FRAMEWORKS.filter((f) => !ONLY || ONLY.includes(f)) as Framework[]) {
    const bare = await startService({ framework, path: '/r', kest: false, handler: () => ({ ok: true }) });
    // Ingress only: the lineage interceptor in front of a plain handler (handoffs not required).
    const ingress = await startService({
      framework,
      path: '/r',
      kest: { trust, cache, handoff: { required: false } },
      handler: () => ({ ok: true }),
    });
    // Ingress with the handoff check (default on): verify + one memory-store claim per request.
    const handoff = await startService({
      framework,
      path: '/r',
      kest: { trust, cache, handoff: { audience: [AUD] } },
      handler: () => ({ ok: true }),
    });
    // Full: the interceptor plus a kestVerified route (a signed entry per request).
    const full = await startService({
      framework,
      path: '/r',
      kest: { trust, cache, handoff: { required: false } },
      handler: () => protectedRoute(),
    });
    try {
      for (const depth of DEPTHS) {
        const { baggage, tier, passport } = headersAt.get(depth)!;
        const headers = { baggage };
        const runs: Run[] = [];
        // Every variant gets the same requests: passport + a handoff per request (the client does the
        // same work for each; only the handoff service checks them). The other services may see a
        // handoff twice (the pool wraps): they do not check it.
        const shared = await freshPool(depth, baggage, passport, 20_000, 'shared');
        for (const svc of [bare, ingress, full, handoff]) {
          // Enough handoffs for the run: never more requests than bare served, plus a margin.
          const bareRps = runs[0]?.requestsPerSec ?? 0;
          const n = Math.min(POOL, Math.ceil(bareRps * (DURATION + WARMUP) * 1.3) + 2000);
          const p = svc === handoff ? await freshPool(depth, baggage, passport, n) : shared;
          await load(svc.url, headers, WARMUP, p); // JIT, connections, the verified-tip cache
          const r = await load(svc.url, headers, DURATION, p);
          if (r.non2xx > 0 || r.errors > 0) {
            throw new Error(`${framework} depth ${depth}: ${r.non2xx} non-2xx, ${r.errors} errors`);
          }
          runs.push(r);
        }
        const [b, i, f, h] = runs as [Run, Run, Run, Run];
        const ingressRatio = i.requestsPerSec / b.requestsPerSec;
        const fullRatio = f.requestsPerSec / b.requestsPerSec;
        const handoffRatio = h.requestsPerSec / b.requestsPerSec;
        (['bare', 'ingress', 'full', 'handoff'] as const).forEach((variant, n) => {
          const r = runs[n] as Run;
          // Latency per request (autocannon's histogram); samples = requests measured.
          rows.push({
            name: `${framework} depth ${depth} ${variant}`,
            unit: 'ms',
            median: r.p50Ms,
            p99: r.p99Ms,
            samples: r.requests,
            requests_per_s: Math.round(r.requestsPerSec),
            server_us_per_request: +r.serverUsPerRequest.toFixed(1),
            framework,
            depth,
            variant,
            tier,
            header_bytes: baggage.length,
          });
        });
        ratios.push({
          framework,
          depth,
          ingressRatio: Number(ingressRatio.toFixed(3)),
          fullRatio: Number(fullRatio.toFixed(3)),
          handoffRatio: Number(handoffRatio.toFixed(3)),
          // Server CPU per request, bare over each variant: the ratio with the load generator off the box.
          serverHandoffRatio: Number((b.serverUsPerRequest / h.serverUsPerRequest).toFixed(3)),
          serverIngressRatio: Number((b.serverUsPerRequest / i.serverUsPerRequest).toFixed(3)),
          serverUs: runs.map((r) => +r.serverUsPerRequest.toFixed(1)),
        });
        console.log(
          `${framework.padEnd(8)} depth ${String(depth).padStart(2)} (${tier.padEnd(10)}) bare ${rps(b.requestsPerSec)}  ingress ${rps(i.requestsPerSec)} (${(ingressRatio * 100).toFixed(0).padStart(3)} %)  full ${rps(f.requestsPerSec)} (${(fullRatio * 100).toFixed(0).padStart(3)} %)  handoff ${rps(h.requestsPerSec)} (${(handoffRatio * 100).toFixed(0).padStart(3)} %)  req/s`,
        );
        console.log(
          `${''.padEnd(8)} server µs/request: bare ${b.serverUsPerRequest.toFixed(1)}  ingress ${i.serverUsPerRequest.toFixed(1)}  full ${f.serverUsPerRequest.toFixed(1)}  handoff ${h.serverUsPerRequest.toFixed(1)} (bare/handoff ${((b.serverUsPerRequest / h.serverUsPerRequest) * 100).toFixed(0)} %)`,
        );
      }
    } finally {
      await Promise.all([bare.close(), ingress.close(), full.close(), handoff.close()]);
    }
  }
  console.table(ratios);
  const micro = await handoffMicrobenchmarks(ids[1]!, trust, AUD);
  rows.push(...micro);
  for (const m of micro)
    console.log(`${m.name.padEnd(44)} median ${m.median} ${m.unit}  p99 ${m.p99} ${m.unit}`);
  writeResults('http', rows, {
    load: { tool: 'autocannon', connections: CONNECTIONS, durationSeconds: DURATION, workers: 1 },
    variants: {
      bare: 'the framework alone, same request headers (passport + a per-request handoff, from the same client code)',
      ingress:
        'lineage interceptor: strict baggage parse, restore (parse cache), chain tip, verify (tip cache)',
      full: 'ingress + kestVerified route: build + sign an Ed25519 entry, one MockPolicyEngine decision',
      handoff:
        'ingress with the handoff check (the default): + verify one Ed25519 handoff, one in-memory replay-store claim; a fresh pre-signed handoff per request',
    },
    target:
      'kest >= 60 % of bare requests/s at depth 10 (with the verified-tip cache); ingress with handoff >= 60 % of bare at depth 10 on Express and Hono',
    loadAverage: loadavg(),
    ratios,
  });
  await cache.close();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
