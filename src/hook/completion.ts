/**
 * Completion entries (docs/spec.md §11): after the protected function returns, throws, or is
 * denied, the hook signs a second entry that closes the call. Its parents are the open tips of the
 * call's scope (the call entry itself when the function made no nested protected call); the
 * downstream tips the call received back (`kest-tip`) are signed into `kest.downstream`. It is a
 * normal entry: trust and taints follow the usual rules from its parents, so any verifier accepts it.
 */
import { getCurrentScope, type PassportScope } from '../context/context.js';
import { buildEntry } from '../entry/build.js';
import type { SignedEntry } from '../entry/signed.js';
import type { KestEntryPayload } from '../entry/types.js';
import type { IdentityProvider } from '../identity/provider.js';
import type { Passport } from '../passport/passport.js';
import type { TrustEvaluator } from '../trust/evaluator.js';
import { hopTrust } from '../trust/lineage.js';
import { computeTaints } from '../trust/taints.js';
import { canonicalize } from '../wire/canonical.js';
import { FAILED_EXECUTION_TAINT, LABEL, MAX_RESPONSE_TIPS, type Outcome } from '../wire/constants.js';
import { sha256Hex } from '../wire/hash.js';
import { parentsOf } from './scope.js';
import { signOrHalt } from './signed-entry.js';

/** Largest canonical result JSON that is hashed into content_hash (bigger: ""). */
export const MAX_HASHED_RESULT_BYTES = 1024 * 1024;

/**
 * content_hash of a completion: SHA-256 (hex) of the canonical JSON (RFC 8785) of the result when
 * it is JSON-serialisable and at most 1 MiB; "" for undefined, functions, streams, cycles, BigInt
 * and anything larger (the outcome and the duration are still signed).
 */
export function resultHash(result: unknown): string {
  if (result === undefined) return '';
  try {
    const json = canonicalize(result);
    return json.length <= MAX_HASHED_RESULT_BYTES ? sha256Hex(json) : '';
  } catch {
    return '';
  }
}

const HASH = /^[0-9a-f]{64}$/;
const MAX_PRINCIPAL = 2048;

/** One tip a downstream hop returned, and the principal it says signed it (audit naming only). */
export interface ReceivedTip {
  tip: string;
  by?: string | undefined;
}

/**
 * Parse a `kest-tip` value: comma-separated `<entry hash>[;by=<URI-encoded principal>]`. Anything
 * malformed yields [] (an unsigned header can only add a hash the audit then requires to exist).
 */
export function parseTipHeader(header: string | null | undefined): ReceivedTip[] {
  if (!header || header.length > MAX_RESPONSE_TIPS * (80 + MAX_PRINCIPAL)) return [];
  const items = header.split(',');
  if (items.length > MAX_RESPONSE_TIPS) return [];
  const out: ReceivedTip[] = [];
  for (const item of items) {
    const [tip, by, ...rest] = item.trim().split(';');
    if (!tip || !HASH.test(tip) || rest.length > 0) return [];
    if (by === undefined) {
      out.push({ tip });
      continue;
    }
    if (!by.startsWith('by=') || by.length > MAX_PRINCIPAL) return [];
    try {
      out.push({ tip, by: decodeURIComponent(by.slice(3)) });
    } catch {
      return [];
    }
  }
  return out;
}

/**
 * Hand the tips a downstream hop returned (a `kest-tip` header value) to the enclosing call's
 * scope, so its completion signs them into `kest.downstream`.
 */
export function receiveTips(header: string | null | undefined, scope = getCurrentScope()): void {
  if (!scope) return;
  const tips = parseTipHeader(header);
  if (tips.length === 0) return;
  const received = scope.received ?? [];
  for (const t of tips) if (!received.some((r) => r.tip === t.tip)) received.push(t);
  scope.received = received;
}

/** The `kest-tip` value for a scope that moved past `start`: each open tip and its signer. */
export function tipsOf(scope: PassportScope | undefined, start: Passport | undefined): string | undefined {
  if (!scope || scope.passport === start) return undefined;
  const p = scope.passport;
  const tips = scope.tips ?? (p.tipHash ? [p.tipHash] : []);
  if (tips.length === 0) return undefined;
  return tips
    .map((hash) => {
      const principal = p.entries[p.indexOfHash(hash) ?? -1]?.payload.labels[LABEL.principal];
      return principal ? `${hash};by=${encodeURIComponent(principal)}` : hash;
    })
    .join(',');
}

export interface CompletionInput {
  identity: IdentityProvider;
  evaluator: TrustEvaluator;
  call: SignedEntry;
  /** The call's own scope after the function (its nested entries and received tips). */
  scope: PassportScope;
  outcome: Outcome;
  durationMs: number;
  result?: unknown;
}

/**
 * Sign the completion of a call (no signature: an identity error, as for the call entry); without a
 * promise when the provider signs synchronously.
 */
export function signCompletion(input: CompletionInput): SignedEntry | Promise<SignedEntry> {
  const payload = completionPayload(input);
  return signOrHalt(input.identity, payload, input.scope.passport, payload.operation);
}

/** Labels of the call that do not carry over: the hop's origin, its resource, the promise to close. */
const CALL_ONLY_LABELS = new Set<string>([
  LABEL.sourceType,
  LABEL.trustOverride,
  LABEL.resourceAttr,
  LABEL.completion,
]);

function completionPayload(input: CompletionInput): KestEntryPayload {
  const c = input.call.payload;
  const parents = parentsOf(input.scope.passport, input.scope.tips);
  const added = input.outcome === 'error' ? [FAILED_EXECUTION_TAINT] : [];
  const labels: Record<string, string> = {};
  for (const k of Object.keys(c.labels)) {
    // Provider labels and who the call is for carry over; hop-specific origin labels do not.
    if (!CALL_ONLY_LABELS.has(k)) labels[k] = c.labels[k] as string;
  }
  labels[LABEL.completes] = input.call.hash;
  labels[LABEL.outcome] = input.outcome;
  labels[LABEL.durationMs] = String(Math.max(0, Math.round(input.durationMs)));
  if (input.scope.received?.length) labels[LABEL.downstream] = JSON.stringify(input.scope.received);
  return buildEntry({
    operation: c.operation,
    principal: c.labels[LABEL.principal] as string,
    traceId: c.labels[LABEL.traceId] as string,
    trustScore: hopTrust(input.evaluator, {
      parentScores: parents.map((e) => e.payload.trust_score),
      addedTaints: added,
    }),
    parentIds: parents.map((e) => e.hash),
    classification: c.classification,
    addedTaints: added,
    taints: computeTaints(
      parents.map((e) => e.payload.taints),
      added,
      [],
    ),
    labels,
    policyContext: c.policy_context,
    otelContext: c.otel_context,
    contentHash: input.outcome === 'ok' ? resultHash(input.result) : '',
  });
}

/** Whether an entry is a completion (it names the call it closes). */
export function isCompletion(entry: SignedEntry | KestEntryPayload): boolean {
  const p = 'payload' in entry ? entry.payload : entry;
  return typeof p.labels[LABEL.completes] === 'string';
}
