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

/** Build a complete entry payload with the spec's defaults. Validation happens at parse time. */
export function buildEntry(init: EntryInit): KestEntryPayload {
  const pc = init.policyContext ?? {};
  return {
    schema_version: SCHEMA_VERSION,
    runtime: { name: RUNTIME_NAME, version: PACKAGE_VERSION },
    entry_id: init.entryId ?? uuidv7(),
    operation: init.operation,
    classification: init.classification ?? 'system',
    trust_score: init.trustScore,
    parent_ids: init.parentIds && init.parentIds.length > 0 ? init.parentIds : [ROOT_PARENT],
    added_taints: init.addedTaints ?? [],
    removed_taints: init.removedTaints ?? [],
    taints: sortedUnique(init.taints ?? []),
    labels: { ...init.labels, principal: init.principal, trace_id: init.traceId ?? '' },
    policy_context: {
      enterprise_policies: pc.enterprise_policies ?? [],
      platform_policies: pc.platform_policies ?? [],
      app_policies: pc.app_policies ?? [],
      function_policies: pc.function_policies ?? [],
      deviations: pc.deviations ?? [],
    },
    environment: init.environment ?? {},
    otel_context: init.otelContext ?? {},
    metadata: init.metadata === undefined ? null : init.metadata,
    content_hash: init.contentHash ?? '',
    input_hash: init.inputHash ?? '',
    timestamp_ms: init.timestampMs ?? Date.now(),
  };
}
