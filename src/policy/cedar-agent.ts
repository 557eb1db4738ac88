/**
 * CedarAgentEngine: asks a Cedar Agent sidecar (permitio/cedar-agent) over REST (docs/spec.md §6):
 * `POST {url}/is_authorized` with `{principal, action, resource, context}`; allow only on
 * `"decision": "Allow"`. Entity uids travel in Cedar syntax (`Kest::Action::"min-trust"`), as the
 * agent parses them. cedar-agent mounts its API under `/v1`: use `url: "http://host:8180/v1"`.
 */
import { KestPolicyEngineError } from '../errors.js';
import { type CedarContextShape, toCedarContext } from './cedar-context.js';
import { KestUnknownPolicyError, requirePolicyNames, unknownPolicies } from './errors.js';
import { postJson, type RestEngineOptions, restSettings, validateBaseUrl } from './rest.js';
import type { EvaluateOptions, EvaluationContext, PolicyDecision, PolicyEngine } from './types.js';

export interface CedarAgentEngineOptions extends RestEngineOptions {
  /** Base URL of the agent's API, e.g. `http://127.0.0.1:8180/v1`. */
  url: string;
  /** Default `Kest::Workload`, `Kest::Action`, `Kest::Resource` (the same mapping as CedarLocalEngine). */
  principalType?: string;
  actionType?: string;
  resourceType?: string;
  /** Resource id when the evaluation has none. Default `"default"`. */
  defaultResourceId?: string;
  /** Context form sent. Default `both`: the dotted keys of docs/spec.md §6 plus the structured record. */
  contextShape?: CedarContextShape;
  /**
   * The policy names the agent serves. When given, other names are unknown (an error, see
   * assertPolicies) instead of reaching the agent, where Cedar would deny them by default.
   */
  policies?: readonly string[];
}

export class CedarAgentEngine implements PolicyEngine {
  readonly url: string;
  readonly #principalType: string;
  readonly #actionType: string;
  readonly #resourceType: string;
  readonly #defaultResourceId: string;
  readonly #shape: CedarContextShape;
  readonly #known: ReadonlySet<string> | undefined;
  readonly #http: Parameters<typeof postJson>[3];

  constructor(options: CedarAgentEngineOptions) {
    this.url = `${validateBaseUrl('CedarAgentEngine', options.url)}/is_authorized`;
    this.#principalType = options.principalType ?? 'Kest::Workload';
    this.#actionType = options.actionType ?? 'Kest::Action';
    this.#resourceType = options.resourceType ?? 'Kest::Resource';
    this.#defaultResourceId = options.defaultResourceId ?? 'default';
    this.#shape = options.contextShape ?? 'both';
    this.#known = options.policies === undefined ? undefined : new Set(options.policies);
    this.#http = restSettings('CedarAgentEngine', options);
  }

  assertPolicies(names: Iterable<string>): void {
    if (this.#known === undefined) return;
    const unknown = [...names].filter((name) => !this.#known!.has(name));
    if (unknown.length > 0) throw unknownPolicies('CedarAgentEngine', unknown, this.#known);
  }

  async evaluate(
    entryId: string,
    policyNames: readonly string[],
    context: EvaluationContext,
    options?: EvaluateOptions,
  ): Promise<PolicyDecision> {
    requirePolicyNames(policyNames, 'CedarAgentEngine');
    for (const name of policyNames) {
      if (this.#known !== undefined && !this.#known.has(name))
        throw new KestUnknownPolicyError(name, 'CedarAgentEngine');
    }
    const principal = uid(this.#principalType, context.subject.workload);
    const resource = uid(this.#resourceType, context.object.id || this.#defaultResourceId);
    const cedarContext = toCedarContext(context, this.#shape);
    for (const name of policyNames) {
      const body = { principal, action: uid(this.#actionType, name), resource, context: cedarContext };
      const answer = await postJson(`CedarAgentEngine(${name})`, this.url, body, this.#http, options?.signal);
      const decision = readDecision(name, entryId, answer);
      if (decision.decision !== 'Allow') {
        const reason =
          decision.reasons.length > 0
            ? `denied by ${decision.reasons.join(', ')}`
            : 'no permit policy matched';
        return { allow: false, policy: name, reason };
      }
    }
    return { allow: true };
  }
}

/** A Cedar entity uid in Cedar syntax; the id is a JSON string literal, escapes included. */
function uid(type: string, id: string): string {
  return `${type}::${JSON.stringify(id)}`;
}

function readDecision(
  name: string,
  entryId: string,
  answer: unknown,
): { decision: string; reasons: string[] } {
  const where = `CedarAgentEngine(${name}): answer for ${entryId}`;
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) {
    throw new KestPolicyEngineError(`${where} is not an object`, 'malformed');
  }
  const record = answer as { decision?: unknown; diagnostics?: { reason?: unknown } };
  if (!Object.hasOwn(record, 'decision'))
    throw new KestPolicyEngineError(`${where} has no decision`, 'missing_decision');
  if (record.decision !== 'Allow' && record.decision !== 'Deny') {
    throw new KestPolicyEngineError(
      `${where}: decision ${JSON.stringify(record.decision)} is not Allow/Deny`,
      'malformed',
    );
  }
  const reason = record.diagnostics?.reason;
  const reasons = Array.isArray(reason) ? reason.filter((r): r is string => typeof r === 'string') : [];
  return { decision: record.decision, reasons };
}

/** @deprecated Renamed CedarAgentEngine (it is the Cedar Agent REST client); removed in the next release. */
export const CedarPolicyEngine = CedarAgentEngine;
/** @deprecated Renamed CedarAgentEngine. */
export type CedarPolicyEngine = CedarAgentEngine;
/** @deprecated Renamed CedarAgentEngineOptions. */
export type CedarPolicyEngineOptions = CedarAgentEngineOptions;
