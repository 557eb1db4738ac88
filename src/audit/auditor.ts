/**
 * Auditing one trace (docs/spec.md §7): its entries become a hash-linked DAG, checked in named steps.
 *
 * 1. gaps (gaps.ts): hashes the trace names (parents, carried passports' tips) but no span carries;
 *    an entry carried by another trace's span is borrowed (crossTrace), anything else is a gap.
 * 2. recovery (gaps.ts): missing entries from carried passports, then claim checks. A recovered gap
 *    stays reported: the audit log itself lost a record.
 * 3. superseding: the original entry of a failed call, replaced by its failed_execution entry (same
 *    entry_id and parent), is not a gap.
 * 4. blocking: an entry that does not parse, or sits below a gap or such an entry, is not verified.
 * 5. verification (verify.ts): the rest with the PassportVerifier (anchored keys, lineage rules).
 * 6. forks: two entries with the same parent — normal for concurrent calls and for a call that
 *    failed; each branch is verified on its own.
 */

import { sameList } from '../entry/validate.js';
import type { CacheProvider } from '../propagation/cache.js';
import type { InteropProfile } from '../wire/constants.js';
import { FAILED_EXECUTION_TAINT, LABEL, SPAN } from '../wire/constants.js';
import { type Closure, checkClosure, completes } from './closure.js';
import { findGaps, recoverGaps, type TraceNodes } from './gaps.js';
import { childrenOf, type Group, type Node, parentsOf, topologicalOrder } from './graph.js';
import type {
  AuditBranch,
  AuditClaimCheck,
  AuditEntry,
  AuditFork,
  AuditGap,
  AuditOptions,
  AuditReport,
} from './report.js';
import { DagVerifier } from './verify.js';

/** @internal Audits one trace at a time: the same on the calling thread and on a worker. */
export class Auditor {
  readonly #cache: CacheProvider | undefined;
  readonly #verifier: DagVerifier;
  readonly #profile: InteropProfile;

  constructor(options: Partial<AuditOptions>) {
    this.#cache = options.cache;
    this.#profile = options.profile ?? 'spec';
    this.#verifier = new DagVerifier(options);
  }

  async audit(group: Group, global: ReadonlyMap<string, Node>): Promise<AuditReport> {
    return (await this.auditGroup(group, global, false)) as AuditReport;
  }

  /**
   * With `localOnly` (a worker, which sees one trace at a time), a trace that references any hash it
   * does not carry itself is not audited (undefined): the caller audits it with the global index,
   * the carried passports and the claim-check cache.
   */
  async auditGroup(
    group: Group,
    global: ReadonlyMap<string, Node>,
    localOnly: boolean,
  ): Promise<AuditReport | undefined> {
    const trace = findGaps(group, global, this.#profile);
    if (localOnly && trace.missing.size > 0) return undefined;
    const claimChecks = await recoverGaps(trace, group.spans, this.#cache);
    markSuperseded(trace);
    const ordered = topologicalOrder([...trace.nodes.values()], trace.nodes);
    ordered.forEach((n, i) => {
      n.index = i;
    });
    const children = childrenOf(ordered, trace.nodes);
    const verifiable = markBlocked(ordered, trace.nodes);
    const branches = await this.#verifier.verify(verifiable, children);
    const anchored = this.#verifier.anchored;
    if (!anchored) for (const n of verifiable) n.reason = 'no_trust_source';
    const gaps = [...trace.missing.values()];
    const forks = findForks(ordered, children);
    const rootsChecked = this.#verifier.rootsChecked;
    const closure = checkClosure(trace);
    return traceReport(group, {
      ordered,
      gaps,
      forks,
      branches,
      claimChecks,
      anchored,
      rootsChecked,
      closure,
    });
  }
}

/** Step 3, superseding: a recovered original of a failed call is replaced, not lost. */
function markSuperseded(trace: TraceNodes): void {
  const byEntryId = new Map<string, Node[]>();
  for (const n of trace.nodes.values()) {
    const id = n.entry?.payload.entry_id;
    if (!id) continue;
    const list = byEntryId.get(id);
    if (list) list.push(n);
    else byEntryId.set(id, [n]);
  }
  for (const gap of trace.missing.values()) {
    const original = trace.nodes.get(gap.hash);
    if (!original?.entry) continue;
    const failed = byEntryId
      .get(original.entry.payload.entry_id)
      ?.find((f) => f !== original && f.source === 'span' && replacesFailedCall(f, original));
    if (failed) {
      original.supersededBy = failed.hash;
      trace.missing.delete(gap.hash);
    }
  }
}

/** `failed` is the failed_execution entry the hook signed instead of `original` (same parents). */
function replacesFailedCall(failed: Node, original: Node): boolean {
  const f = failed.entry?.payload;
  const o = original.entry?.payload;
  return (
    f?.taints.includes(FAILED_EXECUTION_TAINT) === true &&
    !o?.taints.includes(FAILED_EXECUTION_TAINT) &&
    sameList(f.parent_ids, o?.parent_ids ?? [])
  );
}

/**
 * Step 4, blocking: an entry is verifiable when it parsed and every ancestor is present and parsed.
 * The others are marked (failed to parse, 'below_gap' or 'parent_failed'); the rest is returned.
 */
function markBlocked(ordered: readonly Node[], nodes: ReadonlyMap<string, Node>): Node[] {
  const blocked = new Set<Node>();
  for (const n of ordered) {
    if (!n.entry) {
      n.status = 'failed';
      n.reason = n.parseError?.reason;
      n.message = n.parseError?.message;
      blocked.add(n);
      continue;
    }
    for (const p of parentsOf(n)) {
      const parent = nodes.get(p);
      if (!parent) {
        n.reason ??= 'below_gap';
        blocked.add(n);
      } else if (blocked.has(parent)) {
        n.reason ??= parent.reason === 'below_gap' ? 'below_gap' : 'parent_failed';
        blocked.add(n);
      }
    }
  }
  return ordered.filter((n) => !blocked.has(n));
}

/** Step 6, forks: every entry with two or more children, and what kind of fork it is. */
function findForks(ordered: readonly Node[], children: ReadonlyMap<string, Node[]>): AuditFork[] {
  const forks: AuditFork[] = [];
  for (const n of ordered) {
    // A call's own completion beside a downstream hop's call is the call closing, not a fork.
    const kids = (children.get(n.hash) ?? []).filter((k) => completes(k.entry) !== n.hash);
    if (kids.length < 2) continue;
    const ids = kids.map((k) => k.entry?.payload.entry_id);
    const superseded = kids.some((k) => k.supersededBy && kids.some((o) => o.hash === k.supersededBy));
    const dupId = new Set(ids).size < ids.length;
    forks.push({
      parentHash: n.hash,
      parentIndex: n.index,
      parentEntryId: n.entry?.payload.entry_id,
      children: kids.map((k) => ({
        index: k.index,
        entryId: k.entry?.payload.entry_id,
        hash: k.hash,
        status: k.status,
      })),
      kind: superseded && kids.length === 2 ? 'failure' : dupId ? 'conflict' : 'concurrent',
    });
  }
  return forks;
}

interface TraceOutcome {
  ordered: Node[];
  gaps: AuditGap[];
  forks: AuditFork[];
  branches: AuditBranch[];
  claimChecks: AuditClaimCheck[];
  /** A trust source was given (else every entry stays unverified). */
  anchored: boolean;
  /** Root rules were given: root origins are checked, not self-asserted. */
  rootsChecked: boolean;
  closure: Closure;
}

/** The trace's report from its audited nodes and the spans around them. */
function traceReport(group: Group, t: TraceOutcome): AuditReport {
  const { ordered, gaps } = t;
  const first = ordered.find((n) => n.status === 'failed');
  const kestSpanNames = group.spans.filter(
    (s) => typeof s.attributes[SPAN.signature] !== 'string' && s.name.startsWith(SPAN.namePrefix),
  );
  const serviceNames = [
    ...new Set(
      group.spans
        .map((s) => s.resource['service.name'])
        .filter((s): s is string => typeof s === 'string' && s.length > 0),
    ),
  ];
  const status: AuditReport['status'] = first
    ? 'failed'
    : !t.anchored
      ? 'unverified'
      : gaps.length > 0 ||
          t.closure.incomplete.length > 0 ||
          t.closure.missingRecords.length > 0 ||
          ordered.some((n) => n.status !== 'verified')
        ? 'incomplete'
        : 'verified';
  return {
    traceId: group.traceId,
    status,
    entries: ordered.map((n) => toAuditEntry(n, t.rootsChecked, t.closure)),
    passport: ordered.filter((n) => n.entry).map((n) => n.jws),
    failure: first
      ? {
          index: first.index,
          entryId: first.entry?.payload.entry_id,
          hash: first.hash,
          reason: first.reason ?? 'unknown',
          message: first.message ?? '',
        }
      : undefined,
    gaps,
    forks: t.forks,
    incomplete: t.closure.incomplete,
    missingRecords: t.closure.missingRecords,
    branches: t.branches,
    claimChecks: t.claimChecks,
    unsignedSpans: kestSpanNames.map((s) => ({ spanId: s.spanId, name: s.name, status: s.status })),
    otherSpans: group.spans.filter(
      (sp) => typeof sp.attributes[SPAN.signature] !== 'string' && !sp.name.startsWith(SPAN.namePrefix),
    ).length,
    duplicates: group.duplicates,
    serviceNames,
  };
}

/** A node as the report shows it: entry fields, span data, audit status. */
function toAuditEntry(n: Node, rootsChecked: boolean, closure: Closure): AuditEntry {
  const p = n.entry?.payload;
  const span = n.span;
  const statusMessage = span?.status.message ?? '';
  const isCompletion = completes(n.entry) !== undefined;
  const completion = isCompletion ? n : closure.completionOf.get(n.hash);
  const signed = completion?.entry?.payload.labels;
  const outcome = signed?.[LABEL.outcome];
  const duration = Number(signed?.[LABEL.durationMs]);
  return {
    index: n.index,
    hash: n.hash,
    jws: n.jws,
    entryId: p?.entry_id,
    operation:
      p?.operation ??
      (typeof span?.attributes[SPAN.operation] === 'string'
        ? (span.attributes[SPAN.operation] as string)
        : undefined),
    principal: p?.labels[LABEL.principal],
    classification: p?.classification,
    trustScore: p?.trust_score,
    taints: p ? [...p.taints] : [],
    addedTaints: p ? [...p.added_taints] : [],
    removedTaints: p ? [...p.removed_taints] : [],
    parents: n.entry ? parentsOf(n) : [],
    origin: rootOrigin(n, rootsChecked),
    sourceType: p?.labels[LABEL.sourceType],
    trustOverride: p?.labels[LABEL.trustOverride],
    source: n.source,
    crossTrace: n.crossTrace,
    span: span
      ? {
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId,
          name: span.name,
          serviceName:
            typeof span.resource['service.name'] === 'string' ? span.resource['service.name'] : undefined,
          status: span.status,
          startTimeUnixNano: span.startTimeUnixNano,
          endTimeUnixNano: span.endTimeUnixNano,
        }
      : undefined,
    status: n.status,
    reason: n.reason,
    message: n.message,
    sanitized: n.sanitized || p?.classification === 'sanitizer',
    kind: isCompletion ? 'completion' : 'call',
    outcome: outcome === 'ok' || outcome === 'error' || outcome === 'denied' ? outcome : undefined,
    durationMs: Number.isFinite(duration) && signed ? duration : undefined,
    completedBy: isCompletion ? undefined : completion?.hash,
    denied: signed
      ? outcome === 'denied'
      : span?.status.code === 'ERROR' && statusMessage.startsWith('ERR_AUTHORIZATION'),
    deniedFrom: signed ? 'signed' : 'span',
    failedExecution: p?.taints.includes(FAILED_EXECUTION_TAINT) === true,
    supersededBy: n.supersededBy,
  };
}

/** How a root entry's origin is known (AuditEntry.origin); undefined for other entries. */
function rootOrigin(n: Node, rootsChecked: boolean): AuditEntry['origin'] {
  if (!n.entry || parentsOf(n).length > 0) return undefined;
  if (!rootsChecked) return 'self-asserted';
  return n.status === 'verified' ? 'checked' : undefined;
}
