/**
 * Integration: the dev agent serves the SPIFFE Workload API on a real Unix socket; the client side
 * (X509Source, SPIREProvider) talks to it over @grpc/grpc-js.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSignedEntry } from '../../src/entry/signed.js';
import { KestIdentityError } from '../../src/errors.js';
import { PassportVerifier } from '../../src/passport/verifier.js';
import {
  DevAgent,
  KestSpiffeError,
  SpiffeBundle,
  WorkloadApiClient,
  X509Source,
} from '../../src/spiffe/index.js';
import { workloadApiService } from '../../src/spiffe/proto.js';
import { SPIREProvider } from '../../src/spiffe/spire.js';
import { SpiffeTrustSource } from '../../src/spiffe/trust-source.js';
import { ChainBuilder, socketDir } from './helpers.js';

let dir: ReturnType<typeof socketDir>;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(() => {
  dir = socketDir();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  dir.cleanup();
});

async function startAgent(options: Partial<Parameters<typeof DevAgent.start>[0]> = {}): Promise<DevAgent> {
  const agent = await DevAgent.start({
    trustDomain: 'example.org',
    socket: dir.socket,
    workloads: ['/svc/a', '/svc/b'],
    rotateAt: 0,
    ...options,
  });
  cleanups.push(() => agent.stop());
  return agent;
}

async function connect(
  agent: DevAgent,
  spiffeId = 'spiffe://example.org/svc/a',
  extra = {},
): Promise<SPIREProvider<X509Source>> {
  const provider = await SPIREProvider.connect({ address: agent.address, spiffeId, ...extra });
  cleanups.push(() => provider.close());
  return provider;
}

describe('Workload API over a Unix socket (dev agent)', () => {
  it('fetches an SVID, signs, and verifies against the agent bundle', async () => {
    const agent = await startAgent({ bundleOut: `${dir.dir}/bundle.json` });
    const provider = await connect(agent);
    expect(provider.getWorkloadId()).toBe('spiffe://example.org/svc/a');
    const b = new ChainBuilder();
    await b.append(provider);
    await b.append(provider);
    // The verifier knows only the bundle file the agent exported.
    const trust = SpiffeTrustSource.fromBundleFile('example.org', `${dir.dir}/bundle.json`);
    const report = await new PassportVerifier({ trust }).verify(b.entries);
    expect(report.principals).toEqual(['spiffe://example.org/svc/a']);
    // The provider's own X509Source (typed as such) also serves a SpiffeTrustSource's bundles.
    const own = new SpiffeTrustSource({ bundles: provider.source });
    expect((await new PassportVerifier({ trust: own }).verify(b.entries)).principals).toEqual([
      'spiffe://example.org/svc/a',
    ]);
    expect(parseSignedEntry(b.entries[0]!).header.alg).toBe('ES256');
  });

  it('the X509Source also serves as the bundle source, and FetchX509Bundles returns the same bundle', async () => {
    const agent = await startAgent();
    const source = await X509Source.create({
      address: agent.address,
      spiffeId: 'spiffe://example.org/svc/b',
    });
    cleanups.push(() => source.close());
    expect(source.getX509SVID().id.toString()).toBe('spiffe://example.org/svc/b');
    const client = new WorkloadApiClient({ address: agent.address });
    cleanups.push(() => client.close());
    const bundles = await client.fetchX509Bundles();
    const td = source.getX509SVID().id.trustDomain;
    expect(bundles.getBundleForTrustDomain(td)!.x509Authorities[0]!.thumbprint).toBe(
      agent.bundle().x509Authorities[0]!.thumbprint,
    );
    const provider = new SPIREProvider(source);
    const b = new ChainBuilder();
    await b.append(provider);
    await expect(
      new PassportVerifier({ trust: new SpiffeTrustSource({ bundles: source }) }).verify(b.entries),
    ).resolves.toMatchObject({
      valid: true,
    });
  });

  it('a rotation in the middle of 1,000 signing calls: 0 failures, old and new entries verify', async () => {
    const agent = await startAgent();
    const provider = await connect(agent);
    const source = provider.source as X509Source;
    const b = new ChainBuilder();
    const thumbprints = new Set<string>();
    let failures = 0;
    let rotatedAt = -1;
    const rotated = new Promise<void>((resolve) => source.onUpdate(() => resolve()));
    for (let i = 0; i < 1000; i++) {
      if (i === 400) agent.rotate();
      try {
        const jws = await b.append(provider);
        thumbprints.add(parseSignedEntry(jws).header['x5t#S256']!);
        if (thumbprints.size === 2 && rotatedAt < 0) rotatedAt = i;
      } catch {
        failures++;
      }
      // Yield to the event loop so the stream delivers the rotation while signing continues.
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    await rotated;
    expect(failures).toBe(0);
    expect(thumbprints.size).toBe(2);
    expect(rotatedAt).toBeGreaterThan(400);
    expect(rotatedAt).toBeLessThan(1000);
    // The chain of each SVID is carried exactly once.
    expect(b.entries.filter((j) => parseSignedEntry(j).header.x5c).length).toBe(2);
    const report = await new PassportVerifier({
      trust: new SpiffeTrustSource({ bundles: agent.bundle() }),
    }).verify(b.entries);
    expect(report.entries).toHaveLength(1000);
  });

  it('an X509Source whose bundle rotates (same object): passports cached under the old authority are refused (M3)', async () => {
    const agent = await startAgent();
    const provider = await connect(agent);
    const source = provider.source as X509Source;
    const b = new ChainBuilder();
    await b.append(provider);
    await b.append(provider);
    const trust = new SpiffeTrustSource({ bundles: source });
    const verifier = new PassportVerifier({ trust });
    await verifier.verify(b.entries);
    expect((await verifier.verify(b.entries)).cachedEntries).toBe(2);

    const updated = new Promise<void>((resolve) => source.onUpdate(() => resolve()));
    agent.rotateAuthority();
    await updated;
    // The new bundle no longer holds the old root: neither cache may vouch for the old SVID.
    await expect(verifier.verify(b.entries)).rejects.toMatchObject({ reason: 'key_not_anchored', index: 0 });
    const fresh = new ChainBuilder();
    await fresh.append(provider);
    expect((await verifier.verify(fresh.entries)).valid).toBe(true);
  });

  it('agent down at start: identity error, no provider', async () => {
    // Both wait out their start timeout: side by side.
    await Promise.all([
      expect(
        SPIREProvider.connect({ address: `unix://${dir.socket}`, startTimeoutMs: 300 }),
      ).rejects.toBeInstanceOf(KestIdentityError),
      expect(
        X509Source.create({ address: `unix://${dir.socket}`, startTimeoutMs: 300 }),
      ).rejects.toMatchObject({
        code: 'ERR_SPIFFE',
        reason: 'workload_api',
      }),
    ]);
  });

  it('agent dies later: signing continues until the SVID expires, then fails closed', async () => {
    const agent = await startAgent({ ttlSeconds: 60 });
    let clock = Date.now();
    const provider = await connect(agent, undefined, {
      now: () => clock,
      backoffInitialMs: 20,
      backoffMaxMs: 50,
    });
    const svid = (provider.source as X509Source).getX509SVID();
    await agent.stop();
    const b = new ChainBuilder();
    await expect(b.append(provider)).resolves.toBeTypeOf('string');
    clock = svid.notAfter + 1000;
    await expect(b.append(provider)).rejects.toBeInstanceOf(KestIdentityError);
    expect(() => provider.getWorkloadId()).toThrow(KestIdentityError);
  });

  it('reconnects with backoff and applies the SVID of a restarted agent', async () => {
    const agent = await startAgent();
    const provider = await connect(agent, undefined, { backoffInitialMs: 20, backoffMaxMs: 100 });
    const source = provider.source as X509Source;
    const before = source.getX509SVID().thumbprint;
    await agent.stop();
    const updated = new Promise<void>((resolve) => source.onUpdate(() => resolve()));
    await startAgent({ ca: agent.ca });
    await updated;
    expect(source.getX509SVID().thumbprint).not.toBe(before);
    expect(source.getX509SVID().id.toString()).toBe('spiffe://example.org/svc/a');
  });

  it('close() ends the stream: the source hands out nothing afterwards', async () => {
    const agent = await startAgent();
    const provider = await connect(agent);
    expect(agent.streams).toBe(1);
    await provider.close();
    expect(() => provider.sign(Buffer.from('{}'))).toThrow(KestIdentityError);
    await expect.poll(() => agent.streams).toBe(0);
  });

  it('the agent refuses calls without the workload.spiffe.io metadata', async () => {
    const agent = await startAgent();
    const Ctor = workloadApiService();
    const raw = new Ctor(`unix:${dir.socket}`, grpc.credentials.createInsecure());
    cleanups.push(() => raw.close());
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      const call = (raw as unknown as Record<string, (req: object) => grpc.ClientReadableStream<unknown>>)
        .FetchX509SVID!({});
      call.on('error', (e) => resolve(e as grpc.ServiceError));
    });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(agent.streams).toBe(0);
  });

  it('a trust source fed by the agent bundle rejects SVIDs of a second, unrelated agent', async () => {
    const agent = await startAgent();
    const dir2 = socketDir();
    cleanups.push(() => dir2.cleanup());
    const rogue = await DevAgent.start({
      trustDomain: 'example.org',
      socket: dir2.socket,
      workloads: ['/svc/a'],
      rotateAt: 0,
    });
    cleanups.push(() => rogue.stop());
    const provider = await connect(rogue);
    const b = new ChainBuilder();
    await b.append(provider);
    const verifier = new PassportVerifier({
      trust: new SpiffeTrustSource({ bundles: SpiffeBundle.parse('example.org', agent.bundle().toPem()) }),
    });
    await expect(verifier.verify(b.entries)).rejects.toMatchObject({ reason: 'key_not_anchored' });
  });

  it('reports a malformed address as a configuration error of the SPIFFE layer', () => {
    expect(() => new WorkloadApiClient({ address: 'tcp://localhost:1' })).toThrow(KestSpiffeError);
  });
});
