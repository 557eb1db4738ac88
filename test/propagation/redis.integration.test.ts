/**
 * Integration: claim checks through a real redis-server on a loopback port (docs/spec.md §5, TC-11).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KestCacheError, KestClaimCheckError } from '../../src/errors.js';
import { parseBaggageMembers, serializeBaggage } from '../../src/propagation/baggage.js';
import { BaggageManager, passportTier } from '../../src/propagation/manager.js';
import { RedisCacheProvider } from '../../src/propagation/redis.js';
import { BAGGAGE_KEY } from '../../src/wire/constants.js';
import { freePort, type RedisServer, startRedisServer } from '../support/redis.js';
import { makePassport } from './fixtures.js';

let redis: RedisServer;
const providers: RedisCacheProvider[] = [];
function provider(options: ConstructorParameters<typeof RedisCacheProvider>[0] = {}): RedisCacheProvider {
  const p = new RedisCacheProvider({ url: redis.url, ...options });
  providers.push(p);
  return p;
}

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(providers.map((p) => p.close()));
  await redis?.stop();
});

describe('RedisCacheProvider against redis-server', () => {
  it('TC-11: claim-check round trip between two hops through real Redis', async () => {
    const passport = makePassport(40);
    const sender = new BaggageManager({ cache: provider() });
    const members = await sender.store(passport);
    expect(passportTier(members)).toBe('claim_check');

    // Another process, another client: only the header crosses.
    const header = serializeBaggage(members);
    const receiver = new BaggageManager({ cache: provider() });
    const restored = await receiver.restore(parseBaggageMembers(header));
    expect(restored.serialize()).toBe(passport.serialize());
    expect(restored.tipHash).toBe(members[BAGGAGE_KEY.chainTip]);
  });

  it('sets the value and its TTL atomically, under the key prefix', async () => {
    const cache = provider({ keyPrefix: 'test:cc:' });
    await cache.set('k1', 'v1', 120);
    const raw = new Redis(redis.url, { lazyConnect: true });
    try {
      await raw.connect();
      expect(await raw.get('test:cc:k1')).toBe('v1');
      const ttl = await raw.ttl('test:cc:k1');
      expect(ttl).toBeGreaterThan(100);
      expect(ttl).toBeLessThanOrEqual(120);
      await cache.set('k2', 'v2', 1.5);
      const pttl = await raw.pttl('test:cc:k2');
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(1500);
      await cache.delete('k1');
      expect(await raw.exists('test:cc:k1')).toBe(0);
      expect(await cache.get('k1')).toBeUndefined();
    } finally {
      raw.disconnect();
    }
  });

  it('an expired claim check is KestClaimCheckError, never an empty passport', async () => {
    const cache = provider();
    const mgr = new BaggageManager({ cache, claimCheckTtlSeconds: 60 });
    const members = await mgr.store(makePassport(40));
    // Expire it server-side rather than sleeping: PEXPIRE to 1 ms, then wait until it is gone.
    const raw = new Redis(redis.url, { lazyConnect: true });
    try {
      await raw.connect();
      const key = `kest:claim:${members[BAGGAGE_KEY.claimCheck]}`;
      expect(await raw.pexpire(key, 1)).toBe(1);
      while ((await raw.exists(key)) === 1) await new Promise((r) => setTimeout(r, 5));
    } finally {
      raw.disconnect();
    }
    const err = await mgr.restore(members).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KestClaimCheckError);
    expect((err as Error).message).toMatch(/not found/);
  });

  it('rejects invalid TTLs before talking to Redis', async () => {
    await expect(provider().set('k', 'v', 0)).rejects.toBeInstanceOf(KestCacheError);
  });
});

describe('Redis unavailable: typed errors, no hanging', () => {
  it('nothing listening: get and set fail with KestCacheError', async () => {
    const port = await freePort();
    const cache = new RedisCacheProvider({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300 });
    providers.push(cache);
    await expect(cache.set('k', 'v', 10)).rejects.toBeInstanceOf(KestCacheError);
    await expect(cache.get('k')).rejects.toBeInstanceOf(KestCacheError);
  });

  it('server stops mid-life: restore is KestClaimCheckError (cause KestCacheError), store is KestCacheError', async () => {
    const own = await startRedisServer();
    const cache = new RedisCacheProvider({ url: own.url, connectTimeoutMs: 300, commandTimeoutMs: 300 });
    providers.push(cache);
    const mgr = new BaggageManager({ cache });
    const passport = makePassport(40);
    const members = await mgr.store(passport);
    expect((await mgr.restore(members)).length).toBe(40);

    await own.stop();
    const err = await mgr.restore(members).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KestClaimCheckError);
    expect((err as Error).cause).toBeInstanceOf(KestCacheError);
    await expect(mgr.store(passport)).rejects.toBeInstanceOf(KestCacheError);
  });

  it('a closed provider refuses further use', async () => {
    const cache = new RedisCacheProvider({ url: redis.url });
    await cache.set('k', 'v', 10);
    await cache.close();
    await expect(cache.get('k')).rejects.toBeInstanceOf(KestCacheError);
  });
});

describe('test support: startRedisServer', () => {
  it('explains how to install redis-server when it is missing', async () => {
    await expect(startRedisServer({ command: 'kest-no-such-redis-server' })).rejects.toThrow(
      /redis-server is not installed: run `apt-get install -y redis-server`/,
    );
  });

  it('stop() ends the server and is idempotent', async () => {
    const own = await startRedisServer();
    expect(own.running).toBe(true);
    await own.stop();
    expect(own.running).toBe(false);
    await own.stop();
  });
});
