/**
 * OPAPolicyEngine: asks an Open Policy Agent over its Data API (docs/spec.md §6):
 * `POST {url}/v1/data/{path}` with `{"input": <evaluation context>}`; a policy allows only if the
 * value at the decision path (default `result.allow`) is exactly `true`.
 */
import { KestConfigurationError, KestPolicyEngineError } from '../errors.js';
import { KestUnknownPolicyError, requirePolicyNames, unknownPolicies } from './errors.js';
import { referenceOpaInput, referenceOpaPath } from './opa-reference.js';
import { postJson, type RestEngineOptions, restSettings, validateBaseUrl } from './rest.js';
import type { EvaluateOptions, EvaluationContext, PolicyDecision, PolicyEngine } from './types.js';

export interface OPAPolicyEngineOptions extends RestEngineOptions {
  /** Base URL of the OPA server, e.g. `http://127.0.0.1:8181`. */
  url: string;
  /**
   * Policy name → OPA data path (`kest/min_trust`). A record is exhaustive: a name not in it is
   * unknown (see assertPolicies). A function maps any name. Default: dots become slashes, so
   * `kest.min_trust` → `kest/min_trust`.
   */
  paths?: Readonly<Record<string, string>> | ((policyName: string) => string);
  /** Where the decision sits in OPA's answer, dotted or as segments. Default `result.allow`. */
  decisionPath?: string | readonly string[];
  /**
   * 'kest' (default): `{"input": <evaluation context>}` at the `paths` mapping. 'reference': the
   * Python reference runtime's request — path `v1/data/kest/<policy>` (unless `paths` is given)
   * and its flat input (principal, chain_tip, origin, ...; docs/policy.md), so one Rego set
   * serves both runtimes.
   */
  requestShape?: 'kest' | 'reference';
}

export class OPAPolicyEngine implements PolicyEngine {
  readonly url: string;
  readonly decisionPath: readonly string[];
  readonly #paths: OPAPolicyEngineOptions['paths'];
  readonly #http: Parameters<typeof postJson>[3];
  readonly #reference: boolean;

  constructor(options: OPAPolicyEngineOptions) {
    this.url = validateBaseUrl('OPAPolicyEngine', options.url);
    const decision = options.decisionPath ?? 'result.allow';
    this.decisionPath = typeof decision === 'string' ? decision.split('.') : [...decision];
    if (this.decisionPath.length === 0 || this.decisionPath.some((s) => s.length === 0)) {
      throw new KestConfigurationError(`OPAPolicyEngine: invalid decisionPath ${JSON.stringify(decision)}`);
    }
    if (options.paths !== undefined && typeof options.paths !== 'function') {
      for (const [name, path] of Object.entries(options.paths)) dataPath(name, path);
    }
    this.#reference = options.requestShape === 'reference';
    if (options.requestShape !== undefined && options.requestShape !== 'kest' && !this.#reference) {
      throw new KestConfigurationError(
        `OPAPolicyEngine: unknown requestShape ${String(options.requestShape)}`,
      );
    }
    this.#paths = options.paths ?? (this.#reference ? referenceOpaPath : undefined);
    this.#http = restSettings('OPAPolicyEngine', options);
  }

  /**
   * With a `paths` record, throws KestConfigurationError (`unknown_policy`) for names it does not
   * map. Otherwise any name maps to a path and only OPA can tell: a name it has no document for
   * fails when evaluated (`missing_decision`, a denial).
   */
  assertPolicies(names: Iterable<string>): void {
    const paths = this.#paths;
    if (paths === undefined || typeof paths === 'function') {
      for (const name of names) this.urlFor(name);
      return;
    }
    const unknown = [...names].filter((name) => !Object.hasOwn(paths, name));
    if (unknown.length > 0) throw unknownPolicies('OPAPolicyEngine', unknown, Object.keys(paths));
  }

  /** The Data API URL a policy name is sent to. */
  urlFor(policyName: string): string {
    let path: string | undefined;
    const paths = this.#paths;
    if (paths === undefined) path = policyName.replaceAll('.', '/');
    else if (typeof paths === 'function') path = paths(policyName);
    else if (Object.hasOwn(paths, policyName)) path = paths[policyName];
    if (path === undefined)
      throw new KestConfigurationError(`OPAPolicyEngine: no OPA path for policy "${policyName}"`);
    return `${this.url}/v1/data/${dataPath(policyName, path)}`;
  }

  async evaluate(
    entryId: string,
    policyNames: readonly string[],
    context: EvaluationContext,
    options?: EvaluateOptions,
  ): Promise<PolicyDecision> {
    requirePolicyNames(policyNames, 'OPAPolicyEngine');
    const urls = policyNames.map((name) => {
      try {
        return this.urlFor(name);
      } catch {
        throw new KestUnknownPolicyError(name, 'OPAPolicyEngine');
      }
    });
    const body = { input: this.#reference ? referenceOpaInput(context) : context };
    for (const [i, name] of policyNames.entries()) {
      const answer = await postJson(`OPAPolicyEngine(${name})`, urls[i]!, body, this.#http, options?.signal);
      const value = this.#decision(name, entryId, answer);
      if (value !== true) {
        return { allow: false, policy: name, reason: `OPA ${this.decisionPath.join('.')} is false` };
      }
    }
    return { allow: true };
  }

  /** `true` or `false`; anything else is not a decision. */
  #decision(name: string, entryId: string, answer: unknown): boolean {
    if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) {
      throw new KestPolicyEngineError(
        `OPAPolicyEngine(${name}): answer for ${entryId} is not an object`,
        'malformed',
      );
    }
    let value: unknown = answer;
    for (const segment of this.decisionPath) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, segment)) {
        // OPA answers {} for an undefined document, e.g. a policy path that does not exist.
        throw new KestPolicyEngineError(
          `OPAPolicyEngine(${name}): answer for ${entryId} has no ${this.decisionPath.join('.')}`,
          'missing_decision',
        );
      }
      value = (value as Record<string, unknown>)[segment];
    }
    if (typeof value !== 'boolean') {
      throw new KestPolicyEngineError(
        `OPAPolicyEngine(${name}): ${this.decisionPath.join('.')} is ${JSON.stringify(value)}, not a boolean`,
        'malformed',
      );
    }
    return value;
  }
}

/** Validates an OPA data path and percent-encodes its segments. */
function dataPath(policyName: string, path: string): string {
  const segments = path.replace(/^\/+|\/+$/g, '').split('/');
  if (segments.some((s) => s.length === 0 || s === '.' || s === '..')) {
    throw new KestConfigurationError(
      `OPAPolicyEngine: invalid OPA path ${JSON.stringify(path)} for "${policyName}"`,
    );
  }
  return segments.map(encodeURIComponent).join('/');
}
