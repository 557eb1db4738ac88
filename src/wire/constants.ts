/**
 * The wire facts of Kest v0.3.0 (docs/spec.md), defined once and imported everywhere else.
 */

export const SCHEMA_VERSION = '0.3.0';
export const RUNTIME_NAME = 'kest-ts';
export const ROOT_PARENT = '0';

export const CLASSIFICATIONS = ['system', 'data', 'sanitizer', 'critic', 'snapshot'] as const;
export type Classification = (typeof CLASSIFICATIONS)[number];

/** Algorithms a verifier accepts. `none`, HS*, RS* and anything else are rejected. */
export const ALLOWED_ALGS = ['EdDSA', 'ES256'] as const;
export type JwsAlg = (typeof ALLOWED_ALGS)[number];

/** Label keys with a meaning in the spec (docs/spec.md §1, §2, §4). */
export const LABEL = {
  principal: 'principal',
  traceId: 'trace_id',
  identity: 'kest.identity',
  resourceAttr: 'kest.resource_attr',
  sourceType: 'kest.source_type',
  trustOverride: 'kest.trust_override',
} as const;

/** Taint added to the entry of a call whose protected function threw (docs/spec.md §3). */
export const FAILED_EXECUTION_TAINT = 'failed_execution';

/** W3C baggage member keys (docs/spec.md §5). */
export const BAGGAGE_KEY = {
  passport: 'kest.passport',
  passportCompressed: 'kest.passport_z',
  claimCheck: 'kest.claim_check',
  user: 'kest.user',
  agent: 'kest.agent',
  task: 'kest.task',
  jwt: 'kest.jwt',
  chainTip: 'kest.chain_tip',
  /** Caller-bound, single-use proof that the tip's signer sent this passport to this callee (§11). */
  handoff: 'kest.handoff',
} as const;

/** OpenTelemetry span attributes and names (docs/spec.md §7). */
export const SPAN = {
  scope: 'kest.core',
  namePrefix: 'kest.verified.',
  signature: 'kest.signature',
  parentHash: 'kest.parent_hash',
  passport: 'kest.passport',
  entryId: 'kest.entry_id',
  workloadId: 'kest.workload_id',
  trustScore: 'kest.trust_score',
  operation: 'kest.operation',
} as const;

/**
 * Bounds on untrusted input. Generous for real traffic, small enough that a hostile input cannot
 * make a parser allocate without limit.
 */
export const LIMITS = {
  /** Whole compact JWS string of one entry. An x5c chain of three P-256 certs is ~3 KiB. */
  maxJwsBytes: 64 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxPayloadBytes: 48 * 1024,
  /** Entry fields. */
  maxOperationLength: 256,
  maxLabels: 64,
  maxLabelKeyLength: 256,
  maxLabelValueLength: 8 * 1024,
  maxTaints: 64,
  maxTaintLength: 128,
  maxParents: 64,
  maxPolicies: 64,
  /** Passport defaults (configurable per call). */
  maxPassportEntries: 1000,
  maxPassportBytes: 8 * 1024 * 1024,
} as const;
