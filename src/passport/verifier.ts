/**
 * PassportVerifier: the four checks of docs/spec.md §2 for every entry, in order, stopping at the first
 * failure (F-PA-05): (1) strict parse + algorithm allow-list, (2) hash links to earlier entries,
 * (3) signature under a key anchored in the trust source for labels.principal, (4) lineage rules —
 * taints and trust recomputed from the verified parents; overrides and taint removals only from
 * configured sanitizers. The steps of (2) and (4) are in checks.ts; the types in report.ts.
 */
import type { KeyObject } from 'node:crypto';
import type { SignedEntry } from '../entry/signed.js';
import { isRootEntry } from '../entry/validate.js';
import { KestError, KestVerificationError, type VerificationReason } from '../errors.js';
import type { TrustSource } from '../keys/trust-source.js';
import { DefaultTrustEvaluator, type TrustEvaluator } from '../trust/evaluator.js';
import { SanitizerPolicy, type SanitizerPolicy as SanitizerPolicyType } from '../trust/sanitizers.js';
import { LABEL } from '../wire/constants.js';
import { verifyJwsSignature } from '../wire/jws.js';
import { checkLineage, type Fail, type LineageRules, type LinkState, linkEntry } from './checks.js';
import { Passport, type PassportLimits } from './passport.js';
import { referenceKeyHeader } from './reference.js';
import {
  asVerificationError,
  type EntryReport,
  type PassportVerifierOptions,
  rootCaps,
  type VerificationReport,
  type VerifyOptions,
} from './report.js';
import { ParsedEntryCache, VerifiedTipCache } from './tip-cache.js';

/** Most parsed entries a verifier keeps for passports that come back longer (tip-cache.ts). */
const PARSED_CACHE_MAX = 4096;

export type {
  EntryReport,
  PassportVerifierOptions,
  RootOrigin,
  RootRule,
  VerificationReport,
  VerifyOptions,
} from './report.js';
export { ANY_ROOT_PRINCIPAL, parseFailureReason, UNGUARDED_ROOTS } from './report.js';

export class PassportVerifier {
  readonly #trust: TrustSource;
  readonly #rules: LineageRules;
  readonly #limits: PassportLimits;
  readonly #tips: VerifiedTipCache;
  readonly #known: ParsedEntryCache;
  /** The trust source's epoch the tip cache was filled under. */
  #epoch: string | number | undefined;
  /** Bumped whenever the tip cache is dropped: verdicts of another generation are stale. */
  #generation = 0;

  constructor(options: PassportVerifierOptions) {
    this.#trust = options.trust;
    this.#rules = {
      sanitizers:
        options.sanitizers instanceof SanitizerPolicy
          ? options.sanitizers
          : new SanitizerPolicy(options.sanitizers ?? []),
      evaluator: options.trustEvaluator ?? new DefaultTrustEvaluator(),
      strict: options.profile === 'reference' ? false : (options.strictLineage ?? true),
      reference: options.profile === 'reference',
      multiRoot: options.allowMultipleRoots ?? false,
      roots: options.roots === undefined ? undefined : rootCaps(options.roots),
    };
    this.#limits =
      options.profile === 'reference' ? { ...options.limits, profile: 'reference' } : (options.limits ?? {});
    this.#tips = new VerifiedTipCache(options.tipCacheSize ?? 10_000);
    // Parsed entries hold more memory than tip hashes (a few KB each): a smaller bound.
    this.#known = new ParsedEntryCache(Math.min(options.tipCacheSize ?? 10_000, PARSED_CACHE_MAX));
    this.#epoch = this.#trust.epoch?.();
  }

  /** The trust source keys are resolved from (the handoff is anchored the same way). */
  get trust(): TrustSource {
    return this.#trust;
  }

  get sanitizers(): SanitizerPolicyType {
    return this.#rules.sanitizers;
  }

  get trustEvaluator(): TrustEvaluator {
    return this.#rules.evaluator;
  }

  /**
   * Forget verified tips. Needed only for trust sources without epoch() (JwksTrustSource and
   * SpiffeTrustSource have one: their changes drop the cache by themselves).
   */
  clearCache(): void {
    this.#tips.clear();
    this.#known.clear();
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
      this.#known.clear();
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
    const uncheckedTrust: number[] = [];
    // Entries are parsed and checked one at a time, so a bad entry stops verification before
    // anything after it is even parsed.
    const links: LinkState = { earlier: new Map(), seenIds: new Set() };
    const chains = new Map<string, readonly string[]>();
    for (let i = 0; i < passport.length; i++) {
      const entry = this.#entryAt(passport, i);
      const p = entry.payload;
      const fail: Fail = (reason: VerificationReason, message: string, cause?: unknown): never => {
        throw new KestVerificationError(reason, message, { index: i, entryId: p.entry_id, cause });
      };
      const parents = linkEntry(entry, i, links, this.#rules.multiRoot, fail);
      const cached = proven.has(i);
      let sanitized = false;
      if (!cached) {
        await this.#checkSignature(entry, i, chains, fail);
        const lineage = checkLineage(entry, parents, this.#rules, fail, links.earlier.values());
        sanitized = lineage.sanitized;
        if (lineage.unchecked) uncheckedTrust.push(i);
      }
      const x5t = entry.header['x5t#S256'];
      if (entry.header.x5c && typeof x5t === 'string' && !chains.has(x5t)) chains.set(x5t, entry.header.x5c);
      const principal = p.labels.principal as string;
      if (!principals.includes(principal)) principals.push(principal);
      reports[i] = entryReport(entry, i, sanitized, cached, this.#rules.roots !== undefined);
    }
    const tip = passport.tip;
    // A tip proven under keys that changed meanwhile is not kept (the cache was dropped).
    if (tip && generation === this.#generation) {
      this.#tips.add(tip.hash);
      this.#known.addAll(passport.entries);
    }
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

  /** (3) The signature verifies under a key the trust source anchors for the entry's principal. */
  async #checkSignature(
    entry: SignedEntry,
    index: number,
    chains: ReadonlyMap<string, readonly string[]>,
    fail: Fail,
  ): Promise<void> {
    const p = entry.payload;
    const principal = p.labels.principal as string;
    let key: KeyObject;
    try {
      key = await this.#trust.resolveKey({
        principal,
        header: this.#rules.reference ? referenceKeyHeader(entry.header, principal) : entry.header,
        entry: p,
        index,
        ...(chains.size > 0 ? { chains } : {}),
      });
    } catch (err) {
      if (err instanceof KestVerificationError) throw err;
      fail('key_not_anchored', `no anchored key for ${p.labels.principal}: ${(err as Error).message}`, err);
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
  }

  #toPassport(input: Passport | string | readonly unknown[]): Passport {
    if (input instanceof Passport) return input;
    try {
      return Passport.unparsed(Passport.readJwsList(input, this.#limits), this.#limits, (jws) =>
        this.#known.get(jws),
      );
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

function entryReport(
  entry: SignedEntry,
  index: number,
  sanitized: boolean,
  cached: boolean,
  rootsChecked: boolean,
): EntryReport {
  const p = entry.payload;
  return {
    index,
    entryId: p.entry_id,
    operation: p.operation,
    principal: p.labels.principal as string,
    classification: p.classification,
    trustScore: p.trust_score,
    taints: p.taints,
    parents: p.parent_ids,
    hash: entry.hash,
    sourceType: p.labels[LABEL.sourceType],
    sanitized,
    cached,
    origin: isRootEntry(p) ? (rootsChecked ? 'checked' : 'self-asserted') : undefined,
  };
}
