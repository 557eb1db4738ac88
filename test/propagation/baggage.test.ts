import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KestBaggageError } from '../../src/errors.js';
import {
  BAGGAGE_LIMITS,
  type BaggageMember,
  decodeBaggageValue,
  encodeBaggageValue,
  parseBaggage,
  parseBaggageMembers,
  serializeBaggage,
  toBaggageMembers,
} from '../../src/propagation/baggage.js';

function expectBaggageError(fn: () => unknown, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(KestBaggageError);
  expect((thrown as KestBaggageError).code).toBe('ERR_BAGGAGE_INVALID');
  if (message) expect((thrown as Error).message).toMatch(message);
}

describe('parseBaggage: valid headers (W3C Baggage)', () => {
  it('parses members, percent-decoding values', () => {
    expect(parseBaggage('userId=alice,serverNode=DF%2028,isProduction=false')).toEqual([
      { key: 'userId', value: 'alice' },
      { key: 'serverNode', value: 'DF 28' },
      { key: 'isProduction', value: 'false' },
    ]);
  });

  it('accepts optional whitespace around separators', () => {
    expect(parseBaggage(' a = 1 ,\tb=2 ;  p = x ; flag ')).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '2', properties: [{ key: 'p', value: 'x' }, { key: 'flag' }] },
    ]);
  });

  it('parses properties with and without values', () => {
    expect(parseBaggage('k=v;propertyKey=propertyValue;flag')).toEqual([
      { key: 'k', value: 'v', properties: [{ key: 'propertyKey', value: 'propertyValue' }, { key: 'flag' }] },
    ]);
  });

  it('decodes UTF-8 escapes and keeps "+" literal', () => {
    expect(parseBaggage('k=%E2%9C%93+%25')[0]?.value).toBe('✓+%');
  });

  it('replaces invalid UTF-8 octets with U+FFFD as the spec requires', () => {
    expect(parseBaggage('k=a%FFb')[0]?.value).toBe('a\uFFFDb');
  });

  it('allows an empty value (value = *baggage-octet)', () => {
    expect(parseBaggage('k=')).toEqual([{ key: 'k', value: '' }]);
  });

  it('treats an absent or blank header as no members', () => {
    expect(parseBaggage(undefined)).toEqual([]);
    expect(parseBaggage('')).toEqual([]);
    expect(parseBaggage(' \t ')).toEqual([]);
  });

  it('joins several header lines', () => {
    expect(parseBaggage(['a=1', 'b=2'])).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '2' },
    ]);
  });

  it('accepts exactly the limits', () => {
    const many = Array.from({ length: 180 }, (_, i) => `k${i}=v`).join(',');
    expect(parseBaggage(many)).toHaveLength(180);
    const big = `k=${'x'.repeat(4096 - 2)}`;
    expect(parseBaggage(big)[0]?.value).toHaveLength(4094);
  });
});

describe('parseBaggage: malformed headers throw KestBaggageError', () => {
  const cases: Array<[string, string]> = [
    ['missing =', 'key'],
    ['empty key', '=v'],
    ['empty member', 'a=1,,b=2'],
    ['trailing comma', 'a=1,'],
    ['leading comma', ',a=1'],
    ['space inside value', 'a=b c'],
    ['double quote in value', 'a="b"'],
    ['backslash in value', 'a=b\\c'],
    ['non-token key', 'a b=1'],
    ['key with slash', 'a/b=1'],
    ['non-ASCII value', 'a=é'],
    ['control character', 'a=b\u0001'],
    ['lone percent', 'a=100%'],
    ['bad escape', 'a=%zz'],
    ['truncated escape', 'a=%4'],
    ['empty property key', 'a=1;=x'],
    ['empty property', 'a=1;;p'],
    ['bad property value', 'a=1;p=x y'],
    ['newline', 'a=1\n,b=2'],
  ];
  for (const [name, header] of cases) {
    it(name, () => expectBaggageError(() => parseBaggage(header)));
  }

  it('refuses more than 180 members', () => {
    const many = Array.from({ length: 181 }, (_, i) => `k${i}=v`).join(',');
    expectBaggageError(() => parseBaggage(many), /more than 180 members/);
  });

  it('refuses a member over the configured member limit (4096 is the sending default)', () => {
    expectBaggageError(() => parseBaggage(`k=${'x'.repeat(4095)}`, { maxMemberBytes: 4096 }), /max 4096/);
  });

  it('refuses a header over 8192 bytes', () => {
    const header = [`a=${'x'.repeat(4000)}`, `b=${'x'.repeat(4000)}`, `c=${'x'.repeat(200)}`].join(',');
    expectBaggageError(() => parseBaggage(header), /max 8192/);
  });

  it('honours custom limits', () => {
    expectBaggageError(() => parseBaggage('a=1,b=2', { maxMembers: 1 }));
    expect(parseBaggage(`k=${'x'.repeat(5000)}`, { maxMemberBytes: 6000 })).toHaveLength(1);
  });

  it('refuses a repeated kest.* key but keeps the last of other keys', () => {
    expectBaggageError(() => parseBaggageMembers('kest.passport=a,kest.passport=b'), /duplicate/);
    expect(parseBaggageMembers('x=1,x=2').x).toBe('2');
  });
});

describe('serializeBaggage', () => {
  it('percent-encodes values exactly as encodeURIComponent (OpenTelemetry JS)', () => {
    const value = '["a.b.c", "d,e;f=g%"]';
    expect(serializeBaggage({ k: value })).toBe(`k=${encodeURIComponent(value)}`);
  });

  it('writes properties', () => {
    expect(
      serializeBaggage([{ key: 'k', value: 'v w', properties: [{ key: 'p', value: '1;2' }, { key: 'f' }] }]),
    ).toBe('k=v%20w;p=1%3B2;f');
  });

  it('throws instead of dropping over the limits', () => {
    expectBaggageError(() => serializeBaggage({ k: 'x'.repeat(4095) }), /max 4096/);
    const many: Record<string, string> = {};
    for (let i = 0; i < 181; i++) many[`k${i}`] = 'v';
    expectBaggageError(() => serializeBaggage(many), /max 180/);
    expectBaggageError(
      () => serializeBaggage({ a: 'x'.repeat(4000), b: 'x'.repeat(4000), c: 'x'.repeat(200) }),
      /max 8192/,
    );
  });

  it('refuses invalid keys and lone surrogates', () => {
    expectBaggageError(() => serializeBaggage({ 'a b': '1' }), /invalid key/);
    expectBaggageError(() => serializeBaggage({ '': '1' }), /invalid key/);
    expectBaggageError(() => serializeBaggage({ k: '\uD800' }), /surrogate/);
  });
});

// Keys: RFC 9110 tokens.
const tokenChar = fc.constantFrom(
  ..."!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".split(''),
);
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 });
const member: fc.Arbitrary<BaggageMember> = fc.record(
  {
    key: token,
    value: fc.string({ unit: 'grapheme', maxLength: 40 }),
    properties: fc.array(
      fc.record(
        { key: token, value: fc.string({ unit: 'grapheme', maxLength: 10 }) },
        { requiredKeys: ['key'] },
      ),
      {
        minLength: 1,
        maxLength: 3,
      },
    ),
  },
  { requiredKeys: ['key', 'value'] },
);

describe('property tests (fast-check)', () => {
  it('arbitrary strings only ever parse or throw KestBaggageError', () => {
    const header = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      // Strings built from the grammar's own punctuation reach deeper into the parser.
      fc.string({ unit: fc.constantFrom(...'ab=,;% \t%2C%Fz"\\'.split('')), maxLength: 60 }),
    );
    fc.assert(
      fc.property(header, (h) => {
        try {
          const out = parseBaggage(h);
          expect(Array.isArray(out)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(KestBaggageError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('serialize then parse returns the same members', () => {
    fc.assert(
      fc.property(fc.array(member, { maxLength: 8 }), (members) => {
        const header = serializeBaggage(members);
        const parsed = parseBaggage(header);
        // Blank header = no members; otherwise identical (properties included).
        expect(parsed).toEqual(members.length === 0 ? [] : members);
      }),
      { numRuns: 1000 },
    );
  });

  it('parse then serialize is stable (canonical form is a fixed point)', () => {
    fc.assert(
      fc.property(fc.array(member, { minLength: 1, maxLength: 8 }), (members) => {
        const once = serializeBaggage(members);
        expect(serializeBaggage(parseBaggage(once))).toBe(once);
      }),
    );
  });

  it('decodeBaggageValue inverts encodeBaggageValue', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 100 }), (s) => {
        expect(decodeBaggageValue(encodeBaggageValue(s))).toBe(s);
      }),
    );
  });

  it('toBaggageMembers uses a null-prototype record (no __proto__ pollution)', () => {
    const rec = toBaggageMembers(parseBaggage('__proto__=x,constructor=y'));
    expect(Object.getPrototypeOf(rec)).toBeNull();
    expect(Object.entries(rec)).toEqual([
      ['__proto__', 'x'],
      ['constructor', 'y'],
    ]);
  });

  it('limits constants match OpenTelemetry JS', async () => {
    const otel = await import('@opentelemetry/core/build/src/baggage/constants.js');
    expect(BAGGAGE_LIMITS).toEqual({
      maxMembers: otel.BAGGAGE_MAX_NAME_VALUE_PAIRS,
      maxMemberBytes: otel.BAGGAGE_MAX_PER_NAME_VALUE_PAIRS,
      maxHeaderBytes: otel.BAGGAGE_MAX_TOTAL_LENGTH,
    });
  });
});
