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
  /**
   * Call entries (docs/spec.md §11): `expected` promises a completion entry will close this call;
   * the audit requires one only for entries that promise it (other runtimes, older signers: none).
   */
  completion: 'kest.completion',
  /** Completion entries (docs/spec.md §11): the hash of the call entry this entry closes. */
  completes: 'kest.completes',
  /** Completion entries: `ok` | `error` | `denied`. */
  outcome: 'kest.outcome',
  /** Completion entries: wall time of the call in whole milliseconds (decimal string). */
  durationMs: 'kest.duration_ms',
  /** Completion entries: JSON array of the downstream tips (entry hashes) the call received back. */
  downstream: 'kest.downstream',
} as const;

/** The value of LABEL.completion on call entries the hook signs. */
export const COMPLETION_EXPECTED = 'expected';

/** The outcomes a completion entry states (docs/spec.md §11). */
export const OUTCOMES = ['ok', 'error', 'denied'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** HTTP response header with the callee's final tip(s): comma-separated entry hashes (§11). */
export const TIP_HEADER = 'kest-tip';
/** At most this many tips are read from one `kest-tip` header (more: the header is ignored). */
export const MAX_RESPONSE_TIPS = 64;

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
  /** The compact JWS of the call's completion entry (docs/spec.md §11), on the call's own span. */
  completion: 'kest.completion',
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

/**
 * Interop profiles (docs/interop.md): `spec` reads and writes exactly this spec; `reference` also
 * reads what the Python reference runtime sends (raw inline baggage, padded `_z`, unlabelled
 * entries, unsorted taints, ...). Cryptographic checks are the same under both.
 */
export const INTEROP_PROFILES = ['spec', 'reference'] as const;
export type InteropProfile = (typeof INTEROP_PROFILES)[number];

/** Wire facts of the Python reference runtime that differ from this spec (docs/interop.md). */
export const REFERENCE = {
  runtimeName: 'kest-python',
  spanScope: 'kest.core.framework.decorators',
  chainTipAttribute: 'kest.chain_tip',
  principalAttribute: 'kest.principal',
  policyIdsAttribute: 'kest.policy_ids',
  allowedAttribute: 'kest.allowed',
  /** OPA data path prefix: POST {url}/v1/data/kest/<policy>. */
  opaPathPrefix: 'v1/data/kest',
} as const;
