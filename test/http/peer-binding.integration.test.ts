/**
 * Integration (real SPIFFE mutual TLS on 127.0.0.1, a real dev agent, every adapter): on a request
 * that arrived over mTLS the passport's tip principal must be the peer's SPIFFE ID by default
 * (401 `unbound_passport`), `bindPeer: false` turns it off with a warning, and an inner hop that
 * serves only mTLS refuses plain HTTP. The handler never runs for a refused request.
 */
import { fetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FRAMEWORKS, type Framework, startService } from '../../examples/trusted-chain/servers.js';
import { getCurrentPassport } from '../../src/context/context.js';
import type { KestHttpOptions } from '../../src/http/core.js';
import { KestHttpCore } from '../../src/http/core.js';
import {
  configure,
  JwksTrustSource,
  type KestLogger,
  type Passport,
  resetConfiguration,
  silentLogger,
  UNGUARDED_ROOTS,
} from '../../src/index.js';
import {
  authorizeID,
  authorizeOneOf,
  type KestSpiffeError,
  SpiffeTlsServer,
  type X509Source,
} from '../../src/spiffe/index.js';
import { spiffeUndiciAgent } from '../../src/spiffe/undici.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { type Agents, rawGet, startAgents } from '../spiffe/mtls-fixture.js';
import { buildPassport } from '../support/chain.js';
import { baggageFor } from './helpers.js';

const CLIENT = 'spiffe://example.org/client';
const OTHER = 'spiffe://example.org/other';
const SERVER = 'spiffe://example.org/server';

let agents: Agents;
let clientSource: X509Source;
let otherSource: X509Source;
let mtls: SpiffeTlsServer;
const refusedAtHandshake: KestSpiffeError[] = [];
// Entries signed as the two workloads (mock keys, anchored by a JWKS): what matters here is whose
// name the tip carries, not which key material signed it.
const client = new MockIdentityProvider({ workloadId: CLIENT });
const other = new MockIdentityProvider({ workloadId: OTHER });
const trust = new JwksTrustSource(client.getPublicJwks(), other.getPublicJwks());
let tipClient: Passport;
let tipOther: Passport;

beforeAll(async () => {
  configure({ logger: silentLogger });
  agents = await startAgents();
  const serverSource = await agents.source(agents.example, '/server');
  clientSource = await agents.source(agents.example, '/client');
  otherSource = await agents.source(agents.example, '/other');
  mtls = new SpiffeTlsServer(serverSource, {
    authorize: authorizeOneOf(CLIENT, OTHER),
    onRefused: (err) => refusedAtHandshake.push(err),
  });
  tipClient = await buildPassport([{ identity: other }, { identity: client }]);
  tipOther = await buildPassport([{ identity: client }, { identity: other }]);
});

afterAll(async () => {
  await agents.close();
  resetConfiguration();
});

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** GET over SPIFFE mTLS, presenting the SVID of `source`. */
async function mtlsGet(url: string, source: X509Source, passport?: Passport): Promise<Reply> {
  const dispatcher = spiffeUndiciAgent(source, { authorize: authorizeID(SERVER) });
  try {
    const headers: Record<string, string> = passport ? { baggage: await baggageFor(passport) } : {};
    const res = await fetch(url, { dispatcher, headers });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } finally {
    await dispatcher.close();
  }
}

describe.each(FRAMEWORKS)('passport bound to the mTLS peer through %s', (framework: Framework) => {
  const open: { close(): Promise<void> }[] = [];
  let runs = 0;
  const start = async (kest: KestHttpOptions | KestHttpCore, https = true) => {
    const service = await startService({
      framework,
      path: '/hop',
      kest,
      handler: () => {
        runs++;
        const p = getCurrentPassport();
        return { depth: p.length, tip: p.tip?.payload.labels.principal ?? null };
      },
      ...(https ? { https: (listener) => mtls.createServer(listener) } : {}),
    });
    open.push(service);
    return service.url;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
    runs = 0;
    refusedAtHandshake.length = 0;
  });

  it('tip = peer → admitted; tip ≠ peer → 401 unbound_passport before the handler', async () => {
    const url = await start({ trust });
    expect(url.startsWith('https://')).toBe(true);
    expect(await mtlsGet(url, clientSource, tipClient)).toEqual({
      status: 200,
      body: { depth: 2, tip: CLIENT },
    });
    expect(runs).toBe(1);

    // /client presents a passport whose tip is /other's: a captured passport, refused.
    const stolen = await mtlsGet(url, clientSource, tipOther);
    expect(stolen.status).toBe(401);
    expect(stolen.body).toMatchObject({
      error: 'ERR_VERIFICATION_FAILED',
      reason: 'unbound_passport',
      index: 1,
      entry_id: tipOther.tip!.payload.entry_id,
    });
    expect(String(stolen.body.message)).toContain(`mutual TLS peer ${CLIENT}`);
    // The same passport from its own tip's workload is admitted.
    expect((await mtlsGet(url, otherSource, tipOther)).status).toBe(200);
    expect(runs).toBe(2);
  });

  it('a first-hop request (no passport) over mTLS is admitted: nothing to bind', async () => {
    const url = await start({ trust });
    expect(await mtlsGet(url, clientSource)).toEqual({ status: 200, body: { depth: 0, tip: null } });
  });

  it('bindPeer: false admits any tip and logs one warning when the adapter is created', async () => {
    const warnings: Record<string, unknown>[] = [];
    const logger: KestLogger = { ...silentLogger, warn: (record) => warnings.push(record) };
    const core = new KestHttpCore({ trust, bindPeer: false, logger, roots: UNGUARDED_ROOTS });
    expect(warnings).toEqual([{ option: 'bindPeer' }]);
    const url = await start(core);
    expect(await mtlsGet(url, clientSource, tipOther)).toEqual({
      status: 200,
      body: { depth: 2, tip: OTHER },
    });
    expect(warnings).toHaveLength(1);
  });

  it('an mTLS-only hop refuses plain HTTP and a TLS client without a certificate', async () => {
    const url = await start({ trust });
    const plain = url.replace('https://', 'http://');
    await expect(fetch(plain, { headers: { baggage: await baggageFor(tipClient) } })).rejects.toThrow();
    await expect(rawGet(url)).rejects.toThrow();
    expect(refusedAtHandshake.map((e) => e.reason)).toEqual([
      'missing_peer_certificate',
      'missing_peer_certificate',
    ]);
    expect(runs).toBe(0);
  });

  it('over plain HTTP there is no SPIFFE peer: the binding does not apply', async () => {
    const url = await start({ trust }, false);
    const res = await fetch(url, { headers: { baggage: await baggageFor(tipOther) } });
    expect(res.status).toBe(200);
  });
});

describe('bindPeer option', () => {
  it('must be a boolean', () => {
    expect(() => new KestHttpCore({ bindPeer: 'no' as never })).toThrow(/bindPeer must be true or false/);
  });

  it('is on by default: nothing logged', () => {
    const warnings: unknown[] = [];
    new KestHttpCore({
      trust,
      roots: UNGUARDED_ROOTS,
      logger: { ...silentLogger, warn: (r) => warnings.push(r) },
    });
    expect(warnings).toEqual([]);
  });
});
