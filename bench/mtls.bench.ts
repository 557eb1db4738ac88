/**
 * SPIFFE mutual TLS (issue 12): cost of a new connection (handshake included) and keep-alive
 * throughput, over plain HTTP vs standard TLS (server-authenticated, chain checked by OpenSSL) vs
 * SPIFFE mTLS (SpiffeTlsServer + spiffeUndiciAgent, SVIDs from a real dev agent), per server:
 * node:https, Express, Fastify, Hono's node server.
 *
 *   npx tsx bench/mtls.bench.ts
 *
 * Client: undici `request`, in the same process as the server (one 2-core machine, shared).
 * "new connection": 100 sequential requests, each on a fresh connection (`reset: true`), no TLS
 * session resumption on either TLS side (SPIFFE mTLS disables it by design; the TLS client here
 * keeps no sessions either, so both do full handshakes). "keep-alive": 16 requests in flight over
 * a pool of 8 connections for 1 s. Three interleaved rounds; medians. Writes bench/results/mtls.json.
 */
import { rmSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { Agent, type Dispatcher, request } from 'undici';
import { authorizeID, DevAgent, derToPem, SpiffeTlsServer, X509Source } from '../src/spiffe/index.js';
import { spiffeUndiciAgent } from '../src/spiffe/undici.js';
import { type ResultRow, samplesRow, writeResults } from './result.js';

type Transport = 'http' | 'tls' | 'mtls';
const ROUNDS = 3;
type Framework = 'node' | 'express' | 'fastify' | 'hono';

const dir = join(tmpdir(), `kest-mtls-bench-${process.pid}`);
const agent = await DevAgent.start({
  trustDomain: 'example.org',
  socket: join(dir, 'agent.sock'),
  workloads: ['/server', '/client'],
  rotateAt: 0,
});
const serverSource = await X509Source.create({
  address: agent.address,
  spiffeId: 'spiffe://example.org/server',
});
const clientSource = await X509Source.create({
  address: agent.address,
  spiffeId: 'spiffe://example.org/client',
});
const mtls = new SpiffeTlsServer(serverSource, { authorize: authorizeID('spiffe://example.org/client') });
const svid = serverSource.getX509SVID();
const standardTls = {
  key: svid.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  cert: svid.certificates.map((c) => derToPem(c.der)).join(''),
};
const caPem = agent.bundle().toPem();

/** Where the framework lets us choose the server, build it for the transport. */
function nodeServer(transport: Transport, handler: RequestListener): Server {
  if (transport === 'http') return createHttpServer(handler);
  if (transport === 'tls') return createHttpsServer(standardTls, handler);
  return mtls.createServer(handler);
}

async function startServer(
  framework: Framework,
  transport: Transport,
): Promise<{ url: string; close: () => Promise<void> }> {
  let server: Server;
  if (framework === 'fastify') {
    const https = transport === 'http' ? undefined : transport === 'tls' ? standardTls : mtls.tlsOptions();
    const app = Fastify((https ? { https } : {}) as never) as ReturnType<typeof Fastify>;
    if (transport === 'mtls') mtls.attach(app.server as never);
    app.get('/', async () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    server = app.server;
  } else if (framework === 'hono') {
    const app = new Hono();
    app.get('/', (c) => c.text('ok'));
    server = serve({
      fetch: app.fetch,
      port: 0,
      hostname: '127.0.0.1',
      createServer: ((_opts: object, h: RequestListener) => nodeServer(transport, h)) as never,
    }) as unknown as Server;
    await new Promise((r) => (server.listening ? r(undefined) : server.once('listening', r)));
  } else {
    const handler: RequestListener =
      framework === 'express'
        ? (express().get('/', (_q, r) => r.send('ok')) as unknown as RequestListener)
        : (_q, r) => r.end('ok');
    server = nodeServer(transport, handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  }
  const { port } = server.address() as AddressInfo;
  return {
    url: `${transport === 'http' ? 'http' : 'https'}://127.0.0.1:${port}/`,
    close: () => {
      (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

function clientFor(transport: Transport): Dispatcher {
  const pool = { connections: 8 };
  if (transport === 'http') return new Agent(pool);
  if (transport === 'tls') {
    // Chain checked against the CA; the SVID has no DNS/IP SAN, so no hostname check here either.
    return new Agent({
      ...pool,
      connect: { ca: caPem, maxCachedSessions: 0, checkServerIdentity: () => undefined },
    });
  }
  return spiffeUndiciAgent(clientSource, {
    authorize: authorizeID('spiffe://example.org/server'),
    agent: pool,
  });
}

async function get(url: string, dispatcher: Dispatcher, reset = false): Promise<void> {
  const res = await request(url, { dispatcher, reset });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
}

async function newConnectionMs(url: string, dispatcher: Dispatcher, n = 100): Promise<number> {
  for (let i = 0; i < 10; i++) await get(url, dispatcher, true);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await get(url, dispatcher, true);
  return (performance.now() - t0) / n;
}

async function keepAliveRps(url: string, dispatcher: Dispatcher, ms = 1000, inFlight = 16): Promise<number> {
  await Promise.all(Array.from({ length: inFlight }, () => get(url, dispatcher)));
  let done = 0;
  const end = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await get(url, dispatcher);
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const samples = new Map<string, { connMs: number[]; rps: number[] }>();
// Rounds interleave every configuration, and the median is reported, so a burst of load from
// other processes does not land on one configuration only.
for (let round = 0; round < ROUNDS; round++) {
  for (const framework of ['node', 'express', 'fastify', 'hono'] as const) {
    for (const transport of ['http', 'tls', 'mtls'] as const) {
      const server = await startServer(framework, transport);
      const dispatcher = clientFor(transport);
      const name = `${framework} ${transport}`;
      const s = samples.get(name) ?? { connMs: [], rps: [] };
      s.connMs.push(await newConnectionMs(server.url, dispatcher));
      s.rps.push(await keepAliveRps(server.url, dispatcher));
      samples.set(name, s);
      await dispatcher.close();
      await server.close();
    }
  }
}
// One row per configuration: latency of a new connection + first request (ms) over the rounds,
// and the median keep-alive throughput.
const rows: ResultRow[] = [...samples].map(([name, s]) =>
  samplesRow(name, s.connMs, 'ms', { requests_per_s: Math.round(median(s.rps)) }),
);
console.table(rows);

await clientSource.close();
await serverSource.close();
await agent.stop();
rmSync(dir, { recursive: true, force: true });

writeResults('mtls', rows, {
  measured: 'median/p99 = new connection + one request (ms), requests_per_s = keep-alive req/s (median)',
  rounds: ROUNDS,
});
