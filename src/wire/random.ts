import { randomFillSync } from 'node:crypto';

/**
 * CSPRNG bytes drawn 4 KB at a time; every caller gets bytes of its own (never handed out twice).
 * Why: a sync crypto.randomBytes(16) costs ~2.7 µs here (one call into OpenSSL's DRBG per id); from
 * the pool ~0.1–0.2 µs. Ids on the hot path use it: entry ids (uuidv7), a root call's trace id, the
 * handoff's jti.
 */
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

/** The offset of `n` (1..256) bytes no caller has had, refilling the pool when it runs short. */
function take(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new RangeError('pooled random: 1..256 bytes');
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  offset += n;
  return offset - n;
}

/** `n` fresh random bytes, copied out of the pool. */
export function pooledRandomBytes(n: number): Uint8Array {
  const at = take(n);
  return new Uint8Array(pool.subarray(at, at + n));
}

/** `n` random bytes as lowercase hex (a trace id is 16). */
export function randomHex(n: number): string {
  const at = take(n);
  return pool.toString('hex', at, at + n);
}

/** `n` random bytes as base64url without padding (a handoff jti is 16). */
export function randomBase64url(n: number): string {
  const at = take(n);
  return pool.toString('base64url', at, at + n);
}
