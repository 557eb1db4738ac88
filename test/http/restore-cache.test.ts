/**
 * The restored-passport cache of the HTTP core (security review M4, L4, M3): only verified
 * passports are kept, memory is bounded by bytes as well as slots, every request gets its own
 * Passport, and a kept verdict is never served after the trust source's keys changed.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KestHttpCore } from '../../src/http/core.js';
import {
  configure,
  KestError,
  KestVerificationError,
  type KeyRequest,
  PassportVerifier,
  resetConfiguration,
  silentLogger,
  type TrustSource,
} from '../../src/index.js';
import { buildPassport, workloads } from '../support/chain.js';
import { baggageFor } from './helpers.js';

beforeAll(() => configure({ logger: silentLogger }));
afterAll(() => resetConfiguration());

/** A trust source whose keys can be revoked; its epoch moves on every revocation. */
class RevocableTrust implements TrustSource {
  readonly #inner: TrustSource;
  readonly #revoked = new Set<string>();
  #epoch = 0;
  constructor(inner: TrustSource) {
    this.#inner = inner;
  }
  resolveKey(request: KeyRequest) {
    if (this.#revoked.has(request.principal)) {
      throw new KestVerificationError('key_not_anchored', `${request.principal} was revoked`, {
        index: request.index,
      });
    }
    return this.#inner.resolveKey(request);
  }
  revoke(principal: string): void {
    this.#revoked.add(principal);
    this.#epoch++;
  }
  epoch(): number {
    return this.#epoch;
  }
}

describe('M4: only verified passports are kept, bounded by bytes', () => {
  const { ids, trust } = workloads(3);
  const stranger = workloads(1, 'spiffe://stranger.example/svc').ids[0]!;

  it('refused passports (distinct bytes, unanchored signer) leave the cache empty', async () => {
    const core = new KestHttpCore({ trust });
    for (let i = 0; i < 20; i++) {
      const junk = await buildPassport([{ identity: stranger, operation: `junk${i}` }]);
      const err = await core.admit({ baggage: await baggageFor(junk) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KestError);
    }
    expect(core.restoreCacheStats).toEqual({ size: 0, bytes: 0 });
    // A verified one is kept (control).
    const good = await buildPassport([{ identity: ids[0]! }]);
    await core.admit({ baggage: await baggageFor(good) });
    expect(core.restoreCacheStats.size).toBe(1);
    expect(core.restoreCacheStats.bytes).toBeGreaterThan(0);
  });

  it('the total estimated bytes stay under restoreCacheBytes (oldest evicted first)', async () => {
    const one = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const probe = new KestHttpCore({ trust });
    await probe.admit({ baggage: await baggageFor(one) });
    const perSlot = probe.restoreCacheStats.bytes;
    // Room for three slots of this size, far fewer than restoreCacheSize.
    const core = new KestHttpCore({
      trust,
      restoreCacheSize: 512,
      restoreCacheBytes: perSlot * 3 + perSlot / 2,
    });
    const headers: { baggage: string }[] = [];
    for (let i = 0; i < 6; i++) {
      const p = await buildPassport([{ identity: ids[0]!, operation: `op-${i}` }, { identity: ids[1]! }]);
      headers.push({ baggage: await baggageFor(p) });
      await core.admit(headers[i]!);
      expect(core.restoreCacheStats.bytes).toBeLessThanOrEqual(perSlot * 3 + perSlot / 2);
    }
    expect(core.restoreCacheStats.size).toBe(3);
    // The newest is still kept (no re-verification), the oldest was evicted (verified again).
    const verify = vi.spyOn(core.verifier(), 'verify');
    await core.admit(headers[5]!);
    expect(verify).toHaveBeenCalledTimes(0);
    await core.admit(headers[0]!);
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it('a passport larger than the whole budget is verified but never kept', async () => {
    const core = new KestHttpCore({ trust, restoreCacheBytes: 1024 });
    const p = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }, { identity: ids[2]! }]);
    const admitted = await core.admit({ baggage: await baggageFor(p) });
    expect(admitted.passport.length).toBe(3);
    expect(core.restoreCacheStats).toEqual({ size: 0, bytes: 0 });
  });
});

describe('L4: every request gets its own Passport', () => {
  const { ids, trust } = workloads(2);

  it('what one request appends never reaches another request with the same bytes', async () => {
    const core = new KestHttpCore({ trust });
    const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const headers = { baggage: await baggageFor(passport) };
    const first = await core.admit(headers); // verified, kept
    const second = await core.admit(headers); // served from the cache
    const third = await core.admit(headers);
    expect(second.passport).not.toBe(third.passport);
    expect(second.report?.passport).toBe(second.passport);

    // App code of the second request appends an entry nobody verified.
    const unverified = (await buildPassport([{ identity: ids[0]!, operation: 'sneaky' }])).entries[0]!.jws;
    second.passport.addSignature(unverified);
    first.passport.addSignature(unverified);
    expect(second.passport.length).toBe(3);

    expect(third.passport.length).toBe(2);
    const fourth = await core.admit(headers);
    expect(fourth.passport.length).toBe(2);
    expect(fourth.passport.tipHash).toBe(passport.tipHash);
    expect(fourth.report?.passport.length).toBe(2);
  });

  it('the shared parsed entries are frozen: a handler cannot rewrite a kept entry', async () => {
    const core = new KestHttpCore({ trust });
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const headers = { baggage: await baggageFor(passport) };
    await core.admit(headers);
    const hit = await core.admit(headers);
    const payload = hit.passport.entries[0]!.payload as { trust_score: number };
    expect(() => {
      payload.trust_score = 0;
    }).toThrow(TypeError);
    expect((await core.admit(headers)).passport.entries[0]!.payload.trust_score).toBe(
      passport.entries[0]!.payload.trust_score,
    );
  });
});

describe('M3: a kept verdict does not outlive the keys that proved it', () => {
  it('revoking a key (trust epoch moves) refuses the same bytes on the next arrival', async () => {
    const { ids, trust: jwks } = workloads(2);
    const trust = new RevocableTrust(jwks);
    const core = new KestHttpCore({ trust });
    const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const headers = { baggage: await baggageFor(passport) };
    await core.admit(headers);
    await core.admit(headers); // a cache hit
    trust.revoke(ids[0]!.getWorkloadId());
    await expect(core.admit(headers)).rejects.toMatchObject({
      code: 'ERR_VERIFICATION_FAILED',
      reason: 'key_not_anchored',
      index: 0,
    });
    // Failures are not kept either: still refused.
    await expect(core.admit(headers)).rejects.toMatchObject({ reason: 'key_not_anchored' });
  });

  it('also with a shared verifier passed as `verifier`', async () => {
    const { ids, trust: jwks } = workloads(2);
    const trust = new RevocableTrust(jwks);
    const core = new KestHttpCore({ verifier: new PassportVerifier({ trust }) });
    const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const headers = { baggage: await baggageFor(passport) };
    await core.admit(headers);
    await core.admit(headers);
    trust.revoke(ids[1]!.getWorkloadId());
    await expect(core.admit(headers)).rejects.toMatchObject({ reason: 'key_not_anchored', index: 1 });
  });

  it('a new trust source from configure() verifies again', async () => {
    const { ids, trust } = workloads(2);
    const other = workloads(1, 'spiffe://other.example/svc').trust;
    configure({ trust });
    try {
      const core = new KestHttpCore({});
      const passport = await buildPassport([{ identity: ids[0]! }]);
      const headers = { baggage: await baggageFor(passport) };
      await core.admit(headers);
      configure({ trust: other });
      await expect(core.admit(headers)).rejects.toMatchObject({ code: 'ERR_VERIFICATION_FAILED' });
    } finally {
      resetConfiguration();
      configure({ logger: silentLogger });
    }
  });
});

describe('the cache still works', () => {
  it('a hit is not re-verified, and the empty passport is never kept', async () => {
    const { ids, trust } = workloads(1);
    const core = new KestHttpCore({ trust });
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const headers = { baggage: await baggageFor(passport) };
    await core.admit(headers);
    const verify = vi.spyOn(core.verifier(), 'verify');
    const hit = await core.admit(headers);
    expect(verify).not.toHaveBeenCalled();
    expect(hit.report?.tipHash).toBe(passport.tipHash);
    await core.admit({});
    expect(core.restoreCacheStats.size).toBe(1);
  });
});

describe('keyed by the declared chain tip, served only for the exact same bytes', () => {
  const { ids, trust } = workloads(3);

  it('two passports with the same tip but other bytes (sibling order) never share a slot', async () => {
    // root → (a, b) → join: the siblings a and b may come in either order; the tip is the same.
    const base = await buildPassport([{ identity: ids[0]!, sourceType: 'internal' }]);
    const withA = await buildPassport([{ identity: ids[1]!, operation: 'a', parents: [0] }], base);
    const withAB = await buildPassport([{ identity: ids[2]!, operation: 'b', parents: [0] }], withA);
    const joined = await buildPassport([{ identity: ids[0]!, operation: 'join', parents: [1, 2] }], withAB);
    const [r, a, b, j] = joined.toJSON() as [string, string, string, string];
    const core = new KestHttpCore({ trust, roots: [{ principal: ids[0]!.getWorkloadId() }] });
    const verify = vi.spyOn(PassportVerifier.prototype, 'verify');
    try {
      const first = await core.admit({ baggage: await baggageFor(joined) });
      expect(first.passport.entries.map((e) => e.payload.operation)).toEqual(['op0', 'a', 'b', 'join']);
      const swapped = (await import('../../src/passport/passport.js')).Passport.fromJws([r, b, a, j]);
      expect(swapped.tipHash).toBe(joined.tipHash);
      const second = await core.admit({ baggage: await baggageFor(swapped) });
      // not served from the first slot: its own entries, in its own order, verified on their own
      expect(second.passport.entries.map((e) => e.payload.operation)).toEqual(['op0', 'b', 'a', 'join']);
      expect(verify).toHaveBeenCalledTimes(2);
      // the same bytes again (the slot for this tip now holds them): a hit, no third verification
      const again = await core.admit({ baggage: await baggageFor(swapped) });
      expect(again.passport.entries.map((e) => e.payload.operation)).toEqual(['op0', 'b', 'a', 'join']);
      expect(verify).toHaveBeenCalledTimes(2);
      // and the first bytes, whose slot was replaced, are verified again rather than served wrongly
      const first2 = await core.admit({ baggage: await baggageFor(joined) });
      expect(first2.passport.entries.map((e) => e.payload.operation)).toEqual(['op0', 'a', 'b', 'join']);
      expect(verify).toHaveBeenCalledTimes(3);
    } finally {
      verify.mockRestore();
    }
  });
});

describe('a burst of one new passport costs one verification (single flight)', () => {
  const { ids, trust } = workloads(3);

  it('50 concurrent copies: one verify, 50 admissions, each with its own Passport', async () => {
    const core = new KestHttpCore({ trust });
    const verify = vi.spyOn(core.verifier(), 'verify');
    const p = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }, { identity: ids[2]! }]);
    const baggage = await baggageFor(p);
    const admitted = await Promise.all(Array.from({ length: 50 }, () => core.admit({ baggage })));
    expect(verify).toHaveBeenCalledTimes(1);
    expect(admitted.map((a) => a.passport.tipHash)).toEqual(Array(50).fill(p.tipHash));
    expect(new Set(admitted.map((a) => a.passport)).size).toBe(50);
  });

  it('waiters never inherit a verdict: a failed leader, and other bytes under the same tip, verify on their own', async () => {
    const stranger = workloads(1, 'spiffe://stranger.example/svc').ids[0]!;
    const core = new KestHttpCore({ trust });
    const verify = vi.spyOn(core.verifier(), 'verify');
    const bad = await baggageFor(await buildPassport([{ identity: stranger }]));
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => core.admit({ baggage: bad })));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    // Nothing was kept, so every copy was verified (and refused) by itself.
    expect(verify).toHaveBeenCalledTimes(5);
    // Other bytes under the same declared tip (one signature character changed): refused while the
    // real one, sent at the same moment, is admitted.
    const good = await buildPassport([{ identity: ids[0]! }]);
    const goodBaggage = await baggageFor(good);
    const [jws] = good.toJSON() as [string];
    const at = jws.length - 10;
    const swapped = `${jws.slice(0, at)}${jws[at] === 'A' ? 'B' : 'A'}${jws.slice(at + 1)}`;
    const forged = goodBaggage.replace(
      encodeURIComponent(JSON.stringify([jws])),
      encodeURIComponent(JSON.stringify([swapped])),
    );
    expect(forged).not.toBe(goodBaggage);
    const [ok, refused] = await Promise.allSettled([
      core.admit({ baggage: goodBaggage }),
      core.admit({ baggage: forged }),
    ]);
    expect(ok.status).toBe('fulfilled');
    expect(refused.status).toBe('rejected');
  });
});
