/**
 * Messages between the audit's main thread (pool.ts) and its workers (worker.ts). Everything here
 * crosses a thread boundary by structured clone: plain data, KeyObjects, Maps.
 */
import type { KeyObject } from 'node:crypto';
import type { KeyRequest } from '../keys/trust-source.js';
import type { RootRule } from '../passport/report.js';
import type { SpanRecord } from '../telemetry/record.js';
import type { SanitizerRule } from '../trust/sanitizers.js';
import type { InteropProfile } from '../wire/constants.js';
import type { AuditReport } from './report.js';

/** What one audit asks of the workers (sent once per audit: a pool outlives audits). */
export interface WorkerSettings {
  sanitizers: SanitizerRule[] | undefined;
  /** Origins of a DefaultTrustEvaluator (undefined: the default one). */
  origins: Record<string, number> | undefined;
  strictLineage: boolean | undefined;
  roots: RootRule[] | undefined;
  profile: InteropProfile | undefined;
  traceId: string | undefined;
  /**
   * The trust source answers from (principal, kid) alone (JwksTrustSource): a worker may reuse a
   * key it was given. Otherwise every resolution goes to the main thread's trust source.
   */
  keysByPrincipalAndKid: boolean;
}

/**
 * One trace as a worker gets it: spans reduced to what an audit reads (kest.passport replaced by
 * `tip:<hash>` of its tip), entries as [jws, hash, span index, read order].
 */
export interface SlimGroup {
  traceId: string;
  duplicates: number;
  spans: SpanRecord[];
  nodes: [jws: string, hash: string, span: number, order: number][];
}

/** 'main': the trace references entries it does not carry; the main thread audits it. */
export type GroupResult = { kind: 'report'; report: AuditReport } | { kind: 'skip' } | { kind: 'main' };

/**
 * A worker's report travels without its JWS strings (the main thread has them all, by hash): the
 * entries' `jws` are empty and `passport` is given as indices into `entries`.
 */
export type WireResult =
  | { kind: 'report'; report: AuditReport; passport: number[] }
  | { kind: 'skip' }
  | { kind: 'main' };

export type ToWorker =
  | { type: 'begin'; run: number; settings: WorkerSettings }
  | { type: 'audit'; run: number; id: number; groups: SlimGroup[] }
  | { type: 'end'; run: number }
  | { type: 'key'; id: number; key: KeyObject }
  | { type: 'key'; id: number; error: RemoteError };

export type FromWorker =
  | { type: 'done'; run: number; id: number; results: WireResult[] }
  | { type: 'key'; run: number; id: number; request: KeyRequest };

/** A trust source's error, rebuilt on the worker with the same reason, message and index. */
export interface RemoteError {
  verification: boolean;
  reason: string | undefined;
  message: string;
  index: number | undefined;
  entryId: string | undefined;
}
