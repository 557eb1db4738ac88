/**
 * The identity interceptor (docs/spec.md §5): validates a Bearer JWT with jose against a JWKS (remote
 * URL or local set), an issuer and an audience, and maps its claims to user / agent / task
 * (default `sub`, `client_id`, `scope`). What it validates overrides any upstream baggage claim.
 *
 * Fail secure: an Authorization header that is present but not a valid token is always refused;
 * a missing one is refused only when `required` is set. Issuer and audience are mandatory
 * configuration, so a token minted for another service or by another issuer on the same JWKS is
 * never accepted.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { ValidatedIdentity } from '../context/context.js';
import { KestConfigurationError, KestIdentityError } from '../errors.js';

/** Why a bearer token was refused. `jwks_unavailable` is the server's problem (503), the rest 401. */
export type BearerFailure = 'missing' | 'malformed' | 'invalid' | 'expired' | 'claims' | 'jwks_unavailable';

/** A Bearer token that did not validate. Code ERR_IDENTITY; `reason` says why (the errors' scheme). */
export class KestBearerTokenError extends KestIdentityError {
  readonly reason: BearerFailure;
  constructor(reason: BearerFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }

  /** @deprecated use `reason` (one refinement field across Kest errors). */
  get failure(): BearerFailure {
    return this.reason;
  }
}

export interface BearerIdentityOptions {
  /** JWKS endpoint of the issuer (fetched and cached by jose's createRemoteJWKSet). */
  jwksUrl?: string | URL;
  /** A local JWKS instead of a URL. */
  jwks?: JSONWebKeySet;
  /** Expected `iss` (one or several). Required. */
  issuer: string | string[];
  /** Expected `aud` (one or several). Required. */
  audience: string | string[];
  /** Seconds (or a jose duration like "30s") of clock skew accepted on exp/nbf/iat. Default 0. */
  clockTolerance?: number | string;
  /** Accepted algorithms. Default: asymmetric only (EdDSA, ES256/384/512, RS256..512, PS256..512). */
  algorithms?: string[];
  /** Claim names for user / agent / task. Default sub / client_id / scope. */
  claims?: { user?: string; agent?: string; task?: string };
  /** Refuse requests without an Authorization header. Default false (they pass unauthenticated). */
  required?: boolean;
  /** Options for the remote JWKS (timeout, cooldown). */
  remote?: { timeoutDuration?: number; cooldownDuration?: number; cacheMaxAge?: number };
}

const DEFAULT_ALGS = [
  'EdDSA',
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
];

/** Largest Authorization header value considered (bigger tokens are refused, not parsed). */
const MAX_TOKEN_LENGTH = 16 * 1024;

function claimString(payload: JWTPayload, name: string): string | undefined {
  const v = payload[name];
  if (typeof v === 'string') return v.length > 0 ? v : undefined;
  // Some issuers send scopes as an array (`scp`): keep the space-separated OAuth form.
  if (Array.isArray(v) && v.every((s) => typeof s === 'string'))
    return v.length > 0 ? v.join(' ') : undefined;
  return undefined;
}

export class BearerIdentityValidator {
  readonly #getKey: JWTVerifyGetKey;
  readonly #options: BearerIdentityOptions;
  readonly #algorithms: string[];
  readonly #claims: { user: string; agent: string; task: string };

  constructor(options: BearerIdentityOptions) {
    if (!options || (options.jwksUrl === undefined) === (options.jwks === undefined)) {
      throw new KestConfigurationError('identity interceptor: give exactly one of `jwksUrl` or `jwks`');
    }
    const nonEmpty = (v: string | string[] | undefined) =>
      typeof v === 'string' ? v.length > 0 : Array.isArray(v) && v.length > 0 && v.every((s) => s.length > 0);
    if (!nonEmpty(options.issuer))
      throw new KestConfigurationError('identity interceptor: `issuer` is required');
    if (!nonEmpty(options.audience)) {
      throw new KestConfigurationError('identity interceptor: `audience` is required');
    }
    this.#algorithms = options.algorithms ?? DEFAULT_ALGS;
    if (this.#algorithms.some((a) => a === 'none' || a.startsWith('HS'))) {
      throw new KestConfigurationError('identity interceptor: `none` and HS* algorithms are not accepted');
    }
    this.#options = options;
    this.#claims = {
      user: options.claims?.user ?? 'sub',
      agent: options.claims?.agent ?? 'client_id',
      task: options.claims?.task ?? 'scope',
    };
    this.#getKey = options.jwks
      ? createLocalJWKSet(options.jwks)
      : createRemoteJWKSet(new URL(options.jwksUrl as string | URL), options.remote ?? {});
  }

  /**
   * The identity the request's Authorization header proves, undefined when there is none (and it is
   * not required). Throws KestBearerTokenError when a token is present but invalid.
   */
  async validate(authorization: string | undefined): Promise<ValidatedIdentity | undefined> {
    if (authorization === undefined || authorization === '') {
      if (this.#options.required) throw new KestBearerTokenError('missing', 'a Bearer token is required');
      return undefined;
    }
    if (authorization.length > MAX_TOKEN_LENGTH) {
      throw new KestBearerTokenError('malformed', 'Authorization header is too large');
    }
    const match = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*) *$/i.exec(authorization);
    if (!match) throw new KestBearerTokenError('malformed', 'Authorization is not a Bearer JWT');
    const token = match[1] as string;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#getKey, {
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        algorithms: this.#algorithms,
        ...(this.#options.clockTolerance !== undefined
          ? { clockTolerance: this.#options.clockTolerance }
          : {}),
      }));
    } catch (err) {
      throw bearerError(err);
    }
    const id: ValidatedIdentity = {
      user: claimString(payload, this.#claims.user),
      agent: claimString(payload, this.#claims.agent),
      task: claimString(payload, this.#claims.task),
      jwt: token,
      issuer: payload.iss,
    };
    return id;
  }
}

function bearerError(err: unknown): KestBearerTokenError {
  const message = (err as Error)?.message ?? String(err);
  if (err instanceof joseErrors.JWTExpired) {
    return new KestBearerTokenError('expired', `token expired: ${message}`, { cause: err });
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return new KestBearerTokenError('claims', `token claim "${err.claim}" rejected: ${message}`, {
      cause: err,
    });
  }
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) {
    return new KestBearerTokenError('jwks_unavailable', `issuer keys unavailable: ${message}`, {
      cause: err,
    });
  }
  if (err instanceof joseErrors.JOSEError) {
    return new KestBearerTokenError('invalid', `invalid token: ${message}`, { cause: err });
  }
  // Anything else (a failed JWKS fetch: connection refused, bad status) is the key source's fault.
  return new KestBearerTokenError('jwks_unavailable', `issuer keys unavailable: ${message}`, { cause: err });
}
