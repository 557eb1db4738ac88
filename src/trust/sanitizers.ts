import { KestConfigurationError } from '../errors.js';

/**
 * A principal the verifier allows to raise trust (kest.trust_override) or remove taints. Without a
 * rule, a hop can neither inflate its own score nor silently drop a taint (docs/spec.md §2 check 4).
 */
export interface SanitizerRule {
  principal: string;
  /** Taints it may clear; '*' for any. Default: none. */
  mayRemove?: readonly string[] | '*';
  /** Highest score it may set with an override. Default: 100. */
  maxTrust?: number;
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
