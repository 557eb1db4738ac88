/**
 * SPIFFE mutual TLS over real TLS on 127.0.0.1 with SVIDs from real dev agents: what the server
 * refuses (and that no handler runs for it), what the client refuses, authorizers, federation.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, get as httpsGet, type Server } from 'node:https';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCertificate } from '../../src/spiffe/ca.js';
import {
  authorizeAny,
  authorizeID,
  authorizeMemberOf,
  authorizeOneOf,
  KestSpiffeError,
  KeyUsage,
  type PeerAuthorizer,
  peerSpiffeId,
  SpiffeHttpsAgent,
  SpiffeTlsServer,
  type X509Source,
} from '../../src/spiffe/index.js';
import { spiffeUndiciAgent } from '../../src/spiffe/undici.js';
import { type Agents, type Credentials, closeServer, listen, rawGet, startAgents } from './mtls-fixture.js';

let agents: Agents;
let serverSource: X509Source;
let clientSource: X509Source;
let otherSource: X509Source;
let partnerClient: X509Source;
let partnerServer: X509Source;
const open: Server[] = [];

beforeAll(async () => {
  agents = await startAgents();
  serverSource = await agents.source(agents.example, '/server');
  clientSource = await agents.source(agents.example, '/client');
  otherSource = await agents.source(agents.example, '/other');
  partnerClient = await agents.source(agents.partner, '/client');
  partnerServer = await agents.source(agents.partner, '/server');
});

afterAll(async () => {
  for (const s of open) await closeServer(s);
  await agents.close();
});

interface Started {
  url: string;
  handled: string[];
  refused: string[];
}

/** A node:https server that answers with the peer's SPIFFE ID and records what it handled/refused. */
async function startServer(
  authorize: PeerAuthorizer,
  extra: Partial<ConstructorParameters<typeof SpiffeTlsServer>[1]> = {},
  source: X509Source = serverSource,
): Promise<Started> {
  const handled: string[] = [];
  const refused: string[] = [];
  const mtls = new SpiffeTlsServer(source, { authorize, onRefused: (e) => refused.push(e.reason), ...extra });
  const server = mtls.createServer((req: IncomingMessage, res: ServerResponse) => {
    const id = String(peerSpiffeId(req));
    handled.push(id);
    res.end(id);
  });
  open.push(server);
  return { url: await listen(server), handled, refused };
}

const creds = (s: X509Source): Credentials => s.getX509SVID();

/** Refused at the transport (no HTTP status at all), never handled, with this refusal reason. */
async function expectRefused(s: Started, creds: Credentials | undefined, reason: string): Promise<void> {
  await expect(rawGet(s.url, creds)).rejects.toThrow();
  await new Promise((r) => setTimeout(r, 20)); // let the server-side refusal callback run
  expect(s.handled).toEqual([]);
  expect(s.refused).toContain(reason);
}

describe('server side', () => {
  it('accepts an authorized SVID and hands the handler its SPIFFE ID', async () => {
    const s = await startServer(authorizeMemberOf('example.org'));
    expect(await rawGet(s.url, creds(clientSource))).toBe(200);
    const dispatcher = spiffeUndiciAgent(clientSource, {
      authorize: authorizeID('spiffe://example.org/server'),
    });
    const res = await fetch(s.url, { dispatcher });
    expect(await res.text()).toBe('spiffe://example.org/client');
    expect(s.handled).toEqual(['spiffe://example.org/client', 'spiffe://example.org/client']);
    await dispatcher.close();
  });

  it('refuses a client without a certificate', async () => {
    await expectRefused(await startServer(authorizeAny()), undefined, 'missing_peer_certificate');
  });

  it('refuses plain HTTP on the mTLS port', async () => {
    const s = await startServer(authorizeAny());
    const plain = s.url.replace('https:', 'http:');
    await expect(fetch(plain)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 20));
    expect(s.handled).toEqual([]);
    expect(s.refused).toEqual(['missing_peer_certificate']);
  });

  it('refuses an SVID of a trust domain it does not trust', async () => {
    await expectRefused(await startServer(authorizeAny()), creds(partnerClient), 'chain_not_anchored');
  });

  it('refuses an ID the authorizer does not allow', async () => {
    const s = await startServer(authorizeOneOf('spiffe://example.org/client', 'spiffe://example.org/nobody'));
    await expectRefused(s, creds(otherSource), 'unauthorized_peer');
    expect(await rawGet(s.url, creds(clientSource))).toBe(200);
  });

  it('refuses when a custom authorizer returns false or throws', async () => {
    await expectRefused(await startServer(() => false), creds(clientSource), 'unauthorized_peer');
    const throwing = await startServer(() => {
      throw new Error('policy store down');
    });
    await expectRefused(throwing, creds(clientSource), 'unauthorized_peer');
  });

  it('refuses an expired SVID', async () => {
    const now = Date.now();
    const expired = agents.example.ca.issue({
      id: '/client',
      notBefore: new Date(now - 600_000),
      notAfter: new Date(now - 60_000),
    });
    await expectRefused(await startServer(authorizeAny()), expired, 'chain_not_anchored');
  });

  it('refuses a self-signed leaf', async () => {
    const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const now = Date.now();
    const leaf = issueCertificate(
      {
        subjectCN: 'self',
        uris: ['spiffe://example.org/client'],
        isCA: false,
        keyUsage: KeyUsage.digitalSignature,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 600_000),
        extKeyUsage: true,
      },
      keys.publicKey,
      { name: 'self', key: keys.privateKey, publicKey: keys.publicKey },
    );
    const selfSigned = { certificates: [leaf], privateKey: keys.privateKey };
    await expectRefused(await startServer(authorizeAny()), selfSigned, 'chain_not_anchored');
  });

  it('refuses a CA certificate used as a leaf', async () => {
    const caLeaf = agents.example.ca.issueRaw({
      id: '/client',
      isCA: true,
      keyUsage: KeyUsage.digitalSignature | KeyUsage.keyCertSign,
    });
    const s = await startServer(authorizeAny());
    await expect(rawGet(s.url, caLeaf)).rejects.toThrow();
    expect(s.handled).toEqual([]);
    expect(s.refused.length).toBe(1);
  });

  it('refuses a leaf with two URI SANs', async () => {
    const two = agents.example.ca.issueRaw({
      id: '/client',
      uris: ['spiffe://example.org/client', 'spiffe://example.org/other'],
    });
    await expectRefused(await startServer(authorizeAny()), two, 'invalid_svid');
  });

  it('refuses a leaf without digitalSignature', async () => {
    const noSig = agents.example.ca.issueRaw({ id: '/client', keyUsage: KeyUsage.keyEncipherment });
    const s = await startServer(authorizeAny());
    await expect(rawGet(s.url, noSig)).rejects.toThrow();
    expect(s.handled).toEqual([]);
  });

  it('federation: trusts a federated bundle, but only for its own trust domain', async () => {
    const s = await startServer(authorizeAny(), { federatedBundles: partnerClient.bundles });
    expect(await rawGet(s.url, creds(partnerClient))).toBe(200);
    expect(s.handled).toEqual(['spiffe://partner.org/client']);
    // An example.org CA may not vouch for a partner.org ID, though OpenSSL trusts both roots.
    const forged = agents.example.ca.issueRaw({ id: 'spiffe://partner.org/client' });
    await expectRefused({ ...s, handled: [] }, forged, 'chain_not_anchored');
  });

  it('a server that was never attached completes no handshake', async () => {
    const mtls = new SpiffeTlsServer(serverSource, { authorize: authorizeAny() });
    let handled = 0;
    const server = createHttpsServer(mtls.tlsOptions(), (_q, r) => {
      handled++;
      r.end();
    });
    open.push(server);
    await expect(rawGet(await listen(server), creds(clientSource))).rejects.toThrow();
    expect(handled).toBe(0);
  });

  it('needs an authorizer', () => {
    expect(() => new SpiffeTlsServer(serverSource, {} as never)).toThrow(KestSpiffeError);
  });
});

describe('client side', () => {
  async function fetchWith(url: string, authorize: PeerAuthorizer, source = clientSource) {
    const dispatcher = spiffeUndiciAgent(source, { authorize });
    try {
      const res = await fetch(url, { dispatcher });
      return await res.text();
    } finally {
      await dispatcher.close();
    }
  }

  function causeReason(err: unknown): string | undefined {
    let e = err as { cause?: unknown } | undefined;
    while (e) {
      if (e instanceof KestSpiffeError) return e.reason;
      e = e.cause as typeof e;
    }
    return undefined;
  }

  it('refuses a server with the wrong SPIFFE ID before sending the request', async () => {
    const s = await startServer(authorizeAny());
    const err = await fetchWith(s.url, authorizeID('spiffe://example.org/payments')).catch((e) => e);
    expect(causeReason(err)).toBe('unauthorized_peer');
    expect(s.handled).toEqual([]);
  });

  it('refuses a server of an untrusted trust domain', async () => {
    const s = await startServer(authorizeAny(), { federatedBundles: clientSource.bundles }, partnerServer);
    await expect(fetchWith(s.url, authorizeAny())).rejects.toThrow();
    expect(s.handled).toEqual([]);
    // With the partner bundle federated on the client, the same server is accepted.
    const dispatcher = spiffeUndiciAgent(clientSource, {
      authorize: authorizeID('spiffe://partner.org/server'),
      federatedBundles: partnerServer.bundles,
    });
    const res = await fetch(s.url, { dispatcher });
    expect(await res.text()).toBe('spiffe://example.org/client');
    await dispatcher.close();
  });

  it('SpiffeHttpsAgent (node:https, axios) presents the SVID and checks the server ID', async () => {
    const s = await startServer(authorizeID('spiffe://example.org/client'));
    const get = (agent: SpiffeHttpsAgent) =>
      new Promise<string>((resolve, reject) => {
        httpsGet(s.url, { agent }, (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => resolve(body));
        }).on('error', reject);
      });
    const good = new SpiffeHttpsAgent(clientSource, {
      authorize: authorizeID('spiffe://example.org/server'),
    });
    expect(await get(good)).toBe('spiffe://example.org/client');
    good.destroy();
    const wrong = new SpiffeHttpsAgent(clientSource, {
      authorize: authorizeID('spiffe://example.org/other'),
    });
    const err = await get(wrong).catch((e) => e);
    expect(causeReason(err)).toBe('unauthorized_peer');
    wrong.destroy();
    expect(s.handled).toEqual(['spiffe://example.org/client']);
  });
});
