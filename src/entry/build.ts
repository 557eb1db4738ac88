import { PACKAGE_VERSION } from '../version.js';
import { type Classification, ROOT_PARENT, RUNTIME_NAME, SCHEMA_VERSION } from '../wire/constants.js';
import { uuidv7 } from '../wire/uuid.js';
import type { KestEntryPayload, PolicyContextPayload } from './types.js';

export interface EntryInit {
  operation: string;
  principal: string;
  traceId?: string;
  trustScore: number;
  parentIds?: string[] | undefined;
  classification?: Classification;
  addedTaints?: string[];
  removedTaints?: string[];
  /** The resulting taints; sorted and de-duplicated here. */
  taints?: string[];
  labels?: Record<string, string>;
  policyContext?: Partial<PolicyContextPayload>;
  environment?: Record<string, unknown>;
  otelContext?: Record<string, unknown>;
  metadata?: unknown;
  contentHash?: string;
  inputHash?: string;
  entryId?: string;
  timestampMs?: number | undefined;
}

export function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** A copy with its own keys in sorted order (nested values as they are). */
function sortedKeys<T extends Record<string, unknown>>(record: T): T {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key];
  return out as T;
}

/**
 * `{ ...labels, principal, trace_id }` with its keys in sorted order, in one copy: on Node 20 an
 * object spread followed by sortedKeys() costs ~6× this (a protected call builds two label sets).
 * Same keys and values (own enumerable string keys, each read once and assigned as sortedKeys does).
 */
function sortedLabels(
  labels: Record<string, string> | undefined,
  principal: string,
  traceId: string,
): Record<string, string> {
  const source = labels ?? {};
  const keys = ['principal', 'trace_id'];
  for (const key of Object.keys(source)) if (key !== 'principal' && key !== 'trace_id') keys.push(key);
  keys.sort();
  const out: Record<string, string> = {};
  for (const key of keys) {
    out[key] = key === 'principal' ? principal : key === 'trace_id' ? traceId : (source[key] as string);
  }
  return out;
}

/**
 * Build a complete entry payload with the spec's defaults. Validation happens at parse time.
 *
 * Every object is built with its keys in sorted (RFC 8785) order, so canonicalize() takes its fast
 * path (one walk, then the native JSON.stringify) on the payload it signs: ~2× less time on a typical
 * entry, twice per protected call. The members below are in that order, not the spec's table order.
 */
export function buildEntry(init: EntryInit): KestEntryPayload {
  const pc = init.policyContext ?? {};
  return {
    added_taints: init.addedTaints ?? [],
    classification: init.classification ?? 'system',
    content_hash: init.contentHash ?? '',
    entry_id: init.entryId ?? uuidv7(),
    environment: sortedKeys(init.environment ?? {}),
    input_hash: init.inputHash ?? '',
    labels: sortedLabels(init.labels, init.principal, init.traceId ?? ''),
    metadata: init.metadata === undefined ? null : init.metadata,
    operation: init.operation,
    otel_context: sortedKeys(init.otelContext ?? {}),
    parent_ids: init.parentIds && init.parentIds.length > 0 ? init.parentIds : [ROOT_PARENT],
    policy_context: {
      app_policies: pc.app_policies ?? [],
      deviations: (pc.deviations ?? []).map((d) => sortedKeys({ ...d })),
      enterprise_policies: pc.enterprise_policies ?? [],
      function_policies: pc.function_policies ?? [],
      platform_policies: pc.platform_policies ?? [],
    },
    removed_taints: init.removedTaints ?? [],
    runtime: { name: RUNTIME_NAME, version: PACKAGE_VERSION },
    schema_version: SCHEMA_VERSION,
    taints: sortedUnique(init.taints ?? []),
    timestamp_ms: init.timestampMs ?? Date.now(),
    trust_score: init.trustScore,
  };
}
