import type { SignedEntry } from '../entry/signed.js';
import type { KestEntryPayload } from '../entry/types.js';
import { KestIdentityError } from '../errors.js';
import { entryHash } from '../wire/hash.js';
import { parseJws } from '../wire/jws.js';

/**
 * A SignedEntry for a JWS this process just signed over `payload`: the JWS is parsed strictly (an
 * identity provider that returns garbage is an identity error) but the payload is not re-parsed and
 * re-validated — we built it. Saves a JSON.parse + validation per call on the hot path.
 */
export function signedEntryFromPayload(jws: string, payload: KestEntryPayload): SignedEntry {
  let parsed: ReturnType<typeof parseJws>;
  try {
    parsed = parseJws(jws);
  } catch (err) {
    throw new KestIdentityError(`identity provider returned an invalid JWS: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return {
    jws,
    hash: entryHash(jws),
    header: parsed.header,
    payload,
    signature: parsed.signature,
    signingInput: parsed.signingInput,
  };
}
