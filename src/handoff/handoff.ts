/**
 * The handoff (docs/spec.md §11 "Handoff"): a compact JWS the tip's signer adds to every outbound
 * request, over RFC 8785 JSON `{tip, aud, iat, exp, jti}`. It binds one passport to one callee for a
 * short window, once: a passport copied from a log, a proxy or an exported span cannot be sent again
 * (the jti is claimed in a replay store) nor to another hop (aud), nor by another workload (the
 * signature must anchor to the tip's principal, exactly as the tip entry's own signature does).
 *
 * Signing and the stateless checks live here; the replay claim and the ingress wiring are in
 * src/http/handoff-check.ts.
 */
import type { SignOptions } from '../entry/sign.js';
import type { SignedEntry } from '../entry/signed.js';
import { KestError, KestIngressRefusal, KestVerificationError } from '../errors.js';
import type { TrustSource } from '../keys/trust-source.js';
import type { Passport } from '../passport/passport.js';
import { canonicalBytes, isCanonicalJson } from '../wire/canonical.js';
import { LABEL } from '../wire/constants.js';
import { isSha256Hex } from '../wire/hash.js';
import { countTopLevelMembers, type ParsedJws, parseJws, verifyJwsSignatureOffLoop } from '../wire/jws.js';
import { randomBase64url } from '../wire/random.js';

/** The signed claims of a handoff. Times are NumericDate (seconds since the epoch), as in JWT. */
export interface HandoffClaims {
  /** Hash of the passport's tip entry (what `kest.chain_tip` carries). */
  tip: string;
  /** The callee: its workload id, or its origin `scheme://host:port`. */
  aud: string;
  iat: number;
  exp: number;
  /** 128 random bits, base64url (22 characters): the single-use key. */
  jti: string;
}

/** Who signs the handoff: the IdentityProvider that signed the tip (it is one). */
export interface HandoffSigner {
  getWorkloadId(): string;
  sign(payload: Uint8Array, options?: SignOptions): string | Promise<string>;
}

/** Default lifetime of a handoff: short, it only has to cover one hop's network delay. */
export const DEFAULT_HANDOFF_TTL_MS = 60_000;
/** Longest lifetime a receiver accepts (a longer one is refused as bad_handoff). */
export const MAX_HANDOFF_LIFETIME_S = 300;
const MEMBERS = ['aud', 'exp', 'iat', 'jti', 'tip'] as const;
const JTI = /^[A-Za-z0-9_-]{22}$/;
const MAX_AUD = 1024;
/** A handoff is small: header (with an x5c chain at most) and ~200 bytes of claims. */
const HANDOFF_LIMITS = { maxJwsBytes: 8 * 1024, maxHeaderBytes: 6 * 1024, maxPayloadBytes: 2048 };

export function newJti(): string {
  return randomBase64url(16);
}

/**
 * Sign a handoff for `passport` to `aud`. The signer must be the tip's principal (a receiver refuses
 * anything else); returns undefined for an empty passport (a first hop needs none).
 */
export async function signHandoff(
  signer: HandoffSigner,
  passport: Passport,
  aud: string,
  options: { ttlMs?: number; now?: number } = {},
): Promise<string | undefined> {
  const tip = passport.tip;
  if (!tip) return undefined;
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const ttl = Math.max(1, Math.ceil((options.ttlMs ?? DEFAULT_HANDOFF_TTL_MS) / 1000));
  const claims: HandoffClaims = { tip: tip.hash, aud, iat, exp: iat + ttl, jti: newJti() };
  const chains = passport.certificateChains();
  return signer.sign(canonicalBytes(claims), chains.size > 0 ? { knownChains: new Set(chains.keys()) } : {});
}

/** The tip entry's principal, or undefined when a tip cannot sign handoffs. */
export function tipPrincipal(passport: Passport): string | undefined {
  const p = passport.tip?.payload.labels[LABEL.principal];
  return typeof p === 'string' ? p : undefined;
}

function refuse(
  reason: 'bad_handoff' | 'unbound_handoff',
  message: string,
  tip: SignedEntry,
  at: number,
  cause?: unknown,
): never {
  throw new KestIngressRefusal(reason, message, { index: at, entryId: tip.payload.entry_id }, { cause });
}

/**
 * The canonical claims in the one order RFC 8785 allows, printable ASCII only (so the text is the
 * payload's bytes: an invalid UTF-8 byte decodes to U+FFFD and misses). A match is exactly what the
 * full check below accepts (a differential test holds them equal); anything else takes the full
 * check, which says what is wrong. Saves a JSON.parse, a key sort and a re-serialization per request.
 */
const CANONICAL_CLAIMS =
  /^\{"aud":("(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e]){1,2048}"),"exp":(-?[1-9][0-9]{0,15}|0),"iat":(-?[1-9][0-9]{0,15}|0),"jti":"([A-Za-z0-9_-]{22})","tip":"([0-9a-f]{64})"\}$/;

/** @internal */
export function fastClaims(text: string): HandoffClaims | undefined {
  const m = CANONICAL_CLAIMS.exec(text);
  if (!m) return undefined;
  const [, audJson, exp, iat, jti, tip] = m as unknown as [string, string, string, string, string, string];
  let aud: unknown;
  try {
    aud = JSON.parse(audJson);
  } catch {
    return undefined;
  }
  // JSON.stringify writes a string exactly as RFC 8785 does: equal means the literal is canonical.
  if (typeof aud !== 'string' || aud.length === 0 || aud.length > MAX_AUD || JSON.stringify(aud) !== audJson)
    return undefined;
  const claims = { tip, aud, iat: Number(iat), exp: Number(exp), jti };
  if (!Number.isSafeInteger(claims.iat) || !Number.isSafeInteger(claims.exp)) return undefined;
  if (claims.exp <= claims.iat || claims.exp - claims.iat > MAX_HANDOFF_LIFETIME_S) return undefined;
  return claims;
}

/** Strict parse of the claims: exactly the five members, canonical bytes, bounded values. */
export function readClaims(parsed: Pick<ParsedJws, 'payload'>): HandoffClaims | string {
  const text = parsed.payload.toString('utf8');
  const fast = fastClaims(text);
  if (fast) return fast;
  return fullClaims(parsed, text);
}

/** @internal The full check alone (the reference the fast path is tested against). */
export function fullClaims(parsed: Pick<ParsedJws, 'payload'>, text: string): HandoffClaims | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'its payload is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'its payload is not an object';
  const c = value as Record<string, unknown>;
  const keys = Object.keys(c).sort();
  if (keys.length !== MEMBERS.length || keys.some((k, i) => k !== MEMBERS[i]))
    return 'its payload must have exactly tip, aud, iat, exp, jti';
  if (countTopLevelMembers(text) !== keys.length) return 'its payload has a duplicate member';
  if (typeof c.tip !== 'string' || !isSha256Hex(c.tip)) return 'tip is not a SHA-256 hex hash';
  if (typeof c.aud !== 'string' || c.aud.length === 0 || c.aud.length > MAX_AUD) return 'aud is not a string';
  if (!Number.isSafeInteger(c.iat) || !Number.isSafeInteger(c.exp)) return 'iat / exp are not integers';
  if ((c.exp as number) <= (c.iat as number)) return 'exp is not after iat';
  if ((c.exp as number) - (c.iat as number) > MAX_HANDOFF_LIFETIME_S)
    return `its lifetime exceeds ${MAX_HANDOFF_LIFETIME_S} s`;
  if (typeof c.jti !== 'string' || !JTI.test(c.jti)) return 'jti is not 128 bits of base64url';
  if (!isCanonicalJson(value, parsed.payload)) return 'its payload is not RFC 8785 canonical JSON';
  return c as unknown as HandoffClaims;
}

/**
 * Parse a handoff and verify its signature under the key `trust` anchors for the tip's principal.
 * Throws KestIngressRefusal: `bad_handoff` (malformed, bad signature, wrong tip) or
 * `unbound_handoff` (its key is not one of the tip principal's: another workload signed it).
 * Audience, time and single use are the caller's checks (checkHandoffWindow, the replay store).
 */
export async function verifyHandoff(
  jws: string,
  passport: Passport,
  trust: TrustSource,
): Promise<HandoffClaims> {
  const tip = passport.tip as SignedEntry;
  const at = passport.length - 1;
  let parsed: ParsedJws;
  try {
    parsed = parseJws(jws, HANDOFF_LIMITS);
  } catch (err) {
    refuse('bad_handoff', `the handoff is malformed: ${(err as Error).message}`, tip, at, err);
  }
  const claims = readClaims(parsed);
  if (typeof claims === 'string') refuse('bad_handoff', `the handoff is malformed: ${claims}`, tip, at);
  const principal = tipPrincipal(passport) as string;
  let key: Awaited<ReturnType<TrustSource['resolveKey']>>;
  try {
    const chains = passport.certificateChains();
    key = await trust.resolveKey({
      principal,
      header: parsed.header,
      entry: tip.payload,
      index: at,
      ...(chains.size > 0 ? { chains } : {}),
    });
  } catch (err) {
    if (err instanceof KestVerificationError || !(err instanceof KestError))
      refuse(
        'unbound_handoff',
        `the handoff's key is not anchored to the tip's principal ${principal}`,
        tip,
        at,
        err,
      );
    throw err; // the trust source itself is unavailable or misconfigured
  }
  try {
    // One verification per request that cannot be cached (each handoff is single-use). With
    // OpenSSL it runs on the thread pool (bench/http.bench.ts, depth 10, 2 cores, A/B: Hono
    // 3.0–3.5k → 4.6–5.1k req/s); libsodium verifies on the loop in half OpenSSL's time, which
    // served as many requests in an A/B with less CPU in all (wire/ed25519.ts).
    await verifyJwsSignatureOffLoop(parsed, key);
  } catch (err) {
    refuse('bad_handoff', `the handoff's signature does not verify: ${(err as Error).message}`, tip, at, err);
  }
  if (claims.tip !== tip.hash)
    refuse('bad_handoff', "the handoff names another tip than the passport's", tip, at);
  return claims;
}

/**
 * The time window: refuses (`expired_handoff`) a handoff past `exp` or issued more than `skewMs`
 * in the future (clocks drift; bounded).
 */
export function checkHandoffWindow(
  claims: HandoffClaims,
  passport: Passport,
  skewMs: number,
  now = Date.now(),
): void {
  const tip = passport.tip as SignedEntry;
  const details = { index: passport.length - 1, entryId: tip.payload.entry_id };
  if (claims.exp * 1000 + skewMs <= now)
    throw new KestIngressRefusal(
      'expired_handoff',
      `the handoff expired ${now - claims.exp * 1000} ms ago`,
      details,
    );
  if (claims.iat * 1000 - skewMs > now)
    throw new KestIngressRefusal(
      'expired_handoff',
      `the handoff is issued ${claims.iat * 1000 - now} ms in the future (skew tolerated: ${skewMs} ms)`,
      details,
    );
}
