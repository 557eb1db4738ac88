/**
 * Steps 1 and 2 of a trace's audit (auditor.ts). Gaps: every hash the trace names — an entry's
 * parents, the tip of a passport a span carried — that none of its spans carries; an entry another
 * trace's span carries is borrowed (crossTrace). Recovery: missing entries from the passports the
 * spans carried (kest.passport), then from claim checks (an unreachable cache is reported, never
 * fatal). A recovered gap stays reported: the audit log itself lost a record.
 */

import type { CacheProvider } from '../propagation/cache.js';
import type { SpanRecord } from '../telemetry/record.js';
import type { InteropProfile } from '../wire/constants.js';
import { SPAN } from '../wire/constants.js';
import { entryHash } from '../wire/hash.js';
import {
  claimCheckOf,
  freshAuditState,
  type Group,
  makeNode,
  type Node,
  parentsOf,
  parseNode,
  passportTipHash,
} from './graph.js';
import type { AuditClaimCheck, AuditGap } from './report.js';

/** @internal The nodes of one trace's audit (its own, borrowed and recovered) and the hashes it misses. */
export class TraceNodes {
  readonly nodes = new Map<string, Node>();
  readonly missing = new Map<string, AuditGap>();
  /** Nodes whose parents are still to be looked up (read from #head on: shift() is O(n)). */
  readonly #queue: Node[];
  #head = 0;
  readonly #referrers = new Map<string, Set<string>>();
  /** Read order of nodes added while auditing: after every node read from the spans. */
  #order = 1_000_000_000;

  constructor(
    group: Group,
    readonly global: ReadonlyMap<string, Node>,
    readonly profile: InteropProfile = 'spec',
  ) {
    for (const n of group.nodes) this.nodes.set(parseNode(n, profile).hash, n);
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
          ...parseNode(elsewhere, this.profile),
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
    // A Set beside the list: N forged children of one missing root would make includes() quadratic.
    let referrers = this.#referrers.get(hash);
    if (!referrers) {
      referrers = new Set(gap.referencedBy);
      this.#referrers.set(hash, referrers);
    }
    if (!referrers.has(by)) {
      referrers.add(by);
      gap.referencedBy.push(by);
    }
  }

  /** Look up the parents of every node added since the last call (and of those that adds). */
  drain(): void {
    for (; this.#head < this.#queue.length; this.#head++) {
      const n = this.#queue[this.#head] as Node;
      const by = n.entry?.payload.entry_id ?? n.span?.spanId ?? n.hash;
      for (const p of parentsOf(n)) this.need(p, by, 'parent');
    }
  }

  /** Fill a gap with the entry found for it; the gap stays reported, marked recovered. */
  recover(gap: AuditGap, jws: string, source: 'passport' | 'claim_check'): void {
    const node = makeNode(jws, source, undefined, this.#order++, this.profile);
    gap.recovered = source;
    gap.entryId = node.entry?.payload.entry_id;
    this.nodes.set(node.hash, node);
    this.#queue.push(node);
  }

  unresolved(): boolean {
    return [...this.missing.values()].some((g) => g.recovered === null);
  }
}

/** @internal Step 1, gaps: the trace's entries, their ancestors, and the passport tips its spans name. */
export function findGaps(
  group: Group,
  global: ReadonlyMap<string, Node>,
  profile: InteropProfile = 'spec',
): TraceNodes {
  const trace = new TraceNodes(group, global, profile);
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

/** @internal Step 2, recovery: from carried passports, then (if still missing) from claim checks. */
export async function recoverGaps(
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
