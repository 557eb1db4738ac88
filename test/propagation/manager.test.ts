import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  KestBaggageError,
  KestCacheError,
  KestClaimCheckError,
  KestPassportError,
  KestVerificationError,
} from '../../src/errors.js';
import { Passport } from '../../src/passport/passport.js';
import { parseBaggageMembers, serializeBaggage } from '../../src/propagation/baggage.js';
import { type CacheProvider, MemoryCacheProvider } from '../../src/propagation/cache.js';
import {
  BaggageManager,
  identityMembers,
  passportTier,
  readUpstreamIdentity,
} from '../../src/propagation/manager.js';
import { BAGGAGE_KEY } from '../../src/wire/constants.js';
import { makePassport } from './fixtures.js';

/** Through the wire: members → header → members, as a real hop sees them. */
function overTheWire(members: Record<string, string>): Record<string, string> {
  return { ...parseBaggageMembers(serializeBaggage(members)) };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const small = makePassport(2);
const medium = makePassport(12); // ~> 4 KiB JSON, compresses under it
const large = makePassport(60);

describe('BaggageManager tier selection (docs/spec.md §5)', () => {
  it('sizes of the fixtures cover the three tiers', () => {
    expect(small.serialize().length).toBeLessThan(4000);
    expect(medium.serialize().length).toBeGreaterThan(4096);
    expect(large.serialize().length).toBeGreaterThan(20_000);
  });

  it('a small passport goes inline as the JSON array, with the chain tip', async () => {
    const m = await new BaggageManager().store(small);
    expect(passportTier(m)).toBe('inline');
    expect(m[BAGGAGE_KEY.passport]).toBe(small.serialize());
    expect(m[BAGGAGE_KEY.chainTip]).toBe(small.tipHash);
    const back = await new BaggageManager().restore(overTheWire(m));
    expect(back.serialize()).toBe(small.serialize());
  });

  it('a passport over 4096 encoded bytes goes compressed (zlib + base64url)', async () => {
    const m = await new BaggageManager().store(medium);
    expect(passportTier(m)).toBe('compressed');
    expect(m[BAGGAGE_KEY.passport]).toBeUndefined();
    expect(m[BAGGAGE_KEY.passportCompressed]).toMatch(/^[A-Za-z0-9_-]+$/);
    const back = await new BaggageManager().restore(overTheWire(m));
    expect(back.serialize()).toBe(medium.serialize());
    expect(back.tipHash).toBe(medium.tipHash);
  });

  it('the tier follows the encoded size, not the raw JSON size', async () => {
    // Quotes, commas and brackets of the JSON array percent-encode to 3 bytes each: find a passport
    // whose raw member fits in 4096 bytes but whose encoded member does not.
    const keyBytes = BAGGAGE_KEY.passport.length + 1;
    let p: Passport | undefined;
    for (let pad = 0; pad < 600 && !p; pad++) {
      const candidate = makePassport(4, { pad: 'x'.repeat(pad) });
      const raw = keyBytes + candidate.serialize().length;
      const encoded = keyBytes + encodeURIComponent(candidate.serialize()).length;
      if (raw <= 4096 && encoded > 4096) p = candidate;
    }
    expect(p).toBeDefined();
    const m = await new BaggageManager().store(p as Passport);
    expect(passportTier(m)).toBe('compressed');
    expect((await new BaggageManager().restore(overTheWire(m))).serialize()).toBe(p?.serialize());
  });

  it('a passport too large for baggage becomes a claim check in the cache', async () => {
    const cache = new MemoryCacheProvider();
    const mgr = new BaggageManager({ cache });
    const m = await mgr.store(large);
    expect(passportTier(m)).toBe('claim_check');
    expect(m[BAGGAGE_KEY.claimCheck]).toMatch(/^[0-9a-f-]{36}$/);
    expect(await cache.get(m[BAGGAGE_KEY.claimCheck] as string)).toBe(large.serialize());
    const back = await mgr.restore(overTheWire(m));
    expect(back.serialize()).toBe(large.serialize());
  });

  it('the cache can be given per call', async () => {
    const cache = new MemoryCacheProvider();
    const mgr = new BaggageManager();
    const m = await mgr.store(large, cache);
    expect(passportTier(m)).toBe('claim_check');
    expect((await mgr.restore(m, cache)).length).toBe(60);
  });

  it('too large with no cache configured throws; it is never dropped', async () => {
    const err = await rejection(new BaggageManager().store(large));
    expect(err).toBeInstanceOf(KestPassportError);
    expect((err as KestPassportError).code).toBe('ERR_PASSPORT_TOO_LARGE');
    expect(err.message).toMatch(/no claim-check cache/);
  });

  it('minTier forces a larger tier', async () => {
    const cache = new MemoryCacheProvider();
    expect(passportTier(await new BaggageManager({ minTier: 'compressed' }).store(small))).toBe('compressed');
    expect(passportTier(await new BaggageManager({ minTier: 'claim_check', cache }).store(small))).toBe(
      'claim_check',
    );
  });

  it('other members share the 8192-byte header: the tier moves up to fit', async () => {
    const cache = new MemoryCacheProvider();
    const mgr = new BaggageManager({ cache });
    const alone = await mgr.store(medium);
    expect(passportTier(alone)).toBe('compressed');
    const crowd: Record<string, string> = { 'app.a': 'x'.repeat(4000), 'app.b': 'y'.repeat(3000) };
    const m = await mgr.store(medium, undefined, { members: crowd });
    expect(passportTier(m)).toBe('claim_check');
    const header = serializeBaggage(m); // would throw if over any limit
    expect(header.length).toBeLessThanOrEqual(8192);
    expect(m['app.a']).toBe(crowd['app.a']);
  });

  it('members that leave no room at all are an error, not a dropped passport', async () => {
    const crowd = { a: 'x'.repeat(4090), b: 'y'.repeat(4090) };
    const err = await rejection(
      new BaggageManager({ cache: new MemoryCacheProvider() }).store(small, undefined, { members: crowd }),
    );
    expect(err).toBeInstanceOf(KestBaggageError);
  });

  it('forwarded members lose stale kest transport members and kest.jwt', async () => {
    const incoming = {
      [BAGGAGE_KEY.passport]: '["stale"]',
      [BAGGAGE_KEY.claimCheck]: '00000000-0000-4000-8000-000000000000',
      [BAGGAGE_KEY.chainTip]: 'f'.repeat(64),
      [BAGGAGE_KEY.jwt]: 'secret.token.here',
      'app.tenant': 'acme',
    };
    const m = await new BaggageManager().store(small, undefined, { members: incoming });
    expect(m[BAGGAGE_KEY.jwt]).toBeUndefined();
    expect(m[BAGGAGE_KEY.claimCheck]).toBeUndefined();
    expect(m[BAGGAGE_KEY.passport]).toBe(small.serialize());
    expect(m[BAGGAGE_KEY.chainTip]).toBe(small.tipHash);
    expect(m['app.tenant']).toBe('acme');
  });

  it('an empty passport carries nothing and restores as empty', async () => {
    const mgr = new BaggageManager();
    const m = await mgr.store(Passport.empty());
    expect(passportTier(m)).toBeUndefined();
    expect(m[BAGGAGE_KEY.chainTip]).toBeUndefined();
    expect((await mgr.restore({})).length).toBe(0);
    expect((await mgr.restore({ 'app.x': '1' })).length).toBe(0);
  });
});

describe('identity members (untrusted upstream claims)', () => {
  it('writes and reads kest.user / kest.agent / kest.task', async () => {
    const m = await new BaggageManager().store(small, undefined, {
      identity: { user: 'alice@example.org', agent: 'planner', task: 'quarterly report; draft' },
    });
    const wire = overTheWire(m);
    expect(readUpstreamIdentity(wire)).toEqual({
      user: 'alice@example.org',
      agent: 'planner',
      task: 'quarterly report; draft',
    });
    expect(identityMembers({ user: 'u', task: '' })).toEqual({ [BAGGAGE_KEY.user]: 'u' });
    expect(readUpstreamIdentity({})).toEqual({});
  });
});

describe('BaggageManager.restore refuses what does not add up', () => {
  const mgr = new BaggageManager({ cache: new MemoryCacheProvider() });

  it('chain_tip mismatch: a truncated passport is refused', async () => {
    const m = { ...(await mgr.store(small)) };
    const truncated = Passport.fromJws([small.entries[0]?.jws]);
    m[BAGGAGE_KEY.passport] = truncated.serialize();
    const err = await rejection(mgr.restore(m));
    expect(err).toBeInstanceOf(KestVerificationError);
    expect((err as KestVerificationError).reason).toBe('chain_tip_mismatch');
  });

  it('chain_tip mismatch: a swapped passport (another lineage) is refused, in every tier', async () => {
    const other = makePassport(2);
    for (const minTier of ['inline', 'compressed', 'claim_check'] as const) {
      const cache = new MemoryCacheProvider();
      const mgr2 = new BaggageManager({ cache, minTier });
      const m = { ...(await mgr2.store(other)) };
      m[BAGGAGE_KEY.chainTip] = small.tipHash as string;
      const err = await rejection(mgr2.restore(m));
      expect(err).toBeInstanceOf(KestVerificationError);
      expect((err as KestVerificationError).reason).toBe('chain_tip_mismatch');
    }
  });

  it('an empty passport array with a chain tip is refused', async () => {
    const err = await rejection(
      mgr.restore({ [BAGGAGE_KEY.passport]: '[]', [BAGGAGE_KEY.chainTip]: small.tipHash as string }),
    );
    expect(err).toBeInstanceOf(KestVerificationError);
  });

  it('a passport without its chain tip is malformed', async () => {
    const err = await rejection(mgr.restore({ [BAGGAGE_KEY.passport]: small.serialize() }));
    expect(err).toBeInstanceOf(KestBaggageError);
    expect(err.message).toMatch(/without kest.chain_tip/);
  });

  it('a chain tip whose passport was dropped in transit is refused, not read as a new lineage', async () => {
    const err = await rejection(mgr.restore({ [BAGGAGE_KEY.chainTip]: small.tipHash as string }));
    expect(err).toBeInstanceOf(KestBaggageError);
    expect(err.message).toMatch(/lost in transit/);
  });

  it('a malformed chain tip is refused', async () => {
    const m = {
      ...(await mgr.store(small)),
      [BAGGAGE_KEY.chainTip]: (small.tipHash as string).toUpperCase(),
    };
    expect(await rejection(mgr.restore(m))).toBeInstanceOf(KestBaggageError);
  });

  it('two passport members at once are refused', async () => {
    const m = await new BaggageManager().store(small);
    const z = await new BaggageManager({ minTier: 'compressed' }).store(small);
    const err = await rejection(mgr.restore({ ...m, ...z }));
    expect(err).toBeInstanceOf(KestBaggageError);
    expect(err.message).toMatch(/more than one/);
  });

  it('an inline passport that is not a passport is a KestPassportError', async () => {
    const tip = small.tipHash as string;
    for (const bad of ['', 'not json', '{"a":1}', '["x.y.z"]']) {
      const err = await rejection(mgr.restore({ [BAGGAGE_KEY.passport]: bad, [BAGGAGE_KEY.chainTip]: tip }));
      expect(err).toBeInstanceOf(KestPassportError);
    }
  });

  it('zlib bomb: inflating past the cap is a typed error', async () => {
    const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024, 0x20), { level: 9 }).toString('base64url');
    expect(bomb.length).toBeLessThan(4096 * 32);
    const err = await rejection(
      mgr.restore({
        [BAGGAGE_KEY.passportCompressed]: bomb,
        [BAGGAGE_KEY.chainTip]: small.tipHash as string,
      }),
    );
    expect(err).toBeInstanceOf(KestPassportError);
    expect((err as KestPassportError).code).toBe('ERR_PASSPORT_TOO_LARGE');
  });

  it('the inflate cap is configurable and applies to real passports too', async () => {
    const m = await new BaggageManager().store(medium);
    const tight = new BaggageManager({ maxInflatedBytes: 1024 });
    const err = await rejection(tight.restore(m));
    expect(err).toBeInstanceOf(KestPassportError);
    expect((err as KestPassportError).code).toBe('ERR_PASSPORT_TOO_LARGE');
  });

  it('corrupt compressed members are KestBaggageError', async () => {
    const tip = small.tipHash as string;
    for (const bad of ['!!!', 'QR', Buffer.from('not zlib').toString('base64url')]) {
      const err = await rejection(
        mgr.restore({ [BAGGAGE_KEY.passportCompressed]: bad, [BAGGAGE_KEY.chainTip]: tip }),
      );
      expect(err).toBeInstanceOf(KestBaggageError);
    }
  });

  it('a claim check that is not a UUID is malformed', async () => {
    const err = await rejection(
      mgr.restore({ [BAGGAGE_KEY.claimCheck]: '../../etc', [BAGGAGE_KEY.chainTip]: small.tipHash as string }),
    );
    expect(err).toBeInstanceOf(KestBaggageError);
  });

  it('an unknown claim check is KestClaimCheckError, never an empty passport', async () => {
    const err = await rejection(
      mgr.restore({
        [BAGGAGE_KEY.claimCheck]: '7d444840-9dc0-11d1-b245-5ffdce74fad2',
        [BAGGAGE_KEY.chainTip]: small.tipHash as string,
      }),
    );
    expect(err).toBeInstanceOf(KestClaimCheckError);
    expect((err as KestClaimCheckError).code).toBe('ERR_CLAIM_CHECK');
  });

  it('a claim check with no cache configured is KestClaimCheckError', async () => {
    const m = await new BaggageManager({ cache: new MemoryCacheProvider() }).store(large);
    const err = await rejection(new BaggageManager().restore(m));
    expect(err).toBeInstanceOf(KestClaimCheckError);
  });

  it('an expired claim check is KestClaimCheckError', async () => {
    let now = 1_000_000;
    const cache = new MemoryCacheProvider({ now: () => now });
    const mgr2 = new BaggageManager({ cache, claimCheckTtlSeconds: 30 });
    const m = await mgr2.store(large);
    expect((await mgr2.restore(m)).length).toBe(60);
    now += 30_001;
    const err = await rejection(mgr2.restore(m));
    expect(err).toBeInstanceOf(KestClaimCheckError);
    expect(err.message).toMatch(/not found/);
  });

  it('a failing cache is KestClaimCheckError on restore (cause kept) and KestCacheError on store', async () => {
    const broken: CacheProvider = {
      get: async () => {
        throw new KestCacheError('down');
      },
      set: async () => {
        throw new Error('socket closed');
      },
      delete: async () => {},
      close: async () => {},
    };
    const good = await new BaggageManager({ cache: new MemoryCacheProvider() }).store(large);
    const err = await rejection(new BaggageManager({ cache: broken }).restore(good));
    expect(err).toBeInstanceOf(KestClaimCheckError);
    expect((err as Error).cause).toBeInstanceOf(KestCacheError);
    const err2 = await rejection(new BaggageManager({ cache: broken }).store(large));
    expect(err2).toBeInstanceOf(KestCacheError);
  });

  it('passport limits apply on restore', async () => {
    const m = await new BaggageManager().store(small);
    const err = await rejection(new BaggageManager({ passportLimits: { maxEntries: 1 } }).restore(m));
    expect(err).toBeInstanceOf(KestPassportError);
  });

  it('rejects bad options at construction', () => {
    expect(() => new BaggageManager({ claimCheckTtlSeconds: 0 })).toThrow(KestBaggageError);
    expect(() => new BaggageManager({ maxInflatedBytes: -1 })).toThrow(KestBaggageError);
    // @ts-expect-error: not a tier
    expect(() => new BaggageManager({ minTier: 'carrier_pigeon' })).toThrow(KestBaggageError);
  });
});
