/**
 * Every error Kest throws is a KestError with a stable `code` (like jose's ERR_JWS_INVALID), so
 * callers branch on codes, never on messages. Codes are defined once, here; they are public API.
 *
 * One scheme for the details, across this file and the folder errors (policy/, spiffe/,
 * telemetry/, http/):
 * - `code`: the class of failure (always present, stable).
 * - `reason`: the finer cause within that code, a stable string union, where the code has
 *   several (KestVerificationError, KestPolicyEngineError, KestSpiffeError).
 * - locators say *where*, never *why*: `index` and `entryId` on errors about one entry of a
 *   passport (-1 / undefined when about the whole passport), `field` on entry payload errors,
 *   `policy` and `tier` on policy decisions.
 */

export type KestErrorCode =
  // wire / JWS
  | 'ERR_JWS_INVALID'
  | 'ERR_JWS_ALG_NOT_ALLOWED'
  | 'ERR_JWS_ALG_KEY_MISMATCH'
  | 'ERR_JWS_SIGNATURE_INVALID'
  | 'ERR_JWS_TOO_LARGE'
  | 'ERR_CANONICALIZE'
  // entry / passport
  | 'ERR_ENTRY_INVALID'
  | 'ERR_PASSPORT_INVALID'
  | 'ERR_PASSPORT_TOO_LARGE'
  // verification (see KestVerificationError.reason for the finer cause)
  | 'ERR_VERIFICATION_FAILED'
  // runtime
  | 'ERR_CONFIGURATION'
  | 'ERR_IDENTITY'
  | 'ERR_AUTHORIZATION'
  | 'ERR_POLICY_ENGINE'
  | 'ERR_BAGGAGE_INVALID'
  | 'ERR_CLAIM_CHECK'
  | 'ERR_CACHE'
  /** Never thrown; goes with its dead case in http/core.ts's refusal table (issue 17 merge). */
  | 'ERR_SPIFFE'
  | 'ERR_AUDIT';

export class KestError extends Error {
  readonly code: KestErrorCode;
  constructor(code: KestErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Malformed or disallowed JWS compact serialization, or a signature that does not verify. */
export class KestJWSError extends KestError {}

/** A KestEntry payload that is missing fields, mistyped or out of range. */
export class KestEntryError extends KestError {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super('ERR_ENTRY_INVALID', message);
  }
}

/** A passport that cannot be parsed or exceeds its bounds. Never replaced by an empty one. */
export class KestPassportError extends KestError {
  /** Index of the offending entry, or -1 when the problem is the passport as a whole. */
  readonly index: number;
  constructor(
    code: 'ERR_PASSPORT_INVALID' | 'ERR_PASSPORT_TOO_LARGE',
    message: string,
    options: { index?: number; cause?: unknown } = {},
  ) {
    const index = options.index ?? -1;
    super(code, index >= 0 ? `entry ${index}: ${message}` : message, { cause: options.cause });
    this.index = index;
  }
}

/**
 * Why a passport failed verification. Stable strings; `code` is always ERR_VERIFICATION_FAILED so a
 * caller can catch every verification failure with one check and still branch on `reason`.
 */
export type VerificationReason =
  | 'malformed_jws'
  | 'alg_not_allowed'
  | 'alg_key_mismatch'
  | 'malformed_entry'
  | 'broken_link'
  | 'root_not_first'
  | 'duplicate_entry'
  | 'unknown_principal'
  | 'key_not_anchored'
  | 'bad_signature'
  | 'taint_mismatch'
  | 'trust_mismatch'
  | 'unauthorized_sanitizer'
  | 'unauthorized_root'
  | 'chain_tip_mismatch'
  | 'too_large';

export class KestVerificationError extends KestError {
  readonly reason: VerificationReason;
  /** Index of the failing entry in the passport, or -1 when the failure is about the whole passport. */
  readonly index: number;
  readonly entryId: string | undefined;
  constructor(
    reason: VerificationReason,
    message: string,
    details: { index: number; entryId?: string | undefined; cause?: unknown },
  ) {
    const where =
      details.index >= 0 ? `entry ${details.index}${details.entryId ? ` (${details.entryId})` : ''}: ` : '';
    super('ERR_VERIFICATION_FAILED', `${where}${message}`, { cause: details.cause });
    this.reason = reason;
    this.index = details.index;
    this.entryId = details.entryId;
  }
}

/**
 * Why a configuration was refused. Stable strings: `unknown_key` (a key no schema knows; the error
 * names the nearest valid one in `suggestion`), `invalid_value` (wrong type or range at `path`),
 * `unknown_policy` (a policy name its engine does not have), `engine_not_ready` (the engine's
 * policy catalogue is still loading), `invalid` (anything else: a missing provider, a setting that
 * cannot change at run time, ...).
 */
export type ConfigurationReason =
  | 'invalid'
  | 'unknown_key'
  | 'invalid_value'
  | 'unknown_policy'
  | 'engine_not_ready';

export interface ConfigurationErrorDetails {
  cause?: unknown;
  reason?: ConfigurationReason | undefined;
  /** Where the value sits, e.g. `roots[2].max_source_trust` (empty: the whole input). */
  path?: string | undefined;
  /** What was being read: `configure()`, a deployment file's path, ... */
  source?: string | undefined;
  /** For `unknown_key`: the nearest valid key, when one is close. */
  suggestion?: string | undefined;
  /** For `unknown_policy`: the names the engine does not know, and their tier. */
  policies?: readonly string[] | undefined;
  tier?: string | undefined;
}

export class KestConfigurationError extends KestError {
  readonly reason: ConfigurationReason;
  readonly path: string | undefined;
  readonly source: string | undefined;
  readonly suggestion: string | undefined;
  readonly policies: readonly string[] | undefined;
  readonly tier: string | undefined;
  constructor(message: string, details: ConfigurationErrorDetails = {}) {
    super('ERR_CONFIGURATION', message, 'cause' in details ? { cause: details.cause } : undefined);
    this.reason = details.reason ?? 'invalid';
    this.path = details.path;
    this.source = details.source;
    this.suggestion = details.suggestion;
    this.policies = details.policies;
    this.tier = details.tier;
  }
}

export class KestIdentityError extends KestError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_IDENTITY', message, options);
  }
}

/** A policy denied the call (or the engine failed, which is a denial). Names the policy and tier. */
export class KestAuthorizationError extends KestError {
  readonly policy: string;
  readonly tier: string;
  readonly entryId: string | undefined;
  constructor(
    message: string,
    details: { policy: string; tier: string; entryId?: string | undefined; cause?: unknown },
  ) {
    super('ERR_AUTHORIZATION', message, { cause: details.cause });
    this.policy = details.policy;
    this.tier = details.tier;
    this.entryId = details.entryId;
  }
}

/** Why a policy engine gave no decision. Stable strings. */
export type PolicyEngineReason =
  | 'unreachable'
  | 'timeout'
  | 'http_status'
  | 'malformed'
  | 'missing_decision'
  | 'engine_error'
  | 'unknown_policy';

/** The policy engine could not give a decision (down, timeout, non-200, malformed). Always a denial. */
export class KestPolicyEngineError extends KestError {
  constructor(
    message: string,
    readonly reason: PolicyEngineReason,
    options?: { cause?: unknown },
  ) {
    super('ERR_POLICY_ENGINE', message, options);
  }

  /** @deprecated Renamed `reason` (one refinement field across Kest errors); removed in the next release. */
  get failure(): PolicyEngineReason {
    return this.reason;
  }
}

export class KestBaggageError extends KestError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_BAGGAGE_INVALID', message, options);
  }
}

export class KestClaimCheckError extends KestError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CLAIM_CHECK', message, options);
  }
}

export class KestCacheError extends KestError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CACHE', message, options);
  }
}

/** Reasons of the opt-in HTTP ingress hardening checks (KestIngressRefusal). */
export type IngressReason =
  | 'stale_passport'
  | 'unbound_passport'
  // The handoff (docs/spec.md §11 "Handoff"): on by default for services with an identity and trust.
  | 'missing_handoff'
  | 'bad_handoff'
  | 'wrong_audience'
  | 'expired_handoff'
  | 'replayed'
  | 'unbound_handoff'
  /** The replay store could not record the handoff: 503, never admitted. */
  | 'replay_store_unavailable';

/**
 * A verified passport refused by this service's own ingress rules (freshness, caller binding).
 * Code ERR_VERIFICATION_FAILED (401); `reason` travels in the refusal body like a verifier's.
 */
export class KestIngressRefusal extends KestError {
  readonly reason: IngressReason;
  readonly index: number;
  readonly entryId: string | undefined;
  constructor(
    reason: IngressReason,
    message: string,
    details: { index: number; entryId?: string | undefined },
    options?: { cause?: unknown },
  ) {
    super('ERR_VERIFICATION_FAILED', message, options);
    this.reason = reason;
    this.index = details.index;
    this.entryId = details.entryId;
  }
}

/** A service refusing a request that has no passport. Code ERR_VERIFICATION_FAILED (401). */
export class KestMissingPassportError extends KestError {
  constructor() {
    super('ERR_VERIFICATION_FAILED', 'this service requires an incoming passport and the request has none');
  }
}
