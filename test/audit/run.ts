/**
 * A three-hop run through the real hook (kestVerified, nested, inside runWithPassport) with mock
 * identities and an allow-all mock engine: what the audit tests export and rebuild.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { kestVerified, Passport, runWithPassport } from '../../src/index.js';
import { JwksTrustSource } from '../../src/keys/jwks.js';
import { MockPolicyEngine } from '../../src/policy/mock.js';
import type { SpanRecord } from '../../src/telemetry/record.js';
import { MockIdentityProvider } from '../../src/testing/index.js';

export function threeHopWorld() {
  const ids = ['gateway', 'orders', 'ledger'].map(
    (name) => new MockIdentityProvider({ workloadId: `spiffe://audit.test/${name}` }),
  );
  const trust = new JwksTrustSource(...ids.map((id) => id.getPublicJwks()));
  const engine = MockPolicyEngine.allowAll();
  const [gw, orders, ledger] = ids as [MockIdentityProvider, MockIdentityProvider, MockIdentityProvider];

  const record = kestVerified(async (amount: number) => ({ booked: amount }), {
    policy: 'ledger.write',
    operation: 'ledger.record',
    identity: ledger,
    engine,
    sourceType: 'internal',
  });
  const place = kestVerified(async (amount: number) => record(amount), {
    policy: 'orders.place',
    operation: 'orders.place',
    identity: orders,
    engine,
    sourceType: 'third_party_api',
    addedTaints: ['pii'],
  });
  const handle = kestVerified(async (amount: number) => place(amount), {
    policy: 'gateway.ingress',
    operation: 'gateway.handle',
    identity: gw,
    engine,
    sourceType: 'user_input',
  });
  /** One request: three nested hops in a fresh lineage. */
  const run = (amount = 1) => runWithPassport(Passport.empty(), () => handle(amount));
  return { ids, trust, engine, run };
}

/** A minimal OTLP/HTTP receiver on loopback: keeps every JSON body POSTed to /v1/traces. */
export async function startOtlpReceiver(): Promise<{
  url: string;
  bodies: unknown[];
  close(): Promise<void>;
}> {
  const bodies: unknown[] = [];
  const read = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  const server: Server = createServer(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      res.writeHead(404).end();
      return;
    }
    let body = await read(req);
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
    if (!String(req.headers['content-type']).startsWith('application/json')) {
      res.writeHead(415).end();
      return;
    }
    bodies.push(JSON.parse(body.toString('utf8')));
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    bodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function readLines(path: string): SpanRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as SpanRecord);
}

export function writeLines(path: string, records: readonly SpanRecord[]): void {
  writeFileSync(path, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

/** Spans carrying the given passport's entries, one per entry, in one trace (for crafted cases). */
export function spansOfPassport(jws: readonly string[], traceId = 'ab'.repeat(16)): SpanRecord[] {
  return jws.map((s, i) => ({
    traceId,
    spanId: (i + 1).toString(16).padStart(16, '0'),
    parentSpanId: i === 0 ? null : i.toString(16).padStart(16, '0'),
    name: `kest.verified.op${i}`,
    kind: 'INTERNAL',
    startTimeUnixNano: String(1_700_000_000_000_000_000n + BigInt(i)),
    endTimeUnixNano: String(1_700_000_000_000_000_000n + BigInt(i) + 1000n),
    status: { code: 'UNSET' },
    attributes: { 'kest.signature': s, 'kest.operation': `op${i}` },
    resource: { 'service.name': 'crafted' },
    scope: { name: 'kest.core' },
  }));
}
