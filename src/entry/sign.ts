import { canonicalBytes } from '../wire/canonical.js';
import type { KestEntryPayload } from './types.js';

export interface SignOptions {
  /**
   * Leaf-certificate thumbprints (x5t#S256) whose chains the passport being extended already
   * carries in an earlier entry's x5c: an X.509 provider may then send only the thumbprint.
   */
  knownChains?: ReadonlySet<string>;
}

/**
 * What an entry is signed with: canonical payload bytes in, compact JWS out. Every
 * IdentityProvider is one; entry/ knows no provider, so it sits below identity/.
 */
export interface EntrySigner {
  sign(payload: Uint8Array, options?: SignOptions): string | Promise<string>;
}

/** Canonicalize (RFC 8785) and sign an entry payload; returns the compact JWS. */
export async function signEntry(
  signer: EntrySigner,
  payload: KestEntryPayload,
  options?: SignOptions,
): Promise<string> {
  return signer.sign(canonicalBytes(payload), options);
}
