/**
 * SPIFFE mutual TLS across rotations (real dev agent, real TLS on 127.0.0.1): SVID rotation under
 * load with zero failures, new handshakes presenting the new SVIDs on both sides, in-flight
 * requests on kept-alive connections completing, and a trust bundle (CA) rotation seen by both
 * the server and the client.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeID,
  authorizeMemberOf,
  BundleSet,
  peerVerification,
  SpiffeTlsServer,
  type X509Source,
  type X509SVID,
} from '../../src/spiffe/index.js';
import { spiffeUndiciAgent } from '../../src/spiffe/undici.js';
import { type Agents, closeServer, listen, nextUpdate, rawGet, startAgents } from './mtls-fixture.js';

let agents: Agents;
let serverSource: X509Source;
let clientSource: X509Source;
const open: Server[] = [];

beforeAll(async () => {
  agents = await startAgents();
  serverSource = await agents.source(agents.example, '/server');
  clientSource = await agents.source(agents.example, '/client');
});

afterAll(async () => {
  for (const s of open) await closeServer(s);
  await agents.close();
});

/** A server that answers with the thumbprint of the client leaf it verified; /slow waits for `gate`. */
async function startServer(source: Pick<X509Source, 'getX509SVID' | 'bundles'>, gate?: Promise<void>) {
  const seen = new Set<string>();
  const refused: string[] = [];
  const mtls = new SpiffeTlsServer(source, {
    authorize: authorizeID('spiffe://example.org/client'),
    onRefused: (e) => refused.push(e.reason),
  });
  const server = mtls.createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const leaf = peerVerification(req)!.leaf.thumbprint;
    seen.add(leaf);
    if (req.url === '/slow') await gate;
    res.end(leaf);
  });
  open.push(server);
  return { url: await listen(server), seen, refused };
}

async function rotateAndWait(): Promise<void> {
  const updates = [nextUpdate(serverSource), nextUpdate(clientSource)];
  agents.example.rotate();
  await Promise.all(updates);
}

describe('SVID rotation', () => {
  it('1,000 requests across three rotations: 0 failures, new handshakes use the new SVIDs', async () => {
    const s = await startServer(serverSource);
    const dispatcher = spiffeUndiciAgent(clientSource, {
      authorize: authorizeID('spiffe://example.org/server'),
      agent: { connections: 8 },
    });
    const clientLeaves = new Set<string>();
    let failures = 0;
    let ok = 0;
    for (let batch = 0; batch < 40; batch++) {
      if (batch === 10 || batch === 20 || batch === 30) await rotateAndWait();
      const results = await Promise.allSettled(
        Array.from({ length: 25 }, async (_, i) => {
          // Every 5th request closes its connection, so handshakes keep happening mid-run.
          const res = await request(s.url, { dispatcher, reset: i % 5 === 0 });
          clientLeaves.add(await res.body.text());
          if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        }),
      );
      for (const r of results) r.status === 'fulfilled' ? ok++ : failures++;
    }
    expect({ ok, failures }).toEqual({ ok: 1000, failures: 0 });
    // The server saw the client's original SVID and each rotated one (4 generations).
    expect(clientLeaves.size).toBe(4);
    expect(clientLeaves.has(clientSource.getX509SVID().thumbprint)).toBe(true);
    expect(s.refused).toEqual([]);
    await dispatcher.close();
  });

  it('a request in flight on a kept-alive connection completes across a rotation', async () => {
    let open_: () => void = () => {};
    const gate = new Promise<void>((r) => {
      open_ = r;
    });
    const s = await startServer(serverSource, gate);
    const dispatcher = spiffeUndiciAgent(clientSource, {
      authorize: authorizeID('spiffe://example.org/server'),
    });
    const before = clientSource.getX509SVID().thumbprint;
    const slow = request(`${s.url}/slow`, { dispatcher });
    await new Promise((r) => setTimeout(r, 50));
    await rotateAndWait();
    open_();
    const res = await slow;
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe(before);
    // A new connection presents the rotated SVID.
    const fresh = spiffeUndiciAgent(clientSource, { authorize: authorizeID('spiffe://example.org/server') });
    const next = await request(s.url, { dispatcher: fresh });
    expect(await next.body.text()).toBe(clientSource.getX509SVID().thumbprint);
    expect(clientSource.getX509SVID().thumbprint).not.toBe(before);
    await dispatcher.close();
    await fresh.close();
  });
});

describe('bundle (CA) rotation', () => {
  it('both sides move to the new trust bundle without a restart', async () => {
    const s = await startServer(serverSource);
    const dispatcher = spiffeUndiciAgent(clientSource, { authorize: authorizeMemberOf('example.org') });
    expect((await request(s.url, { dispatcher })).statusCode).toBe(200);

    const oldClient: X509SVID = clientSource.getX509SVID();
    const oldServer = { svid: serverSource.getX509SVID(), bundles: serverSource.bundles };
    const updates = [nextUpdate(serverSource), nextUpdate(clientSource)];
    agents.example.rotateAuthority();
    await Promise.all(updates);
    expect(serverSource.bundles).not.toBe(oldServer.bundles);

    // The kept-alive connection was authenticated before the rotation: it finishes its request.
    const kept = await request(s.url, { dispatcher, reset: true });
    expect(kept.statusCode).toBe(200);
    expect(await kept.body.text()).toBe(oldClient.thumbprint);
    // New handshakes on both sides: new SVIDs under the new root, checked against the new bundle.
    const res = await request(s.url, { dispatcher });
    expect(await res.body.text()).toBe(clientSource.getX509SVID().thumbprint);
    const fresh = spiffeUndiciAgent(clientSource, { authorize: authorizeMemberOf('example.org') });
    expect((await request(s.url, { dispatcher: fresh })).statusCode).toBe(200);

    // Server side: the old root left the bundle, so a client still holding an old SVID is refused.
    await expect(rawGet(s.url, oldClient)).rejects.toThrow();
    // Client side: a server still presenting the old SVID (stale material) is refused.
    const stale = await startServer({
      getX509SVID: () => oldServer.svid,
      bundles: new BundleSet([oldServer.bundles.getBundleForTrustDomain(agents.example.trustDomain)!]),
    });
    await expect(request(stale.url, { dispatcher: fresh })).rejects.toThrow();
    expect(stale.seen.size).toBe(0);
    await dispatcher.close();
    await fresh.close();
  });
});
