/**
 * Passport transport form and bounds (docs/spec.md §2): strict, bounded deserialization that throws on
 * bad input and never yields an empty passport; the spec's {"entries": [...]} input form.
 */
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/entry/index.js';
import { KestPassportError, Passport } from '../../src/index.js';
import { buildPassport, workloads } from '../support/chain.js';

const { ids } = workloads(3);
const sample = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }, { identity: ids[2]! }]);
const list = sample.toJSON();

function expectPassportError(
  fn: () => unknown,
  code = 'ERR_PASSPORT_INVALID',
  index = -1,
): KestPassportError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KestPassportError);
    expect((err as KestPassportError).code).toBe(code);
    expect((err as KestPassportError).index).toBe(index);
    return err as KestPassportError;
  }
  throw new Error('bad input produced a passport');
}

describe('Passport', () => {
  it('round-trips its transport form: a JSON array of compact JWS strings', () => {
    const text = sample.serialize();
    expect(JSON.parse(text)).toEqual(list);
    const back = Passport.deserialize(text);
    expect(back.length).toBe(3);
    expect(back.serialize()).toBe(text);
    expect(back.tipHash).toBe(sha256Hex(list[2]!));
    expect(back.tip?.payload.parent_ids).toEqual([sha256Hex(list[1]!)]);
    expect(back.indexOfHash(sha256Hex(list[1]!))).toBe(1);
    expect(back.indexOfHash('f'.repeat(64))).toBeUndefined();
  });

  it('accepts decoded arrays, Buffers and the spec\'s {"entries": [...]} form', () => {
    expect(Passport.deserialize(list).length).toBe(3);
    expect(Passport.deserialize(Buffer.from(JSON.stringify(list))).length).toBe(3);
    expect(Passport.deserialize(JSON.stringify({ entries: list })).serialize()).toBe(sample.serialize());
    expect(Passport.deserialize({ entries: list }).length).toBe(3);
  });

  it('an empty array is a valid empty passport (and only that)', () => {
    const p = Passport.deserialize('[]');
    expect(p.length).toBe(0);
    expect(p.tip).toBeUndefined();
    expect(p.tipHash).toBeUndefined();
    expect(Passport.deserialize({ entries: [] }).length).toBe(0);
  });

  const bad: [string, unknown][] = [
    ['empty string', ''],
    ['not JSON', '[abc'],
    ['JSON null', 'null'],
    ['JSON object', '{}'],
    ['JSON string', '"h.p.s"'],
    ['JSON number', '42'],
    ['entries plus another member', JSON.stringify({ entries: [], version: 1 })],
    ['entries not an array', JSON.stringify({ entries: 'x' })],
    ['undefined', undefined],
    ['a number', 7],
    ['a plain object', { passport: [] }],
  ];
  it.each(bad)('%s → KestPassportError, never an empty passport', (_name, input) => {
    expectPassportError(() => Passport.deserialize(input));
  });

  it('names the index of the first bad entry', () => {
    expectPassportError(() => Passport.deserialize([list[0], 42, list[2]]), 'ERR_PASSPORT_INVALID', 1);
    expectPassportError(() => Passport.deserialize([list[0], list[1], 'a.b.c']), 'ERR_PASSPORT_INVALID', 2);
    expectPassportError(() => Passport.deserialize([null]), 'ERR_PASSPORT_INVALID', 0);
    expectPassportError(() => Passport.deserialize([`${list[0]}x`]), 'ERR_PASSPORT_INVALID', 0);
    const err = expectPassportError(
      () => Passport.deserialize([list[0], list[1]!.replace('.', '..')]),
      undefined,
      1,
    );
    expect(err.cause).toBeDefined();
  });

  it('is bounded: max entries and max bytes (defaults 1000 / 8 MiB), configurable', () => {
    expectPassportError(() => Passport.deserialize(list, { maxEntries: 2 }), 'ERR_PASSPORT_TOO_LARGE');
    expect(Passport.deserialize(list, { maxEntries: 3 }).length).toBe(3);
    const text = sample.serialize();
    expectPassportError(
      () => Passport.deserialize(text, { maxBytes: text.length - 1 }),
      'ERR_PASSPORT_TOO_LARGE',
    );
    expect(Passport.deserialize(text, { maxBytes: text.length }).length).toBe(3);
    // Decoded arrays are held to the byte bound too.
    expectPassportError(() => Passport.fromJws(list, { maxBytes: 100 }), 'ERR_PASSPORT_TOO_LARGE');
    // Bytes, not UTF-16 units: 3,000 "é" are 6,000 bytes.
    const wide = JSON.stringify(['é'.repeat(3000)]);
    expectPassportError(() => Passport.deserialize(wide, { maxBytes: 5000 }), 'ERR_PASSPORT_TOO_LARGE');
    const many = JSON.stringify(Array.from({ length: 1001 }, () => 'x'));
    expectPassportError(() => Passport.deserialize(many), 'ERR_PASSPORT_TOO_LARGE');
  });

  it('append is immutable; addSignature appends in place; both validate the entry', () => {
    const two = Passport.fromJws(list.slice(0, 2));
    const three = two.append(list[2]!);
    expect(two.length).toBe(2);
    expect(three.length).toBe(3);
    expect(() => two.append('x.y.z')).toThrow(KestPassportError);
    const built = Passport.empty();
    for (const jws of list) built.addSignature(jws);
    expect(built.serialize()).toBe(sample.serialize());
    expectPassportError(() => built.addSignature('nope'), 'ERR_PASSPORT_INVALID', 3);
    expect(built.length).toBe(3);
  });

  it('indexOfHash names the first occurrence of a duplicated entry', () => {
    const dup = Passport.fromJws([list[0]!, list[1]!, list[1]!]);
    expect(dup.indexOfHash(sha256Hex(list[1]!))).toBe(1);
    const built = Passport.fromJws([list[0]!]);
    built.indexOfHash('x'); // build the index, then append a duplicate
    built.addSignature(list[0]!);
    expect(built.indexOfHash(sha256Hex(list[0]!))).toBe(0);
  });
});
