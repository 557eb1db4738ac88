/**
 * Where a receiver remembers the handoffs it admitted (docs/spec.md §11 "Handoff"): `claim` records
 * a key for `ttlMs` and says whether this caller was the first. One atomic step, so of N concurrent
 * copies of a request exactly one is admitted. A store that cannot answer throws (the ingress
 * refuses with 503 `replay_store_unavailable`); it never answers "first" when it does not know.
 */
import { KestCacheError, KestConfigurationError } from '../errors.js';

export interface ReplayStore {
  /** True when `key` was not held (it is now, for `ttlMs`); false when it was. Throws when unsure. */
  claim(key: string, ttlMs: number): Promise<boolean>;
}

export interface MemoryReplayStoreOptions {
  /**
   * Most keys held at once. A claim that would need more is refused with KestCacheError (503)
   * rather than forgetting a live key, which would let its request be replayed. Default 1,000,000
   * (≈100 MB at most).
   */
  maxEntries?: number;
}

/**
 * The in-process store (the default): bounded and expiring. Right for one process; replicas behind
 * a load balancer need a shared store (RedisReplayStore from kest/redis), or a copy of a request can
 * be admitted once per replica.
 */
export class MemoryReplayStore implements ReplayStore {
  readonly #max: number;
  /** key → expiry (ms). Insertion order is roughly expiry order: entries share one TTL in practice. */
  readonly #held = new Map<string, number>();

  constructor(options: MemoryReplayStoreOptions = {}) {
    const max = options.maxEntries ?? 1_000_000;
    if (!Number.isSafeInteger(max) || max < 1)
      throw new KestConfigurationError('MemoryReplayStore: maxEntries must be a positive integer');
    this.#max = max;
  }

  get size(): number {
    return this.#held.size;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    return this.claimSync(key, ttlMs);
  }

  /** The same claim without a promise (the hot path awaits it anyway). */
  claimSync(key: string, ttlMs: number, now = Date.now()): boolean {
    const until = this.#held.get(key);
    if (until !== undefined && until > now) return false;
    if (until !== undefined) this.#held.delete(key);
    if (this.#held.size >= this.#max) this.#sweep(now);
    if (this.#held.size >= this.#max)
      throw new KestCacheError(`replay store full: ${this.#max} unexpired handoffs are held`);
    this.#held.set(key, now + Math.max(1, ttlMs));
    return true;
  }

  /** Drop expired keys from the oldest end (a bounded amount of work per call). */
  #sweep(now: number): void {
    let budget = 1024;
    for (const [key, until] of this.#held) {
      if (budget-- === 0) break;
      if (until <= now) this.#held.delete(key);
    }
    if (this.#held.size < this.#max) return;
    // Insertion order is not strict expiry order (TTLs differ): one full pass as a last resort.
    for (const [key, until] of this.#held) if (until <= now) this.#held.delete(key);
  }
}

/** A claim that does not settle within `timeoutMs` fails: a slow store is a store that is down. */
export async function claimWithin(
  store: ReplayStore,
  key: string,
  ttlMs: number,
  timeoutMs: number,
): Promise<boolean> {
  if (store instanceof MemoryReplayStore) return store.claimSync(key, ttlMs);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new KestCacheError(`replay store did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([store.claim(key, ttlMs), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
