/**
 * The handoff module on its own: what it signs (RFC 8785 `{tip, aud, iat, exp, jti}`), the strict
 * parse of what it receives, and the bounded in-memory replay store.
 */
import { describe, expect, it } from 'vitest';
import { KestCacheError, KestIngressRefusal } from '../../src/errors.js';
import { checkHandoffWindow, signHandoff, verifyHandoff } from '../../src/handoff/handoff.js';
import { MemoryReplayStore } from '../../src/handoff/replay-store.js';
import { refusalFor } from '../../src/http/refusal.js';
import { canonicalize } from '../../src/wire/canonical.js';
import { signJws } from '../../src/wire/jws.js';
import { buildPassport, workloads } from '../support/chain.js';

const { ids, trust } = workloads(2);

async function reasonOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(KestIngressRefusal);
    return (err as KestIngressRefusal).reason;
  }
}

describe('handoff', () => {
  it('signs canonical {tip, aud, iat, exp, jti} with the tip signer, 60 s, 128-bit jti', async () => {
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const jws = (await signHandoff(ids[0]!, passport, 'spiffe://x/y', { now: 1_700_000_000_000 })) as string;
    const payload = Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8');
    const claims = JSON.parse(payload) as Record<string, unknown>;
    expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'jti', 'tip']);
    expect(claims).toMatchObject({
      tip: passport.tipHash,
      aud: 'spiffe://x/y',
      iat: 1_700_000_000,
      exp: 1_700_000_060,
    });
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(payload).toBe(canonicalize(claims));
    expect(await verifyHandoff(jws, passport, trust)).toEqual(claims);
    expect(await signHandoff(ids[0]!, (await buildPassport([])) as never, 'a')).toBeUndefined();
  });

  it('refuses extra members, non-canonical bytes, long lifetimes and bad jtis as bad_handoff', async () => {
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const key = (ids[0] as unknown as { privateKey?: unknown }).privateKey;
    const good = { tip: passport.tipHash, aud: 'a', iat: 1, exp: 61, jti: 'A'.repeat(22) };
    const sign = async (value: unknown, raw?: string) =>
      key
        ? signJws(Buffer.from(raw ?? canonicalize(value)), key as never)
        : ids[0]!.sign(Buffer.from(raw ?? canonicalize(value)));
    for (const bad of [
      { ...good, extra: 1 },
      { ...good, exp: 1000 },
      { ...good, jti: 'short' },
      { ...good, tip: 'x' },
    ]) {
      expect(await reasonOf(verifyHandoff(await sign(bad), passport, trust))).toBe('bad_handoff');
    }
    const spaced = JSON.stringify(good, null, 1);
    expect(await reasonOf(verifyHandoff(await sign(good, spaced), passport, trust))).toBe('bad_handoff');
    expect(await reasonOf(verifyHandoff(await sign(good), passport, trust))).toBeUndefined();
  });

  it('checks the window with bounded skew', async () => {
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const claims = { tip: passport.tipHash!, aud: 'a', iat: 100, exp: 160, jti: 'A'.repeat(22) };
    expect(() => checkHandoffWindow(claims, passport, 5000, 150_000)).not.toThrow();
    expect(() => checkHandoffWindow(claims, passport, 5000, 164_000)).not.toThrow();
    expect(() => checkHandoffWindow(claims, passport, 5000, 165_000)).toThrow(/expired/);
    expect(() => checkHandoffWindow(claims, passport, 5000, 94_000)).toThrow(/future/);
  });

  it('replay_store_unavailable is a 503 with retry-after; the other handoff reasons are 401', () => {
    const details = { index: 0 };
    expect(
      refusalFor(new KestIngressRefusal('replay_store_unavailable', 'x', details), 'ingress'),
    ).toMatchObject({
      status: 503,
      body: { reason: 'replay_store_unavailable' },
      headers: { 'retry-after': '1' },
    });
    for (const reason of [
      'missing_handoff',
      'bad_handoff',
      'wrong_audience',
      'expired_handoff',
      'replayed',
      'unbound_handoff',
    ] as const) {
      expect(refusalFor(new KestIngressRefusal(reason, 'x', details), 'ingress')?.status).toBe(401);
    }
  });
});

describe('MemoryReplayStore', () => {
  it('claims once until expiry, and refuses (never forgets a live key) when full', () => {
    const store = new MemoryReplayStore({ maxEntries: 2 });
    expect(store.claimSync('a', 1000, 0)).toBe(true);
    expect(store.claimSync('a', 1000, 500)).toBe(false);
    expect(store.claimSync('a', 1000, 1000)).toBe(true);
    expect(store.claimSync('b', 1000, 1000)).toBe(true);
    expect(() => store.claimSync('c', 1000, 1500)).toThrow(KestCacheError);
    expect(store.claimSync('a', 1000, 1500)).toBe(false);
    expect(store.claimSync('c', 1000, 2500)).toBe(true); // a and b expired: swept
    expect(store.size).toBe(1);
  });
});
