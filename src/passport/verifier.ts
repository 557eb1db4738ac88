/**
 * PassportVerifier: the four checks of docs/spec.md §2 for every entry, in order, stopping at the first
 * failure (F-PA-05): (1) strict parse + algorithm allow-list, (2) hash links to earlier entries,
 * (3) signature under a key anchored in the trust source for labels.principal, (4) lineage rules —
 * taints and trust recomputed from the verified parents; overrides and taint removals only from
 * configured sanitizers.
 */
import type { KeyObject } from 'node:crypto';
import type { SignedEntry } from '../entry/signed.js';
import { isRootEntry, sameList } from '../entry/validate.js';
import {
  KestConfigurationError,
  KestError,
  KestPassportError,
  KestVerificationError,
  type VerificationReason,
} from '../errors.js';
import type { TrustSource } from '../keys/trust-source.js';
import { DefaultTrustEvaluator, type TrustEvaluator } from '../trust/evaluator.js';
import { hopTrust, parseTrustOverride } from '../trust/lineage.js';
import {
  type SanitizerHop,
  SanitizerPolicy,
  type SanitizerPolicy as SanitizerPolicyType,
  type SanitizerRule,
  taintRemovals,
  trustRaise,
} from '../trust/sanitizers.js';
import { computeTaints } from '../trust/taints.js';
import { LABEL, RUNTIME_NAME } from '../wire/constants.js';
import { verifyJwsSignature } from '../wire/jws.js';
import { Passport, type PassportLimits } from './passport.js';
import { VerifiedTipCache } from './tip-cache.js';

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
  /** Several independent roots (fan-in of separate lineages). Default false: only entry 0 is a root. */
  allowMultipleRoots?: boolean;
  limits?: PassportLimits;
  /** Verified-tip cache size; 0 disables it. Default 10,000. */
  tipCacheSize?: number;
  /**
   * Who may start a lineage (a root entry, parent "0"), and with how much origin trust. Unset
   * (default): any anchored principal may, with any source_type. Set (recommended for
   * deployments): a root is accepted only from a listed principal and with trust_score ≤ its
   * maxSourceTrust; otherwise `unauthorized_root`. Without it a hop that received a lowered lineage
   * can drop it and start a fresh root of source_type system (trust 100).
   */
  roots?: readonly RootRule[];
}

/** A principal allowed to sign root entries (see PassportVerifierOptions.roots). */
export interface RootRule {
  principal: string;
  /** Highest trust_score its roots may carry. Default 100 (any origin). */
  maxSourceTrust?: number;
}

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
function asVerificationError(err: unknown): unknown {
  if (!(err instanceof KestPassportError)) return err;
  const inner = err.cause instanceof KestError ? err.cause.code : err.code;
  const reason = parseFailureReason(inner);
  return new KestVerificationError(reason, (err.cause as Error | undefined)?.message ?? err.message, {
    index: err.index,
    cause: err,
  });
}

function rootCaps(rules: readonly RootRule[]): Map<string, number> {
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

export class PassportVerifier {
  readonly #trust: TrustSource;
  readonly #sanitizers: SanitizerPolicyType;
  readonly #evaluator: TrustEvaluator;
  readonly #strict: boolean;
  readonly #multiRoot: boolean;
  readonly #limits: PassportLimits;
  readonly #tips: VerifiedTipCache;
  readonly #roots: ReadonlyMap<string, number> | undefined;
  /** The trust source's epoch the tip cache was filled under. */
  #epoch: string | number | undefined;
  /** Bumped whenever the tip cache is dropped: verdicts of another generation are stale. */
  #generation = 0;

  constructor(options: PassportVerifierOptions) {
    this.#trust = options.trust;
    this.#sanitizers =
      options.sanitizers instanceof SanitizerPolicy
        ? options.sanitizers
        : new SanitizerPolicy(options.sanitizers ?? []);
    this.#evaluator = options.trustEvaluator ?? new DefaultTrustEvaluator();
    this.#strict = options.strictLineage ?? true;
    this.#multiRoot = options.allowMultipleRoots ?? false;
    this.#limits = options.limits ?? {};
    this.#tips = new VerifiedTipCache(options.tipCacheSize ?? 10_000);
    this.#roots = options.roots === undefined ? undefined : rootCaps(options.roots);
    this.#epoch = this.#trust.epoch?.();
  }

  get sanitizers(): SanitizerPolicyType {
    return this.#sanitizers;
  }

  get trustEvaluator(): TrustEvaluator {
    return this.#evaluator;
  }

  /**
   * Forget verified tips. Needed only for trust sources without epoch() (JwksTrustSource and
   * SpiffeTrustSource have one: their changes drop the cache by themselves).
   */
  clearCache(): void {
    this.#tips.clear();
    this.#generation++;
  }

  /**
   * Checks the trust source's epoch (dropping verified tips when it moved) and returns the cache
   * generation. A caller that keeps verdicts (reports) must not reuse one obtained under another
   * generation: the keys that proved it may have been revoked since.
   */
  cacheGeneration(): number {
    const epoch = this.#trust.epoch?.();
    if (epoch !== this.#epoch) {
      this.#epoch = epoch;
      this.#tips.clear();
      this.#generation++;
    }
    return this.#generation;
  }

  async verify(
    input: Passport | string | readonly unknown[],
    options: VerifyOptions = {},
  ): Promise<VerificationReport> {
    const passport = this.#toPassport(input);
    if (options.expectedTip !== undefined && passport.tipHash !== options.expectedTip) {
      throw new KestVerificationError(
        'chain_tip_mismatch',
        `passport tip ${passport.tipHash ?? '(empty)'} does not match the declared chain tip ${options.expectedTip}`,
        { index: -1 },
      );
    }

    const generation = this.cacheGeneration();
    const proven = this.#provenByCache(passport);
    const reports: EntryReport[] = new Array(passport.length);
    const principals: string[] = [];
    const seenIds = new Set<string>();
    const uncheckedTrust: number[] = [];
    let chains: Map<string, readonly string[]> | undefined;
    // Hash links of the entries checked so far: entries are parsed and checked one at a time, so a
    // bad entry stops verification before anything after it is even parsed.
    const earlier = new Map<string, SignedEntry>();

    for (let i = 0; i < passport.length; i++) {
      const entry = this.#entryAt(passport, i);
      const p = entry.payload;
      const fail = (reason: VerificationReason, message: string, cause?: unknown): never => {
        throw new KestVerificationError(reason, message, { index: i, entryId: p.entry_id, cause });
      };

      // (2) identity of the entry and its links
      if (earlier.has(entry.hash)) fail('duplicate_entry', 'the same entry appears twice');
      earlier.set(entry.hash, entry);
      if (seenIds.has(p.entry_id)) fail('duplicate_entry', `entry_id ${p.entry_id} appears twice`);
      seenIds.add(p.entry_id);
      const parents: SignedEntry[] = [];
      if (isRootEntry(p)) {
        if (i !== 0 && !this.#multiRoot)
          fail('root_not_first', 'a root entry (parent "0") may only be first');
      } else {
        for (const parentHash of p.parent_ids) {
          const parent = parentHash === entry.hash ? undefined : earlier.get(parentHash);
          if (parent === undefined) {
            fail(
              'broken_link',
              `parent ${parentHash.slice(0, 16)}… is not an earlier entry of this passport`,
            );
          }
          parents.push(parent as SignedEntry);
        }
      }

      const cached = proven.has(i);
      let sanitized = false;
      const sourceType = p.labels[LABEL.sourceType];
      if (!cached) {
        // (3) anchored signature
        let key: KeyObject;
        try {
          key = await this.#trust.resolveKey({
            principal: p.labels.principal as string,
            header: entry.header,
            entry: p,
            index: i,
            ...(chains ? { chains } : {}),
          });
        } catch (err) {
          if (err instanceof KestVerificationError) throw err;
          fail(
            'key_not_anchored',
            `no anchored key for ${p.labels.principal}: ${(err as Error).message}`,
            err,
          );
        }
        try {
          verifyJwsSignature(entry, key!);
        } catch (err) {
          const code = err instanceof KestError ? err.code : '';
          fail(
            code === 'ERR_JWS_ALG_KEY_MISMATCH' ? 'alg_key_mismatch' : 'bad_signature',
            (err as Error).message,
            err,
          );
        }

        // (4) lineage: who may start one
        if (this.#roots && isRootEntry(p)) {
          const cap = this.#roots.get(p.labels.principal as string);
          if (cap === undefined) {
            fail('unauthorized_root', `${p.labels.principal} may not start a lineage (root entry)`);
          } else if (p.trust_score > cap) {
            fail(
              'unauthorized_root',
              `${p.labels.principal} may start lineages with trust ≤ ${cap}, not ${p.trust_score}`,
            );
          }
        }

        // (4) lineage: taints
        const parentTaints = parents.map((e) => e.payload.taints);
        const expectedTaints = computeTaints(parentTaints, p.added_taints, p.removed_taints);
        if (!sameList(expectedTaints, p.taints)) {
          fail(
            'taint_mismatch',
            `taints ${JSON.stringify(p.taints)} != recomputed ${JSON.stringify(expectedTaints)}`,
          );
        }
        const parentScores = parents.map((e) => e.payload.trust_score);
        const hop: SanitizerHop = {
          principal: p.labels.principal as string,
          parentScores,
          parentTaints,
          sourceType,
          addedTaints: p.added_taints,
          removedTaints: p.removed_taints,
        };
        const { removals, forbidden } = taintRemovals(this.#sanitizers, hop);
        if (removals.length > 0) {
          if (forbidden.length > 0) {
            fail(
              'unauthorized_sanitizer',
              `${p.labels.principal} may not remove taints ${JSON.stringify(forbidden)}`,
            );
          }
          sanitized = true;
        }

        // (4) lineage: trust
        if (sourceType === undefined && p.runtime.name !== RUNTIME_NAME && !this.#strict) {
          uncheckedTrust.push(i);
          sanitized = this.#checkUnlabelledTrust(p, parents, fail);
        } else {
          const override = parseTrustOverride(p.labels[LABEL.trustOverride]);
          if (Number.isNaN(override)) fail('malformed_entry', `${LABEL.trustOverride} is not an integer`);
          const expected = hopTrust(this.#evaluator, {
            parentScores,
            sourceType,
            override,
            addedTaints: p.added_taints,
          });
          if (expected !== p.trust_score) {
            fail('trust_mismatch', `trust_score ${p.trust_score} != recomputed ${expected}`);
          }
          const raise = trustRaise(this.#sanitizers, this.#evaluator, hop, override, p.trust_score);
          if (raise) {
            if (!raise.allowed) {
              fail(
                'unauthorized_sanitizer',
                `${p.labels.principal} may not raise trust from ${raise.from} to ${p.trust_score}`,
              );
            }
            sanitized = true;
          }
        }
      }

      if (entry.header.x5c && typeof entry.header['x5t#S256'] === 'string') {
        chains ??= new Map();
        if (!chains.has(entry.header['x5t#S256'])) chains.set(entry.header['x5t#S256'], entry.header.x5c);
      }
      const principal = p.labels.principal as string;
      if (!principals.includes(principal)) principals.push(principal);
      reports[i] = {
        index: i,
        entryId: p.entry_id,
        operation: p.operation,
        principal,
        classification: p.classification,
        trustScore: p.trust_score,
        taints: p.taints,
        parents: p.parent_ids,
        hash: entry.hash,
        sourceType,
        sanitized,
        cached,
      };
    }

    const tip = passport.tip;
    // A tip proven under keys that changed meanwhile is not kept (the cache was dropped).
    if (tip && generation === this.#generation) this.#tips.add(tip.hash);
    return {
      valid: true,
      passport,
      entries: reports,
      principals,
      trustScore: tip ? tip.payload.trust_score : null,
      taints: tip ? tip.payload.taints : [],
      tipHash: tip?.hash,
      uncheckedTrust,
      cachedEntries: proven.size,
    };
  }

  /**
   * Trust of an entry without `kest.source_type` (strictLineage false): its exact score cannot be
   * recomputed, but no hop's own origin lifts it above its parents' minimum, so more than that
   * still needs a sanitizer allowed to raise trust that far. Returns whether one did.
   */
  #checkUnlabelledTrust(
    p: SignedEntry['payload'],
    parents: readonly SignedEntry[],
    fail: (reason: VerificationReason, message: string) => never,
  ): boolean {
    if (parents.length === 0) return false;
    const ceiling = Math.min(...parents.map((e) => e.payload.trust_score));
    if (p.trust_score <= ceiling) return false;
    if (!this.#sanitizers.mayRaiseTo(p.labels.principal as string, p.trust_score)) {
      fail(
        'unauthorized_sanitizer',
        `${p.labels.principal} may not raise trust above its parents' minimum ${ceiling} to ${p.trust_score}`,
      );
    }
    return true;
  }

  #toPassport(input: Passport | string | readonly unknown[]): Passport {
    if (input instanceof Passport) return input;
    try {
      return Passport.unparsed(Passport.readJwsList(input, this.#limits), this.#limits);
    } catch (err) {
      throw asVerificationError(err);
    }
  }

  /** Entry i of the passport, parsed now if needed; a malformed entry is a verification failure. */
  #entryAt(passport: Passport, index: number): SignedEntry {
    try {
      return passport.entryAt(index);
    } catch (err) {
      throw asVerificationError(err);
    }
  }

  /** Indices proven by a cached verified tip: the latest cached entry and its ancestors. */
  #provenByCache(passport: Passport): Set<number> {
    const proven = new Set<number>();
    if (this.#tips.size === 0) return proven;
    for (let k = passport.length - 1; k >= 0; k--) {
      if (!this.#tips.has(passport.hashAt(k))) continue;
      const stack = [k];
      while (stack.length > 0) {
        const i = stack.pop() as number;
        if (proven.has(i)) continue;
        proven.add(i);
        const e = this.#entryAt(passport, i);
        if (isRootEntry(e.payload)) continue;
        for (const h of e.payload.parent_ids) {
          const j = passport.indexOfHash(h);
          if (j !== undefined && j < i) stack.push(j);
        }
      }
      break;
    }
    return proven;
  }
}
