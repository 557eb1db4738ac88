/**
 * A validator for the subset of JSON Schema (draft-07) that schema.ts is written in: type,
 * enum, const, minLength, minItems, minimum, maximum, exclusiveMinimum, items, properties,
 * required, additionalProperties: false, anyOf, plus Kest's `kestMethods` (an object with these
 * methods) and `kestAliasOf` (a camelCase key whose snake_case twin must be absent).
 *
 * Hand-written, not Ajv at run time: configure() runs at every start-up, and loading Ajv and
 * compiling these schemas cost ~215 M instructions there (callgrind; a bare `node` start is ~516 M)
 * and five runtime packages, for a dozen keys. The schemas stay standard JSON Schema:
 * test/config/schema.test.ts checks them against the draft-07 meta-schema with Ajv and that Ajv
 * and this validator accept and refuse the same generated inputs.
 */

/** A JSON Schema object (draft-07 subset above). */
export type Schema = { [keyword: string]: unknown };

/** Where and why a value failed: the shape of an Ajv error with `verbose`. */
export interface SchemaError {
  keyword: string;
  /** JSON pointer to the value, e.g. `/roots/2/max_source_trust`. */
  instancePath: string;
  params: Record<string, unknown>;
  /** The schema whose keyword failed (the value's own schema). */
  parentSchema: Schema;
  /** The keyword's value in that schema. */
  schema: unknown;
  data: unknown;
}

const TYPES: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  boolean: (v) => typeof v === 'boolean',
  // Ajv strict mode (strictNumbers): NaN and ±Infinity are not numbers
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  integer: (v) => Number.isInteger(v),
  array: (v) => Array.isArray(v),
  object: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  null: (v) => v === null,
};

const pointer = (path: string, key: string | number) =>
  `${path}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;

/**
 * The first error of `data` against `schema`, or undefined when it fits. `parent` is the object
 * holding `data` (for `kestAliasOf`).
 */
export function firstError(
  schema: Schema,
  data: unknown,
  path = '',
  parent?: object,
): SchemaError | undefined {
  const fail = (keyword: string, params: Record<string, unknown> = {}): SchemaError => ({
    keyword,
    instancePath: path,
    params,
    parentSchema: schema,
    schema: schema[keyword],
    data,
  });
  if (typeof schema.kestAliasOf === 'string' && parent && Object.hasOwn(parent, schema.kestAliasOf)) {
    return fail('kestAliasOf');
  }
  if (schema.type !== undefined) {
    const types = [schema.type].flat() as string[];
    if (!types.some((t) => TYPES[t]?.(data))) return fail('type', { type: schema.type });
  }
  if (schema.const !== undefined && data !== schema.const) return fail('const');
  if (Array.isArray(schema.enum) && !schema.enum.includes(data)) return fail('enum');
  if (
    Array.isArray(schema.anyOf) &&
    !schema.anyOf.some((s) => !firstError(s as Schema, data, path, parent))
  ) {
    return fail('anyOf');
  }
  if (typeof data === 'string') return stringError(schema, data, fail);
  if (typeof data === 'number') return numberError(schema, data, fail);
  if (Array.isArray(data)) return arrayError(schema, data, path, fail);
  if (typeof data === 'object' && data !== null) return objectError(schema, data, path, fail);
  return undefined;
}

type Fail = (keyword: string, params?: Record<string, unknown>) => SchemaError;

function stringError(schema: Schema, data: string, fail: Fail): SchemaError | undefined {
  // JSON Schema counts code points, not UTF-16 units
  const min = schema.minLength as number | undefined;
  return min !== undefined && [...data].length < min ? fail('minLength') : undefined;
}

function numberError(schema: Schema, data: number, fail: Fail): SchemaError | undefined {
  if (typeof schema.minimum === 'number' && data < schema.minimum) return fail('minimum');
  if (typeof schema.maximum === 'number' && data > schema.maximum) return fail('maximum');
  if (typeof schema.exclusiveMinimum === 'number' && data <= schema.exclusiveMinimum) {
    return fail('exclusiveMinimum');
  }
  return undefined;
}

function arrayError(schema: Schema, data: unknown[], path: string, fail: Fail): SchemaError | undefined {
  if (typeof schema.minItems === 'number' && data.length < schema.minItems) return fail('minItems');
  if (schema.items === undefined) return undefined;
  for (const [i, item] of data.entries()) {
    const error = firstError(schema.items as Schema, item, pointer(path, i), data);
    if (error) return error;
  }
  return undefined;
}

function objectError(schema: Schema, data: object, path: string, fail: Fail): SchemaError | undefined {
  const record = data as Record<string, unknown>;
  if (Array.isArray(schema.kestMethods)) {
    if (!schema.kestMethods.every((m) => typeof record[m as string] === 'function'))
      return fail('kestMethods');
  }
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  for (const key of (schema.required ?? []) as string[]) {
    if (record[key] === undefined) return fail('required', { missingProperty: key });
  }
  if (schema.additionalProperties === false) {
    const extra = Object.keys(record).find((key) => !Object.hasOwn(properties, key));
    if (extra !== undefined) return fail('additionalProperties', { additionalProperty: extra });
  }
  for (const [key, sub] of Object.entries(properties)) {
    // as Ajv: a property whose value is undefined is absent
    if (record[key] === undefined) continue;
    const error = firstError(sub, record[key], pointer(path, key), data);
    if (error) return error;
  }
  return undefined;
}
