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
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { KestConfigurationError, KestPolicyEngineError } from '../errors.js';
import { buildCatalogue, entityType, formatErrors } from './cedar-catalogue.js';
import { type CedarContextShape, type CedarValue, toCedarContext } from './cedar-context.js';
import { readCedarOptions, readCedarOptionsSync } from './cedar-files.js';
import {
  type CedarFileOptions,
  type CedarLocalEngineOptions,
  type CedarPolicySource,
  KEST_POLICY_LIBRARY_DIR,
  KEST_POLICY_SCHEMA_PATH,
} from './cedar-options.js';
import { KestUnknownPolicyError, requirePolicyNames, unknownPolicies } from './errors.js';
import type { EvaluateOptions, EvaluationContext, PolicyDecision, PolicyEngine } from './types.js';

export {
  type CedarEntityTypes,
  type CedarFileOptions,
  type CedarLocalEngineOptions,
  type CedarPolicySource,
  KEST_POLICY_LIBRARY_DIR,
  KEST_POLICY_SCHEMA_PATH,
} from './cedar-options.js';

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
  /** Per policy name, the context keys its policies read (undefined: all of them). */
  readonly #contextKeys: ReadonlyMap<string, ReadonlySet<string> | undefined>;
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
    const types = {
      principalType: this.#principalType,
      actionType: this.#actionType,
      resourceType: this.#resourceType,
    };
    const catalogue = buildCatalogue(sources, types, options.pruneContext !== false, options.schema);
    this.policyNames = catalogue.names;
    this.#contextKeys = catalogue.contextKeys;
    this.policyIds = [...catalogue.policies.keys()];
    const staticPolicies = Object.fromEntries(catalogue.policies);

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
    return new CedarLocalEngine(await readCedarOptions(paths, options));
  }

  /** Synchronous twin of fromPath, for start-up code that cannot await. */
  static fromPathSync(paths: string | readonly string[], options: CedarFileOptions = {}): CedarLocalEngine {
    return new CedarLocalEngine(readCedarOptionsSync(paths, options));
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

  /** Throws KestConfigurationError (`unknown_policy`) naming every policy no loaded policy is scoped to. */
  assertPolicies(names: Iterable<string>): void {
    const unknown = [...names].filter((name) => !this.policyNames.has(name));
    if (unknown.length > 0) throw unknownPolicies('CedarLocalEngine', unknown, this.policyNames);
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
}
