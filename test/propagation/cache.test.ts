import { describe, expect, it } from 'vitest';
import { KestCacheError } from '../../src/errors.js';
import { MemoryCacheProvider } from '../../src/propagation/cache.js';

describe('MemoryCacheProvider (bounded LRU with TTL)', () => {
  it('stores, reads and deletes', async () => {
    const c = new MemoryCacheProvider();
    await c.set('a', 'one', 60);
    expect(await c.get('a')).toBe('one');
    await c.set('a', 'two', 60);
    expect(await c.get('a')).toBe('two');
    await c.delete('a');
    expect(await c.get('a')).toBeUndefined();
    expect(await c.get('never')).toBeUndefined();
  });

  it('expires entries after their TTL', async () => {
    let now = 0;
    const c = new MemoryCacheProvider({ now: () => now });
    await c.set('a', 'x', 10);
    now = 9_999;
    expect(await c.get('a')).toBe('x');
    now = 10_000;
    expect(await c.get('a')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('evicts the least recently used beyond maxEntries', async () => {
    const c = new MemoryCacheProvider({ maxEntries: 2 });
    await c.set('a', '1', 60);
    await c.set('b', '2', 60);
    await c.get('a'); // a is now the most recently used
    await c.set('c', '3', 60);
    expect(c.size).toBe(2);
    expect(await c.get('b')).toBeUndefined();
    expect(await c.get('a')).toBe('1');
    expect(await c.get('c')).toBe('3');
  });

  it('evicts by total size', async () => {
    const c = new MemoryCacheProvider({ maxBytes: 10 });
    await c.set('a', '12345', 60);
    await c.set('b', '12345', 60);
    await c.set('c', '123', 60);
    expect(await c.get('a')).toBeUndefined();
    expect(await c.get('b')).toBe('12345');
    expect(await c.get('c')).toBe('123');
    await expect(c.set('d', 'x'.repeat(11), 60)).rejects.toBeInstanceOf(KestCacheError);
  });

  it('rejects invalid TTLs and options', async () => {
    const c = new MemoryCacheProvider();
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(c.set('a', 'x', ttl)).rejects.toBeInstanceOf(KestCacheError);
    }
    expect(() => new MemoryCacheProvider({ maxEntries: 0 })).toThrow(KestCacheError);
    expect(() => new MemoryCacheProvider({ maxBytes: 1.5 })).toThrow(KestCacheError);
  });

  it('fails with KestCacheError after close', async () => {
    const c = new MemoryCacheProvider();
    await c.set('a', 'x', 60);
    await c.close();
    await expect(c.get('a')).rejects.toBeInstanceOf(KestCacheError);
    await expect(c.set('a', 'x', 60)).rejects.toBeInstanceOf(KestCacheError);
  });
});
