/**
 * Audit (issue 7): `kest audit` logic — read a JSON-lines span file, group by trace, order by hash
 * links, verify — on 10,000 spans from 1,000 traces of depth 10, beside the rate at which bare
 * node:crypto verifies the same Ed25519 signatures on one core. Target: ≥ 70 % of the bare rate.
 *
 *   npx tsx bench/audit.bench.ts
 *
 * Spans are shaped like the hook's: kest.signature, kest.parent_hash, kest.entry_id, ... and a
 * kest.passport attribute holding the passport up to the span's own entry (average 5.5 entries).
 * KEST_BENCH_SPANS=lean leaves kest.passport out, as the hook's spans are by default (the copy is
 * opt-in: passportInSpans), and writes bench/results/audit-lean.json.
 * Three tasks per round — bare verify, the audit as `kest audit` runs it (worker threads), the audit
 * with workers: 0 — alternating over BENCH_ITER rounds (default 5) so that other load on the
 * machine falls on all alike; the ratio is the median of the per-round ratios. Peak memory and a
 * cold run (worker start-up included) come from fresh child processes that only audit the file
 * (maxRSS from process.resourceUsage(), peak main-thread heap sampled). Writes
 * bench/results/audit.json.
 */
import { spawnSync } from 'node:child_process';
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Bench } from 'tinybench';
import { auditFile, summarizeReports } from '../src/audit/index.js';
import { workerBudget } from '../src/audit/pool.js';
import { buildEntry } from '../src/entry/build.js';
import { parseSignedEntry } from '../src/entry/signed.js';
import { MockIdentityProvider } from '../src/identity/mock.js';
import { JwksTrustSource } from '../src/keys/jwks.js';
import { canonicalize } from '../src/wire/canonical.js';
import { ed25519Backend, ed25519Verify } from '../src/wire/ed25519.js';
import { entryHash } from '../src/wire/hash.js';
import { quantile, type ResultRow, samplesRow, writeResults } from './result.js';

const TRACES = 1000;
const DEPTH = 10;

if (process.argv[2] === '--child') {
  // Fresh-process probe, as `kest audit` runs: audit the file once (workers started, file read,
  // traces verified, workers stopped). maxRSS counts every thread of the process.
  const [file, jwksPath, workers] = process.argv.slice(3) as [string, string, string];
  let peakHeap = 0;
  const timer = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 5);
  const t0 = performance.now();
  const reports = await auditFile(file, {
    trust: JwksTrustSource.fromFile(jwksPath),
    ...(workers === 'auto' ? {} : { workers: Number(workers) }),
  });
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

const LEAN = process.env.KEST_BENCH_SPANS === 'lean';
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
          ...(LEAN ? {} : { 'kest.passport': JSON.stringify(chain) }),
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
// The 95 MiB of generated lines are garbage from here on: do not make the audit's GC walk them.
lines.length = 0;
interleaved.length = 0;
const fileBytes = statSync(file).size;
const SPANS = TRACES * DEPTH;
console.log(`span file: ${(fileBytes / 1024 / 1024).toFixed(1)} MiB`);

const trust = new JwksTrustSource(jwks);
const ROUNDS = Number(process.env.BENCH_ITER ?? 5);
const TASKS = {
  bare: `bare node:crypto Ed25519 verify ×${SPANS} (one core)`,
  audit: `kest audit (read + group + order + verify, default: workers) ×${SPANS} spans`,
  inProcess: `kest audit in-process (workers: 0) ×${SPANS} spans`,
  // The primitive Kest verifies with (libsodium when installed): the audit's cost over its own crypto.
  backend: `bare ${ed25519Backend()} Ed25519 verify ×${SPANS} (one core, Kest's backend)`,
};
const workersUsed = workerBudget({ trust });
async function auditTask(workers?: number) {
  const reports = await auditFile(file, { trust, ...(workers === undefined ? {} : { workers }) });
  if (reports.length !== TRACES || !reports.every((r) => r.status === 'verified'))
    throw new Error('audit failed');
}
// Each audit starts from a collected heap, as a `kest audit` process does: without this the
// previous task's garbage (and the generator's 300 MiB) is collected during the next measurement,
// by GC threads that take the core a worker thread would use.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const collect = () => gc();
/**
 * One round: each task once, back to back. Rounds alternate the tasks so that load from other
 * users of the machine falls on all of them alike; the ratio is taken per round.
 */
function round(warmup: boolean): Bench {
  const b = new Bench({ iterations: 1, warmupIterations: warmup ? 1 : 0, time: 0, warmupTime: 0 });
  b.add(
    TASKS.bare,
    () => {
      for (const s of signed)
        if (!cryptoVerify(null, s.input, s.key, s.sig)) throw new Error('bad signature');
    },
    { beforeEach: collect },
  );
  // async functions: tinybench calls any other function once, unawaited, to see if it is async.
  b.add(TASKS.audit, async () => auditTask(), { beforeEach: collect });
  b.add(TASKS.inProcess, async () => auditTask(0), { beforeEach: collect });
  b.add(
    TASKS.backend,
    () => {
      for (const s of signed) if (!ed25519Verify(s.input, s.key, s.sig)) throw new Error('bad signature');
    },
    { beforeEach: collect },
  );
  return b;
}
const samples = new Map<string, number[]>(Object.values(TASKS).map((t) => [t, []]));
for (let r = 0; r < ROUNDS; r++) {
  const b = round(r === 0);
  await b.run();
  for (const t of b.tasks) {
    const lat = (t.result as unknown as { latency: { mean: number } }).latency.mean;
    samples.get(t.name)?.push(lat);
  }
}

const rows = [...samples].map(([task, ms]) =>
  samplesRow(task, ms, 'ms', {
    items_per_s: Math.round(SPANS / (quantile(ms, 0.5) / 1000)),
    rounds_ms: ms, // one measurement per round: the per-round ratios below pair them
  }),
);
console.table(
  rows.map((r) => ({
    task: r.name,
    'median ms': r.median.toFixed(1),
    'p99 ms': r.p99.toFixed(1),
    'items/s (median)': r.items_per_s,
  })),
);
const [bareRow, auditRow, inProcessRow, backendRow] = rows as [ResultRow, ResultRow, ResultRow, ResultRow];
const rounds = (row: ResultRow) => samples.get(row.name) as number[];
const perRound = (row: ResultRow) => rounds(row).map((ms, i) => (rounds(bareRow)[i] as number) / ms);
const ratio = quantile(perRound(auditRow), 0.5);
const ratioInProcess = quantile(perRound(inProcessRow), 0.5);
const perRoundVsBackend = (row: ResultRow) =>
  rounds(row).map((ms, i) => (rounds(backendRow)[i] as number) / ms);
const ratioVsBackend = quantile(perRoundVsBackend(auditRow), 0.5);
const ratioInProcessVsBackend = quantile(perRoundVsBackend(inProcessRow), 0.5);

const probe = (workers: string) => {
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--child', file, jwksPath, workers],
    { encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`memory probe failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as {
    ms: number;
    verified: number;
    traces: number;
    entries: number;
    maxRssKiB: number;
    peakHeapBytes: number;
  };
};
const fresh = probe('auto');
const freshInProcess = probe('0');

console.log(
  `\naudit (${workersUsed} workers): ${auditRow.items_per_s} spans/s vs bare Ed25519 verify ${bareRow.items_per_s}/s on one core = ${(ratio * 100).toFixed(0)} % (median of per-round ratios; target ≥ 70 %)`,
);
console.log(
  `audit in-process: ${inProcessRow.items_per_s} spans/s = ${(ratioInProcess * 100).toFixed(0)} % of bare`,
);
console.log(
  `against Kest's own ${ed25519Backend()} verify (${backendRow.items_per_s}/s on one core): audit ${(ratioVsBackend * 100).toFixed(0)} %, in-process ${(ratioInProcessVsBackend * 100).toFixed(0)} %`,
);
for (const [name, p] of [
  ['workers', fresh],
  ['in-process', freshInProcess],
] as const) {
  console.log(
    `fresh process (${name}): ${p.verified}/${p.traces} traces verified in ${p.ms.toFixed(0)} ms (${Math.round(SPANS / (p.ms / 1000))} spans/s, worker start-up included), peak RSS ${(p.maxRssKiB / 1024).toFixed(0)} MiB, peak main heap ${(p.peakHeapBytes / 1024 / 1024).toFixed(0)} MiB`,
  );
}

writeResults(LEAN ? 'audit-lean' : 'audit', rows, {
  spans: LEAN ? 'lean (no kest.passport)' : 'with kest.passport copies',
  note: 'shared 2-core machine (other engineers run builds and benchmarks on it): noisy. Rounds alternate bare node:crypto / audit / audit in-process / bare backend verify; ratio = median of per-round ratios; memory from fresh child processes (maxRSS counts worker threads).',
  workload: { traces: TRACES, depth: DEPTH, spans: SPANS, fileBytes },
  workers: workersUsed,
  spansPerSecond: auditRow.items_per_s,
  spansPerSecondInProcess: inProcessRow.items_per_s,
  bareEd25519VerifyPerSecond: bareRow.items_per_s,
  ratioToBare: Number(ratio.toFixed(3)),
  ratioToBareInProcess: Number(ratioInProcess.toFixed(3)),
  ed25519Backend: ed25519Backend(),
  backendEd25519VerifyPerSecond: backendRow.items_per_s,
  ratioToBackend: Number(ratioVsBackend.toFixed(3)),
  ratioToBackendInProcess: Number(ratioInProcessVsBackend.toFixed(3)),
  target: 0.7,
  freshProcess: {
    workers: {
      auditMs: fresh.ms,
      spansPerSecond: Math.round(SPANS / (fresh.ms / 1000)),
      maxRssBytes: fresh.maxRssKiB * 1024,
      peakHeapBytes: fresh.peakHeapBytes,
    },
    inProcess: {
      auditMs: freshInProcess.ms,
      spansPerSecond: Math.round(SPANS / (freshInProcess.ms / 1000)),
      maxRssBytes: freshInProcess.maxRssKiB * 1024,
      peakHeapBytes: freshInProcess.peakHeapBytes,
    },
  },
});
if (!process.env.KEEP_BENCH_FILE) rmSync(dir, { recursive: true, force: true });
else console.log(`kept ${file} ${jwksPath}`);
