import { KestPolicyEngineError } from '../errors.js';

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
