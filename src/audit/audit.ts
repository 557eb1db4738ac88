/**
 * Offline audit (docs/spec.md §7): turn exported spans back into proven passports.
 *
 * Per trace: collect the entries the spans carry (kest.signature), link them by hash — parent_ids
 * name the SHA-256 of each parent's compact JWS, so the order comes from the signatures themselves,
 * never from timestamps —, find what is referenced but missing (a gap: a hop whose span is not in
 * the export), recover missing entries from passports the spans carried (kest.passport) or from
 * claim checks, and verify with the PassportVerifier (anchored keys, lineage rules). A gap is
 * reported even when the entry was recovered: the audit log itself lost a record.
 *
 * A fork (two entries with the same parent) is normal for concurrent calls and for a call that
 * failed (the hook replaces its entry by a failed_execution entry with the same entry_id and parent);
 * each branch is verified on its own.
 */
import type { SignedEntry } from '../entry/signed.js';
import { validateEntryPayload } from '../entry/validate.js';
import { KestEntryError, KestError, KestVerificationError } from '../errors.js';
import type { TrustSource } from '../keys/trust-source.js';
import { Passport } from '../passport/passport.js';
import { PassportVerifier, type VerificationReport } from '../passport/verifier.js';
import type { CacheProvider } from '../propagation/cache.js';
import type { SpanRecord } from '../telemetry/record.js';
import type { TrustEvaluator } from '../trust/evaluator.js';
import type { SanitizerPolicy, SanitizerRule } from '../trust/sanitizers.js';
import { FAILED_EXECUTION_TAINT, LABEL, ROOT_PARENT, SPAN } from '../wire/constants.js';
import { entryHash } from '../wire/hash.js';
import { parseJws } from '../wire/jws.js';
import { isUuid } from '../wire/uuid.js';
import { type AuditPool, plannedWorkers, sharedPool, workerSettings } from './pool.js';
import type { GroupResult } from './protocol.js';

/** Span attribute that names a claim check holding the span's passport (docs/spec.md §10). */
export const CLAIM_CHECK_ATTRIBUTE = 'kest.claim_check';

export interface AuditOptions {
  /** Where anchored keys come from (JwksTrustSource, SpiffeTrustSource, ...). */
  trust: TrustSource;
  sanitizers?: SanitizerPolicy | readonly SanitizerRule[];
  trustEvaluator?: TrustEvaluator;
  strictLineage?: boolean;
  /** Resolves claim-check references when a trace has gaps. Unreachable: reported, never fatal. */
  cache?: CacheProvider;
  /** Only this trace (OpenTelemetry trace id, or the entries' labels.trace_id). */
  traceId?: string;
  /**
   * Worker threads that verify traces in parallel (0: audit on the calling thread). Default:
   * os.availableParallelism(), at most 4, when the audit has at least `workerMinSpans` entries in
   * two or more traces. Reports are the same either way.
   */
  workers?: number;
  /** Entries below which an audit stays on the calling thread. Default 500. */
  workerMinSpans?: number;
}

export type EntryStatus = 'verified' | 'failed' | 'unverified';
export type EntrySource = 'span' | 'passport' | 'claim_check';

export interface AuditSpanInfo {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  serviceName: string | undefined;
  status: SpanRecord['status'];
  startTimeUnixNano: string;
  endTimeUnixNano: string;
}

export interface AuditEntry {
  /** Position in the trace's hash-linked order (parents before children). */
  index: number;
  hash: string;
  jws: string;
  /** Undefined only for an entry that does not parse. */
  entryId: string | undefined;
  operation: string | undefined;
  principal: string | undefined;
  classification: string | undefined;
  trustScore: number | undefined;
  taints: string[];
  addedTaints: string[];
  removedTaints: string[];
  /** Parent hashes (empty for a root). */
  parents: string[];
  sourceType: string | undefined;
  trustOverride: string | undefined;
  /** Where the JWS came from: the entry's own span, a passport another span carried, a claim check. */
  source: EntrySource;
  /** Carried by a span of another trace. */
  crossTrace: boolean;
  span: AuditSpanInfo | undefined;
  status: EntryStatus;
  /** Why it failed, or why it stays unverified ('below_gap', 'parent_failed', 'no_trust_source'). */
  reason: string | undefined;
  message: string | undefined;
  /** Raised trust or cleared taints under a sanitizer rule (or classification 'sanitizer'). */
  sanitized: boolean;
  /** The span says the call was denied by policy. */
  denied: boolean;
  /** The call's function threw (taint failed_execution). */
  failedExecution: boolean;
  /** Original entry of a failed call, replaced by this failed_execution entry (hash). */
  supersededBy: string | undefined;
}

export interface AuditGap {
  /** The hash no span carries. */
  hash: string;
  /** Entry ids (or span ids) that reference it. */
  referencedBy: string[];
  via: 'parent' | 'passport';
  /** Where the entry was found after all, or null when it is lost. */
  recovered: 'passport' | 'claim_check' | null;
  entryId: string | undefined;
}

export interface AuditFork {
  parentHash: string;
  parentIndex: number;
  parentEntryId: string | undefined;
  children: { index: number; entryId: string | undefined; hash: string; status: EntryStatus }[];
  /** 'failure': a failed call's original and its failed_execution replacement; 'conflict': two
   * different entries with one entry_id; 'concurrent': parallel calls. */
  kind: 'concurrent' | 'failure' | 'conflict';
}

export interface AuditFailure {
  index: number;
  entryId: string | undefined;
  hash: string;
  reason: string;
  message: string;
}

export interface AuditBranch {
  tipIndex: number;
  tipEntryId: string | undefined;
  status: 'verified' | 'failed' | 'blocked' | 'unverified';
  failureIndex?: number;
}

export interface AuditClaimCheck {
  id: string;
  spanId: string;
  resolved: boolean;
  error?: string;
}

export interface AuditReport {
  traceId: string;
  /** 'verified': every entry proven, nothing missing. 'incomplete': gaps or unverifiable entries. */
  status: 'verified' | 'failed' | 'incomplete' | 'unverified';
  entries: AuditEntry[];
  /** The rebuilt passport: JWS of every parsed entry in hash-linked order. */
  passport: string[];
  failure: AuditFailure | undefined;
  gaps: AuditGap[];
  forks: AuditFork[];
  branches: AuditBranch[];
  claimChecks: AuditClaimCheck[];
  /** Kest spans without a signature (signing halted) and other spans of the trace. */
  unsignedSpans: { spanId: string; name: string; status: SpanRecord['status'] }[];
  otherSpans: number;
  duplicates: number;
  serviceNames: string[];
}

/** @internal one entry while auditing; exported for the worker pool (pool.ts, worker.ts). */
export interface Node {
  hash: string;
  jws: string;
  /** Set by parseNode (entries of spans are parsed when their trace is audited, not when read). */
  parsed: boolean;
  entry: SignedEntry | undefined;
  parseError: { reason: string; message: string } | undefined;
  span: SpanRecord | undefined;
  source: EntrySource;
  crossTrace: boolean;
  order: number;
  // filled while auditing
  index: number;
  status: EntryStatus;
  reason: string | undefined;
  message: string | undefined;
  sanitized: boolean;
  supersededBy: string | undefined;
}

/** @internal */
export interface Group {
  traceId: string;
  nodes: Node[];
  spans: SpanRecord[];
  duplicates: number;
}

const REASON_OF_CODE: Record<string, string> = {
  ERR_JWS_TOO_LARGE: 'too_large',
  ERR_JWS_ALG_NOT_ALLOWED: 'alg_not_allowed',
  ERR_JWS_INVALID: 'malformed_jws',
  ERR_ENTRY_INVALID: 'malformed_entry',
};

/** @internal A node whose entry is parsed later (parseNode): `hash` must be entryHash(jws). */
export function lazyNode(
  jws: string,
  hash: string,
  source: EntrySource,
  span: SpanRecord | undefined,
  order: number,
): Node {
  return {
    hash,
    jws,
    parsed: false,
    entry: undefined,
    parseError: undefined,
    span,
    source,
    crossTrace: false,
    order,
    ...freshAuditState(),
  };
}

/** The per-audit state of a node before any trace has audited it (also for cross-trace copies). */
function freshAuditState() {
  return {
    index: -1,
    status: 'unverified' as const,
    reason: undefined,
    message: undefined,
    sanitized: false,
    supersededBy: undefined,
  };
}

/** @internal Parse a node's entry once (strict JWS + payload; no signature check). */
export function parseNode(n: Node): Node {
  if (n.parsed) return n;
  n.parsed = true;
  try {
    n.entry = parseEntryWithHash(n.jws, n.hash);
  } catch (err) {
    const code = err instanceof KestError ? err.code : '';
    n.parseError = { reason: REASON_OF_CODE[code] ?? 'malformed_entry', message: (err as Error).message };
  }
  return n;
}

/**
 * parseSignedEntry's checks (strict JWS, strict payload) with the hash already known: an audit
 * hashes every entry once when grouping, and hashing again was 4 % of a 10,000-span audit.
 */
function parseEntryWithHash(jws: string, hash: string): SignedEntry {
  const parsed = parseJws(jws);
  let json: unknown;
  try {
    json = JSON.parse(parsed.payload.toString('utf8'));
  } catch (err) {
    throw new KestEntryError(`payload is not JSON: ${(err as Error).message}`);
  }
  return {
    jws: parsed.jws,
    hash,
    header: parsed.header,
    payload: validateEntryPayload(json),
    signature: parsed.signature,
    signingInput: parsed.signingInput,
  };
}

function makeNode(jws: string, source: EntrySource, span: SpanRecord | undefined, order: number): Node {
  return parseNode(lazyNode(jws, entryHash(jws), source, span, order));
}

/** The last JWS of a passport attribute (a JSON array of JWS strings) without parsing the rest. */
export function passportTipJws(value: string): string | undefined {
  const end = value.length - 2;
  if (value.charCodeAt(end + 1) !== 93 /* ] */ || value.charCodeAt(end) !== 34 /* " */) return undefined;
  const start = value.lastIndexOf('"', end - 1);
  if (start < 1) return undefined;
  const jws = value.slice(start + 1, end);
  // Compact JWS is base64url and dots only: anything else means escapes, so parse properly.
  return /^[A-Za-z0-9_.-]+$/.test(jws) ? jws : undefined;
}

/**
 * @internal The hash a span's kest.passport attribute names as its tip, if any. `own` is the span's
 * own entry (JWS and hash): the usual tip, whose hash is then not computed again.
 */
export function passportTipHash(value: unknown, own?: { jws: string; hash: string }): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (value.startsWith('tip:')) return value.slice(4);
  let tip = passportTipJws(value);
  if (own !== undefined && tip === own.jws) return own.hash;
  if (tip === undefined) {
    try {
      const arr = JSON.parse(value) as unknown;
      if (Array.isArray(arr) && typeof arr[arr.length - 1] === 'string') tip = arr[arr.length - 1] as string;
    } catch {
      return undefined;
    }
  }
  return tip === undefined ? undefined : entryHash(tip);
}

function claimCheckOf(span: SpanRecord): string | undefined {
  const direct = span.attributes[CLAIM_CHECK_ATTRIBUTE];
  if (typeof direct === 'string' && isUuid(direct)) return direct;
  const p = span.attributes[SPAN.passport];
  if (typeof p === 'string' && p.startsWith('claim_check:') && isUuid(p.slice(12))) return p.slice(12);
  return undefined;
}

/**
 * @internal Group spans into traces: every Kest entry under its span's trace id. Entries are hashed
 * here (a hash seen before, in any trace, is a duplicate) and parsed when their trace is audited.
 */
export function groupSpans(spans: readonly SpanRecord[]): {
  groups: Map<string, Group>;
  byHash: Map<string, Node>;
} {
  const groups = new Map<string, Group>();
  const byHash = new Map<string, Node>();
  let order = 0;
  for (const span of spans) {
    let g = groups.get(span.traceId);
    if (!g) {
      g = { traceId: span.traceId, nodes: [], spans: [], duplicates: 0 };
      groups.set(span.traceId, g);
    }
    g.spans.push(span);
    const jws = span.attributes[SPAN.signature];
    if (typeof jws !== 'string') continue;
    const node = lazyNode(jws, entryHash(jws), 'span', span, order++);
    if (byHash.has(node.hash)) {
      g.duplicates++;
      continue;
    }
    byHash.set(node.hash, node);
    g.nodes.push(node);
  }
  return { groups, byHash };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function parentsOf(n: Node): string[] {
  const ids = n.entry?.payload.parent_ids ?? [];
  return ids.length === 1 && ids[0] === ROOT_PARENT ? [] : ids.filter((p) => p !== ROOT_PARENT);
}

/** @internal */
export class Auditor {
  readonly #single: PassportVerifier | undefined;
  readonly #multi: PassportVerifier | undefined;
  readonly #cache: CacheProvider | undefined;

  constructor(options: Partial<AuditOptions>) {
    this.#cache = options.cache;
    if (options.trust) {
      const base = {
        trust: options.trust,
        ...(options.sanitizers ? { sanitizers: options.sanitizers } : {}),
        ...(options.trustEvaluator ? { trustEvaluator: options.trustEvaluator } : {}),
        ...(options.strictLineage !== undefined ? { strictLineage: options.strictLineage } : {}),
        // Every entry is checked from scratch: an audit does not rely on earlier verifications.
        tipCacheSize: 0,
      };
      this.#single = new PassportVerifier(base);
      this.#multi = new PassportVerifier({ ...base, allowMultipleRoots: true });
    }
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
    const nodes = new Map<string, Node>();
    const own = new Map<SpanRecord, Node>();
    for (const n of group.nodes) {
      parseNode(n);
      nodes.set(n.hash, n);
      if (n.span) own.set(n.span, n);
    }
    let order = 1_000_000_000;
    const missing = new Map<string, AuditGap>();
    const queue: Node[] = [...group.nodes];

    const need = (hash: string, by: string, via: AuditGap['via']) => {
      if (nodes.has(hash)) return;
      let gap = missing.get(hash);
      if (!gap) {
        const elsewhere = global.get(hash);
        if (elsewhere) {
          // A fresh copy: none of the audit state another trace's audit may have left on it.
          const copy: Node = {
            ...parseNode(elsewhere),
            crossTrace: true,
            order: order++,
            ...freshAuditState(),
          };
          nodes.set(hash, copy);
          queue.push(copy);
          return;
        }
        gap = { hash, referencedBy: [], via, recovered: null, entryId: undefined };
        missing.set(hash, gap);
      }
      if (!gap.referencedBy.includes(by)) gap.referencedBy.push(by);
    };
    const drain = () => {
      while (queue.length > 0) {
        const n = queue.shift() as Node;
        const by = n.entry?.payload.entry_id ?? n.span?.spanId ?? n.hash;
        for (const p of parentsOf(n)) need(p, by, 'parent');
      }
    };
    drain();
    for (const span of group.spans) {
      const tip = passportTipHash(span.attributes[SPAN.passport], own.get(span));
      if (tip) need(tip, span.spanId, 'passport');
    }
    drain();
    if (localOnly && missing.size > 0) return undefined;

    // Recover missing entries from carried passports, then from claim checks.
    const claimChecks: AuditClaimCheck[] = [];
    const unresolved = () => [...missing.values()].some((g) => g.recovered === null);
    const recoverFrom = (pool: Map<string, string>, source: 'passport' | 'claim_check') => {
      let progress = true;
      while (progress) {
        progress = false;
        for (const gap of missing.values()) {
          if (gap.recovered !== null) continue;
          const jws = pool.get(gap.hash);
          if (jws === undefined) continue;
          const node = makeNode(jws, source, undefined, order++);
          gap.recovered = source;
          gap.entryId = node.entry?.payload.entry_id;
          nodes.set(node.hash, node);
          queue.push(node);
          progress = true;
        }
        drain();
      }
    };
    if (unresolved()) recoverFrom(passportPool(group.spans), 'passport');
    if (unresolved()) {
      const pool = new Map<string, string>();
      for (const span of group.spans) {
        const id = claimCheckOf(span);
        if (!id || claimChecks.some((c) => c.id === id)) continue;
        if (!this.#cache) {
          claimChecks.push({ id, spanId: span.spanId, resolved: false, error: 'no cache configured' });
          continue;
        }
        try {
          const json = await this.#cache.get(id);
          if (json === undefined) throw new Error('not found (expired or never stored)');
          addToPool(pool, json);
          claimChecks.push({ id, spanId: span.spanId, resolved: true });
        } catch (err) {
          claimChecks.push({ id, spanId: span.spanId, resolved: false, error: (err as Error).message });
        }
      }
      recoverFrom(pool, 'claim_check');
    }

    // The original entry of a failed call is superseded by its failed_execution entry: not a gap.
    const all = [...nodes.values()];
    const byEntryId = new Map<string, Node[]>();
    for (const n of all) {
      const id = n.entry?.payload.entry_id;
      if (id) byEntryId.set(id, [...(byEntryId.get(id) ?? []), n]);
    }
    for (const gap of missing.values()) {
      const rec = nodes.get(gap.hash);
      if (!rec?.entry) continue;
      const failed = byEntryId
        .get(rec.entry.payload.entry_id)
        ?.find(
          (f) =>
            f !== rec &&
            f.source === 'span' &&
            f.entry?.payload.taints.includes(FAILED_EXECUTION_TAINT) &&
            !rec.entry?.payload.taints.includes(FAILED_EXECUTION_TAINT) &&
            sameList(f.entry.payload.parent_ids, rec.entry?.payload.parent_ids ?? []),
        );
      if (failed) {
        rec.supersededBy = failed.hash;
        missing.delete(gap.hash);
      }
    }

    const ordered = topologicalOrder(all, nodes);
    ordered.forEach((n, i) => {
      n.index = i;
    });
    const children = new Map<string, Node[]>();
    for (const n of ordered) {
      for (const p of parentsOf(n)) {
        if (nodes.has(p)) children.set(p, [...(children.get(p) ?? []), n]);
      }
    }

    // Which entries can be verified: parsed, and every ancestor present and parsed.
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
    const verifiable = ordered.filter((n) => !blocked.has(n));
    const branches = await this.#verify(verifiable, children);
    if (!this.#single) for (const n of verifiable) n.reason = 'no_trust_source';

    const entries = ordered.map(toAuditEntry);
    const failures = ordered.filter((n) => n.status === 'failed');
    const first = failures[0];
    const gaps = [...missing.values()];
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
      : !this.#single
        ? 'unverified'
        : gaps.length > 0 || ordered.some((n) => n.status !== 'verified')
          ? 'incomplete'
          : 'verified';
    return {
      traceId: group.traceId,
      status,
      entries,
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
      forks,
      branches,
      claimChecks,
      unsignedSpans: kestSpanNames.map((s) => ({ spanId: s.spanId, name: s.name, status: s.status })),
      otherSpans: group.spans.length - group.nodes.length - group.duplicates - kestSpanNames.length,
      duplicates: group.duplicates,
      serviceNames,
    };
  }

  /** Verify the whole DAG at once; on a failure, branch by branch (leaf and its ancestors). */
  async #verify(verifiable: Node[], children: Map<string, Node[]>): Promise<AuditBranch[]> {
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
    for (const leaf of leaves) {
      const branch = single ? verifiable : ancestry(leaf, verifiable);
      const result = single ?? (await this.#run(branch));
      if (result.ok) {
        markVerified(branch, result.report);
        branches.push({ tipIndex: leaf.index, tipEntryId: leaf.entry?.payload.entry_id, status: 'verified' });
        continue;
      }
      const { error } = result;
      const at = error.index >= 0 ? branch[error.index] : undefined;
      for (const n of branch.slice(0, Math.max(error.index, 0)))
        if (n.status !== 'failed') n.status = 'verified';
      const failedNode = at ?? leaf;
      failedNode.status = 'failed';
      failedNode.reason = error.reason;
      // The verifier's message names the branch index; the report uses the trace's own index.
      failedNode.message = error.message.replace(/^entry -?\d+(?: \([^)]*\))?: /, '');
      branches.push({
        tipIndex: leaf.index,
        tipEntryId: leaf.entry?.payload.entry_id,
        status: 'failed',
        failureIndex: failedNode.index,
      });
    }
    for (const n of verifiable) {
      if (n.status === 'unverified' && n.reason === undefined) n.reason = 'parent_failed';
    }
    return branches;
  }

  async #run(
    list: Node[],
  ): Promise<{ ok: true; report: VerificationReport } | { ok: false; error: KestVerificationError }> {
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

function markVerified(list: Node[], report: VerificationReport): void {
  list.forEach((n, i) => {
    if (n.status === 'failed') return;
    n.status = 'verified';
    n.reason = undefined;
    n.sanitized ||= report.entries[i]?.sanitized === true;
  });
}

/** The leaf and its ancestors, in the given (topological) order. */
function ancestry(leaf: Node, ordered: Node[]): Node[] {
  const byHash = new Map(ordered.map((n) => [n.hash, n]));
  const keep = new Set<Node>([leaf]);
  const stack = [leaf];
  while (stack.length > 0) {
    const n = stack.pop() as Node;
    for (const p of parentsOf(n)) {
      const parent = byHash.get(p);
      if (parent && !keep.has(parent)) {
        keep.add(parent);
        stack.push(parent);
      }
    }
  }
  return ordered.filter((n) => keep.has(n));
}

/** Kahn's algorithm over hash links; ties by the order entries were read (stable, not by time). */
function topologicalOrder(all: Node[], nodes: Map<string, Node>): Node[] {
  const sorted = [...all].sort((a, b) => a.order - b.order);
  const pending = new Map<Node, number>();
  const kids = new Map<string, Node[]>();
  for (const n of sorted) {
    const present = [...new Set(parentsOf(n))].filter((p) => nodes.has(p) && p !== n.hash);
    pending.set(n, present.length);
    for (const p of present) kids.set(p, [...(kids.get(p) ?? []), n]);
  }
  const ready = sorted.filter((n) => pending.get(n) === 0);
  const out: Node[] = [];
  while (ready.length > 0) {
    const n = ready.shift() as Node;
    out.push(n);
    for (const c of kids.get(n.hash) ?? []) {
      const left = (pending.get(c) as number) - 1;
      pending.set(c, left);
      if (left === 0) {
        // keep `ready` sorted by read order
        let i = ready.length;
        while (i > 0 && (ready[i - 1] as Node).order > c.order) i--;
        ready.splice(i, 0, c);
      }
    }
  }
  if (out.length < sorted.length) {
    // Only possible with a hash collision or self-reference: keep them, they will fail verification.
    const seen = new Set(out);
    for (const n of sorted) if (!seen.has(n)) out.push(n);
  }
  // Unparseable entries last: nothing can link to them.
  return [...out.filter((n) => n.entry), ...out.filter((n) => !n.entry)];
}

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

function passportPool(spans: readonly SpanRecord[]): Map<string, string> {
  const pool = new Map<string, string>();
  for (const span of spans) {
    const p = span.attributes[SPAN.passport];
    if (typeof p === 'string' && p.startsWith('[')) addToPool(pool, p);
  }
  return pool;
}

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

/** @internal (parses the group's entries) */
export function matchesTrace(group: Group, traceId: string): boolean {
  for (const n of group.nodes) parseNode(n);
  const want = traceId.toLowerCase();
  return group.traceId === want || group.nodes.some((n) => n.entry?.payload.labels.trace_id === traceId);
}

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
    if (options.traceId !== undefined && !matchesTrace(group, options.traceId)) return { kind: 'skip' };
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
  const nodes = passport.entries.map((e, i) => {
    const n = makeNode(e.jws, 'passport', undefined, i);
    return n;
  });
  const byHash = new Map(nodes.map((n) => [n.hash, n]));
  const auditor = new Auditor(options);
  return auditor.audit({ traceId, nodes, spans: [], duplicates: 0 }, byHash);
}
