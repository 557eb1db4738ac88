/** The CSPRNG pool (src/wire/random.ts): sizes, formats, and no bytes handed out twice across refills. */
import { describe, expect, it } from 'vitest';
import { pooledRandomBytes, randomBase64url, randomHex } from '../../src/wire/random.js';

describe('pooled random bytes', () => {
  it('gives each caller its own bytes, across several refills of the 4 KB pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      seen.add(Buffer.from(pooledRandomBytes(16)).toString('hex'));
      seen.add(randomHex(16));
      seen.add(Buffer.from(randomBase64url(16), 'base64url').toString('hex'));
    }
    expect(seen.size).toBe(6000);
  });

  it('returns copies: changing one does not change the next', () => {
    const a = pooledRandomBytes(32);
    const before = Buffer.from(a).toString('hex');
    a.fill(0);
    expect(Buffer.from(pooledRandomBytes(32)).toString('hex')).not.toBe('0'.repeat(64));
    expect(before).not.toBe('0'.repeat(64));
  });

  it('formats a trace id and a jti', () => {
    expect(randomHex(16)).toMatch(/^[0-9a-f]{32}$/);
    expect(randomBase64url(16)).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('refuses sizes outside 1..256', () => {
    for (const n of [0, -1, 257, 1.5, Number.NaN]) expect(() => pooledRandomBytes(n)).toThrow(RangeError);
  });
});
