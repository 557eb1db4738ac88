/**
 * Auditing one trace (KEST-SPEC §7): its entries become a hash-linked DAG, checked in named steps.
 *
 * 1. gaps: every hash the trace names — an entry's parents, the tip of a passport a span carried —
 *    that none of its spans carries. An entry another trace's span carries is borrowed (crossTrace);
 *    anything else is a gap: a hop whose span is not in the export.
 * 2. recovery: missing entries from the passports the spans carried (kest.passport), then from
 *    claim checks. A gap is reported even when the entry was recovered: the audit log lost a record.
 * 3. superseding: the original entry of a failed call, replaced by its failed_execution entry (same
 *    entry_id and parent), is not a gap.
 * 4. blocking: an entry that does not parse, or sits below a gap or such an entry, is not verified.
 * 5. verification (verify.ts): the rest with the PassportVerifier (anchored keys, lineage rules).
 * 6. forks: two entries with the same parent — normal for concurrent calls and for a call that
 *    failed; each branch is verified on its own.
 */
import type { CacheProvider } from '../propagation/cache.js';
import type { SpanRecord } from '../telemetry/record.js';
import { FAILED_EXECUTION_TAINT, LABEL, SPAN } from '../wire/constants.js';
import { entryHash } from '../wire/hash.js';
import {
  childrenOf,
  claimCheckOf,
  freshAuditState,
  type Group,
  makeNode,
  type Node,
  parentsOf,
  parseNode,
  passportTipHash,
  topologicalOrder,
} from './graph.js';
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

/** @internal */
export class Auditor {
  readonly #cache: CacheProvider | undefined;
  readonly #verifier: DagVerifier;

  constructor(options: Partial<AuditOptions>) {
    this.#cache = options.cache;
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
    const trace = findGaps(group, global);
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
    return traceReport(group, { ordered, gaps, forks, branches, claimChecks, anchored });
  }
}

/** The nodes of one trace's audit (its own, borrowed and recovered) and the hashes it misses. */
class TraceNodes {
  readonly nodes = new Map<string, Node>();
  readonly missing = new Map<string, AuditGap>();
  /** Nodes whose parents are still to be looked up. */
  readonly #queue: Node[];
  /** Read order of nodes added while auditing: after every node read from the spans. */
  #order = 1_000_000_000;

  constructor(
    group: Group,
    readonly global: ReadonlyMap<string, Node>,
  ) {
    for (const n of group.nodes) this.nodes.set(parseNode(n).hash, n);
    this.#queue = [...group.nodes];
  }

  /** A hash the trace names: present, borrowed from the trace whose span carries it, or a gap. */
  need(hash: string, by: string, via: AuditGap['via']): void {
    if (this.nodes.has(hash)) return;
    let gap = this.missing.get(hash);
    if (!gap) {
      const elsewhere = this.global.get(hash);
      if (elsewhere) {
        // A fresh copy: none of the audit state another trace's audit may have left on it.
        const copy: Node = {
          ...parseNode(elsewhere),
          crossTrace: true,
          order: this.#order++,
          ...freshAuditState(),
        };
        this.nodes.set(hash, copy);
        this.#queue.push(copy);
        return;
      }
      gap = { hash, referencedBy: [], via, recovered: null, entryId: undefined };
      this.missing.set(hash, gap);
    }
    if (!gap.referencedBy.includes(by)) gap.referencedBy.push(by);
  }

  /** Look up the parents of every node added since the last call (and of those that adds). */
  drain(): void {
    while (this.#queue.length > 0) {
      const n = this.#queue.shift() as Node;
      const by = n.entry?.payload.entry_id ?? n.span?.spanId ?? n.hash;
      for (const p of parentsOf(n)) this.need(p, by, 'parent');
    }
  }

  /** Fill a gap with the entry found for it; the gap stays reported, marked recovered. */
  recover(gap: AuditGap, jws: string, source: 'passport' | 'claim_check'): void {
    const node = makeNode(jws, source, undefined, this.#order++);
    gap.recovered = source;
    gap.entryId = node.entry?.payload.entry_id;
    this.nodes.set(node.hash, node);
    this.#queue.push(node);
  }

  unresolved(): boolean {
    return [...this.missing.values()].some((g) => g.recovered === null);
  }
}

/** Step 1, gaps: the trace's entries, their ancestors, and the passport tips its spans name. */
function findGaps(group: Group, global: ReadonlyMap<string, Node>): TraceNodes {
  const trace = new TraceNodes(group, global);
  const own = new Map<SpanRecord, Node>();
  for (const n of group.nodes) if (n.span) own.set(n.span, n);
  trace.drain();
  for (const span of group.spans) {
    const tip = passportTipHash(span.attributes[SPAN.passport], own.get(span));
    if (tip) trace.need(tip, span.spanId, 'passport');
  }
  trace.drain();
  return trace;
}

/** Step 2, recovery: missing entries from carried passports, then (if still missing) claim checks. */
async function recoverGaps(
  trace: TraceNodes,
  spans: readonly SpanRecord[],
  cache: CacheProvider | undefined,
): Promise<AuditClaimCheck[]> {
  if (trace.unresolved()) recoverFrom(trace, passportPool(spans), 'passport');
  if (!trace.unresolved()) return [];
  const { pool, claimChecks } = await claimCheckPool(spans, cache);
  recoverFrom(trace, pool, 'claim_check');
  return claimChecks;
}

/** Fill gaps from a pool of JWS by hash, again and again: a recovered entry may name more. */
function recoverFrom(trace: TraceNodes, pool: Map<string, string>, source: 'passport' | 'claim_check'): void {
  let progress = true;
  while (progress) {
    progress = false;
    for (const gap of trace.missing.values()) {
      if (gap.recovered !== null) continue;
      const jws = pool.get(gap.hash);
      if (jws === undefined) continue;
      trace.recover(gap, jws, source);
      progress = true;
    }
    trace.drain();
  }
}

/** Every entry of the passports the spans carried, by hash. */
function passportPool(spans: readonly SpanRecord[]): Map<string, string> {
  const pool = new Map<string, string>();
  for (const span of spans) {
    const p = span.attributes[SPAN.passport];
    if (typeof p === 'string' && p.startsWith('[')) addToPool(pool, p);
  }
  return pool;
}

/** Every entry of the claim checks the spans name, by hash; an unreachable one is reported. */
async function claimCheckPool(
  spans: readonly SpanRecord[],
  cache: CacheProvider | undefined,
): Promise<{ pool: Map<string, string>; claimChecks: AuditClaimCheck[] }> {
  const pool = new Map<string, string>();
  const claimChecks: AuditClaimCheck[] = [];
  for (const span of spans) {
    const id = claimCheckOf(span);
    if (!id || claimChecks.some((c) => c.id === id)) continue;
    if (!cache) {
      claimChecks.push({ id, spanId: span.spanId, resolved: false, error: 'no cache configured' });
      continue;
    }
    try {
      const json = await cache.get(id);
      if (json === undefined) throw new Error('not found (expired or never stored)');
      addToPool(pool, json);
      claimChecks.push({ id, spanId: span.spanId, resolved: true });
    } catch (err) {
      claimChecks.push({ id, spanId: span.spanId, resolved: false, error: (err as Error).message });
    }
  }
  return { pool, claimChecks };
}

/** A passport's entries (a JSON array of JWS, or {"entries": [...]}) into the pool; else nothing. */
function addToPool(pool: Map<string, string>, json: string): void {
  let arr: unknown;
  try {
    arr = JSON.parse(json);
  } catch {
    return;
  }
  if (arr !== null && typeof arr === 'object' && !Array.isArray(arr))
    arr = (arr as { entries?: unknown }).entries;
  if (!Array.isArray(arr)) return;
  for (const jws of arr) if (typeof jws === 'string') pool.set(entryHash(jws), jws);
}

/** Step 3, superseding: a recovered original of a failed call is replaced, not lost. */
function markSuperseded(trace: TraceNodes): void {
  const byEntryId = new Map<string, Node[]>();
  for (const n of trace.nodes.values()) {
    const id = n.entry?.payload.entry_id;
    if (id) byEntryId.set(id, [...(byEntryId.get(id) ?? []), n]);
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

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
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
    const kids = children.get(n.hash) ?? [];
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
      : gaps.length > 0 || ordered.some((n) => n.status !== 'verified')
        ? 'incomplete'
        : 'verified';
  return {
    traceId: group.traceId,
    status,
    entries: ordered.map(toAuditEntry),
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
    branches: t.branches,
    claimChecks: t.claimChecks,
    unsignedSpans: kestSpanNames.map((s) => ({ spanId: s.spanId, name: s.name, status: s.status })),
    otherSpans: group.spans.length - group.nodes.length - group.duplicates - kestSpanNames.length,
    duplicates: group.duplicates,
    serviceNames,
  };
}

/** A node as the report shows it: entry fields, span data, audit status. */
function toAuditEntry(n: Node): AuditEntry {
  const p = n.entry?.payload;
  const span = n.span;
  const statusMessage = span?.status.message ?? '';
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
    denied: span?.status.code === 'ERROR' && statusMessage.startsWith('ERR_AUTHORIZATION'),
    failedExecution: p?.taints.includes(FAILED_EXECUTION_TAINT) === true,
    supersededBy: n.supersededBy,
  };
}
