/**
 * The verification step of a trace's audit: the entries that can be verified go to the
 * PassportVerifier (anchored keys, links, lineage rules) as one DAG; when that fails, each branch
 * (a leaf and its ancestors) is verified on its own, so one bad branch does not hide good ones.
 */
import type { SignedEntry } from '../entry/signed.js';
import { KestVerificationError } from '../errors.js';
import { Passport } from '../passport/passport.js';
import { PassportVerifier, type VerificationReport } from '../passport/verifier.js';
import { AncestryIndex, type Node, parentsOf } from './graph.js';
import type { AuditBranch, AuditOptions } from './report.js';

type RunResult = { ok: true; report: VerificationReport } | { ok: false; error: KestVerificationError };

/** @internal */
export class DagVerifier {
  readonly #single: PassportVerifier | undefined;
  readonly #multi: PassportVerifier | undefined;
  readonly #rootsChecked: boolean;

  /** Without a trust source nothing is verified: every branch stays 'unverified'. */
  constructor(options: Partial<AuditOptions>) {
    this.#rootsChecked = options.roots !== undefined;
    if (options.trust) {
      const base = {
        trust: options.trust,
        ...(options.sanitizers ? { sanitizers: options.sanitizers } : {}),
        ...(options.trustEvaluator ? { trustEvaluator: options.trustEvaluator } : {}),
        ...(options.strictLineage !== undefined ? { strictLineage: options.strictLineage } : {}),
        ...(options.roots ? { roots: options.roots } : {}),
        ...(options.profile ? { profile: options.profile } : {}),
        // Every entry is checked from scratch: an audit does not rely on earlier verifications.
        tipCacheSize: 0,
      };
      this.#single = new PassportVerifier(base);
      this.#multi = new PassportVerifier({ ...base, allowMultipleRoots: true });
    }
  }

  /** Root entries' origins are checked against root rules (AuditOptions.roots), not self-asserted. */
  get rootsChecked(): boolean {
    return this.#rootsChecked;
  }

  /** @internal The ancestry index of the last branch-by-branch verification (work counts in tests). */
  lastAncestry: AncestryIndex | undefined;

  /** Whether there is a trust source to verify with. */
  get anchored(): boolean {
    return this.#single !== undefined;
  }

  /** Verify the whole DAG at once; on a failure, branch by branch (leaf and its ancestors). */
  async verify(verifiable: Node[], children: Map<string, Node[]>): Promise<AuditBranch[]> {
    const inSet = new Set(verifiable);
    const leaves = verifiable.filter((n) => !(children.get(n.hash) ?? []).some((c) => inSet.has(c)));
    if (!this.#single || verifiable.length === 0) {
      return leaves.map((l) => ({
        tipIndex: l.index,
        tipEntryId: l.entry?.payload.entry_id,
        status: 'unverified' as const,
      }));
    }
    const whole = await this.#run(verifiable);
    if (whole.ok) {
      markVerified(verifiable, whole.report);
      return leaves.map((l) => ({
        tipIndex: l.index,
        tipEntryId: l.entry?.payload.entry_id,
        status: 'verified',
      }));
    }
    const branches: AuditBranch[] = [];
    const single = leaves.length === 1 ? whole : undefined;
    const ancestry = new AncestryIndex(verifiable); // indexed once for every leaf
    this.lastAncestry = ancestry;
    for (const leaf of leaves) {
      const branch = single ? verifiable : ancestry.of(leaf);
      const result = single ?? (await this.#run(branch));
      branches.push(branchOutcome(leaf, branch, result));
    }
    for (const n of verifiable) {
      if (n.status === 'unverified' && n.reason === undefined) n.reason = 'parent_failed';
    }
    return branches;
  }

  async #run(list: Node[]): Promise<RunResult> {
    const roots = list.filter((n) => parentsOf(n).length === 0).length;
    const verifier = (roots > 1 ? this.#multi : this.#single) as PassportVerifier;
    try {
      const passport = Passport.fromSignedEntries(list.map((n) => n.entry as SignedEntry));
      return { ok: true, report: await verifier.verify(passport) };
    } catch (err) {
      if (err instanceof KestVerificationError) return { ok: false, error: err };
      // Fail secure: anything else is a failure of the whole branch, reported, never a pass.
      return {
        ok: false,
        error: new KestVerificationError('malformed_entry', `verification error: ${(err as Error).message}`, {
          index: -1,
          cause: err,
        }),
      };
    }
  }
}

/** Mark a branch by its verification result: all verified, or verified up to the failed entry. */
function branchOutcome(leaf: Node, branch: Node[], result: RunResult): AuditBranch {
  if (result.ok) {
    markVerified(branch, result.report);
    return { tipIndex: leaf.index, tipEntryId: leaf.entry?.payload.entry_id, status: 'verified' };
  }
  const { error } = result;
  const at = error.index >= 0 ? branch[error.index] : undefined;
  for (const n of branch.slice(0, Math.max(error.index, 0))) if (n.status !== 'failed') n.status = 'verified';
  const failedNode = at ?? leaf;
  failedNode.status = 'failed';
  failedNode.reason = error.reason;
  // The verifier's message names the branch index; the report uses the trace's own index.
  failedNode.message = error.message.replace(/^entry -?\d+(?: \([^)]*\))?: /, '');
  return {
    tipIndex: leaf.index,
    tipEntryId: leaf.entry?.payload.entry_id,
    status: 'failed',
    failureIndex: failedNode.index,
  };
}

function markVerified(list: Node[], report: VerificationReport): void {
  list.forEach((n, i) => {
    if (n.status === 'failed') return;
    n.status = 'verified';
    n.reason = undefined;
    n.sanitized ||= report.entries[i]?.sanitized === true;
  });
}
