/**
 * Verifier state across trust changes and who may start a lineage:
 * - the verified-tip cache follows the trust source's epoch (a revoked key proves nothing cached),
 * - `roots`: only listed principals may sign root entries, within their origin-trust cap,
 * - ES256 malleability (s → n−s) inside one passport is caught as a duplicate entry_id.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildEntry, canonicalBytes, parseJws, signJws, verifyJwsSignature } from '../../src/entry/index.js';
import {
  JwksTrustSource,
  KestConfigurationError,
  KestVerificationError,
  type KeyRequest,
  PassportVerifier,
  type TrustSource,
  type VerificationReason,
} from '../../src/index.js';
import { buildPassport, workloads } from '../support/chain.js';

async function reasonOf(p: Promise<unknown>): Promise<{ reason: VerificationReason; index: number } | 'ok'> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KestVerificationError) return { reason: err.reason, index: err.index };
    throw err;
  }
  return 'ok';
}

describe('verified-tip cache follows the trust source epoch (M3)', () => {
  it('JwksTrustSource: a revoked principal refuses a passport verified (and cached) before', async () => {
    const { ids, trust } = workloads(3, 'spiffe://revoke.kest/svc');
    const [a, b, c] = ids as [(typeof ids)[0], (typeof ids)[0], (typeof ids)[0]];
    const v = new PassportVerifier({ trust });
    const p = await buildPassport([{ identity: a, sourceType: 'system' }, { identity: b }, { identity: c }]);
    expect((await v.verify(p)).cachedEntries).toBe(0);
    expect((await v.verify(p)).cachedEntries).toBe(3);

    expect(trust.remove(b.getWorkloadId())).toBe(1);
    // No clearCache(): the epoch moved, so the cache is dropped and entry 1 is checked again.
    expect(await reasonOf(v.verify(p))).toEqual({ reason: 'unknown_principal', index: 1 });
    // Nor does a longer passport built on the cached tip get credit for it.
    const longer = await buildPassport([{ identity: a }], p);
    expect(await reasonOf(v.verify(longer))).toEqual({ reason: 'unknown_principal', index: 1 });
  });

  it('JwksTrustSource: revoking one kid refuses its entries with key_not_anchored', async () => {
    const { ids, trust } = workloads(2, 'spiffe://kid.kest/svc');
    const [a, b] = ids as [(typeof ids)[0], (typeof ids)[0]];
    // b rolls to a second key; both anchored.
    const spare = generateKeyPairSync('ed25519');
    trust.addKey(b.getWorkloadId(), {
      ...(spare.publicKey.export({ format: 'jwk' }) as Record<string, string>),
      kid: 'spare',
    } as never);
    const v = new PassportVerifier({ trust });
    const p = await buildPassport([{ identity: a, sourceType: 'system' }, { identity: b }]);
    await v.verify(p);
    expect((await v.verify(p)).cachedEntries).toBe(2);

    const kid = parseJws(p.toJSON()[1]!).header.kid as string;
    expect(trust.remove(b.getWorkloadId(), 'no-such-kid')).toBe(0);
    expect((await v.verify(p)).cachedEntries).toBe(2);
    expect(trust.remove(b.getWorkloadId(), kid)).toBe(1);
    expect(await reasonOf(v.verify(p))).toEqual({ reason: 'key_not_anchored', index: 1 });
  });

  it('JwksTrustSource.epoch changes with every add and remove, not with lookups', async () => {
    const { ids, trust } = workloads(2, 'spiffe://epoch.kest/svc');
    const e0 = trust.epoch();
    const p = await buildPassport([{ identity: ids[0]!, sourceType: 'system' }]);
    await new PassportVerifier({ trust }).verify(p);
    expect(trust.epoch()).toBe(e0);
    trust.add({ keys: [] });
    expect(trust.epoch()).toBe(e0);
    const extra = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    trust.addKey('spiffe://epoch.kest/new', extra as never);
    const e1 = trust.epoch();
    expect(e1).not.toBe(e0);
    trust.remove('spiffe://epoch.kest/new');
    expect(trust.epoch()).not.toBe(e1);
    expect(trust.principals).not.toContain('spiffe://epoch.kest/new');
  });

  it('any TrustSource with epoch(): a moved epoch drops cached tips and bumps cacheGeneration()', async () => {
    const { ids, trust: inner } = workloads(2, 'spiffe://custom.kest/svc');
    let epoch = 1;
    const trust: TrustSource = {
      resolveKey: (r: KeyRequest): KeyObject => inner.resolveKey(r),
      epoch: () => epoch,
    };
    const v = new PassportVerifier({ trust });
    const p = await buildPassport([{ identity: ids[0]!, sourceType: 'system' }, { identity: ids[1]! }]);
    await v.verify(p);
    const g = v.cacheGeneration();
    expect((await v.verify(p)).cachedEntries).toBe(2);
    expect(v.cacheGeneration()).toBe(g);
    epoch = 2;
    expect(v.cacheGeneration()).toBe(g + 1);
    expect((await v.verify(p)).cachedEntries).toBe(0);
    expect((await v.verify(p)).cachedEntries).toBe(2);
    v.clearCache();
    expect(v.cacheGeneration()).toBe(g + 2);
  });

  it('a tip verified while the epoch moved is not cached under the new epoch', async () => {
    const { ids, trust: inner } = workloads(2, 'spiffe://race.kest/svc');
    const [slow, fast] = ids as [(typeof ids)[0], (typeof ids)[0]];
    let epoch = 1;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const trust: TrustSource = {
      resolveKey: async (r: KeyRequest): Promise<KeyObject> => {
        if (r.principal === slow.getWorkloadId()) await gate;
        return inner.resolveKey(r);
      },
      epoch: () => epoch,
    };
    const v = new PassportVerifier({ trust });
    const p = await buildPassport([{ identity: slow, sourceType: 'system' }, { identity: fast }]);
    const first = v.verify(p); // starts under epoch 1, then waits for its key
    epoch = 2; // e.g. a key was revoked meanwhile
    await v.verify(await buildPassport([{ identity: fast, sourceType: 'system' }])); // syncs to epoch 2
    release();
    expect((await first).cachedEntries).toBe(0);
    expect((await v.verify(p)).cachedEntries).toBe(0);
  });

  it('a trust source without epoch() keeps its cache (backward compatible)', async () => {
    const { ids, trust: inner } = workloads(1, 'spiffe://plain.kest/svc');
    const trust: TrustSource = { resolveKey: (r) => inner.resolveKey(r) };
    const v = new PassportVerifier({ trust });
    const p = await buildPassport([{ identity: ids[0]!, sourceType: 'system' }]);
    await v.verify(p);
    expect((await v.verify(p)).cachedEntries).toBe(1);
  });
});

describe('roots: who may start a lineage (H2)', () => {
  const { ids, trust } = workloads(3, 'spiffe://roots.kest/svc');
  const [gateway, worker, other] = ids as [(typeof ids)[0], (typeof ids)[0], (typeof ids)[0]];

  it('unset: any anchored principal may start a root of source_type system (today)', async () => {
    const fresh = await buildPassport([{ identity: worker, sourceType: 'system' }]);
    expect((await new PassportVerifier({ trust }).verify(fresh)).trustScore).toBe(100);
  });

  it('set: a root by an unlisted principal is refused with unauthorized_root', async () => {
    const v = new PassportVerifier({ trust, roots: [{ principal: gateway.getWorkloadId() }] });
    const ok = await buildPassport([{ identity: gateway, sourceType: 'system' }, { identity: worker }]);
    expect((await v.verify(ok)).trustScore).toBe(100);
    // The worker received a lowered lineage and starts afresh instead of extending it.
    const laundered = await buildPassport([{ identity: worker, sourceType: 'system' }, { identity: other }]);
    expect(await reasonOf(v.verify(laundered))).toEqual({ reason: 'unauthorized_root', index: 0 });
  });

  it('maxSourceTrust caps the origin trust of a listed principal', async () => {
    const v = new PassportVerifier({
      trust,
      roots: [
        { principal: gateway.getWorkloadId(), maxSourceTrust: 10 },
        { principal: worker.getWorkloadId() },
      ],
    });
    const internet = await buildPassport([{ identity: gateway, sourceType: 'internet' }]);
    expect((await v.verify(internet)).trustScore).toBe(10);
    const system = await buildPassport([{ identity: gateway, sourceType: 'system' }]);
    expect(await reasonOf(v.verify(system))).toEqual({ reason: 'unauthorized_root', index: 0 });
    expect(
      (await v.verify(await buildPassport([{ identity: worker, sourceType: 'system' }]))).trustScore,
    ).toBe(100);
  });

  it('with allowMultipleRoots every root is checked', async () => {
    const v = new PassportVerifier({
      trust,
      allowMultipleRoots: true,
      roots: [{ principal: gateway.getWorkloadId(), maxSourceTrust: 10 }],
    });
    const base = await buildPassport([{ identity: gateway, sourceType: 'internet' }, { identity: worker }]);
    await v.verify(base);
    const joined = await buildPassport([{ identity: worker, sourceType: 'system', parents: [] }], base);
    expect(await reasonOf(v.verify(joined))).toEqual({ reason: 'unauthorized_root', index: 2 });
  });

  it('an empty list admits no root at all; bad rules are configuration errors', async () => {
    const v = new PassportVerifier({ trust, roots: [] });
    expect(
      await reasonOf(v.verify(await buildPassport([{ identity: gateway, sourceType: 'internet' }]))),
    ).toEqual({
      reason: 'unauthorized_root',
      index: 0,
    });
    expect((await v.verify('[]')).trustScore).toBeNull();
    expect(() => new PassportVerifier({ trust, roots: [{ principal: '' }] })).toThrow(KestConfigurationError);
    expect(
      () => new PassportVerifier({ trust, roots: [{ principal: 'spiffe://x/y', maxSourceTrust: 101 }] }),
    ).toThrow(KestConfigurationError);
    expect(() => new PassportVerifier({ trust, roots: {} as never })).toThrow(KestConfigurationError);
  });
});

describe('ES256 malleability (L1, documented)', () => {
  const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

  it('the s → n−s twin of an entry verifies alone but is a duplicate entry_id in the same passport', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const principal = 'spiffe://ec.kest/svc';
    const trust = new JwksTrustSource({ [principal]: { ...publicKey.export({ format: 'jwk' }), kid: 'ec' } });
    const payload = buildEntry({
      operation: 'op',
      principal,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      labels: { 'kest.source_type': 'system' },
      trustScore: 100,
    });
    const jws = signJws(canonicalBytes(payload), privateKey, { kid: 'ec', typ: 'JWS' });
    const [h, p, s] = jws.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    const sValue = BigInt(`0x${sig.subarray(32).toString('hex')}`);
    const twinS = Buffer.from((N - sValue).toString(16).padStart(64, '0'), 'hex');
    const twin = `${h}.${p}.${Buffer.concat([sig.subarray(0, 32), twinS]).toString('base64url')}`;
    expect(twin).not.toBe(jws);
    // Not rejected (other implementations do not normalise s) ...
    verifyJwsSignature(parseJws(twin), publicKey);
    const v = new PassportVerifier({ trust, allowMultipleRoots: true });
    expect((await v.verify([twin])).valid).toBe(true);
    // ... but both in one passport are the same entry twice.
    expect(await reasonOf(v.verify([jws, twin]))).toEqual({ reason: 'duplicate_entry', index: 1 });
  });
});
