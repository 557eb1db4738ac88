/**
 * Audit (issue 7): `kest audit` logic — read a JSON-lines span file, group by trace, order by hash
 * links, verify — on 10,000 spans from 1,000 traces of depth 10, beside the rate at which bare
 * node:crypto verifies the same Ed25519 signatures on one core. Target: ≥ 70 % of the bare rate.
 *
 *   npx tsx bench/audit.bench.ts
 *
 * Spans are shaped like the hook's: kest.signature, kest.parent_hash, kest.entry_id, ... and a
 * kest.passport attribute holding the passport up to the span's own entry (average 5.5 entries).
 * Peak memory is measured in a fresh child process that only audits the file (maxRSS from
 * process.resourceUsage(), peak heap sampled). Writes bench/results/audit.json.
 */
import { spawnSync } from 'node:child_process';
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { auditFile, summarizeReports } from '../src/audit/index.js';
import { buildEntry } from '../src/entry/build.js';
import { parseSignedEntry } from '../src/entry/signed.js';
import { MockIdentityProvider } from '../src/identity/mock.js';
import { JwksTrustSource } from '../src/keys/jwks.js';
import { canonicalize } from '../src/wire/canonical.js';
import { entryHash } from '../src/wire/hash.js';

const TRACES = 1000;
const DEPTH = 10;

if (process.argv[2] === '--child') {
  // Peak-memory probe: audit the file once in a fresh process.
  const [file, jwksPath] = process.argv.slice(3) as [string, string];
  let peakHeap = 0;
  const timer = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 5);
  const t0 = performance.now();
  const reports = await auditFile(file, { trust: JwksTrustSource.fromFile(jwksPath) });
  const ms = performance.now() - t0;
  clearInterval(timer);
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  const s = summarizeReports(reports);
  process.stdout.write(
    JSON.stringify({
      ms,
      verified: s.verified,
      traces: s.traces,
      entries: s.entries,
      maxRssKiB: process.resourceUsage().maxRSS,
      peakHeapBytes: peakHeap,
    }),
  );
  process.exit(0);
}

const ids = Array.from(
  { length: DEPTH },
  (_, i) => new MockIdentityProvider({ workloadId: `spiffe://bench.kest/svc${i}` }),
);
const jwks = { keys: ids.flatMap((id) => id.getPublicJwks().keys) };
const keys: KeyObject[] = ids.map((id) =>
  createPublicKey({
    key: id.getPublicJwks().keys[0] as object as import('node:crypto').JsonWebKey,
    format: 'jwk',
  }),
);

const dir = mkdtempSync(join(tmpdir(), 'kest-audit-bench-'));
const file = join(dir, 'spans.jsonl');
const jwksPath = join(dir, 'jwks.json');
writeFileSync(jwksPath, JSON.stringify(jwks));

console.log(`generating ${TRACES * DEPTH} spans (${TRACES} traces × depth ${DEPTH}) ...`);
const signed: { input: Buffer; sig: Buffer; key: KeyObject }[] = [];
const lines: string[] = [];
for (let t = 0; t < TRACES; t++) {
  const traceId = t.toString(16).padStart(32, '0');
  const chain: string[] = [];
  let parentSpan: string | null = null;
  for (let d = 0; d < DEPTH; d++) {
    const parent = chain.length > 0 ? entryHash(chain[chain.length - 1] as string) : undefined;
    const payload = buildEntry({
      operation: `svc${d}.handle`,
      principal: ids[d]!.getWorkloadId(),
      traceId,
      trustScore: 100,
      parentIds: parent ? [parent] : undefined,
      labels: {
        'kest.identity': JSON.stringify({ user: 'alice', agent: 'agent-7', task: 'checkout' }),
        'kest.resource_attr': JSON.stringify({ tenant: 'acme', region: 'eu' }),
        'kest.source_type': 'internal',
      },
      policyContext: {
        enterprise_policies: ['ent.baseline'],
        platform_policies: ['platform.mtls'],
        app_policies: [],
        function_policies: [`svc${d}.allow`],
        deviations: [],
      },
      inputHash: entryHash(`input ${t} ${d}`),
    });
    const jws = ids[d]!.sign(Buffer.from(canonicalize(payload)));
    chain.push(jws);
    const e = parseSignedEntry(jws);
    signed.push({
      input: Buffer.from(e.signingInput, 'latin1'),
      sig: e.signature,
      key: keys[d] as KeyObject,
    });
    const spanId = (t * DEPTH + d + 1).toString(16).padStart(16, '0');
    lines.push(
      JSON.stringify({
        traceId,
        spanId,
        parentSpanId: parentSpan,
        name: `kest.verified.svc${d}.handle`,
        kind: 'INTERNAL',
        startTimeUnixNano: String(1_700_000_000_000_000_000n + BigInt(t * 1000 + d)),
        endTimeUnixNano: String(1_700_000_000_000_000_000n + BigInt(t * 1000 + d + 500)),
        status: { code: 'UNSET' },
        attributes: {
          'kest.operation': `svc${d}.handle`,
          'kest.entry_id': payload.entry_id,
          'kest.workload_id': ids[d]!.getWorkloadId(),
          'kest.parent_hash': parent ?? '0',
          'kest.signature': jws,
          'kest.trust_score': 100,
          'kest.passport': JSON.stringify(chain),
        },
        resource: { 'service.name': `svc${d}` },
        scope: { name: 'kest.core' },
      }),
    );
    parentSpan = spanId;
  }
}
// Interleave traces as concurrent traffic would: round-robin by depth.
const interleaved: string[] = [];
for (let d = 0; d < DEPTH; d++)
  for (let t = 0; t < TRACES; t++) interleaved.push(lines[t * DEPTH + d] as string);
writeFileSync(file, `${interleaved.join('\n')}\n`);
const fileBytes = statSync(file).size;
const SPANS = TRACES * DEPTH;
console.log(`span file: ${(fileBytes / 1024 / 1024).toFixed(1)} MiB`);

const trust = new JwksTrustSource(jwks);
const bench = new Bench({
  iterations: Number(process.env.BENCH_ITER ?? 5),
  warmupIterations: 1,
  time: 0,
  warmupTime: 0,
});
bench.add(`bare node:crypto Ed25519 verify ×${SPANS}`, () => {
  for (const s of signed) if (!cryptoVerify(null, s.input, s.key, s.sig)) throw new Error('bad signature');
});
bench.add(`kest audit (read + group + order + verify) ×${SPANS} spans`, async () => {
  const reports = await auditFile(file, { trust });
  if (reports.length !== TRACES || !reports.every((r) => r.status === 'verified'))
    throw new Error('audit failed');
});
await bench.run();

interface Row {
  task: string;
  median_ms: number;
  p99_ms: number;
  mean_ms: number;
  ops_per_s: number;
  items_per_s: number;
  samples: number;
}
const rows: Row[] = bench.tasks.map((t) => {
  const r = t.result as unknown as {
    latency: { p50: number; p99: number; mean: number; samples?: number[] };
    throughput: { mean: number };
  };
  return {
    task: t.name,
    median_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    mean_ms: r.latency.mean,
    ops_per_s: r.throughput.mean,
    items_per_s: SPANS / (r.latency.p50 / 1000),
    samples: r.latency.samples?.length ?? 0,
  };
});
console.table(
  rows.map((r) => ({
    task: r.task,
    'median ms': r.median_ms.toFixed(1),
    'p99 ms': r.p99_ms.toFixed(1),
    'ops/s': r.ops_per_s.toFixed(2),
    'items/s (median)': Math.round(r.items_per_s),
  })),
);

const child = spawnSync(
  process.execPath,
  [...process.execArgv, fileURLToPath(import.meta.url), '--child', file, jwksPath],
  {
    encoding: 'utf8',
  },
);
if (child.status !== 0) throw new Error(`memory probe failed: ${child.stderr}`);
const probe = JSON.parse(child.stdout) as {
  ms: number;
  verified: number;
  traces: number;
  entries: number;
  maxRssKiB: number;
  peakHeapBytes: number;
};

const bare = rows[0] as Row;
const audit = rows[1] as Row;
const ratio = audit.items_per_s / bare.items_per_s;
console.log(
  `\naudit: ${Math.round(audit.items_per_s)} spans/s vs bare Ed25519 verify ${Math.round(bare.items_per_s)}/s on one core = ${(ratio * 100).toFixed(0)} % (target ≥ 70 %)`,
);
console.log(
  `fresh process: ${probe.verified}/${probe.traces} traces verified in ${probe.ms.toFixed(0)} ms, peak RSS ${(probe.maxRssKiB / 1024).toFixed(0)} MiB, peak heap ${(probe.peakHeapBytes / 1024 / 1024).toFixed(0)} MiB`,
);

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/audit.json', import.meta.url),
  `${JSON.stringify(
    {
      bench: 'audit',
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      note: 'shared 2-core machine: noisy. items/s from the median of 5 runs; memory from a fresh child process.',
      workload: { traces: TRACES, depth: DEPTH, spans: SPANS, fileBytes },
      results: rows,
      spansPerSecond: Math.round(audit.items_per_s),
      bareEd25519VerifyPerSecond: Math.round(bare.items_per_s),
      ratioToBare: Number(ratio.toFixed(3)),
      target: 0.7,
      memory: { maxRssBytes: probe.maxRssKiB * 1024, peakHeapBytes: probe.peakHeapBytes, auditMs: probe.ms },
    },
    null,
    2,
  )}\n`,
);
if (!process.env.KEEP_BENCH_FILE) rmSync(dir, { recursive: true, force: true });
else console.log(`kept ${file} ${jwksPath}`);
