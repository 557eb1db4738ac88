/**
 * buildEntry writes labels in one sorted copy instead of `sortedKeys({ ...labels, principal,
 * trace_id })`: differential property test against that expression (keys, order, prototype and
 * canonical bytes), with unicode, integer-like, dotted, `__proto__` and overriding keys.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildEntry, canonicalize } from '../../src/entry/index.js';

/** The expression buildEntry used before, verbatim. */
function reference(labels: Record<string, string> | undefined, principal: string, traceId: string) {
  const record: Record<string, unknown> = { ...labels, principal, trace_id: traceId };
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key];
  return out;
}

function labelsOf(labels: Record<string, string> | undefined, principal: string, traceId: string) {
  return buildEntry({ operation: 'op', principal, traceId, trustScore: 1, ...(labels ? { labels } : {}) })
    .labels;
}

function same(labels: Record<string, string> | undefined, principal: string, traceId: string): void {
  const got = labelsOf(labels, principal, traceId);
  const want = reference(labels, principal, traceId);
  expect(Object.keys(got)).toEqual(Object.keys(want));
  expect(Object.getPrototypeOf(got)).toBe(Object.getPrototypeOf(want));
  expect(got).toEqual(want);
  let a: string | Error;
  let b: string | Error;
  try {
    a = canonicalize(got);
  } catch (err) {
    a = err as Error;
  }
  try {
    b = canonicalize(want);
  } catch (err) {
    b = err as Error;
  }
  expect(a).toEqual(b);
}

const key = fc.oneof(
  fc.string(),
  fc.constantFrom(
    'principal',
    'trace_id',
    '__proto__',
    'kest.identity',
    'kest.completion',
    'a.b',
    '10',
    '9',
    '0',
  ),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
);

describe('buildEntry labels', () => {
  it('same keys, order, values and canonical text as the spread-and-sort it replaces', () => {
    fc.assert(
      fc.property(
        fc.option(fc.dictionary(key, fc.string({ unit: 'grapheme' }), { maxKeys: 12 }), { nil: undefined }),
        fc.string(),
        fc.string(),
        (labels, principal, traceId) => same(labels, principal, traceId),
      ),
      { numRuns: 2000 },
    );
  });

  it('own __proto__ keys (as JSON.parse makes them), overridden principal/trace_id, integer keys', () => {
    for (const text of [
      '{"__proto__":"x","b":"1"}',
      '{"principal":"spoof","trace_id":"spoof","z":"1"}',
      '{"10":"a","9":"b","1.5":"c","-1":"d"}',
      '{"\\ud800":"lone key","v":"\\udc00"}',
    ]) {
      same(JSON.parse(text) as Record<string, string>, 'spiffe://p', 't');
    }
    same(undefined, 'spiffe://p', '');
  });
});
