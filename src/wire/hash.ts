import { hash } from 'node:crypto';
import { canonicalize } from './canonical.js';

/** One-shot crypto.hash (Node >= 20.12): no Hash object per call, unlike createHash().update().digest(). */
export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}

/** The hash link of an entry: SHA-256 of the UTF-8 bytes of its full compact JWS (docs/spec.md §1). */
export function entryHash(jws: string): string {
  return sha256Hex(jws);
}

const HEX64 = /^[0-9a-f]{64}$/;
export function isSha256Hex(value: string): boolean {
  return HEX64.test(value);
}

/** SHA-256 of the canonical JSON of a value (content_hash / input_hash). */
export function canonicalHash(value: unknown): string {
  return sha256Hex(canonicalize(value));
}
