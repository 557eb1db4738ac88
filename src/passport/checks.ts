/**
 * The per-entry checks of docs/spec.md §2 as separate steps, each throwing through `fail` (a
 * KestVerificationError with the entry's index and id): (2) identity and hash links, (4) who may
 * start a lineage, taints, trust. The signature check (3) needs the trust source and lives in the
 * verifier.
 */
import type { SignedEntry } from '../entry/signed.js';
import { isRootEntry, sameList } from '../entry/validate.js';
import type { VerificationReason } from '../errors.js';
import type { TrustEvaluator } from '../trust/evaluator.js';
import { hopTrust, parseTrustOverride } from '../trust/lineage.js';
import { UNKNOWN_ORIGIN_TRUST } from '../trust/origin.js';
import { type SanitizerHop, type SanitizerPolicy, taintRemovals, trustRaise } from '../trust/sanitizers.js';
import { computeTaints } from '../trust/taints.js';
import { LABEL, RUNTIME_NAME } from '../wire/constants.js';
import { checkReferenceTaints } from './reference.js';
import { ANY_ROOT_PRINCIPAL } from './report.js';

export type Fail = (reason: VerificationReason, message: string, cause?: unknown) => never;

/** What the lineage checks need from the verifier's configuration. */
export interface LineageRules {
  sanitizers: SanitizerPolicy;
  evaluator: TrustEvaluator;
  /** Entries of other runtimes without `kest.source_type` are checked exactly (true) or bounded. */
  strict: boolean;
  /** Profile `reference`: unlabelled entries of other runtimes get bounded taint checks too. */
  reference: boolean;
  multiRoot: boolean;
  roots: ReadonlyMap<string, number> | undefined;
}

/** The hashes and entry ids seen so far in one verification. */
export interface LinkState {
  earlier: Map<string, SignedEntry>;
  seenIds: Set<string>;
}

/** (2) The entry is new (hash and entry_id) and every parent is an earlier entry; returns the parents. */
export function linkEntry(
  entry: SignedEntry,
  index: number,
  state: LinkState,
  multiRoot: boolean,
  fail: Fail,
): SignedEntry[] {
  const p = entry.payload;
  if (state.earlier.has(entry.hash)) fail('duplicate_entry', 'the same entry appears twice');
  state.earlier.set(entry.hash, entry);
  if (state.seenIds.has(p.entry_id)) fail('duplicate_entry', `entry_id ${p.entry_id} appears twice`);
  state.seenIds.add(p.entry_id);
  const parents: SignedEntry[] = [];
  if (isRootEntry(p)) {
    if (index !== 0 && !multiRoot) fail('root_not_first', 'a root entry (parent "0") may only be first');
    return parents;
  }
  for (const parentHash of p.parent_ids) {
    const parent = parentHash === entry.hash ? undefined : state.earlier.get(parentHash);
    if (parent === undefined) {
      fail('broken_link', `parent ${parentHash.slice(0, 16)}… is not an earlier entry of this passport`);
    }
    parents.push(parent as SignedEntry);
  }
  return parents;
}

/**
 * (4) Lineage: who may start one, taints, trust. Returns whether a sanitizer rule was used and
 * whether the trust could only be bounded (an unlabelled entry of another runtime, non-strict).
 */
export function checkLineage(
  entry: SignedEntry,
  parents: readonly SignedEntry[],
  rules: LineageRules,
  fail: Fail,
  earlier: Iterable<SignedEntry> = parents,
): { sanitized: boolean; unchecked: boolean } {
  const p = entry.payload;
  const principal = p.labels.principal as string;
  if (rules.roots && isRootEntry(p)) checkRoot(principal, p.trust_score, rules.roots, fail);

  const parentTaints = parents.map((e) => e.payload.taints);
  const sourceType = p.labels[LABEL.sourceType];
  const foreign = sourceType === undefined && p.runtime.name !== RUNTIME_NAME;
  const expectedTaints = computeTaints(parentTaints, p.added_taints, p.removed_taints);
  if (rules.reference && foreign) {
    checkReferenceTaints(entry, parents, earlier, fail);
  } else if (!sameList(expectedTaints, p.taints)) {
    fail(
      'taint_mismatch',
      `taints ${JSON.stringify(p.taints)} != recomputed ${JSON.stringify(expectedTaints)}`,
    );
  }
  const hop: SanitizerHop = {
    principal,
    parentScores: parents.map((e) => e.payload.trust_score),
    parentTaints,
    sourceType,
    addedTaints: p.added_taints,
    removedTaints: p.removed_taints,
  };
  let sanitized = false;
  const { removals, forbidden } = taintRemovals(rules.sanitizers, hop);
  if (removals.length > 0) {
    if (forbidden.length > 0) {
      fail('unauthorized_sanitizer', `${principal} may not remove taints ${JSON.stringify(forbidden)}`);
    }
    sanitized = true;
  }
  if (foreign && !rules.strict) {
    return {
      sanitized: checkUnlabelledTrust(p, parents, rules.sanitizers, fail) || sanitized,
      unchecked: true,
    };
  }
  return { sanitized: checkTrust(p, hop, rules, fail) || sanitized, unchecked: false };
}

/** A principal's own rule wins over the '*' rule, whatever their caps. */
function checkRoot(principal: string, trust: number, roots: ReadonlyMap<string, number>, fail: Fail): void {
  const own = roots.get(principal);
  const cap = own ?? roots.get(ANY_ROOT_PRINCIPAL);
  if (cap === undefined) fail('unauthorized_root', `${principal} may not start a lineage (root entry)`);
  else if (trust > cap) {
    const who =
      own === undefined
        ? `${principal} is not a listed root; any principal ('${ANY_ROOT_PRINCIPAL}') may start lineages`
        : `${principal} may start lineages`;
    const unknown = cap === UNKNOWN_ORIGIN_TRUST ? ' (an unknown origin)' : '';
    fail('unauthorized_root', `${who} with trust ≤ ${cap}${unknown}, not ${trust}`);
  }
}

/** The score recomputed from the parents and the hop's origin; a raise only by a sanitizer. */
function checkTrust(p: SignedEntry['payload'], hop: SanitizerHop, rules: LineageRules, fail: Fail): boolean {
  const override = parseTrustOverride(p.labels[LABEL.trustOverride]);
  if (Number.isNaN(override)) fail('malformed_entry', `${LABEL.trustOverride} is not an integer`);
  const expected = hopTrust(rules.evaluator, {
    parentScores: hop.parentScores,
    sourceType: hop.sourceType,
    override,
    addedTaints: p.added_taints,
  });
  if (expected !== p.trust_score)
    fail('trust_mismatch', `trust_score ${p.trust_score} != recomputed ${expected}`);
  const raise = trustRaise(rules.sanitizers, rules.evaluator, hop, override, p.trust_score);
  if (!raise) return false;
  if (!raise.allowed) {
    fail(
      'unauthorized_sanitizer',
      `${hop.principal} may not raise trust from ${raise.from} to ${p.trust_score}`,
    );
  }
  return true;
}

/**
 * Trust of an entry without `kest.source_type` (strictLineage false): its exact score cannot be
 * recomputed, but no hop's own origin lifts it above its parents' minimum, so more than that
 * still needs a sanitizer allowed to raise trust that far. Returns whether one did.
 */
function checkUnlabelledTrust(
  p: SignedEntry['payload'],
  parents: readonly SignedEntry[],
  sanitizers: SanitizerPolicy,
  fail: Fail,
): boolean {
  if (parents.length === 0) return false;
  const ceiling = Math.min(...parents.map((e) => e.payload.trust_score));
  if (p.trust_score <= ceiling) return false;
  if (!sanitizers.mayRaiseTo(p.labels.principal as string, p.trust_score)) {
    fail(
      'unauthorized_sanitizer',
      `${p.labels.principal} may not raise trust above its parents' minimum ${ceiling} to ${p.trust_score}`,
    );
  }
  return true;
}
