/**
 * Lineage checks for entries of the Python reference runtime (profile `reference`,
 * docs/interop.md). The reference computes taints over every earlier entry of the passport, not
 * only the parents, so its exact list is bounded, not recomputed: every taint the parents pass on
 * (plus added, less removed) must be present — none dropped without a sanitizer, which
 * checkLineage has already required for removed_taints — and nothing may appear that no earlier
 * entry carried and the entry did not add.
 */
import type { SignedEntry } from '../entry/signed.js';
import type { VerificationReason } from '../errors.js';
import { computeTaints } from '../trust/taints.js';
import type { JwsHeader } from '../wire/jws.js';

type Fail = (reason: VerificationReason, message: string) => never;

export function checkReferenceTaints(
  entry: SignedEntry,
  parents: readonly SignedEntry[],
  earlier: Iterable<SignedEntry>,
  fail: Fail,
): void {
  const p = entry.payload;
  const have = new Set(p.taints);
  const required = computeTaints(
    parents.map((e) => e.payload.taints),
    p.added_taints,
    p.removed_taints,
  );
  const dropped = required.filter((t) => !have.has(t));
  if (dropped.length > 0) {
    fail(
      'taint_mismatch',
      `taints ${JSON.stringify(p.taints)} drop ${JSON.stringify(dropped)} of the parents`,
    );
  }
  const possible = new Set(p.added_taints);
  for (const e of earlier) if (e !== entry) for (const t of e.payload.taints) possible.add(t);
  const invented = p.taints.filter((t) => !possible.has(t));
  if (invented.length > 0) {
    fail(
      'taint_mismatch',
      `taints ${JSON.stringify(invented)} come from no earlier entry and were not added`,
    );
  }
}

/**
 * The reference signs with `kid` = the principal. That names no key, so it is dropped before the
 * key lookup: the trust source then needs exactly one anchored key for the principal (or fails).
 */
export function referenceKeyHeader(header: JwsHeader, principal: string): JwsHeader {
  if (header.kid !== principal) return header;
  const { kid: _kid, ...rest } = header;
  return rest as JwsHeader;
}
