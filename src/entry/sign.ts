import type { IdentityProvider, SignOptions } from '../identity/provider.js';
import { canonicalBytes } from '../wire/canonical.js';
import type { KestEntryPayload } from './types.js';

/** Canonicalize (RFC 8785) and sign an entry payload; returns the compact JWS. */
export async function signEntry(
  identity: IdentityProvider,
  payload: KestEntryPayload,
  options?: SignOptions,
): Promise<string> {
  return identity.sign(canonicalBytes(payload), options);
}
