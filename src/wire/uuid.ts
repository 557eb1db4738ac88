import { v7 } from 'uuid';
import { pooledRandomBytes } from './random.js';

/**
 * The uuid package lays out and formats the id; we feed it randomness and keep the monotonic state.
 * Why: without options it asks crypto.getRandomValues for 16 bytes per id, 7 % of a protected call
 * (two ids per call; --cpu-prof of bench/hook.bench.ts). The bytes come from the CSPRNG pool
 * (random.ts: every id still gets 16 bytes of its own) and, because passing `random` turns the
 * package's own monotonic state off, we keep that state here exactly as it does (RFC 9562 §6.2
 * method 1: a 32-bit counter seeded from the random bytes, incremented within a millisecond).
 */
let lastMs = Number.NEGATIVE_INFINITY;
let seq = 0;

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A new UUID v7 (time-ordered, RFC 9562), lowercase. Entry ids are never v4. */
export function uuidv7(): string {
  const random = pooledRandomBytes(16);
  const now = Date.now();
  if (now > lastMs) {
    seq =
      (((random[6] as number) & 0x7f) << 24) |
      ((random[7] as number) << 16) |
      ((random[8] as number) << 8) |
      (random[9] as number);
    lastMs = now;
  } else {
    seq = (seq + 1) | 0;
    if (seq === 0) lastMs++;
  }
  return v7({ random, msecs: lastMs, seq });
}

export function isUuidV7(value: string): boolean {
  return UUID_V7.test(value);
}

const UUID_ANY = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export function isUuid(value: string): boolean {
  return UUID_ANY.test(value);
}
