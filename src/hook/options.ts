/** Options of kestVerified and @verified. */
import type { IdentityProvider } from '../identity/provider.js';
import type { PolicyEngine } from '../policy/types.js';
import type { TrustEvaluator } from '../trust/evaluator.js';
import type { Classification } from '../wire/constants.js';

/** A value, or a function of the protected call's arguments that yields it. */
export type Resolvable<T, A extends unknown[]> = T | ((...args: A) => T);

export interface KestVerifiedOptions<A extends unknown[] = unknown[]> {
  /** Function-tier policies; required, non-empty. */
  policy: string | readonly string[];
  /** Default: the function's name. */
  operation?: string;
  engine?: PolicyEngine;
  identity?: IdentityProvider;
  trustEvaluator?: TrustEvaluator;
  /** Origin of the data this hop handles (docs/spec.md §4): system, internal, internet, llm, ... */
  sourceType?: Resolvable<string | undefined, A>;
  classification?: Classification;
  addedTaints?: Resolvable<readonly string[] | undefined, A>;
  removedTaints?: Resolvable<readonly string[] | undefined, A>;
  /** Sanitizer override (0..100); verifiers accept it only from declared sanitizers. */
  trustOverride?: Resolvable<number | undefined, A>;
  user?: Resolvable<string | undefined, A>;
  agent?: Resolvable<string | undefined, A>;
  task?: Resolvable<string | undefined, A>;
  resourceId?: Resolvable<string | undefined, A>;
  resourceAttr?: Resolvable<Record<string, unknown> | undefined, A>;
  metadata?: Resolvable<unknown, A>;
}
