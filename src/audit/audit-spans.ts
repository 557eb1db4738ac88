/**
 * Offline audit (docs/spec.md §7): turn exported spans back into proven passports, one report per
 * trace. Spans are grouped by trace (graph.ts), each trace audited (auditor.ts) on the calling
 * thread or on worker threads (pool.ts); the reports are the same either way.
 */
import { KestVerificationError } from '../errors.js';
import { Passport } from '../passport/passport.js';
import type { SpanRecord } from '../telemetry/record.js';
import { Auditor } from './auditor.js';
import { type Group, groupSpans, makeNode, matchesTrace } from './graph.js';
import { type AuditPool, plannedWorkers, sharedPool, workerSettings } from './pool.js';
import type { GroupResult } from './protocol.js';
import type { AuditOptions, AuditReport } from './report.js';

/**
 * Audit exported spans: one report per trace that holds Kest entries (traces without any are
 * skipped), in the order traces first appear.
 */
export async function auditSpans(
  spans: readonly SpanRecord[],
  options: AuditOptions,
): Promise<AuditReport[]> {
  if (!options?.trust)
    throw new KestVerificationError('key_not_anchored', 'auditSpans needs a trust source', { index: -1 });
  return auditSpansUnchecked(spans, options);
}

/** @internal also used by the viewer, which may draw without a trust source (status 'unverified'). */
export async function auditSpansUnchecked(
  spans: readonly SpanRecord[],
  options: Partial<AuditOptions>,
  started?: AuditPool,
): Promise<AuditReport[]> {
  const { groups, byHash } = groupSpans(spans);
  const auditor = new Auditor(options); // validates the options, whoever audits
  const list = [...groups.values()].filter((g) => g.nodes.length > 0);
  const entries = list.reduce((n, g) => n + g.nodes.length, 0);
  // Traces are audited in-process when small, when the options cannot cross a thread, and when
  // a worker hands a trace back (it references entries carried elsewhere) or dies.
  const here = async (group: Group): Promise<GroupResult> => {
    if (options.traceId !== undefined && !matchesTrace(group, options.traceId, options.profile))
      return { kind: 'skip' };
    return { kind: 'report', report: await auditor.audit(group, byHash) };
  };
  let results: (GroupResult | undefined)[] = [];
  const count = plannedWorkers(options, entries, list.length);
  const settings = count > 0 && options.trust ? workerSettings(options) : undefined;
  if (settings && options.trust) {
    const pool = started ?? sharedPool(count);
    results = await pool.run(list, options.trust, settings, (h) => byHash.get(h)?.jws, here);
  }
  const out: AuditReport[] = [];
  for (const [i, group] of list.entries()) {
    let done = results[i];
    if (done === undefined || done.kind === 'main') done = await here(group);
    if (done.kind === 'report') out.push(done.report);
  }
  return out;
}

/**
 * Audit a passport (a JSON array of JWS, or a Passport) as one trace: the same report as for
 * spans, without span data. Used by `kest viz passport.json`.
 */
export async function auditPassport(
  input: Passport | string | readonly string[],
  options: Partial<Omit<AuditOptions, 'traceId'>> = {},
): Promise<AuditReport> {
  const passport =
    input instanceof Passport
      ? input
      : Array.isArray(input)
        ? Passport.fromJws(input)
        : Passport.deserialize(input);
  const traceId = passport.entries[0]?.payload.labels.trace_id ?? '';
  const nodes = passport.entries.map((e, i) => makeNode(e.jws, 'passport', undefined, i, options.profile));
  const byHash = new Map(nodes.map((n) => [n.hash, n]));
  const auditor = new Auditor(options);
  return auditor.audit({ traceId, nodes, spans: [], duplicates: 0 }, byHash);
}
