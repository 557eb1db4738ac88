import { KestEntryError } from '../errors.js';
import { isCanonicalJson } from '../wire/canonical.js';
import type { InteropProfile } from '../wire/constants.js';
import { entryHash } from '../wire/hash.js';
import { type JwsHeader, type JwsLimits, parseJws } from '../wire/jws.js';
import { normalizeReferencePayload } from './reference.js';
import type { KestEntryPayload } from './types.js';
import { validateEntryPayload } from './validate.js';

/** One entry of a passport: the compact JWS as received, its hash link, and the parsed parts. */
export interface SignedEntry {
  readonly jws: string;
  /** sha256_hex(utf8(jws)): what children list in parent_ids. */
  readonly hash: string;
  readonly header: JwsHeader;
  readonly payload: KestEntryPayload;
  readonly signature: Buffer;
  readonly signingInput: string;
}

/**
 * Parse a compact JWS into a SignedEntry: strict JWS, then strict payload. No signature check.
 * `hash`, when the caller already computed entryHash(jws) (an audit hashes every entry once when
 * grouping), is taken as is instead of hashing again. Under `profile` 'reference' the payload is
 * first read into the spec's form (entry/reference.ts); the JWS and its bytes stay as received.
 */
export function parseSignedEntry(
  jws: unknown,
  limits?: JwsLimits,
  hash?: string,
  profile: InteropProfile = 'spec',
): SignedEntry {
  const parsed = parseJws(jws, limits);
  let json: unknown;
  try {
    json = JSON.parse(parsed.payload.toString('utf8'));
  } catch (err) {
    throw new KestEntryError(`payload is not JSON: ${(err as Error).message}`);
  }
  if (!isCanonicalJson(json, parsed.payload)) {
    throw new KestEntryError(
      'payload is not RFC 8785 canonical JSON (a duplicate key, whitespace, an escape or number form, or bytes that are not UTF-8)',
    );
  }
  const payload = validateEntryPayload(profile === 'reference' ? normalizeReferencePayload(json) : json);
  return {
    jws: parsed.jws,
    hash: hash ?? entryHash(parsed.jws),
    header: parsed.header,
    payload,
    signature: parsed.signature,
    signingInput: parsed.signingInput,
  };
}
