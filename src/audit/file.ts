/** Convenience over readers + auditSpans, and the text form of a report (what `kest audit` prints). */

import { statSync } from 'node:fs';
import { KestVerificationError } from '../errors.js';
import type { SpanRecord } from '../telemetry/record.js';
import { escapeTerminal } from '../wire/terminal.js';
import { auditSpansUnchecked } from './audit-spans.js';
import { DEFAULT_WORKER_MIN_SPANS, sharedPool, workerBudget, workerSettings } from './pool.js';
import { readSpansFile } from './readers.js';
import type { AuditOptions, AuditReport } from './report.js';

/** Read a span file (JSON lines, SQLite or OTLP/JSON) and audit it. */
export async function auditFile(path: string, options: AuditOptions): Promise<AuditReport[]> {
  if (!options?.trust)
    throw new KestVerificationError('key_not_anchored', 'auditFile needs a trust source', { index: -1 });
  // A file big enough to be audited on workers: start them now, so they start while it is read.
  if (likelyParallel(path, options) && workerSettings(options)) sharedPool(workerBudget(options));
  const spans: SpanRecord[] = await readSpansFile(path, options.traceId ? { traceId: options.traceId } : {});
  return auditSpansUnchecked(spans, options);
}

/** Smallest span with an entry on disk is about 1 KiB; SQLite reads of one trace stay small. */
function likelyParallel(path: string, options: AuditOptions): boolean {
  if (options.traceId !== undefined || workerBudget(options) === 0) return false;
  let bytes: number;
  try {
    bytes = statSync(path).size;
  } catch {
    return false; // the reader reports it
  }
  return bytes >= (options.workerMinSpans ?? DEFAULT_WORKER_MIN_SPANS) * 1024;
}

export interface AuditSummary {
  traces: number;
  verified: number;
  failed: number;
  incomplete: number;
  entries: number;
  gaps: number;
  forks: number;
  /** Call entries without their completion, over all traces (docs/spec.md §11). */
  incompleteCalls: number;
  /** Records the signed data requires that no span exported. */
  missingRecords: number;
  /**
   * Every trace verified and at least one trace audited. With `allowIncomplete`, a trace whose
   * only shortfall is calls without completion (still in flight) counts as verified.
   */
  ok: boolean;
}

/** Verified, or (allowIncomplete) short only of completions: every entry verified, nothing missing. */
function acceptable(r: AuditReport, allowIncomplete: boolean): boolean {
  if (r.status === 'verified') return true;
  return (
    allowIncomplete &&
    r.status === 'incomplete' &&
    r.gaps.length === 0 &&
    r.missingRecords.length === 0 &&
    r.entries.every((e) => e.status === 'verified')
  );
}

export function summarizeReports(
  reports: readonly AuditReport[],
  options: { allowIncomplete?: boolean } = {},
): AuditSummary {
  const count = (s: AuditReport['status']) => reports.filter((r) => r.status === s).length;
  return {
    traces: reports.length,
    verified: count('verified'),
    failed: count('failed'),
    incomplete: count('incomplete') + count('unverified'),
    entries: reports.reduce((n, r) => n + r.entries.length, 0),
    gaps: reports.reduce((n, r) => n + r.gaps.length, 0),
    forks: reports.reduce((n, r) => n + r.forks.length, 0),
    incompleteCalls: reports.reduce((n, r) => n + r.incomplete.length, 0),
    missingRecords: reports.reduce((n, r) => n + r.missingRecords.length, 0),
    ok: reports.length > 0 && reports.every((r) => acceptable(r, options.allowIncomplete === true)),
  };
}

const short = (h: string) => `${h.slice(0, 12)}…`;

/** Human-readable lines for one trace; text from the entries is escaped for a terminal. */
export function formatReport(r: AuditReport): string {
  const lines: string[] = [];
  const services = r.serviceNames.length > 0 ? ` [${r.serviceNames.join(', ')}]` : '';
  lines.push(`trace ${r.traceId}${services}: ${r.status.toUpperCase()} (${r.entries.length} entries)`);
  if (r.failure) {
    const f = r.failure;
    lines.push(
      `  first failure: entry ${f.index} (${f.entryId ?? short(f.hash)}): ${f.reason}: ${f.message}`,
    );
  }
  for (const g of r.gaps) {
    const rec = g.recovered ? `recovered from ${g.recovered}` : 'entry lost';
    lines.push(
      `  gap: ${short(g.hash)}${g.entryId ? ` (${g.entryId})` : ''} referenced by ${g.referencedBy.join(', ')} via ${g.via}; no span carries it (${rec})`,
    );
  }
  for (const m of r.missingRecords) {
    const who = m.expectedFrom ? `${m.expectedFrom} should have exported it` : 'exporter unknown';
    lines.push(
      `  missing_record: ${short(m.hash)} (${m.via} of ${m.referencedBy}); no span carries it: ${who}`,
    );
  }
  for (const i of r.incomplete) {
    lines.push(
      `  incomplete: ${i.operation} (${i.entryId}) by ${i.principal}: no completion (crashed, in flight, or record dropped)`,
    );
  }
  for (const f of r.forks) {
    lines.push(
      `  fork (${f.kind}) at entry ${f.parentIndex}: ${f.children.map((c) => `${c.index}:${c.status}`).join(', ')}`,
    );
  }
  for (const c of r.claimChecks) {
    lines.push(`  claim check ${c.id}: ${c.resolved ? 'resolved' : `unresolved (${c.error})`}`);
  }
  for (const e of r.entries) {
    const flags = [
      e.origin ? `origin ${e.origin}` : '',
      e.sanitized ? 'sanitizer' : '',
      e.denied ? (e.deniedFrom === 'span' ? 'denied (unsigned span status)' : 'denied') : '',
      e.kind === 'completion' ? `completion ${e.outcome ?? '?'} ${e.durationMs ?? '?'}ms` : '',
      e.failedExecution ? 'failed_execution' : '',
      e.supersededBy ? 'superseded' : '',
      e.source !== 'span' ? `from ${e.source}` : '',
      e.crossTrace ? 'other trace' : '',
    ].filter(Boolean);
    const taints = e.taints.length > 0 ? ` taints=${e.taints.join(',')}` : '';
    const why = e.status !== 'verified' && e.reason ? ` (${e.reason})` : '';
    lines.push(
      `  ${String(e.index).padStart(3)} ${e.status.padEnd(10)} ${e.operation ?? '?'} by ${e.principal ?? '?'} trust=${e.trustScore ?? '?'}${taints}${flags.length ? ` [${flags.join(', ')}]` : ''}${why}`,
    );
  }
  if (r.serviceNames.length > 0) lines.push('  (service names and span status/timing: unsigned span data)');
  if (r.unsignedSpans.length > 0) lines.push(`  ${r.unsignedSpans.length} Kest span(s) without a signature`);
  if (r.duplicates > 0) lines.push(`  ${r.duplicates} duplicate span(s) ignored`);
  // Each line is one line: a newline or escape sequence inside an entry's field shows as \n, \e.
  return lines.map((line) => escapeTerminal(line)).join('\n');
}
