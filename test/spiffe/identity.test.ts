import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KestIdentityError } from '../../src/errors.js';
import { OIDCIdentity } from '../../src/identity/oidc.js';
import { JwksTrustSource } from '../../src/keys/jwks.js';
import { silentLogger } from '../../src/logger.js';
import { PassportVerifier } from '../../src/passport/verifier.js';
import { AutoDetector } from '../../src/spiffe/autodetect.js';
import { DevAgent, SpiffeBundle } from '../../src/spiffe/index.js';
import { SPIREProvider } from '../../src/spiffe/spire.js';
import { SpiffeTrustSource } from '../../src/spiffe/trust-source.js';
import { buildKestBin, kestArgv } from '../support/kest-bin.js';
import { ChainBuilder, socketDir } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function jwt(claims: Record<string, unknown>): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc(claims)}.c2lnbmF0dXJl`;
}

function tmp() {
  const d = socketDir();
  cleanups.push(d.cleanup);
  return d;
}

describe('OIDCIdentity', () => {
  it('takes the workload id from sub, records iss/sub labels, and signs verifiable entries', async () => {
    const d = tmp();
    const file = join(d.dir, 'token');
    writeFileSync(
      file,
      jwt({ iss: 'https://issuer.example', sub: 'system:serviceaccount:prod:orders', exp: 4_102_444_800 }),
    );
    const id = new OIDCIdentity({ tokenFile: file });
    expect(id.getWorkloadId()).toBe('system:serviceaccount:prod:orders');
    expect(id.getLabels()).toEqual({
      'kest.oidc.iss': 'https://issuer.example',
      'kest.oidc.sub': 'system:serviceaccount:prod:orders',
    });
    const b = new ChainBuilder();
    await b.append(id);
    const trust = new JwksTrustSource(id.getPublicJwks());
    await expect(new PassportVerifier({ trust }).verify(b.entries)).resolves.toMatchObject({ valid: true });
  });

  it('reads the token from an environment variable', () => {
    const id = new OIDCIdentity({ env: { KEST_OIDC_TOKEN: jwt({ iss: 'i', sub: 's' }) } });
    expect(id.getWorkloadId()).toBe('s');
  });

  it.each([
    ['not a JWT', 'garbage'],
    ['no sub', jwt({ iss: 'i' })],
    ['no iss', jwt({ sub: 's' })],
    ['expired', jwt({ iss: 'i', sub: 's', exp: 1 })],
  ])('refuses a token that is %s', (_n, token) => {
    expect(() => new OIDCIdentity({ token })).toThrow(KestIdentityError);
  });

  it('re-reads a rotated token file on expiry and stops signing when it stays expired', () => {
    const d = tmp();
    const file = join(d.dir, 'token');
    let now = 1_000_000;
    writeFileSync(file, jwt({ iss: 'i', sub: 's', exp: 2000 }));
    const id = new OIDCIdentity({ tokenFile: file, now: () => now });
    now = 3_000_000;
    writeFileSync(file, jwt({ iss: 'i', sub: 's', exp: 4000 }));
    expect(typeof id.sign(Buffer.from('{}'))).toBe('string');
    now = 5_000_000;
    expect(() => id.sign(Buffer.from('{}'))).toThrow(KestIdentityError);
  });

  it('requires some token source', () => {
    expect(() => new OIDCIdentity({ env: {} })).toThrow(KestIdentityError);
  });
});

describe('AutoDetector', () => {
  it('SPIFFE socket reachable → SPIREProvider', async () => {
    const d = tmp();
    const agent = await DevAgent.start({
      trustDomain: 'example.org',
      socket: d.socket,
      workloads: ['/svc/a'],
      rotateAt: 0,
    });
    cleanups.push(() => agent.stop());
    const det = await AutoDetector.detect({ env: { SPIFFE_ENDPOINT_SOCKET: agent.address } });
    cleanups.push(() => (det.provider as SPIREProvider).close());
    expect(det.kind).toBe('spire');
    expect(det.provider).toBeInstanceOf(SPIREProvider);
    expect(det.workloadId).toBe('spiffe://example.org/svc/a');
  });

  it('unreachable socket + OIDC token file → OIDCIdentity, with the reason recorded', async () => {
    const d = tmp();
    const file = join(d.dir, 'token');
    writeFileSync(file, jwt({ iss: 'i', sub: 'ci-job-7' }));
    const det = await AutoDetector.detect({
      env: { SPIFFE_ENDPOINT_SOCKET: `unix://${d.socket}`, KEST_OIDC_TOKEN_FILE: file },
      spiffeTimeoutMs: 200,
    });
    expect(det.kind).toBe('oidc');
    expect(det.workloadId).toBe('ci-job-7');
    expect(det.reasons[0]).toMatch(/SPIFFE Workload API/);
  });

  it('nothing configured → LocalEd25519Provider; require turns the fallback into an error', async () => {
    const det = await AutoDetector.detect({
      env: { KEST_WORKLOAD_ID: 'spiffe://dev.local/me' },
      logger: silentLogger,
    });
    expect(det.kind).toBe('local');
    expect(det.workloadId).toBe('spiffe://dev.local/me');
    await expect(AutoDetector.detect({ env: {}, require: 'oidc' })).rejects.toBeInstanceOf(KestIdentityError);
    await expect(AutoDetector.detect({ env: {}, require: 'spire' })).rejects.toBeInstanceOf(
      KestIdentityError,
    );
  });
});

describe('CLI: kest dev-agent and kest detect (child processes)', () => {
  beforeAll(() => buildKestBin());
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawn(process.execPath, kestArgv(args), {
      env: { ...process.env, KEST_LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  it('dev-agent serves SVIDs, exports its bundle; detect reports the SPIFFE identity; SIGTERM removes the socket', async () => {
    const d = tmp();
    const bundleFile = join(d.dir, 'bundle.json');
    const agent = run([
      'dev-agent',
      '--socket',
      d.socket,
      '--trust-domain',
      'example.org',
      '--workload',
      '/svc/a',
      '--workload',
      'spiffe://example.org/svc/b',
      '--ttl',
      '60',
      '--bundle-out',
      bundleFile,
      '--json',
    ]);
    cleanups.push(() => agent.kill('SIGKILL'));
    const summary = await new Promise<Record<string, unknown>>((resolve, reject) => {
      let out = '';
      agent.stdout.on('data', (c) => {
        out += c;
        if (out.includes('\n')) resolve(JSON.parse(out));
      });
      agent.on('exit', (code) => reject(new Error(`dev-agent exited ${code}`)));
    });
    expect(summary.workloads).toEqual(['spiffe://example.org/svc/a', 'spiffe://example.org/svc/b']);

    const detect = run(['detect', '--json', '--spiffe-id', 'spiffe://example.org/svc/b'], {
      SPIFFE_ENDPOINT_SOCKET: `unix://${d.socket}`,
    });
    let out = '';
    detect.stdout.on('data', (c) => {
      out += c;
    });
    const code = await new Promise((r) => detect.on('exit', r));
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({
      kind: 'spire',
      provider: 'SPIREProvider',
      workload_id: 'spiffe://example.org/svc/b',
    });

    // An in-process provider against the CLI agent, verified with the exported bundle only.
    const provider = await SPIREProvider.connect({ address: `unix://${d.socket}` });
    cleanups.push(() => provider.close());
    const b = new ChainBuilder();
    await b.append(provider);
    const trust = new SpiffeTrustSource({
      bundles: SpiffeBundle.fromJwks('example.org', readFileSync(bundleFile, 'utf8')),
    });
    await expect(new PassportVerifier({ trust }).verify(b.entries)).resolves.toMatchObject({ valid: true });

    agent.kill('SIGTERM');
    expect(await new Promise((r) => agent.on('exit', r))).toBe(0);
    expect(existsSync(d.socket)).toBe(false);
  });
});
