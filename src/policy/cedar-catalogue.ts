/**
 * The policy catalogue of CedarLocalEngine, built once at start-up: the loaded policies split into
 * single policies with stable ids, the policy names (action ids) they are scoped to, the context
 * keys each name's policies read, and the schema check. Every problem is a KestConfigurationError.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { KestConfigurationError } from '../errors.js';
import type { CedarPolicySource } from './cedar-options.js';

/** The entity types of a Kest request to Cedar (validated Cedar type names). */
export interface CedarRequestTypes {
  principalType: string;
  actionType: string;
  resourceType: string;
}

export interface CedarCatalogue {
  /** Policy id → policy text, in load order. */
  policies: Map<string, string>;
  /** Policy names (action ids) that some loaded policy is scoped to. */
  names: ReadonlySet<string>;
  /** Per policy name, the context keys its policies read (undefined: all of them). */
  contextKeys: Map<string, ReadonlySet<string> | undefined>;
}

/**
 * Parses the sources into the catalogue; with `pruneContext` false every name reads the whole
 * context. With a schema, the policies are validated against it.
 */
export function buildCatalogue(
  sources: readonly CedarPolicySource[],
  types: CedarRequestTypes,
  pruneContext: boolean,
  schema: cedar.Schema | undefined,
): CedarCatalogue {
  const policies = splitPolicies(sources);
  if (policies.size === 0)
    throw new KestConfigurationError('CedarLocalEngine: no Cedar policies were loaded');

  const names = new Set<string>();
  const scoped = new Map<string, ContextUse[]>();
  const unscoped: ContextUse[] = [];
  for (const [id, text] of policies) {
    const json = cedar.policyToJson(text);
    if (json.type !== 'success') {
      throw new KestConfigurationError(`CedarLocalEngine: ${id}: ${formatErrors(json.errors)}`);
    }
    const use = contextUse(json.json);
    const policyNames = scopedNames(id, json.json, types);
    if (policyNames === undefined) unscoped.push(use);
    for (const name of policyNames ?? []) {
      names.add(name);
      scoped.set(name, [...(scoped.get(name) ?? []), use]);
    }
  }
  const contextKeys = new Map<string, ReadonlySet<string> | undefined>();
  for (const name of names) {
    const keys = new Set<string>();
    let all = !pruneContext;
    for (const use of [...(scoped.get(name) ?? []), ...unscoped]) {
      if (use === 'all') all = true;
      else for (const key of use) keys.add(key);
    }
    contextKeys.set(name, all ? undefined : keys);
  }
  if (schema !== undefined) validateAgainstSchema(schema, Object.fromEntries(policies));
  return { policies, names, contextKeys };
}

/**
 * The policy names a policy applies to, from its action scope. A scope on another action type
 * never matches a Kest request, which for a `forbid` would fail open: that is a start-up error.
 * An unscoped policy (`action`) applies to every known name and adds none (returns undefined).
 */
function scopedNames(id: string, json: cedar.PolicyJson, types: CedarRequestTypes): string[] | undefined {
  const { principal, action, resource } = json;
  checkScopeType(id, 'principal', principal, types.principalType);
  checkScopeType(id, 'resource', resource, types.resourceType);
  let uids: cedar.EntityUidJson[];
  if (action.op === 'All') return undefined;
  if (action.op === '==' && 'entity' in action) uids = [action.entity];
  else if (action.op === 'in') uids = 'entities' in action ? action.entities : [action.entity];
  else
    throw new KestConfigurationError(`CedarLocalEngine: policy ${id} has an action scope Kest cannot read`);
  return uids.map((uid) => {
    const { type, id: name } = '__entity' in uid ? uid.__entity : uid;
    if (type !== types.actionType) {
      throw new KestConfigurationError(
        `CedarLocalEngine: policy ${id} is scoped to action type ${type}, but Kest requests use ${types.actionType}`,
      );
    }
    return name;
  });
}

function checkScopeType(
  id: string,
  slot: 'principal' | 'resource',
  scope: cedar.PrincipalConstraint | cedar.ResourceConstraint,
  expected: string,
): void {
  let type: string | undefined;
  if (scope.op === 'is') type = scope.entity_type;
  else if (scope.op === '==' && 'entity' in scope) {
    type = '__entity' in scope.entity ? scope.entity.__entity.type : scope.entity.type;
  }
  if (type !== undefined && type !== expected) {
    throw new KestConfigurationError(
      `CedarLocalEngine: policy ${id} is scoped to ${slot} type ${type}, but Kest requests use ${expected}`,
    );
  }
}

/** The top-level context keys a policy reads, or 'all' when it uses `context` as a whole. */
type ContextUse = ReadonlySet<string> | 'all';

function contextUse(policy: cedar.PolicyJson): ContextUse {
  const keys = new Set<string>();
  let all = false;
  const isContext = (node: unknown) =>
    node !== null && typeof node === 'object' && (node as { Var?: unknown }).Var === 'context';
  const walk = (node: unknown): void => {
    if (all || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    const record = node as Record<string, unknown>;
    if (isContext(record)) {
      all = true;
      return;
    }
    for (const op of ['.', 'has'] as const) {
      const access = record[op] as { left?: unknown; attr?: unknown } | undefined;
      if (access && typeof access === 'object' && isContext(access.left)) {
        const attr = Array.isArray(access.attr) ? access.attr[0] : access.attr;
        if (typeof attr !== 'string') all = true;
        else keys.add(attr);
        return;
      }
    }
    for (const value of Object.values(record)) walk(value);
  };
  walk(policy.conditions);
  return all ? 'all' : keys;
}

/** Splits each source into single policies with stable ids: `@id("...")` if present, else `file#n`. */
function splitPolicies(sources: readonly CedarPolicySource[]): Map<string, string> {
  const policies = new Map<string, string>();
  for (const source of sources) {
    const parts = cedar.policySetTextToParts(source.text);
    if (parts.type !== 'success') {
      throw new KestConfigurationError(
        `CedarLocalEngine: ${source.name}: ${formatErrors(parts.errors, source.text)}`,
      );
    }
    if (parts.policy_templates.length > 0) {
      throw new KestConfigurationError(
        `CedarLocalEngine: ${source.name}: policy templates are not supported`,
      );
    }
    parts.policies.forEach((text, index) => {
      const json = cedar.policyToJson(text);
      const annotated = json.type === 'success' ? json.json.annotations?.id : undefined;
      const id = annotated ?? `${source.name}#${index}`;
      if (policies.has(id)) throw new KestConfigurationError(`CedarLocalEngine: duplicate policy id ${id}`);
      policies.set(id, text);
    });
  }
  return policies;
}

function validateAgainstSchema(schema: cedar.Schema, staticPolicies: Record<string, string>): void {
  const parsed = cedar.checkParseSchema(schema);
  if (parsed.type !== 'success') {
    throw new KestConfigurationError(`CedarLocalEngine: invalid schema: ${formatErrors(parsed.errors)}`);
  }
  const answer = cedar.validate({ schema, policies: { staticPolicies } });
  if (answer.type !== 'success') {
    throw new KestConfigurationError(
      `CedarLocalEngine: schema validation failed: ${formatErrors(answer.errors)}`,
    );
  }
  if (answer.validationErrors.length > 0) {
    const detail = answer.validationErrors.map((e) => `${e.policyId}: ${e.error.message}`).join('; ');
    throw new KestConfigurationError(`CedarLocalEngine: policies do not match the schema: ${detail}`);
  }
}

export function formatErrors(errors: readonly cedar.DetailedError[], text?: string): string {
  return errors
    .map((error) => {
      const where = error.sourceLocations?.[0];
      const position = where && text !== undefined ? ` at ${lineColumn(text, where.start)}` : '';
      const label = where?.label ? ` (${where.label})` : '';
      return `${error.message}${position}${label}`;
    })
    .join('; ');
}

function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}

/** A Cedar entity type name from an option, or the default; anything else is a start-up error. */
export function entityType(value: string | undefined, fallback: string, option: string): string {
  const type = value ?? fallback;
  if (!/^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$/.test(type)) {
    throw new KestConfigurationError(
      `CedarLocalEngine: ${option} ${JSON.stringify(type)} is not a Cedar type name`,
    );
  }
  return type;
}
