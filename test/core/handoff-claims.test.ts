/**
 * The handoff claims' fast path (a regex over the one canonical form) against the full check it
 * short-cuts: on canonical payloads, near misses (order, spacing, escapes, numbers, duplicates,
 * non-ASCII, invalid UTF-8) and random bytes, both give the same claims or both refuse.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastClaims, fullClaims, readClaims } from '../../src/handoff/handoff.js';
import { canonicalize } from '../../src/wire/canonical.js';

let fastHits = 0;
const same = (payload: Buffer) => {
  const fast = readClaims({ payload });
  const full = fullClaims({ payload }, payload.toString('utf8'));
  const shortcut = fastClaims(payload.toString('utf8'));
  if (shortcut) {
    fastHits++;
    expect(shortcut).toEqual(full);
  }
  if (typeof full === 'string') expect(typeof fast).toBe('string');
  else expect(fast).toEqual(full);
  return fast;
};

const claims = fc.record({
  tip: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.stringMatching(/^[0-9a-fA-F]{63,65}$/)),
  aud: fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.constantFrom('spiffe://kest.demo/enricher', 'http://127.0.0.1:8080', 'a"b\\c/d\u0001\u2028'),
  ),
  iat: fc.oneof(fc.integer({ min: -5, max: 2_000_000_000 }), fc.constantFrom(2 ** 53, -0, 1.5)),
  exp: fc.oneof(fc.integer({ min: -5, max: 2_000_000_400 }), fc.constant(2 ** 53 + 2)),
  jti: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{22}$/), fc.string({ maxLength: 23 })),
});

describe('handoff claims: fast path = full check', () => {
  it('canonical payloads, in range or not', () => {
    fc.assert(
      fc.property(claims, fc.boolean(), (c, near) => {
        const exp = near ? c.iat + 60 : c.exp;
        same(Buffer.from(canonicalize({ ...c, exp }), 'utf8'));
      }),
      { numRuns: 3000 },
    );
    // The property exercised the shortcut, not only the fallback.
    expect(fastHits).toBeGreaterThan(50);
  });

  it('a valid handoff takes the fast path and gives the signed values', () => {
    const c = {
      tip: 'a'.repeat(64),
      aud: 'spiffe://x/y',
      iat: 1_700_000_000,
      exp: 1_700_000_060,
      jti: 'A'.repeat(22),
    };
    expect(same(Buffer.from(canonicalize(c)))).toEqual(c);
    expect(fastClaims(canonicalize(c))).toEqual(c);
  });

  it('near misses, refused by both: reordered, spaced, escaped, re-numbered, duplicated, non-ASCII, invalid UTF-8', () => {
    const base = canonicalize({
      tip: 'b'.repeat(64),
      aud: 'spiffe://x/y',
      iat: 10,
      exp: 70,
      jti: 'B'.repeat(22),
    });
    const variants = [
      base.replace('{"aud"', '{ "aud"'),
      base.replace('"exp":70', '"exp":70.0'),
      base.replace('"exp":70', '"exp":7e1'),
      base.replace('"iat":10', '"iat":010'),
      base.replace('"iat":10', '"iat":-0'),
      base.replace('spiffe://x/y', 'spiffe:\\/\\/x\\/y'),
      base.replace('spiffe://x/y', 'spiffe://x/\\u0079'),
      base.replace('}', ',"tip":"' + 'b'.repeat(64) + '"}'),
      base.replace('{"aud":"spiffe://x/y",', '{"aud":"spiffe://x/y","aud":"spiffe://x/z",'),
      `{"exp":70,"aud":"spiffe://x/y","iat":10,"jti":"${'B'.repeat(22)}","tip":"${'b'.repeat(64)}"}`,
    ];
    for (const v of variants) expect(typeof same(Buffer.from(v, 'utf8'))).toBe('string');
    // Non-ASCII is canonical as raw UTF-8: the full check accepts what the fast path leaves to it.
    expect(same(Buffer.from(base.replace('spiffe://x/y', 'spiffe://x/é'), 'utf8'))).toMatchObject({
      aud: 'spiffe://x/é',
    });
    const invalid = Buffer.from(base.replace('spiffe://x/y', 'spiffe://x/\u00ff'), 'latin1');
    expect(typeof same(invalid)).toBe('string');
  });

  it('random bytes and mutations of a canonical payload', () => {
    const base = Buffer.from(
      canonicalize({ tip: 'c'.repeat(64), aud: 'spiffe://x/y', iat: 10, exp: 70, jti: 'C'.repeat(22) }),
    );
    fc.assert(
      fc.property(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const m = Buffer.from(base);
        m[at] = byte;
        same(m);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => void same(Buffer.from(b))),
      { numRuns: 1000 },
    );
  });
});
