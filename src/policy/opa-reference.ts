/**
 * OPA requests shaped like the Python reference runtime's (docs/policy.md "OPA request shapes",
 * docs/interop.md), so one Rego policy set serves both runtimes: `POST {url}/v1/data/kest/<policy>`
 * with the reference's flat input fields, filled from Kest's evaluation context.
 */
import { REFERENCE } from '../wire/constants.js';
import type { EvaluationContext } from './types.js';

/** The input document the reference sends to OPA. */
export interface ReferenceOpaInput {
  principal: string;
  /** The raw bearer token: never handed to policies by Kest (null); use user / agent / task. */
  jwt: null;
  /** Tip of the incoming passport (the parent of this hop); null at a root. */
  chain_tip: string | null;
  is_root: boolean;
  /** The hop's origin (Kest's source_type). */
  origin: string;
  trust_score: number;
  user: string | null;
  agent: string | null;
  task: string | null;
  /** `object.attributes.scope` when the call sets it, else null (Kest has no separate scope). */
  scope: string | null;
  object: { id: string; attributes: Record<string, unknown> };
}

export function referenceOpaInput(context: EvaluationContext): ReferenceOpaInput {
  const env = context.environment;
  const scope = context.object.attributes.scope;
  return {
    principal: context.subject.workload,
    jwt: null,
    chain_tip: env.is_root ? null : env.parent_hash,
    is_root: env.is_root,
    origin: env.source_type,
    trust_score: context.trust_score,
    user: context.subject.user,
    agent: context.subject.agent,
    task: context.subject.task,
    scope: typeof scope === 'string' ? scope : null,
    object: { id: context.object.id, attributes: context.object.attributes },
  };
}

/** The reference's data path for a policy name: `kest/<policy>` (dots become slashes). */
export function referenceOpaPath(policyName: string): string {
  return `${REFERENCE.opaPathPrefix.slice('v1/data/'.length)}/${policyName.replaceAll('.', '/')}`;
}
