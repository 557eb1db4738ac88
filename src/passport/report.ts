/**
 * What a passport verification is asked and what it answers: options, root rules, per-entry and
 * whole-passport reports, and how a parse failure maps to a verification reason.
 */
import {
  KestConfigurationError,
  KestError,
  KestPassportError,
  KestVerificationError,
  type VerificationReason,
} from '../errors.js';
import type { TrustSource } from '../keys/trust-source.js';
import type { TrustEvaluator } from '../trust/evaluator.js';
import { UNKNOWN_ORIGIN_TRUST } from '../trust/origin.js';
import type { SanitizerPolicy, SanitizerRule } from '../trust/sanitizers.js';
import type { InteropProfile } from '../wire/constants.js';
import type { Passport, PassportLimits } from './passport.js';

export interface PassportVerifierOptions {
  /** Where anchored keys come from (JwksTrustSource, SpiffeTrustSource, ...). */
  trust: TrustSource;
  /** Principals allowed to raise trust or clear taints. Default: none. */
  sanitizers?: SanitizerPolicy | readonly SanitizerRule[];
  /** Must be the evaluator the signers use. Default: DefaultTrustEvaluator. */
  trustEvaluator?: TrustEvaluator;
  /**
   * Entries of other runtimes that carry no `kest.source_type` label: when true (default) the spec's
   * defaults apply to them (root 10, hop 100) and a mismatch fails; when false their trust is left
   * unchecked and listed in report.uncheckedTrust.
   */
  strictLineage?: boolean;
  /**
   * 'spec' (default): exactly docs/spec.md. 'reference': also read what the Python reference
   * runtime signs (docs/interop.md): entries read as sets / with missing trace_id / null
   * deviation fields, `kid` = principal, and — for its unlabelled entries — trust bounded by the
   * parents' minimum and taints bounded (strictLineage false for them). Signatures, algorithms,
   * anchored keys, links and the chain tip are checked exactly as under 'spec'.
   */
  profile?: InteropProfile;
  /** Several independent roots (fan-in of separate lineages). Default false: only entry 0 is a root. */
  allowMultipleRoots?: boolean;
  limits?: PassportLimits;
  /** Verified-tip cache size; 0 disables it. Default 10,000. */
  tipCacheSize?: number;
  /**
   * Who may start a lineage (a root entry, parent "0"), and with how much origin trust. Set: a root
   * is accepted only from a listed principal (or any, with `principal: '*'`) and with trust_score ≤
   * its maxSourceTrust; otherwise `unauthorized_root`, and report entries mark root origins
   * 'checked'. Unset: any anchored principal may, with any source_type, and root origins are
   * 'self-asserted'. The HTTP ingress never leaves it unset (UNGUARDED_ROOTS when nothing is
   * configured): without it a hop that received a lowered lineage can drop it and start a fresh
   * root of source_type system (trust 100).
   */
  roots?: readonly RootRule[];
}

/** A principal allowed to sign root entries (see PassportVerifierOptions.roots). */
export interface RootRule {
  /** The principal, or '*' for any principal not listed by name. */
  principal: string;
  /** Highest trust_score its roots may carry. Default 100 (any origin). */
  maxSourceTrust?: number;
}

/** The root rule principal that matches every principal without a rule of its own. */
export const ANY_ROOT_PRINCIPAL = '*';

/**
 * The roots of an ingress with none configured: anyone may start a lineage, but only at the trust
 * of an unknown origin (10), so an origin claim no one vouched for grants nothing.
 */
export const UNGUARDED_ROOTS: readonly RootRule[] = Object.freeze([
  Object.freeze({ principal: ANY_ROOT_PRINCIPAL, maxSourceTrust: UNKNOWN_ORIGIN_TRUST }),
]);

/**
 * How a root entry's origin (its source_type, hence its trust) is known: 'checked' against root
 * rules, or 'self-asserted' (no rules given: the signer's claim, vouched for by no one).
 */
export type RootOrigin = 'checked' | 'self-asserted';

export interface VerifyOptions {
  /** The `kest.chain_tip` the sender declared: the passport's last entry must hash to it. */
  expectedTip?: string;
}

export interface EntryReport {
  index: number;
  entryId: string;
  operation: string;
  principal: string;
  classification: string;
  trustScore: number;
  taints: string[];
  parents: string[];
  hash: string;
  sourceType: string | undefined;
  /** The entry raised trust or removed taints under a sanitizer rule. */
  sanitized: boolean;
  /** Its ancestry was proven by an earlier verification (verified-tip cache). */
  cached: boolean;
  /** For a root entry: whether its origin was checked against root rules. Undefined otherwise. */
  origin: RootOrigin | undefined;
}

export interface VerificationReport {
  valid: true;
  passport: Passport;
  entries: EntryReport[];
  /** Distinct principals in order of first appearance. */
  principals: string[];
  /** Trust and taints of the last entry (null / [] for an empty passport). */
  trustScore: number | null;
  taints: string[];
  tipHash: string | undefined;
  /** Indices of entries whose trust could not be recomputed (other runtimes, strictLineage false). */
  uncheckedTrust: number[];
  cachedEntries: number;
}

/** The verification reason for an error code thrown while parsing a passport or an entry. */
const REASON_OF_PARSE_CODE: Record<string, VerificationReason> = {
  ERR_PASSPORT_TOO_LARGE: 'too_large',
  ERR_JWS_TOO_LARGE: 'too_large',
  ERR_JWS_ALG_NOT_ALLOWED: 'alg_not_allowed',
  ERR_JWS_INVALID: 'malformed_jws',
  ERR_ENTRY_INVALID: 'malformed_entry',
};

/** Why a passport or entry failed to parse, from the error's code (unknown codes: malformed_entry). */
export function parseFailureReason(code: string): VerificationReason {
  return REASON_OF_PARSE_CODE[code] ?? 'malformed_entry';
}

/** A passport parse failure as the verification failure it is (reason from the innermost code). */
export function asVerificationError(err: unknown): unknown {
  if (!(err instanceof KestPassportError)) return err;
  const inner = err.cause instanceof KestError ? err.cause.code : err.code;
  const reason = parseFailureReason(inner);
  return new KestVerificationError(reason, (err.cause as Error | undefined)?.message ?? err.message, {
    index: err.index,
    cause: err,
  });
}

/** Root rules as principal → highest root trust; throws KestConfigurationError on a bad rule. */
export function rootCaps(rules: readonly RootRule[]): Map<string, number> {
  if (!Array.isArray(rules))
    throw new KestConfigurationError('roots must be a list of { principal, maxSourceTrust? }');
  const caps = new Map<string, number>();
  for (const r of rules) {
    if (typeof r !== 'object' || r === null || typeof r.principal !== 'string' || r.principal === '') {
      throw new KestConfigurationError('each root rule needs a principal');
    }
    const cap = r.maxSourceTrust ?? 100;
    if (!Number.isInteger(cap) || cap < 0 || cap > 100) {
      throw new KestConfigurationError(`maxSourceTrust of ${r.principal} must be an integer 0..100`);
    }
    // Listed twice: the more generous cap would be surprising; keep the stricter one.
    caps.set(r.principal, Math.min(cap, caps.get(r.principal) ?? 100));
  }
  return caps;
}
