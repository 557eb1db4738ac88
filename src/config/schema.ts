/**
 * The schemas of the deployment file (KEST_CONFIG) and of configure()'s options: the one list of
 * keys Kest accepts, validated (schema-check.ts) before anything is applied, and rendered into
 * the docs' table of deployment-file keys. Unknown keys are errors that name the nearest valid key;
 * wrong values name their path (`roots[2].max_source_trust: expected an integer 0..100`).
 *
 * Deployment keys are written snake_case; each also has its camelCase alias (`kestAliasOf`), and
 * giving both spellings of one key is an error. configure()'s nested rules take only the camelCase
 * form of its TypeScript types.
 */
import { KestConfigurationError } from '../errors.js';
import { nearestKey } from '../suggest.js';
import { firstError, type Schema, type SchemaError } from './schema-check.js';

const text = (description: string): Schema => ({ type: 'string', minLength: 1, description });
const score = (description: string): Schema => ({
  type: 'integer',
  minimum: 0,
  maximum: 100,
  description,
});
const names = (description: string): Schema => ({
  type: 'array',
  items: { type: 'string', minLength: 1 },
  description,
});
const rule = (properties: Record<string, Schema>, required: string[]): Schema => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});

const operations: Schema = {
  type: 'array',
  minItems: 1,
  items: { type: 'string', minLength: 1 },
  description: 'operations it applies to; `["*"]` for all (this or `scope.operations` is required)',
};

const DEVIATION = rule(
  {
    policy: text('the deployment policy it waives'),
    tier: { enum: ['enterprise', 'platform', 'application'], description: 'the tier of that policy' },
    reason: text('why (recorded in every entry it applies to)'),
    approver: text('who approved it (recorded likewise)'),
    operations,
    scope: {
      ...rule({ operations: { ...operations, description: 'as `operations`' } }, ['operations']),
      description: 'older form of `operations`',
    },
  },
  ['policy', 'tier', 'reason', 'approver'],
);

const SANITIZER = rule(
  {
    principal: text('workload id of the sanitizer'),
    may_remove: {
      anyOf: [
        { type: 'string', const: '*' },
        { type: 'array', items: { type: 'string', minLength: 1 } },
      ],
      description: 'taints it may clear; `"*"` for any (default: none)',
    },
    max_trust: score('highest trust it may set with an override (default 100)'),
  },
  ['principal'],
);

const ROOT = rule(
  {
    principal: text('who may start a lineage; `"*"` for any principal not listed by name'),
    max_source_trust: score('highest trust its roots may carry (default 100)'),
  },
  ['principal'],
);

const DEPLOYMENT_KEYS: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enterprise_policies: names('enterprise-tier policies, evaluated first for every protected call'),
    platform_policies: names('platform-tier policies (`KEST_PLATFORM_POLICIES` adds to them)'),
    application_policies: names('application-tier policies'),
    deviations: { type: 'array', items: DEVIATION, description: 'approved exceptions to a tier policy' },
    trust_upstream_baggage: {
      type: 'boolean',
      default: false,
      description: 'use raw `kest.user`/`agent`/`task` baggage when nothing better is known',
    },
    sanitizers: {
      type: 'array',
      items: SANITIZER,
      description: 'who may raise trust or clear taints, in addition to `configure({ sanitizers })`',
    },
    roots: {
      type: ['array', 'null'],
      items: ROOT,
      description: 'who may start a lineage, up to which trust (absent: none configured; `[]`: no one)',
    },
  },
};

const camel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Each snake_case key also under its camelCase name (`kestAliasOf` the snake one), recursively. */
function withAliases(schema: Schema): Schema {
  const out: Schema = { ...schema };
  if (schema.items) out.items = withAliases(schema.items as Schema);
  if (schema.properties) {
    const properties: Record<string, Schema> = {};
    for (const [key, sub] of Object.entries(schema.properties as Record<string, Schema>)) {
      properties[key] = withAliases(sub);
      if (camel(key) !== key) properties[camel(key)] = { ...properties[key], kestAliasOf: key };
    }
    out.properties = properties;
  }
  return out;
}

/** The camelCase form only (configure()'s TypeScript shapes), recursively. */
function camelOnly(schema: Schema): Schema {
  const out: Schema = { ...schema };
  if (schema.items) out.items = camelOnly(schema.items as Schema);
  if (schema.properties) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties as Record<string, Schema>).map(([k, s]) => [camel(k), camelOnly(s)]),
    );
  }
  if (Array.isArray(schema.required)) out.required = schema.required.map((k: string) => camel(k));
  return out;
}

/** The deployment file's schema, aliases included (JSON Schema draft-07 plus `kestAliasOf`). */
export const DEPLOYMENT_SCHEMA: Schema = withAliases(DEPLOYMENT_KEYS);

/** The snake_case keys alone, for documentation. */
export const DEPLOYMENT_FILE_KEYS: Schema = DEPLOYMENT_KEYS;

const methods = (...names: string[]): Schema => ({ type: 'object', kestMethods: names });
const engine = methods('evaluate');

export const CONFIGURE_SCHEMA: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    identity: methods('getWorkloadId', 'sign'),
    engine,
    tierEngines: {
      type: 'object',
      additionalProperties: false,
      properties: { enterprise: engine, platform: engine, application: engine, function: engine },
    },
    cache: methods('get', 'set', 'delete'),
    trustEvaluator: methods('evaluate'),
    trust: methods('resolveKey'),
    sanitizers: { type: 'array', items: camelOnly(SANITIZER) },
    roots: { type: 'array', items: camelOnly(ROOT) },
    logger: methods('debug', 'info', 'warn', 'error'),
    engineTimeoutMs: { type: 'number', exclusiveMinimum: 0 },
    serviceName: { type: 'string', minLength: 1 },
    // An object is checked against DEPLOYMENT_SCHEMA, a path when its file is read.
    deployment: { type: ['string', 'object'], minLength: 1 },
    passportInSpans: { type: 'boolean' },
  },
};

/** Root rules alone (a `--roots FILE` of the CLI), both spellings. */
export const ROOTS_SCHEMA: Schema = { type: 'array', items: withAliases(ROOT) };

export const SCHEMAS = { deployment: DEPLOYMENT_SCHEMA, configure: CONFIGURE_SCHEMA, roots: ROOTS_SCHEMA };
type Which = keyof typeof SCHEMAS;

/** Throws KestConfigurationError (reason `unknown_key` or `invalid_value`) unless `value` fits. */
export function assertSchema(which: Which, value: unknown, source: string, prefix = ''): void {
  const error = firstError(SCHEMAS[which], value);
  if (error) throw toError(error, source, prefix);
}

function toError(error: SchemaError, source: string, prefix: string): KestConfigurationError {
  const at = joinPath(prefix, error.instancePath);
  const schema = (error.parentSchema ?? {}) as Schema;
  const params = error.params as Record<string, string>;
  if (error.keyword === 'additionalProperties') {
    const key = params.additionalProperty as string;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    const known = Object.keys(properties).filter((k) => properties[k]?.kestAliasOf === undefined);
    const suggestion = spelledLike(key, nearestKey(key, known));
    const path = joinPath(at, `/${key}`);
    const where = at ? ` in ${at}` : '';
    const hint = suggestion ? `; did you mean ${JSON.stringify(suggestion)}?` : '';
    return new KestConfigurationError(
      `${source}: unknown key ${quote(key)}${where}${hint} (valid: ${known.join(', ') || 'none'})`,
      { reason: 'unknown_key', path, source, suggestion },
    );
  }
  if (error.keyword === 'required') {
    const path = joinPath(at, `/${params.missingProperty}`);
    return new KestConfigurationError(`${source}: ${path} is required`, {
      reason: 'invalid_value',
      path,
      source,
    });
  }
  if (error.keyword === 'kestAliasOf') {
    const other = joinPath(at.replace(/(\.[^.[\]]+|\[[^\]]*\])$/, ''), `/${String(error.schema)}`);
    return new KestConfigurationError(`${source}: both ${at} and ${other} are given; keep one`, {
      reason: 'invalid_value',
      path: at,
      source,
    });
  }
  const label = at ? `${at}: ` : '';
  return new KestConfigurationError(
    `${source}: ${label}expected ${expected(schema)}, got ${got(error.data)}`,
    {
      reason: 'invalid_value',
      path: at,
      source,
    },
  );
}

/** A camelCase typo gets the camelCase spelling of the key it is nearest to. */
function spelledLike(key: string, suggestion: string | undefined): string | undefined {
  return suggestion && !key.includes('_') && /[A-Z]/.test(key) ? camel(suggestion) : suggestion;
}

/** `roots` + `/2/max_source_trust` → `roots[2].max_source_trust`. */
function joinPath(prefix: string, pointer: string): string {
  let out = prefix;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${quote(seg)}]`;
  }
  return out;
}

/** A key or value as JSON (control characters escaped), cut to 64 characters. */
function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

/** What a schema accepts, in words: "an integer 0..100", "a list (each a non-empty string)". */
export function expected(schema: Schema): string {
  if (Array.isArray(schema.kestMethods)) {
    return `an object with ${schema.kestMethods.map((m: string) => `${m}()`).join(', ')}`;
  }
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (Array.isArray(schema.anyOf)) return schema.anyOf.map((s) => expected(s as Schema)).join(' or ');
  const types = [schema.type ?? []].flat() as string[];
  return types.map((type) => expectedType(type, schema)).join(' or ') || 'a value';
}

function expectedType(type: string, s: Schema): string {
  const range =
    s.minimum !== undefined && s.maximum !== undefined
      ? ` ${s.minimum}..${s.maximum}`
      : s.exclusiveMinimum !== undefined
        ? ` > ${s.exclusiveMinimum}`
        : '';
  switch (type) {
    case 'integer':
      return `an integer${range}`;
    case 'number':
      return `a number${range}`;
    case 'string':
      return s.minLength ? 'a non-empty string' : 'a string';
    case 'boolean':
      return 'true or false';
    case 'array':
      return s.items ? `a list (each ${expected(s.items as Schema)})` : 'a list';
    case 'object':
      return 'an object';
    default:
      return type;
  }
}

function got(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'function':
      return 'a function';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}
