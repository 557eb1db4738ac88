import type { Classification } from '../wire/constants.js';

export interface PolicyContextPayload {
  enterprise_policies: string[];
  platform_policies: string[];
  app_policies: string[];
  function_policies: string[];
  deviations: { policy: string; tier: string; reason: string; approver: string }[];
}

/** The signed payload of one hop (docs/spec.md §1). Every field is always present. */
export interface KestEntryPayload {
  schema_version: string;
  runtime: { name: string; version: string };
  entry_id: string;
  operation: string;
  classification: Classification;
  trust_score: number;
  parent_ids: string[];
  added_taints: string[];
  removed_taints: string[];
  taints: string[];
  labels: Record<string, string>;
  policy_context: PolicyContextPayload;
  environment: Record<string, unknown>;
  otel_context: Record<string, unknown>;
  metadata: unknown;
  content_hash: string;
  input_hash: string;
  timestamp_ms: number;
}

export const ENTRY_FIELDS = [
  'schema_version',
  'runtime',
  'entry_id',
  'operation',
  'classification',
  'trust_score',
  'parent_ids',
  'added_taints',
  'removed_taints',
  'taints',
  'labels',
  'policy_context',
  'environment',
  'otel_context',
  'metadata',
  'content_hash',
  'input_hash',
  'timestamp_ms',
] as const satisfies readonly (keyof KestEntryPayload)[];
