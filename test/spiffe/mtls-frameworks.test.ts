/**
 * SPIFFE mutual TLS under each supported server (real TLS on 127.0.0.1, dev-agent SVIDs): node:https,
 * node:http2, Express over https, Fastify's `https`, Hono's node server; clients: undici fetch and
 * axios with SpiffeHttpsAgent. Each server answers with the peer SPIFFE ID its framework sees and
 * refuses an unauthorized client before the handler runs.
 */
import { createSecureServer, connect as http2Connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:tls';
import { serve } from '@hono/node-server';
import axios from 'axios';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeID,
  derToPem,
  peerSpiffeId,
  SpiffeHttpsAgent,
  SpiffeTlsServer,
  type X509Source,
} from '../../src/spiffe/index.js';
import { spiffeUndiciAgent } from '../../src/spiffe/undici.js';
import { type Agents, closeServer, listen, rawGet, startAgents } from './mtls-fixture.js';

let agents: Agents;
let serverSource: X509Source;
let clientSource: X509Source;
let otherSource: X509Source;
let mtls: SpiffeTlsServer;
const handled: string[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  agents = await startAgents();
  serverSource = await agents.source(agents.example, '/server');
  clientSource = await agents.source(agents.example, '/client');
  otherSource = await agents.source(agents.example, '/other');
  mtls = new SpiffeTlsServer(serverSource, { authorize: authorizeID('spiffe://example.org/client') });
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await agents.close();
});

async function check(url: string): Promise<void> {
  handled.length = 0;
  const dispatcher = spiffeUndiciAgent(clientSource, {
    authorize: authorizeID('spiffe://example.org/server'),
  });
  const res = await fetch(`${url}/who`, { dispatcher });
  expect(await res.text()).toBe('spiffe://example.org/client');
  await dispatcher.close();
  const httpsAgent = new SpiffeHttpsAgent(clientSource, {
    authorize: authorizeID('spiffe://example.org/server'),
  });
  const viaAxios = await axios.get(`${url}/who`, { httpsAgent, responseType: 'text' });
  expect(viaAxios.data).toBe('spiffe://example.org/client');
  httpsAgent.destroy();
  // An unauthorized workload of the same trust domain never reaches the handler.
  await expect(rawGet(`${url}/who`, otherSource.getX509SVID())).rejects.toThrow();
  expect(handled).toEqual(['spiffe://example.org/client', 'spiffe://example.org/client']);
}

function track(server: Server): void {
  cleanups.push(() => closeServer(server));
}

describe('servers', () => {
  it('node:https', async () => {
    const server = mtls.createServer((req, res) => {
      handled.push(String(peerSpiffeId(req)));
      res.end(String(peerSpiffeId(req)));
    });
    track(server);
    await check(await listen(server));
  });

  it('Express over https', async () => {
    const app = express();
    app.get('/who', (req, res) => {
      handled.push(String(peerSpiffeId(req)));
      res.type('text').send(String(peerSpiffeId(req)));
    });
    const server = mtls.createServer(app);
    track(server);
    await check(await listen(server));
  });

  it("Fastify's https", async () => {
    const app = Fastify({ https: mtls.tlsOptions() });
    mtls.attach(app.server);
    app.get('/who', async (request, reply) => {
      handled.push(String(peerSpiffeId(request.raw)));
      return reply.type('text/plain').send(String(peerSpiffeId(request.raw)));
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    await check(`https://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
  });

  it("Hono's node server", async () => {
    const app = new Hono<{ Bindings: { incoming: unknown } }>();
    app.get('/who', (c) => {
      handled.push(String(peerSpiffeId(c.env)));
      return c.text(String(peerSpiffeId(c.env)));
    });
    const server = await new Promise<Server>((resolve) => {
      const s = serve(
        {
          fetch: app.fetch,
          port: 0,
          hostname: '127.0.0.1',
          createServer: mtls.createServer.bind(mtls) as never,
        },
        () => resolve(s as unknown as Server),
      );
    });
    track(server);
    await check(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });

  it('node:http2 secure server (HTTP/1.1 fallback for the clients)', async () => {
    const server = mtls.attach(
      createSecureServer({ ...mtls.tlsOptions(), allowHTTP1: true }, (req, res) => {
        handled.push(String(peerSpiffeId(req)));
        res.end(String(peerSpiffeId(req)));
      }),
    );
    track(server);
    await check(await listen(server));
  });

  it('node:http2 over HTTP/2: the peer ID reaches the h2 request', async () => {
    const server = mtls.attach(
      createSecureServer(mtls.tlsOptions(), (req, res) => res.end(String(peerSpiffeId(req)))),
    );
    track(server);
    const url = await listen(server);
    const svid = clientSource.getX509SVID();
    const session = http2Connect(url, {
      key: svid.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      cert: svid.certificates.map((c) => derToPem(c.der)).join(''),
      ca: clientSource.bundles.getBundleForTrustDomain(agents.example.trustDomain)!.toPem(),
      checkServerIdentity: () => undefined,
    });
    const body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ':path': '/' });
      let data = '';
      stream.on('data', (c) => {
        data += c;
      });
      stream.on('end', () => resolve(data));
      stream.on('error', reject);
    });
    session.close();
    expect(body).toBe('spiffe://example.org/client');
  });
});
