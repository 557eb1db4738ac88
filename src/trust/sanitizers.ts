import { KestConfigurationError } from '../errors.js';
import type { TrustEvaluator } from './evaluator.js';
import { hopTrust } from './lineage.js';
import { effectiveRemovals } from './taints.js';

/**
 * A principal the verifier allows to raise trust (kest.trust_override) or remove taints. Without a
 * rule, a hop can neither inflate its own score nor silently drop a taint (docs/spec.md §2 check 4).
 */
export interface SanitizerRule {
  principal: string;
  /** Taints it may clear; '*' for any. Default: none. */
  mayRemove?: readonly string[] | '*' | undefined;
  /** Highest score it may set with an override. Default: 100. */
  maxTrust?: number | undefined;
}

export class SanitizerPolicy {
  private readonly byPrincipal = new Map<string, SanitizerRule>();
  constructor(rules: readonly SanitizerRule[] = []) {
    for (const r of rules) {
      if (typeof r.principal !== 'string' || r.principal.length === 0) {
        throw new KestConfigurationError('sanitizer rule without principal');
      }
      if (
        r.maxTrust !== undefined &&
        !(Number.isInteger(r.maxTrust) && r.maxTrust >= 0 && r.maxTrust <= 100)
      ) {
        throw new KestConfigurationError(`sanitizer ${r.principal}: maxTrust must be an integer 0..100`);
      }
      this.byPrincipal.set(r.principal, r);
    }
  }

  /** Parse the JSON form: {"sanitizers":[{"principal","may_remove","max_trust"}]} or a bare array. */
  static fromJSON(value: unknown): SanitizerPolicy {
    const list = Array.isArray(value) ? value : (value as { sanitizers?: unknown } | null)?.sanitizers;
    if (!Array.isArray(list)) throw new KestConfigurationError('sanitizers: expected {"sanitizers": [...]}');
    return new SanitizerPolicy(
      list.map((r: Record<string, unknown>) => ({
        principal: r.principal as string,
        mayRemove: (r.may_remove ?? r.mayRemove) as SanitizerRule['mayRemove'],
        maxTrust: (r.max_trust ?? r.maxTrust) as number | undefined,
      })),
    );
  }

  get rules(): SanitizerRule[] {
    return [...this.byPrincipal.values()];
  }

  rule(principal: string): SanitizerRule | undefined {
    return this.byPrincipal.get(principal);
  }

  /** Taints in `removals` this principal may not clear. */
  forbiddenRemovals(principal: string, removals: readonly string[]): string[] {
    const r = this.byPrincipal.get(principal);
    if (!r?.mayRemove) return [...removals];
    if (r.mayRemove === '*') return [];
    return removals.filter((t) => !(r.mayRemove as readonly string[]).includes(t));
  }

  mayRaiseTo(principal: string, score: number): boolean {
    const r = this.byPrincipal.get(principal);
    return r !== undefined && score <= (r.maxTrust ?? 100);
  }
}

/**
 * The lineage facts of one hop the sanitizer rule looks at. The rule (docs/spec.md §2 check 4) is
 * applied twice with the same definition: by the hook before it signs (so a function never runs on
 * a lineage it merely claims) and by the verifier on every entry it receives.
 */
export interface SanitizerHop {
  principal: string;
  parentScores: readonly number[];
  parentTaints: readonly (readonly string[])[];
  sourceType: string | undefined;
  addedTaints: readonly string[];
  removedTaints: readonly string[];
}

/** The taints the hop clears (present in a parent, not re-added), and those its principal may not clear. */
export function taintRemovals(
  policy: SanitizerPolicy,
  hop: SanitizerHop,
): { removals: string[]; forbidden: string[] } {
  const removals = effectiveRemovals(hop.parentTaints, hop.addedTaints, hop.removedTaints);
  return {
    removals,
    forbidden: removals.length > 0 ? policy.forbiddenRemovals(hop.principal, removals) : [],
  };
}

/**
 * When an override set `score` above what the lineage alone gives: that lower score and whether
 * the principal is a sanitizer allowed to raise to `score`. Undefined when nothing was raised.
 */
export function trustRaise(
  policy: SanitizerPolicy,
  evaluator: TrustEvaluator,
  hop: SanitizerHop,
  override: number | undefined,
  score: number,
): { from: number; allowed: boolean } | undefined {
  if (override === undefined) return undefined;
  const from = hopTrust(evaluator, {
    parentScores: hop.parentScores,
    sourceType: hop.sourceType,
    addedTaints: hop.addedTaints,
  });
  return score > from ? { from, allowed: policy.mayRaiseTo(hop.principal, score) } : undefined;
}
