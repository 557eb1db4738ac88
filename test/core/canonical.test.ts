/**
 * RFC 8785 (JCS) canonicalization: TC-10 and the RFC's own examples (§3.2.2 number/string
 * serialization, §3.2.3 property sorting by UTF-16 code units, appendix B number formatting).
 */
import canonicalizeReference from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalBytes, canonicalize } from '../../src/entry/index.js';
import { KestError } from '../../src/index.js';

function fromIeeeHex(hex: string): number {
  return Buffer.from(hex, 'hex').readDoubleBE(0);
}

describe('canonicalize (RFC 8785)', () => {
  it('TC-10: sorts object keys', () => {
    expect(canonicalize({ z: 3, a: 1, m: 2 })).toBe('{"a":1,"m":2,"z":3}');
  });

  it('RFC 8785 §3.2.2: the serialization example', () => {
    // Parsed from the RFC's exact input text, so JSON number parsing of e.g. 333333333.33333329 is
    // part of the test.
    const input =
      '{\n  "numbers": [333333333.33333329, 1E30, 4.50,\n              2e-3, 0.000000000000000000000000001],\n' +
      '  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n  "literals": [null, true, false]\n}';
    const expected =
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}';
    expect(canonicalize(JSON.parse(input))).toBe(expected);
    // The RFC gives the UTF-8 of the result: "€" is e2 82 ac.
    expect(canonicalBytes(JSON.parse(input)).subarray(0, 64).toString('hex')).toBe(
      Buffer.from(expected, 'utf8').subarray(0, 64).toString('hex'),
    );
  });

  it('RFC 8785 §3.2.3: sorts keys by UTF-16 code units, not code points', () => {
    const input = JSON.parse(
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh",' +
        '"1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control",' +
        '"\\u00f6":"Latin Small Letter O With Diaeresis"}',
    );
    const out = canonicalize(input);
    expect(out).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    // U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16 order though after it by code point.
    expect(out.indexOf('😀')).toBeLessThan(out.indexOf('\ufb33'));
  });

  // RFC 8785 appendix B: IEEE 754 bit patterns and their canonical text.
  const numbers: [string, string][] = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  it.each(numbers)('RFC 8785 appendix B: %s → %s', (hex, text) => {
    expect(canonicalize(fromIeeeHex(hex))).toBe(text);
    expect(canonicalize([fromIeeeHex(hex)])).toBe(`[${text}]`);
  });

  it.each([
    ['NaN (7fffffffffffffff)', fromIeeeHex('7fffffffffffffff')],
    ['Infinity (7ff0000000000000)', fromIeeeHex('7ff0000000000000')],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('rejects the non-finite number %s with a typed error', (_name, n) => {
    for (const v of [n, { a: n }, [1, n]]) {
      expect(() => canonicalize(v)).toThrow(KestError);
      try {
        canonicalize(v);
      } catch (err) {
        expect((err as KestError).code).toBe('ERR_CANONICALIZE');
      }
    }
  });

  it('escapes control characters as lowercase \\u00xx and keeps other characters raw', () => {
    expect(canonicalize('\u0000\u001f\b\f\n\r\t"\\/\u007f\u2028é')).toBe(
      '"\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\/\u007f\u2028é"',
    );
  });

  it('rejects lone surrogates (I-JSON, RFC 8785 §3.2.2.2)', () => {
    for (const s of ['\ud800', 'a\udc00b', '\ude00\ud83d']) {
      expect(() => canonicalize(s)).toThrow(KestError);
      expect(() => canonicalize({ [s]: 1 })).toThrow(KestError);
    }
    // A well-formed pair is fine.
    expect(canonicalize('\ud83d\ude00')).toBe('"😀"');
  });

  it('rejects values with no JSON form and cycles', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalize(cyclic)).toThrow(KestError);
    expect(() => canonicalize(undefined)).toThrow(KestError);
    expect(() => canonicalize(() => 1)).toThrow(KestError);
  });

  it('canonicalBytes is the UTF-8 of the canonical text', () => {
    expect(canonicalBytes({ b: 'ö', a: [true, null] }).toString('hex')).toBe(
      Buffer.from('{"a":[true,null],"b":"ö"}', 'utf8').toString('hex'),
    );
  });
});

describe('canonicalize: differential fuzz against the `canonicalize` package (RFC 8785 reference)', () => {
  // Any UTF-16 code unit, lone surrogates included.
  const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });
  const value = fc.letrec((tie) => ({
    any: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      fc.double(),
      fc.integer(),
      utf16,
      fc.array(tie('any'), { maxLength: 5 }),
      fc.dictionary(utf16, tie('any'), { maxKeys: 5 }),
    ),
  })).any;

  it('same output for every value the package accepts, a typed error where it refuses', () => {
    fc.assert(
      fc.property(value, (v) => {
        let expected: string | undefined;
        let refused = false;
        try {
          expected = canonicalizeReference(v);
        } catch {
          refused = true;
        }
        if (refused) {
          expect(() => canonicalize(v)).toThrow(KestError);
        } else {
          expect(canonicalize(v)).toBe(expected);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('the sorted-keys fast path (JSON.parse of canonical text, keys in order) gives the same text', () => {
    // Re-parsed canonical text has every object's keys in sorted order: canonicalize takes the
    // native-stringify path on it (integer-like keys, which objects reorder, fall back).
    const sorted = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(sorted)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.keys(v)
                .sort()
                .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
            )
          : v;
    fc.assert(
      fc.property(value, (v) => {
        let expected: string;
        try {
          expected = canonicalizeReference(v) as string;
          if (expected === undefined) return;
        } catch {
          return;
        }
        expect(canonicalize(JSON.parse(expected))).toBe(expected);
        expect(canonicalize(sorted(v))).toBe(expected);
      }),
      { numRuns: 3000 },
    );
    // Boxed primitives and class instances are not plain objects: the general writer decides.
    expect(canonicalize({ a: new String('xy') })).toBe('{"a":{"0":"x","1":"y"}}');
    expect(canonicalize({ a: new Map([[1, 2]]) })).toBe('{"a":{}}');
  });

  it('refuses cycles and excessive depth with a typed error instead of overflowing the stack', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => canonicalize(cyclic)).toThrow(KestError);
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(() => canonicalize(deep)).toThrow(/nested deeper/);
    expect(() => canonicalize(10n)).toThrow(KestError);
  });
});
