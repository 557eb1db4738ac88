/**
 * Closure (docs/spec.md §11, docs/audit.md): every call entry of this runtime has its completion in
 * the trace, and every downstream tip a completion signed (`kest.downstream`) is an entry some span
 * exported. A call without its completion is `incomplete` (the hop crashed, is still running, or
 * dropped its record); a tip nobody exported is a `missing_record`, named after the workload that
 * returned it. Only call entries that promise a completion (label kest.completion = expected,
 * signed) must have one: entries of other runtimes and older signers make no such promise and are
 * audited as before. Unresolved parent gaps are missing records too.
 */
import type { SignedEntry } from '../entry/signed.js';
import { COMPLETION_EXPECTED, LABEL } from '../wire/constants.js';
import type { TraceNodes } from './gaps.js';
import type { Node } from './graph.js';
import type { AuditIncomplete, AuditMissingRecord } from './report.js';

/** Whether an entry is a completion (it names the call entry it closes). */
export function completes(entry: SignedEntry | undefined): string | undefined {
  const v = entry?.payload.labels[LABEL.completes];
  return typeof v === 'string' ? v : undefined;
}

/** The tips a completion signed into kest.downstream (malformed: none). */
export function downstreamOf(entry: SignedEntry | undefined): { tip: string; by?: string }[] {
  const raw = entry?.payload.labels[LABEL.downstream];
  if (raw === undefined) return [];
  try {
    const v = JSON.parse(raw) as unknown;
    if (!Array.isArray(v)) return [];
    return v.filter(
      (t): t is { tip: string; by?: string } =>
        t !== null && typeof t === 'object' && typeof (t as { tip?: unknown }).tip === 'string',
    );
  } catch {
    return [];
  }
}

export interface Closure {
  incomplete: AuditIncomplete[];
  missingRecords: AuditMissingRecord[];
  /** Completion node by the hash of the call it closes. */
  completionOf: Map<string, Node>;
}

export function checkClosure(trace: TraceNodes): Closure {
  const nodes = [...trace.nodes.values()];
  const completionOf = new Map<string, Node>();
  for (const n of nodes) {
    const call = completes(n.entry);
    if (call !== undefined) completionOf.set(call, n);
  }
  const incomplete: AuditIncomplete[] = [];
  for (const n of nodes) {
    const p = n.entry?.payload;
    if (!p || p.labels[LABEL.completion] !== COMPLETION_EXPECTED) continue;
    if (completionOf.has(n.hash)) continue;
    incomplete.push({
      hash: n.hash,
      entryId: p.entry_id,
      operation: p.operation,
      principal: p.labels[LABEL.principal] ?? '?',
    });
  }
  return { incomplete, missingRecords: missingRecords(trace, nodes), completionOf };
}

function missingRecords(trace: TraceNodes, nodes: readonly Node[]): AuditMissingRecord[] {
  const out: AuditMissingRecord[] = [];
  const present = (h: string) => trace.nodes.has(h) || trace.global.has(h);
  for (const n of nodes) {
    for (const d of downstreamOf(n.entry)) {
      if (present(d.tip) || out.some((m) => m.hash === d.tip)) continue;
      out.push({
        hash: d.tip,
        via: 'downstream',
        referencedBy: n.entry?.payload.entry_id ?? n.hash,
        expectedFrom: d.by,
      });
    }
  }
  for (const gap of trace.missing.values()) {
    if (gap.recovered !== null || out.some((m) => m.hash === gap.hash)) continue;
    // A completion whose call entry is gone: the same workload should have exported both.
    const closer = nodes.find((n) => completes(n.entry) === gap.hash);
    out.push({
      hash: gap.hash,
      via: 'parent',
      referencedBy: gap.referencedBy.join(', '),
      expectedFrom: closer?.entry?.payload.labels[LABEL.principal],
    });
  }
  return out;
}
