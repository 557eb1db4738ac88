/**
 * The schemas are standard JSON Schema (checked by Ajv against the draft-07 meta-schema), and the
 * run-time validator (src/config/schema-check.ts) accepts exactly what Ajv accepts; and the
 * "did you mean" that unknown keys get.
 */
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SCHEMAS } from '../../src/config/schema.js';
import { firstError, type Schema } from '../../src/config/schema-check.js';
import { editDistance, nearestKey } from '../../src/suggest.js';

/** Ajv in strict mode, with Kest's two keywords defined as schema-check.ts reads them. */
function ajv(): Ajv {
  const instance = new Ajv({ strict: true, allowUnionTypes: true });
  instance.addKeyword({
    keyword: 'kestMethods',
    type: 'object',
    schemaType: 'array',
    validate: (wanted: string[], data: Record<string, unknown>) =>
      wanted.every((m) => typeof data[m] === 'function'),
  });
  instance.addKeyword({
    keyword: 'kestAliasOf',
    schemaType: 'string',
    validate: (other: string, _data: unknown, _schema?: unknown, cxt?: { parentData?: unknown }) =>
      !(
        typeof cxt?.parentData === 'object' &&
        cxt.parentData !== null &&
        Object.hasOwn(cxt.parentData, other)
      ),
  });
  return instance;
}

const KEYS = [
  'enterprise_policies',
  'enterprisePolicies',
  'platform_policies',
  'deviations',
  'policy',
  'tier',
  'reason',
  'approver',
  'operations',
  'scope',
  'trust_upstream_baggage',
  'sanitizers',
  'principal',
  'may_remove',
  'mayRemove',
  'max_trust',
  'maxTrust',
  'roots',
  'max_source_trust',
  'maxSourceTrust',
  'engine',
  'tierEngines',
  'enterprise',
  'engineTimeoutMs',
  'passportInSpans',
  'serviceName',
  'deployment',
  'logger',
  'unknown',
];

/** Values shaped like configurations: known keys (and a stray one), values right and wrong. */
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom('*', '', 'enterprise', 'platform', 'x', 'a'),
    fc.constantFrom(0, 1, 50, 100, 101, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.constant({ evaluate() {} }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 4 }),
  ),
})).value;

const WRONG = fc.constantFrom<unknown>(null, undefined, 'x', '', 5, -1, 2.5, Number.NaN, true, [], {});

/** Values drawn from a schema: mostly fitting, some of each part wrong, stray keys now and then. */
function fromSchema(schema: Schema): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 15, arbitrary: fitting(schema) }, { weight: 1, arbitrary: WRONG });
}

function fitting(schema: Schema): fc.Arbitrary<unknown> {
  if (Array.isArray(schema.kestMethods)) {
    const methods = Object.fromEntries(schema.kestMethods.map((m) => [m, () => undefined]));
    return fc.constantFrom<unknown>(methods, {});
  }
  if (schema.const !== undefined) return fc.constantFrom(schema.const, 'x');
  if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum, 'x');
  if (Array.isArray(schema.anyOf)) return fc.oneof(...schema.anyOf.map((s) => fromSchema(s as Schema)));
  const types = [schema.type].flat() as string[];
  return fc.oneof(...types.map((type) => ofType(type, schema)));
}

function ofType(type: string, schema: Schema): fc.Arbitrary<unknown> {
  switch (type) {
    case 'string':
      return fc.constantFrom('', 'a', '*', 'enterprise', 'path.yaml');
    case 'integer':
      return fc.integer({ min: -3, max: 103 });
    case 'number':
      return fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ min: -1, max: 1 }));
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(schema.items ? fromSchema(schema.items as Schema) : WRONG, { maxLength: 3 });
    default: {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      // each optional key present one time in three, so both spellings of a key meet now and then;
      // a required key always (WRONG leaves it out now and then)
      const required = new Set((schema.required ?? []) as string[]);
      const entries = Object.entries(properties).map(([k, s]) =>
        fc.oneof(
          { weight: required.has(k) ? 0 : 2, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fromSchema(s).map((v) => [k, v] as const) },
        ),
      );
      const known = fc
        .tuple(...entries)
        .map((pairs) => Object.fromEntries(pairs.filter((p) => p !== undefined)));
      const stray = fc.oneof(
        { weight: 5, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom('unknown', 'enterprise_policy', 'maxTrust') },
      );
      return fc.tuple(known, stray).map(([record, key]) => (key ? { ...record, [key]: 1 } : record));
    }
  }
}

describe('the configuration schemas', () => {
  it('are valid JSON Schema (draft-07 meta-schema, Ajv strict mode)', () => {
    const checker = ajv();
    for (const schema of Object.values(SCHEMAS)) {
      expect(checker.validateSchema(schema), JSON.stringify(checker.errors)).toBe(true);
      expect(() => checker.compile(schema)).not.toThrow();
    }
  });

  it('schema-check.ts accepts exactly what Ajv accepts', () => {
    const checker = ajv();
    for (const [name, schema] of Object.entries(SCHEMAS)) {
      const oracle = checker.compile(schema);
      let accepted = 0;
      fc.assert(
        fc.property(
          fc.oneof({ weight: 3, arbitrary: fromSchema(schema) }, { weight: 1, arbitrary: value }),
          (input) => {
            if (oracle(input)) accepted++;
            expect(firstError(schema, input) === undefined, `${name}: ${JSON.stringify(input)}`).toBe(
              oracle(input),
            );
          },
        ),
        { numRuns: 3000, seed: 14 },
      );
      // both outcomes are exercised, not only refusals
      expect(accepted, name).toBeGreaterThan(200);
    }
  });
});

describe('nearestKey', () => {
  const keys = ['enterprise_policies', 'platform_policies', 'application_policies', 'roots', 'sanitizers'];

  it('counts a swap of two adjacent letters as one edit (Damerau)', () => {
    expect(editDistance('rotos', 'roots')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(nearestKey('rotos', keys)).toBe('roots');
  });

  it('ignores case, _ and -; finds a key that holds the typed letters in order', () => {
    expect(nearestKey('EnterprisePolicy', keys)).toBe('enterprise_policies');
    expect(nearestKey('maxTrust', ['principal', 'max_source_trust'])).toBe('max_source_trust');
    expect(nearestKey('sanitiser', keys)).toBe('sanitizers');
  });

  it('suggests nothing for a key that is nothing like any', () => {
    expect(nearestKey('color', keys)).toBeUndefined();
    expect(nearestKey('', keys)).toBeUndefined();
  });
});
