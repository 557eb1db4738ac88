/**
 * CedarLocalEngine: the embedded default policy engine, on the official Cedar engine compiled to
 * WebAssembly. Policies are parsed (and validated against a schema, when given) once at start-up
 * and kept pre-parsed inside the Wasm module; each decision then costs one `statefulIsAuthorized`
 * call per policy name (re-parsing per call would cost ~5x).
 *
 * Mapping of a Kest evaluation to a Cedar request (see docs/policy.md):
 *   principal = Kest::Workload::"<context.subject.workload>"
 *   action    = Kest::Action::"<policy name>"
 *   resource  = Kest::Resource::"<context.object.id>" (Kest::Resource::"default" when empty)
 *   context   = the evaluation context, structured and with the dotted keys of docs/spec.md §6
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { KestConfigurationError, KestPolicyEngineError } from '../errors.js';
import { type CedarContextShape, type CedarValue, toCedarContext } from './cedar-context.js';
import { KestUnknownPolicyError, requirePolicyNames } from './errors.js';
import type { EvaluateOptions, EvaluationContext, PolicyDecision, PolicyEngine } from './types.js';

/** The ready-made policies shipped with Kest (`policies/*.cedar`) and their schema. */
export const KEST_POLICY_LIBRARY_DIR = fileURLToPath(new URL('../../policies/', import.meta.url));
export const KEST_POLICY_SCHEMA_PATH = join(KEST_POLICY_LIBRARY_DIR, 'kest.cedarschema');

/** One source of Cedar policy text; `name` (a file name) prefixes generated policy ids and errors. */
export interface CedarPolicySource {
  name: string;
  text: string;
}

export interface CedarEntityTypes {
  /** Entity type of the principal (the workload running the hook). Default `Kest::Workload`. */
  principalType?: string;
  /** Entity type of the action; its id is the policy name. Default `Kest::Action`. */
  actionType?: string;
  /** Entity type of the resource. Default `Kest::Resource`. */
  resourceType?: string;
  /** Resource id used when the evaluation has no resource id. Default `"default"`. */
  defaultResourceId?: string;
}

export interface CedarLocalEngineOptions extends CedarEntityTypes {
  /** Cedar policy text, or several named sources (e.g. one per file). */
  policies: string | readonly CedarPolicySource[];
  /** A Cedar schema (text or JSON) the policies are validated against at start-up. */
  schema?: cedar.Schema;
  /** Context form handed to Cedar. Default `both` (structured + dotted keys). */
  contextShape?: CedarContextShape;
  /** Static entity data, e.g. workload groups for `principal in Kest::WorkloadGroup::"x"`. */
  entities?: cedar.EntityJson[];
  /**
   * Cedar skips a policy whose condition errors (e.g. a missing attribute), which can keep a
   * `forbid` from firing. Kest denies instead unless this is set to false. Default true.
   */
  denyOnPolicyError?: boolean;
  /**
   * Hand Cedar only the context keys the policies of each name read (default true). Decisions are
   * the same (a policy cannot observe a key it never names) and copying values into the Wasm
   * module is most of a decision's cost.
   */
  pruneContext?: boolean;
  /**
   * Decision cache, off by default. Its key is the whole Cedar request (principal, action,
   * resource, complete context), so one request's decision can never authorise a different one.
   */
  decisionCache?: { maxEntries: number };
}

export interface CedarFileOptions extends Omit<CedarLocalEngineOptions, 'policies' | 'schema'> {
  /** A Cedar schema file: `*.cedarschema` (Cedar syntax) or `*.json` (JSON schema). */
  schemaPath?: string;
}

let nextPolicySetId = 0;

export class CedarLocalEngine implements PolicyEngine {
  /** Policy names (action ids) that some loaded policy is scoped to. */
  readonly policyNames: ReadonlySet<string>;
  /** Ids of the loaded Cedar policies, in load order. */
  readonly policyIds: readonly string[];

  readonly #policySetId: string;
  readonly #principalType: string;
  readonly #actionType: string;
  readonly #resourceType: string;
  readonly #defaultResourceId: string;
  readonly #shape: CedarContextShape;
  readonly #entities: cedar.EntityJson[];
  readonly #denyOnPolicyError: boolean;
  readonly #cache: Map<string, PolicyDecision> | undefined;
  readonly #cacheMax: number;
  readonly #contextKeys = new Map<string, ReadonlySet<string> | undefined>();
  #closed = false;

  /** Parses and validates the policies now: any error is a KestConfigurationError. */
  constructor(options: CedarLocalEngineOptions) {
    this.#principalType = entityType(options.principalType, 'Kest::Workload', 'principalType');
    this.#actionType = entityType(options.actionType, 'Kest::Action', 'actionType');
    this.#resourceType = entityType(options.resourceType, 'Kest::Resource', 'resourceType');
    this.#defaultResourceId = options.defaultResourceId ?? 'default';
    this.#shape = options.contextShape ?? 'both';
    if (!['both', 'flat', 'structured'].includes(this.#shape)) {
      throw new KestConfigurationError(`CedarLocalEngine: unknown contextShape ${String(this.#shape)}`);
    }
    this.#entities = options.entities ?? [];
    this.#denyOnPolicyError = options.denyOnPolicyError ?? true;
    if (options.decisionCache !== undefined) {
      const max = options.decisionCache.maxEntries;
      if (!Number.isSafeInteger(max) || max <= 0) {
        throw new KestConfigurationError(
          'CedarLocalEngine: decisionCache.maxEntries must be a positive integer',
        );
      }
      this.#cache = new Map();
      this.#cacheMax = max;
    } else {
      this.#cacheMax = 0;
    }

    const sources: readonly CedarPolicySource[] =
      typeof options.policies === 'string'
        ? [{ name: 'policies', text: options.policies }]
        : options.policies;
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
      const policyNames = this.#scopedNames(id, json.json);
      if (policyNames === undefined) unscoped.push(use);
      for (const name of policyNames ?? []) {
        names.add(name);
        scoped.set(name, [...(scoped.get(name) ?? []), use]);
      }
    }
    this.policyNames = names;
    // Per policy name, the context keys its policies read (undefined: all of them).
    for (const name of names) {
      const uses = [...(scoped.get(name) ?? []), ...unscoped];
      const keys = new Set<string>();
      let all = options.pruneContext === false;
      for (const use of uses) {
        if (use === 'all') all = true;
        else for (const key of use) keys.add(key);
      }
      this.#contextKeys.set(name, all ? undefined : keys);
    }
    this.policyIds = [...policies.keys()];

    const staticPolicies = Object.fromEntries(policies);
    if (options.schema !== undefined) validateAgainstSchema(options.schema, staticPolicies);

    this.#policySetId = `kest-cedar-local-${process.pid}-${nextPolicySetId++}`;
    const parsed = cedar.preparsePolicySet(this.#policySetId, { staticPolicies });
    if (parsed.type !== 'success') {
      throw new KestConfigurationError(`CedarLocalEngine: ${formatErrors(parsed.errors)}`);
    }
  }

  /** Loads every `*.cedar` file of the given files/directories (directories recursively, sorted). */
  static async fromPath(
    paths: string | readonly string[],
    options: CedarFileOptions = {},
  ): Promise<CedarLocalEngine> {
    const files: string[] = [];
    for (const path of typeof paths === 'string' ? [paths] : paths) {
      let info: Awaited<ReturnType<typeof stat>>;
      try {
        info = await stat(path);
      } catch (cause) {
        throw new KestConfigurationError(`CedarLocalEngine: cannot read ${path}`, { cause });
      }
      if (info.isDirectory()) {
        const entries = await readdir(path, { recursive: true });
        files.push(...cedarFiles(path, entries));
      } else {
        files.push(path);
      }
    }
    const sources = await Promise.all(
      files.map(async (file) => ({ name: basename(file), text: await readText(file, readFile) })),
    );
    const schema =
      options.schemaPath === undefined ? undefined : await readSchema(options.schemaPath, readFile);
    return new CedarLocalEngine(withSources(options, sources, schema));
  }

  /** Synchronous twin of fromPath, for start-up code that cannot await. */
  static fromPathSync(paths: string | readonly string[], options: CedarFileOptions = {}): CedarLocalEngine {
    const files: string[] = [];
    for (const path of typeof paths === 'string' ? [paths] : paths) {
      let isDirectory: boolean;
      try {
        isDirectory = statSync(path).isDirectory();
      } catch (cause) {
        throw new KestConfigurationError(`CedarLocalEngine: cannot read ${path}`, { cause });
      }
      if (isDirectory) files.push(...cedarFiles(path, readdirSync(path, { recursive: true }) as string[]));
      else files.push(path);
    }
    const sources = files.map((file) => ({ name: basename(file), text: readTextSync(file) }));
    const schema = options.schemaPath === undefined ? undefined : readSchemaSync(options.schemaPath);
    return new CedarLocalEngine(withSources(options, sources, schema));
  }

  /** The shipped policy library (`policies/`), validated against its schema. */
  static library(options: Omit<CedarFileOptions, 'schemaPath'> = {}): CedarLocalEngine {
    return CedarLocalEngine.fromPathSync(KEST_POLICY_LIBRARY_DIR, {
      ...options,
      schemaPath: KEST_POLICY_SCHEMA_PATH,
    });
  }

  hasPolicy(name: string): boolean {
    return this.policyNames.has(name);
  }

  /** Throws KestConfigurationError naming every policy that no loaded policy is scoped to. */
  assertPolicies(names: Iterable<string>): void {
    const unknown = [...names].filter((name) => !this.policyNames.has(name));
    if (unknown.length > 0) {
      throw new KestConfigurationError(
        `CedarLocalEngine: unknown policy name(s) ${unknown.map((n) => JSON.stringify(n)).join(', ')}; ` +
          `loaded: ${[...this.policyNames].map((n) => JSON.stringify(n)).join(', ') || '(none)'}`,
      );
    }
  }

  async evaluate(
    entryId: string,
    policyNames: readonly string[],
    context: EvaluationContext,
    options?: EvaluateOptions,
  ): Promise<PolicyDecision> {
    return this.evaluateSync(entryId, policyNames, context, options);
  }

  /** The decision without a promise: Cedar runs synchronously inside the Wasm module. */
  evaluateSync(
    entryId: string,
    policyNames: readonly string[],
    context: EvaluationContext,
    options?: EvaluateOptions,
  ): PolicyDecision {
    if (this.#closed) throw new KestPolicyEngineError('CedarLocalEngine: engine is closed', 'engine_error');
    requirePolicyNames(policyNames, 'CedarLocalEngine');
    for (const name of policyNames) {
      if (!this.policyNames.has(name)) throw new KestUnknownPolicyError(name, 'CedarLocalEngine');
    }
    const principal = { type: this.#principalType, id: context.subject.workload };
    const resource = { type: this.#resourceType, id: context.object.id || this.#defaultResourceId };
    // The cache key covers the whole context, whatever the policies read.
    const contextKey = this.#cache
      ? JSON.stringify([principal.id, resource.id, toCedarContext(context, this.#shape)])
      : '';

    for (const name of policyNames) {
      if (options?.signal?.aborted) {
        throw new KestPolicyEngineError(`CedarLocalEngine: evaluation of ${entryId} aborted`, 'timeout', {
          cause: options.signal.reason,
        });
      }
      let decision: PolicyDecision | undefined;
      const key = this.#cache ? `${name}\u0000${contextKey}` : '';
      if (this.#cache) decision = this.#cache.get(key);
      if (decision === undefined) {
        const cedarContext = toCedarContext(context, this.#shape, this.#contextKeys.get(name));
        decision = this.#decide(entryId, name, principal, resource, cedarContext);
        if (this.#cache) this.#remember(key, decision);
      }
      if (!decision.allow) return decision;
    }
    return { allow: true };
  }

  /** Replaces the pre-parsed set with an empty one so the Wasm module can free it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cache?.clear();
    cedar.preparsePolicySet(this.#policySetId, { staticPolicies: {} });
  }

  #decide(
    entryId: string,
    name: string,
    principal: cedar.TypeAndId,
    resource: cedar.TypeAndId,
    context: Record<string, CedarValue>,
  ): PolicyDecision {
    const answer = cedar.statefulIsAuthorized({
      principal,
      action: { type: this.#actionType, id: name },
      resource,
      context,
      preparsedPolicySetId: this.#policySetId,
      entities: this.#entities,
    });
    if (answer.type !== 'success') {
      throw new KestPolicyEngineError(
        `CedarLocalEngine: Cedar could not evaluate ${name} for ${entryId}: ${formatErrors(answer.errors)}`,
        'engine_error',
      );
    }
    const { decision, diagnostics } = answer.response;
    if (diagnostics.errors.length > 0 && this.#denyOnPolicyError) {
      const detail = diagnostics.errors
        .map((e) => `${e.policyId}: ${e.error.message}`)
        .sort()
        .join('; ');
      return { allow: false, policy: name, reason: `policy evaluation error (${detail})` };
    }
    if (decision === 'allow') return { allow: true };
    const reason =
      diagnostics.reason.length > 0
        ? `forbidden by ${[...diagnostics.reason].sort().join(', ')}`
        : 'no permit policy matched (Cedar denies by default)';
    return { allow: false, policy: name, reason };
  }

  #remember(key: string, decision: PolicyDecision): void {
    const cache = this.#cache!;
    if (cache.size >= this.#cacheMax) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(key, decision);
  }

  /**
   * The policy names a policy applies to, from its action scope. A scope on another action type
   * never matches a Kest request, which for a `forbid` would fail open: that is a start-up error.
   * An unscoped policy (`action`) applies to every known name and adds none (returns undefined).
   */
  #scopedNames(id: string, json: cedar.PolicyJson): string[] | undefined {
    const { principal, action, resource } = json;
    this.#checkScopeType(id, 'principal', principal, this.#principalType);
    this.#checkScopeType(id, 'resource', resource, this.#resourceType);
    let uids: cedar.EntityUidJson[];
    if (action.op === 'All') return undefined;
    if (action.op === '==' && 'entity' in action) uids = [action.entity];
    else if (action.op === 'in') uids = 'entities' in action ? action.entities : [action.entity];
    else
      throw new KestConfigurationError(`CedarLocalEngine: policy ${id} has an action scope Kest cannot read`);
    return uids.map((uid) => {
      const { type, id: name } = '__entity' in uid ? uid.__entity : uid;
      if (type !== this.#actionType) {
        throw new KestConfigurationError(
          `CedarLocalEngine: policy ${id} is scoped to action type ${type}, but Kest requests use ${this.#actionType}`,
        );
      }
      return name;
    });
  }

  #checkScopeType(
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

function formatErrors(errors: readonly cedar.DetailedError[], text?: string): string {
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

function entityType(value: string | undefined, fallback: string, option: string): string {
  const type = value ?? fallback;
  if (!/^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$/.test(type)) {
    throw new KestConfigurationError(
      `CedarLocalEngine: ${option} ${JSON.stringify(type)} is not a Cedar type name`,
    );
  }
  return type;
}

function cedarFiles(dir: string, entries: readonly string[]): string[] {
  return entries
    .filter((entry) => entry.endsWith('.cedar'))
    .sort()
    .map((entry) => join(dir, entry));
}

function withSources(
  options: CedarFileOptions,
  sources: CedarPolicySource[],
  schema: cedar.Schema | undefined,
): CedarLocalEngineOptions {
  const { schemaPath: _schemaPath, ...rest } = options;
  if (sources.length === 0) throw new KestConfigurationError('CedarLocalEngine: no .cedar files found');
  return schema === undefined ? { ...rest, policies: sources } : { ...rest, policies: sources, schema };
}

async function readText(file: string, read: typeof readFile): Promise<string> {
  try {
    return await read(file, 'utf8');
  } catch (cause) {
    throw new KestConfigurationError(`CedarLocalEngine: cannot read ${file}`, { cause });
  }
}

function readTextSync(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new KestConfigurationError(`CedarLocalEngine: cannot read ${file}`, { cause });
  }
}

async function readSchema(file: string, read: typeof readFile): Promise<cedar.Schema> {
  return parseSchemaFile(file, await readText(file, read));
}

function readSchemaSync(file: string): cedar.Schema {
  return parseSchemaFile(file, readTextSync(file));
}

function parseSchemaFile(file: string, text: string): cedar.Schema {
  if (!file.endsWith('.json')) return text;
  try {
    return JSON.parse(text) as cedar.Schema;
  } catch (cause) {
    throw new KestConfigurationError(`CedarLocalEngine: schema ${file} is not valid JSON`, { cause });
  }
}
