/**
 * The public types of an offline audit (docs/spec.md §7): what an audit is asked (AuditOptions) and
 * what it reports per trace (AuditReport and its parts). Plain data: a report crosses threads.
 */
import type { TrustSource } from '../keys/trust-source.js';
import type { RootOrigin, RootRule } from '../passport/report.js';
import type { CacheProvider } from '../propagation/cache.js';
import type { SpanRecord } from '../telemetry/record.js';
import type { TrustEvaluator } from '../trust/evaluator.js';
import type { SanitizerPolicy, SanitizerRule } from '../trust/sanitizers.js';
import type { InteropProfile } from '../wire/constants.js';

export interface AuditOptions {
  /** Where anchored keys come from (JwksTrustSource, SpiffeTrustSource, ...). */
  trust: TrustSource;
  sanitizers?: SanitizerPolicy | readonly SanitizerRule[];
  trustEvaluator?: TrustEvaluator;
  strictLineage?: boolean;
  /**
   * Who may start a lineage, up to which origin trust (docs/audit.md). Given: a root outside them
   * fails `unauthorized_root`, and verified roots are reported with origin 'checked'. Not given:
   * root origins are not checked, only reported as 'self-asserted'.
   */
  roots?: readonly RootRule[];
  /** Interop profile of the entries' reading and lineage checks (PassportVerifierOptions.profile). */
  profile?: InteropProfile;
  /** Resolves claim-check references when a trace has gaps. Unreachable: reported, never fatal. */
  cache?: CacheProvider;
  /** Only this trace (OpenTelemetry trace id, or the entries' labels.trace_id). */
  traceId?: string;
  /**
   * Worker threads that verify traces besides the calling thread, which audits too (0: audit on the
   * calling thread alone). Default: os.availableParallelism() - 1, at most 3; used only when the
   * audit has at least `workerMinSpans` entries in two or more traces, and never more than the
   * traces less one. Reports are the same either way.
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
  /**
   * For a root entry: its origin claim (source_type, trust) was 'checked' against the audit's root
   * rules (and verified), or is 'self-asserted' (no rules given). Undefined for other entries, and
   * for a root that failed or stayed unverified under given rules (status and reason say why).
   */
  origin: RootOrigin | undefined;
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
  /** 'completion': this entry closes a call (docs/spec.md §11); 'call' otherwise. */
  kind: 'call' | 'completion';
  /**
   * Signed outcome (of this completion, or of the call's completion in the trace); undefined when
   * no completion is present (another runtime, or incomplete).
   */
  outcome: 'ok' | 'error' | 'denied' | undefined;
  /** Signed duration of the call in ms (from its completion), when present. */
  durationMs: number | undefined;
  /** Hash of the completion that closes this call entry, when present. */
  completedBy: string | undefined;
  /**
   * Denied by policy: from the signed outcome when a completion is present, else from the
   * (unsigned) span status; `deniedFrom` says which.
   */
  denied: boolean;
  deniedFrom: 'signed' | 'span';
  /** The call's function threw (taint failed_execution). */
  failedExecution: boolean;
  /** Original entry of a failed call, replaced by this failed_execution entry (hash). */
  supersededBy: string | undefined;
}

/** A call entry whose completion is not in the trace (crashed, in flight, or its record dropped). */
export interface AuditIncomplete {
  hash: string;
  entryId: string;
  operation: string;
  principal: string;
}

/** An entry the trace's signed data requires that no span (nor recovery) provided. */
export interface AuditMissingRecord {
  hash: string;
  /** 'downstream': a completion's kest.downstream tip; 'parent': an entry's parent. */
  via: 'downstream' | 'parent';
  /** Entry id(s) that reference it. */
  referencedBy: string;
  /** The workload that should have exported it, when the signed data names one. */
  expectedFrom: string | undefined;
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
  /**
   * 'verified': every entry proven, nothing missing. 'incomplete': gaps, unverifiable entries, calls
   * without completion, or missing records.
   */
  status: 'verified' | 'failed' | 'incomplete' | 'unverified';
  entries: AuditEntry[];
  /** The rebuilt passport: JWS of every parsed entry in hash-linked order. */
  passport: string[];
  failure: AuditFailure | undefined;
  gaps: AuditGap[];
  forks: AuditFork[];
  /** Call entries without their completion (docs/spec.md §11). */
  incomplete: AuditIncomplete[];
  /** Records the signed data requires that no span exported (docs/spec.md §11). */
  missingRecords: AuditMissingRecord[];
  branches: AuditBranch[];
  claimChecks: AuditClaimCheck[];
  /** Kest spans without a signature (signing halted) and other spans of the trace. Unsigned data. */
  unsignedSpans: { spanId: string; name: string; status: SpanRecord['status'] }[];
  otherSpans: number;
  duplicates: number;
  serviceNames: string[];
}
