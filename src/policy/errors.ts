import { KestConfigurationError, KestPolicyEngineError } from '../errors.js';
import { nearestKey } from '../suggest.js';

/**
 * A policy name the engine does not know. A typo must never widen what is allowed, so an unknown
 * name is an error (a denial at call time), never "evaluate everything loaded".
 */
export class KestUnknownPolicyError extends KestPolicyEngineError {
  readonly policy: string;
  constructor(policy: string, engine: string) {
    super(`${engine}: no loaded policy is named "${policy}"`, 'unknown_policy');
    this.policy = policy;
  }
}

/** An empty policy list would allow vacuously (AND over nothing): refuse it instead. */
export function requirePolicyNames(policyNames: readonly string[], engine: string): void {
  if (policyNames.length === 0) {
    throw new KestPolicyEngineError(`${engine}: evaluate() needs at least one policy name`, 'engine_error');
  }
  for (const name of policyNames) {
    if (typeof name !== 'string' || name.length === 0) {
      throw new KestPolicyEngineError(`${engine}: policy names must be non-empty strings`, 'engine_error');
    }
  }
}

/**
 * What an engine's assertPolicies throws for names it does not have (reason `unknown_policy`):
 * each with the nearest loaded name, when one is close, and the loaded names when the engine
 * has them.
 */
export function unknownPolicies(
  engine: string,
  unknown: readonly string[],
  loaded?: Iterable<string>,
): KestConfigurationError {
  const all = loaded === undefined ? undefined : [...loaded];
  const near = all ? unknown.map((name) => nearestKey(name, all)) : [];
  const named = unknown
    .map(
      (name, i) => `${JSON.stringify(name)}${near[i] ? ` (did you mean ${JSON.stringify(near[i])}?)` : ''}`,
    )
    .join(', ');
  const list = all ? `; loaded: ${all.map((n) => JSON.stringify(n)).join(', ') || '(none)'}` : '';
  return new KestConfigurationError(`${engine}: unknown policy name(s) ${named}${list}`, {
    reason: 'unknown_policy',
    policies: unknown,
    suggestion: unknown.length === 1 ? near[0] : undefined,
  });
}
