/**
 * Integration (real servers on 127.0.0.1): the identity interceptor. Tokens are minted with jose;
 * the issuer's JWKS is served by a loopback HTTP server (createRemoteJWKSet fetches it). Also TC-12
 * over HTTP: getCurrentUser() inside the protected handler.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

type KeyLike = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FRAMEWORKS } from '../../examples/trusted-chain/servers.js';
import { createKestFetch } from '../../src/http/fetch.js';
import { BearerIdentityValidator } from '../../src/http/identity.js';
import { configure, resetConfiguration, runWithUpstreamClaims, silentLogger } from '../../src/index.js';
import { workloads } from '../support/chain.js';
import { get, type Probe, type ProbeBody, startProbe } from './helpers.js';

const ISSUER = 'https://idp.test.kest';
const AUDIENCE = 'kest-probe';

let jwksServer: Server;
let jwksUrl: string;
let jwksHits = 0;
let privateKey: KeyLike;
let otherKey: KeyLike;

beforeAll(async () => {
  configure({ logger: silentLogger });
  const pair = await generateKeyPair('ES256', { extractable: true });
  privateKey = pair.privateKey;
  otherKey = (await generateKeyPair('ES256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwksServer = createServer((_req, res) => {
    jwksHits++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
});

afterAll(async () => {
  resetConfiguration();
  jwksServer.closeAllConnections();
  await new Promise((r) => jwksServer.close(r));
});

interface MintOptions {
  issuer?: string;
  audience?: string;
  expiresIn?: string | number;
  key?: KeyLike;
  claims?: JWTPayload;
}

function mint(o: MintOptions = {}): Promise<string> {
  return new SignJWT({ client_id: 'agent-7', scope: 'read:report', ...o.claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setSubject('alice')
    .setIssuer(o.issuer ?? ISSUER)
    .setAudience(o.audience ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(o.expiresIn ?? '5m')
    .sign(o.key ?? privateKey);
}

describe.each(FRAMEWORKS)('identity interceptor through %s', (framework) => {
  const { ids, trust } = workloads(1);
  const open: Probe[] = [];
  const start = async (required = false) => {
    const p = await startProbe(framework, ids[0]!, {
      trust,
      identity: { jwksUrl, issuer: ISSUER, audience: AUDIENCE, required },
    });
    open.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  it('a valid token maps sub / client_id / scope to user / agent / task (over upstream baggage)', async () => {
    const probe = await start();
    const res = await get(probe.service.url, {
      authorization: `Bearer ${await mint()}`,
      baggage: 'kest.user=mallory',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user: 'alice', agent: 'agent-7', task: 'read:report' });
    expect(probe.runs).toBe(1);
    expect(jwksHits).toBeGreaterThan(0);
  });

  it.each([
    ['expired', () => mint({ expiresIn: Math.floor(Date.now() / 1000) - 120 })],
    ['wrong issuer', () => mint({ issuer: 'https://evil.example' })],
    ['wrong audience', () => mint({ audience: 'another-service' })],
    ['signed by an unknown key', () => mint({ key: otherKey })],
    ['not a JWT', async () => 'abc.def'],
  ])('%s token → 401 ERR_IDENTITY, handler never runs', async (_name, token) => {
    const probe = await start();
    const res = await get(probe.service.url, { authorization: `Bearer ${await token()}` });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('ERR_IDENTITY');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(probe.runs).toBe(0);
  });

  it('HS256 token (symmetric, not accepted) → 401', async () => {
    const probe = await start();
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setSubject('alice')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('x'.repeat(32)));
    const res = await get(probe.service.url, { authorization: `Bearer ${hs}` });
    expect(res.status).toBe(401);
    expect(probe.runs).toBe(0);
  });

  it('no token: passes unauthenticated unless required (then 401)', async () => {
    const lenient = await start(false);
    expect((await get(lenient.service.url)).status).toBe(200);
    const strict = await start(true);
    const res = await get(strict.service.url);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(strict.runs).toBe(0);
  });
});

describe('identity interceptor configuration', () => {
  it('requires issuer, audience and exactly one key source; refuses HS*/none', () => {
    expect(() => new BearerIdentityValidator({ issuer: ISSUER, audience: AUDIENCE })).toThrow(/jwksUrl/);
    expect(() => new BearerIdentityValidator({ jwksUrl, issuer: '', audience: AUDIENCE })).toThrow(/issuer/);
    expect(() => new BearerIdentityValidator({ jwksUrl, issuer: ISSUER, audience: [] })).toThrow(/audience/);
    expect(
      () =>
        new BearerIdentityValidator({ jwksUrl, issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] }),
    ).toThrow(/HS/);
  });

  it('claim names are configurable; a local JWKS works without a URL', async () => {
    const { publicKey, privateKey: pk } = await generateKeyPair('EdDSA', { extractable: true });
    const v = new BearerIdentityValidator({
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'e1' }] },
      issuer: ISSUER,
      audience: AUDIENCE,
      claims: { user: 'email', agent: 'azp', task: 'scp' },
      clockTolerance: 30,
    });
    const token = await new SignJWT({ email: 'bob@example.com', azp: 'cli', scp: ['a', 'b'] })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'e1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      // Expired 10 s ago: inside the 30 s tolerance.
      .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
      .sign(pk);
    const id = await v.validate(`Bearer ${token}`);
    expect(id).toMatchObject({
      user: 'bob@example.com',
      agent: 'cli',
      task: 'a b',
      issuer: ISSUER,
      jwt: token,
    });
  });

  it('an unreachable JWKS endpoint → 503, not 401 and not accepted', async () => {
    const { ids, trust } = workloads(1);
    const probe = await startProbe('node', ids[0]!, {
      trust,
      identity: { jwksUrl: 'http://127.0.0.1:1/jwks.json', issuer: ISSUER, audience: AUDIENCE },
    });
    try {
      const res = await get(probe.service.url, { authorization: `Bearer ${await mint()}` });
      expect(res.status).toBe(503);
      expect(probe.runs).toBe(0);
    } finally {
      await probe.close();
    }
  });
});

describe('TC-12 over HTTP: getCurrentUser() inside the protected handler', () => {
  it.each(FRAMEWORKS)(
    '%s: raw kest.user is not the user unless the deployment trusts baggage',
    async (framework) => {
      const { ids, trust } = workloads(1);
      const probe = await startProbe(framework, ids[0]!, { trust });
      try {
        const f = createKestFetch();
        // kest.user=admin, no passport, no JWT: the handler must not see "admin".
        const res = await runWithUpstreamClaims({ user: 'admin', task: 't' }, () => f(probe.service.url));
        const body = (await res.json()) as ProbeBody;
        expect(res.status).toBe(200);
        expect(body.baggage).toContain('kest.user=admin');
        expect(body.user).toBeUndefined();
        expect(body.task).toBeUndefined();
      } finally {
        await probe.close();
      }
    },
  );

  it.each(FRAMEWORKS)('%s: kest.user sent by the propagator is read in the handler', async (framework) => {
    resetConfiguration();
    configure({ logger: silentLogger, deployment: { trust_upstream_baggage: true } });
    const { ids, trust } = workloads(1);
    const probe = await startProbe(framework, ids[0]!, { trust });
    try {
      const f = createKestFetch();
      // The caller's current user travels as kest.user baggage.
      const res = await runWithUpstreamClaims({ user: 'alice', task: 'tc-12' }, () => f(probe.service.url));
      const body = (await res.json()) as ProbeBody;
      expect(res.status).toBe(200);
      expect(body.user).toBe('alice');
      expect(body.task).toBe('tc-12');
      expect(body.baggage).toContain('kest.user=alice');
    } finally {
      await probe.close();
    }
  });
});
