/**
 * Cost of refusing hostile baggage (issue 14) against refusing a trivially malformed header and
 * admitting a valid 10-entry passport. The path is what an ingress runs on the `baggage` header:
 * strict parse → BaggageManager.restore (tier, inflate, shape, tip) → PassportVerifier.verify
 * against the chain tip, in process (no HTTP, so the ratios are not diluted by the socket), then
 * the same behind a loopback node:http server (sequential keep-alive requests).
 *
 *   npx tsx bench/refusal.bench.ts
 *
 * Prints a table (median, p99, ratio to the trivial refusal) and writes bench/results/refusal.json.
 */
import { Agent, createServer, get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateSync } from 'node:zlib';
import { Bench } from 'tinybench';
import { PassportVerifier } from '../src/passport/verifier.js';
import { parseBaggageMembers } from '../src/propagation/baggage.js';
import { BaggageManager } from '../src/propagation/manager.js';
import { canonicalize } from '../src/wire/canonical.js';
import { BAGGAGE_KEY } from '../src/wire/constants.js';
import { entryHash } from '../src/wire/hash.js';
import { buildPassport, workloads } from '../test/support/chain.js';
import { type ResultRow, samplesRow, taskRow, writeResults } from './result.js';

const { ids, trust } = workloads(3, 'spiffe://bench.kest/svc');
const rogue = workloads(1, 'spiffe://rogue.kest/svc').ids[0]!;
const valid = await buildPassport(
  Array.from({ length: 10 }, (_, i) => ({
    identity: ids[i % 3]!,
    ...(i === 0 ? { sourceType: 'internal' } : {}),
  })),
);
const manager = new BaggageManager();
const cold = new PassportVerifier({ trust, tipCacheSize: 0 });
const warm = new PassportVerifier({ trust });

async function admit(header: string, verifier = cold): Promise<boolean> {
  try {
    const members = parseBaggageMembers(header);
    const passport = await manager.restore(members);
    await verifier.verify(passport, { expectedTip: members[BAGGAGE_KEY.chainTip] as string });
    return true;
  } catch {
    return false;
  }
}

const tipOf = (list: readonly string[]) => entryHash(list.at(-1) as string);

const z = (json: string, tip: string, extra = Buffer.alloc(0)) =>
  `${BAGGAGE_KEY.passportCompressed}=${Buffer.concat([deflateSync(json, { level: 9 }), extra]).toString('base64url')},${BAGGAGE_KEY.chainTip}=${tip}`;
const inline = (list: readonly string[]) =>
  `${BAGGAGE_KEY.passport}=${encodeURIComponent(JSON.stringify(list))},${BAGGAGE_KEY.chainTip}=${tipOf(list)}`;

const fakeTip = 'a'.repeat(64);
const unanchored = (await buildPassport([{ identity: rogue, sourceType: 'internal' }])).toJSON()[0]!;
const root = (await buildPassport([{ identity: ids[0]!, sourceType: 'internal' }])).entries[0]!;
const nonCanonical = ids[0]!.sign(
  Buffer.from(canonicalize(root.payload).replace('"trust_score":', '"trust_score":100,"trust_score":')),
) as string;
const validZ = deflateSync(valid.serialize(), { level: 1 }).toString('base64url');

const cases: [string, string][] = [
  ['trivial: malformed header', 'kest.passport'],
  [
    'valid 10-entry passport, cold (admitted)',
    `${BAGGAGE_KEY.passportCompressed}=${validZ},${BAGGAGE_KEY.chainTip}=${valid.tipHash}`,
  ],
  ['_z bomb: nested arrays, ~300 B → 200 KB', z('['.repeat(100_000) + ']'.repeat(100_000), fakeTip)],
  ['_z nested arrays under the cap (30 KB)', z('['.repeat(15_000) + ']'.repeat(15_000), fakeTip)],
  ['_z nested objects under the cap', z(`[${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}]`, fakeTip)],
  [
    '_z 250 copies of one unanchored entry',
    z(JSON.stringify(Array(250).fill(unanchored)), tipOf([unanchored])),
  ],
  [
    '_z 25 copies of one unanchored entry (under the cap)',
    z(JSON.stringify(Array(25).fill(unanchored)), tipOf([unanchored])),
  ],
  ['non-canonical payload (duplicate key), validly signed', inline([nonCanonical])],
  ['_z valid passport + trailing bytes', z(valid.serialize(), valid.tipHash as string, Buffer.from('junk'))],
];

for (const [name, header] of cases) {
  const admitted = await admit(header);
  if (admitted !== name.includes('admitted')) throw new Error(`${name}: admitted=${admitted}`);
}

const bench = new Bench({ time: 400, warmupTime: 100 });
for (const [name, header] of cases) bench.add(name, () => admit(header));
bench.add('valid 10-entry passport, warm tip cache (admitted)', () => admit(cases[1]![1], warm));
await bench.run();

const rows = bench.tasks.map((t) => taskRow(t, 'us', { variant: 'in process' }));
const trivial = rows[0]!.median;
const table = rows.map((r) => ({
  case: r.name,
  'median µs': r.median,
  'p99 µs': r.p99,
  '× trivial': (r.median / trivial).toFixed(1),
}));
console.table(table);

// The same admissions behind a loopback HTTP server (node:http, keep-alive client, sequential
// requests): what the issue measured, where a trivial refusal includes the request itself.
const server = createServer((req, res) => {
  admit(String(req.headers.baggage ?? '')).then((ok) => res.writeHead(ok ? 200 : 400).end());
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const request = (baggage: string) =>
  new Promise<void>((resolve, reject) => {
    httpGet(url, { agent, headers: { baggage } }, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
let overHttp: ResultRow[] = [];
// Two passes, the first only to warm up the server and the client; the second is reported.
for (let pass = 0; pass < 2; pass++) overHttp = await measureOverHttp();
async function measureOverHttp() {
  const rows: ResultRow[] = [];
  for (const [name, header] of cases) {
    const samples: number[] = [];
    for (let i = 0; i < 600; i++) {
      const t = performance.now();
      await request(header);
      if (i >= 100) samples.push(performance.now() - t);
    }
    rows.push(samplesRow(`${name} (over HTTP)`, samples, 'us', { variant: 'over HTTP' }));
  }
  return rows;
}
agent.destroy();
server.close();
const httpTrivial = overHttp[0]!.median;
console.table(
  overHttp.map((r) => ({
    'case (over HTTP)': r.name,
    'median µs': r.median,
    '× trivial': (r.median / httpTrivial).toFixed(2),
  })),
);

const ratio = (r: ResultRow, base: number) => ({ ...r, x_trivial: Number((r.median / base).toFixed(2)) });
writeResults(
  'refusal',
  [...rows.map((r) => ratio(r, trivial)), ...overHttp.map((r) => ratio(r, httpTrivial))],
  { target: 'every hostile refusal <= 3x the trivial one (x_trivial), in process and over HTTP' },
);
