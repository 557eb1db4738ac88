/**
 * What a refused request receives (docs/spec.md §5, docs/http.md "Refusals"): the HTTP status of an
 * error, by its stable `code` (never its message) and the phase it happened in, and the JSON body
 * and headers sent with it.
 */
import {
  KestAuthorizationError,
  KestError,
  type KestErrorCode,
  KestIngressRefusal,
  KestVerificationError,
} from '../errors.js';
import { KestBearerTokenError } from './identity.js';

/**
 * Where an error came from: `ingress` (the interceptors, before the handler) or `handler` (the
 * protected handler or code it called).
 */
export type Phase = 'ingress' | 'handler';

/** What a refusal sends. `body.error` is the stable KestError code. */
export interface Refusal {
  status: number;
  body: RefusalBody;
  headers: Record<string, string>;
}

export interface RefusalBody {
  error: KestErrorCode | 'ERR_INTERNAL';
  message: string;
  /** KestVerificationError: the finer reason, and the failing entry. */
  reason?: string;
  index?: number;
  entry_id?: string;
  /** KestAuthorizationError: the denying policy and tier. */
  policy?: string;
  tier?: string;
}

/**
 * The status of every code in each phase (the compiler checks that none is missing). A handler's
 * own Kest failures (cannot sign, outbound passport too large, ...) are ours: 500.
 */
const STATUS: Readonly<Record<KestErrorCode, { readonly ingress: number; readonly handler: number }>> = {
  // Malformed input: the request itself is broken.
  ERR_BAGGAGE_INVALID: { ingress: 400, handler: 500 },
  ERR_PASSPORT_INVALID: { ingress: 400, handler: 500 },
  ERR_PASSPORT_TOO_LARGE: { ingress: 400, handler: 500 },
  ERR_JWS_INVALID: { ingress: 400, handler: 500 },
  ERR_JWS_TOO_LARGE: { ingress: 400, handler: 500 },
  ERR_ENTRY_INVALID: { ingress: 400, handler: 500 },
  ERR_CANONICALIZE: { ingress: 400, handler: 500 },
  // The request claims a lineage or identity it cannot prove: forged, re-signed, truncated,
  // unanchored key, inflated trust, expired/missing claim check, invalid bearer token. From a
  // handler, a claim check that cannot be written or read is the store's fault.
  ERR_VERIFICATION_FAILED: { ingress: 401, handler: 500 },
  ERR_CLAIM_CHECK: { ingress: 401, handler: 503 },
  ERR_IDENTITY: { ingress: 401, handler: 500 },
  ERR_JWS_ALG_NOT_ALLOWED: { ingress: 401, handler: 500 },
  ERR_JWS_ALG_KEY_MISMATCH: { ingress: 401, handler: 500 },
  ERR_JWS_SIGNATURE_INVALID: { ingress: 401, handler: 500 },
  ERR_SPIFFE: { ingress: 401, handler: 500 },
  // A policy said no (an engine failure is a denial too).
  ERR_AUTHORIZATION: { ingress: 403, handler: 403 },
  ERR_POLICY_ENGINE: { ingress: 403, handler: 403 },
  // Infrastructure we depend on is down: the request may succeed later.
  ERR_CACHE: { ingress: 503, handler: 503 },
  // This service's own failures.
  ERR_CONFIGURATION: { ingress: 500, handler: 500 },
  ERR_AUDIT: { ingress: 500, handler: 500 },
};

/** A failure caused by infrastructure we depend on (claim-check store, issuer's JWKS): 503 in either phase. */
function dependencyDown(err: KestError): boolean {
  if (err instanceof KestIngressRefusal && err.reason === 'replay_store_unavailable') return true;
  if (err.code === 'ERR_CLAIM_CHECK' && err.cause instanceof KestError && err.cause.code === 'ERR_CACHE')
    return true;
  return err instanceof KestBearerTokenError && err.reason === 'jwks_unavailable';
}

/** HTTP status of a Kest error, by its stable code and the phase it happened in. */
export function statusFor(err: unknown, phase: Phase): number {
  if (!(err instanceof KestError)) return 500;
  if (dependencyDown(err)) return 503;
  return Object.hasOwn(STATUS, err.code) ? STATUS[err.code][phase] : 500;
}

/**
 * The refusal for an error, or undefined when it is not a Kest error and happened in the handler
 * (the framework's own error handling applies). Ingress errors of any kind are refused (500 when
 * they are not Kest errors): nothing unverified ever reaches the handler.
 */
export function refusalFor(err: unknown, phase: Phase): Refusal | undefined {
  if (!(err instanceof KestError)) {
    if (phase === 'handler') return undefined;
    return {
      status: 500,
      body: { error: 'ERR_INTERNAL', message: 'the request could not be checked' },
      headers: {},
    };
  }
  const status = statusFor(err, phase);
  // 5xx: say what failed (the code), not how (details go to the log).
  const message = status >= 500 ? internalMessage(err.code) : err.message;
  const body: RefusalBody = { error: err.code, message };
  if (err instanceof KestVerificationError || err instanceof KestIngressRefusal) {
    body.reason = err.reason;
    body.index = err.index;
    if (err.entryId) body.entry_id = err.entryId;
  }
  if (err instanceof KestAuthorizationError) {
    body.policy = err.policy;
    body.tier = err.tier;
    if (err.entryId) body.entry_id = err.entryId;
  }
  const headers: Record<string, string> = {};
  if (err instanceof KestBearerTokenError && status === 401) {
    headers['www-authenticate'] =
      err.reason === 'missing' ? 'Bearer' : 'Bearer error="invalid_token", error_description="invalid token"';
  }
  if (status === 503) headers['retry-after'] = '1';
  return { status, body, headers };
}

function internalMessage(code: KestErrorCode): string {
  switch (code) {
    case 'ERR_CONFIGURATION':
      return 'the service is not configured to check this request';
    case 'ERR_CACHE':
    case 'ERR_CLAIM_CHECK':
      return 'the claim-check store is unavailable';
    case 'ERR_IDENTITY':
      return 'the service could not authenticate or sign';
    case 'ERR_VERIFICATION_FAILED':
      return 'the replay store is unavailable';
    default:
      return 'internal error';
  }
}
