/**
 * The refusal table (docs/http.md "Refusals"): the HTTP status of every stable code in both phases,
 * the causes that turn a code into 503, and what a refusal body and its headers carry.
 */
import { describe, expect, it } from 'vitest';
import {
  KestAuthorizationError,
  KestCacheError,
  KestClaimCheckError,
  KestError,
  type KestErrorCode,
  KestIngressRefusal,
  KestMissingPassportError,
  KestVerificationError,
} from '../../src/errors.js';
import { KestBearerTokenError, refusalFor, statusFor } from '../../src/http/index.js';

/** Every code, with its status when it refuses a request (ingress) and when a handler threw it. */
const STATUS: Record<KestErrorCode, { ingress: number; handler: number }> = {
  ERR_JWS_INVALID: { ingress: 400, handler: 500 },
  ERR_JWS_ALG_NOT_ALLOWED: { ingress: 401, handler: 500 },
  ERR_JWS_ALG_KEY_MISMATCH: { ingress: 401, handler: 500 },
  ERR_JWS_SIGNATURE_INVALID: { ingress: 401, handler: 500 },
  ERR_JWS_TOO_LARGE: { ingress: 400, handler: 500 },
  ERR_CANONICALIZE: { ingress: 400, handler: 500 },
  ERR_ENTRY_INVALID: { ingress: 400, handler: 500 },
  ERR_PASSPORT_INVALID: { ingress: 400, handler: 500 },
  ERR_PASSPORT_TOO_LARGE: { ingress: 400, handler: 500 },
  ERR_VERIFICATION_FAILED: { ingress: 401, handler: 500 },
  ERR_CONFIGURATION: { ingress: 500, handler: 500 },
  ERR_IDENTITY: { ingress: 401, handler: 500 },
  ERR_AUTHORIZATION: { ingress: 403, handler: 403 },
  ERR_POLICY_ENGINE: { ingress: 403, handler: 403 },
  ERR_BAGGAGE_INVALID: { ingress: 400, handler: 500 },
  ERR_CLAIM_CHECK: { ingress: 401, handler: 503 },
  ERR_CACHE: { ingress: 503, handler: 503 },
  ERR_SPIFFE: { ingress: 401, handler: 500 },
  ERR_AUDIT: { ingress: 500, handler: 500 },
};

describe('statusFor', () => {
  for (const [code, { ingress, handler }] of Object.entries(STATUS)) {
    it(`${code}: ${ingress} at ingress, ${handler} from a handler`, () => {
      const err = new KestError(code as KestErrorCode, 'x');
      expect(statusFor(err, 'ingress')).toBe(ingress);
      expect(statusFor(err, 'handler')).toBe(handler);
    });
  }

  it('a claim check that failed because the store is down is 503 in both phases', () => {
    const err = new KestClaimCheckError('x', { cause: new KestCacheError('down') });
    expect(statusFor(err, 'ingress')).toBe(503);
    expect(statusFor(err, 'handler')).toBe(503);
    const notCache = new KestClaimCheckError('x', { cause: new Error('down') });
    expect(statusFor(notCache, 'ingress')).toBe(401);
  });

  it('an unreachable JWKS is 503; other bearer failures are 401 at ingress', () => {
    expect(statusFor(new KestBearerTokenError('jwks_unavailable', 'x'), 'ingress')).toBe(503);
    expect(statusFor(new KestBearerTokenError('jwks_unavailable', 'x'), 'handler')).toBe(503);
    expect(statusFor(new KestBearerTokenError('expired', 'x'), 'ingress')).toBe(401);
  });

  it('a non-Kest error is 500 in both phases', () => {
    expect(statusFor(new Error('x'), 'ingress')).toBe(500);
    expect(statusFor('x', 'handler')).toBe(500);
  });

  it('the ingress errors of the HTTP layer are 401', () => {
    expect(statusFor(new KestMissingPassportError(), 'ingress')).toBe(401);
    expect(statusFor(new KestIngressRefusal('stale_passport', 'x', { index: 0 }), 'ingress')).toBe(401);
  });
});

describe('refusalFor', () => {
  it('leaves a non-Kest handler error to the framework, refuses one at ingress generically', () => {
    expect(refusalFor(new Error('boom'), 'handler')).toBeUndefined();
    expect(refusalFor(new Error('boom'), 'ingress')).toEqual({
      status: 500,
      body: { error: 'ERR_INTERNAL', message: 'the request could not be checked' },
      headers: {},
    });
  });

  it('names the failing entry of a verification error', () => {
    const err = new KestVerificationError('bad_signature', 'signature does not verify', {
      index: 2,
      entryId: 'e2',
    });
    expect(refusalFor(err, 'ingress')).toEqual({
      status: 401,
      body: {
        error: 'ERR_VERIFICATION_FAILED',
        message: err.message,
        reason: 'bad_signature',
        index: 2,
        entry_id: 'e2',
      },
      headers: {},
    });
  });

  it('carries the reason of an ingress refusal', () => {
    const err = new KestIngressRefusal('unbound_passport', 'not the caller', { index: 0 });
    expect(refusalFor(err, 'ingress')?.body).toEqual({
      error: 'ERR_VERIFICATION_FAILED',
      message: 'not the caller',
      reason: 'unbound_passport',
      index: 0,
    });
  });

  it('names the denying policy and tier', () => {
    const err = new KestAuthorizationError('denied', { policy: 'min-trust', tier: 'cedar', entryId: 'e1' });
    expect(refusalFor(err, 'handler')?.body).toEqual({
      error: 'ERR_AUTHORIZATION',
      message: 'denied',
      policy: 'min-trust',
      tier: 'cedar',
      entry_id: 'e1',
    });
  });

  it('hides 5xx details behind a message per code, and asks to retry a 503', () => {
    expect(refusalFor(new KestCacheError('redis at 10.0.0.1 refused'), 'ingress')).toEqual({
      status: 503,
      body: { error: 'ERR_CACHE', message: 'the claim-check store is unavailable' },
      headers: { 'retry-after': '1' },
    });
    expect(refusalFor(new KestError('ERR_CONFIGURATION', 'secret path'), 'ingress')?.body.message).toBe(
      'the service is not configured to check this request',
    );
    expect(refusalFor(new KestError('ERR_IDENTITY', 'key file'), 'handler')?.body.message).toBe(
      'the service could not authenticate or sign',
    );
    expect(refusalFor(new KestError('ERR_AUDIT', 'x'), 'ingress')?.body.message).toBe('internal error');
  });

  it('challenges a missing or invalid bearer token', () => {
    expect(refusalFor(new KestBearerTokenError('missing', 'x'), 'ingress')?.headers).toEqual({
      'www-authenticate': 'Bearer',
    });
    expect(refusalFor(new KestBearerTokenError('expired', 'x'), 'ingress')?.headers).toEqual({
      'www-authenticate': 'Bearer error="invalid_token", error_description="invalid token"',
    });
    expect(refusalFor(new KestBearerTokenError('expired', 'x'), 'handler')?.headers).toEqual({});
  });
});
