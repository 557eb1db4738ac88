/**
 * Where claim-checked passports wait for the next hop (docs/spec.md §5). A provider stores strings
 * under keys with a time to live; failures surface as KestCacheError, never as "not found".
 */
import { KestCacheError } from '../errors.js';

export interface CacheProvider {
  /** The value, or undefined when absent or expired. Throws KestCacheError when the cache fails. */
  get(key: string): Promise<string | undefined>;
  /** Store with a TTL, atomically (a value is never visible without its expiry). */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

export function assertTtl(ttlSeconds: number): void {
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new KestCacheError(`ttlSeconds must be a positive number, got ${String(ttlSeconds)}`);
  }
}

export interface MemoryCacheOptions {
  /** Most entries kept; the least recently used go first. Default 10 000. */
  maxEntries?: number;
  /** Most UTF-16 code units of values kept (≈ bytes for passports, which are ASCII). Default 64 Mi. */
  maxBytes?: number;
  /** Clock in ms (tests inject one). Default Date.now. */
  now?: () => number;
}

interface Slot {
  value: string;
  expiresAt: number;
}

/**
 * In-process LRU with TTL: one service, or tests. A Map keeps insertion order, so re-inserting on
 * read makes the first key the least recently used.
 */
export class MemoryCacheProvider implements CacheProvider {
  readonly #slots = new Map<string, Slot>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  #bytes = 0;
  #closed = false;

  constructor(options: MemoryCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.#now = options.now ?? Date.now;
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries < 1) {
      throw new KestCacheError('maxEntries must be a positive integer');
    }
    if (!Number.isInteger(this.#maxBytes) || this.#maxBytes < 1) {
      throw new KestCacheError('maxBytes must be a positive integer');
    }
  }

  /** Live entries (expired ones are swept lazily). */
  get size(): number {
    return this.#slots.size;
  }

  async get(key: string): Promise<string | undefined> {
    this.#open();
    const slot = this.#slots.get(key);
    if (!slot) return undefined;
    if (slot.expiresAt <= this.#now()) {
      this.#remove(key, slot);
      return undefined;
    }
    this.#slots.delete(key);
    this.#slots.set(key, slot);
    return slot.value;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.#open();
    assertTtl(ttlSeconds);
    if (typeof value !== 'string') throw new KestCacheError('cache values are strings');
    if (value.length > this.#maxBytes) {
      throw new KestCacheError(`value of ${value.length} bytes exceeds the cache size (${this.#maxBytes})`);
    }
    const old = this.#slots.get(key);
    if (old) this.#remove(key, old);
    this.#slots.set(key, { value, expiresAt: this.#now() + ttlSeconds * 1000 });
    this.#bytes += value.length;
    this.#evict();
  }

  async delete(key: string): Promise<void> {
    this.#open();
    const slot = this.#slots.get(key);
    if (slot) this.#remove(key, slot);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#slots.clear();
    this.#bytes = 0;
  }

  #open(): void {
    if (this.#closed) throw new KestCacheError('cache is closed');
  }

  #remove(key: string, slot: Slot): void {
    this.#slots.delete(key);
    this.#bytes -= slot.value.length;
  }

  #evict(): void {
    // Least recently used first; O(1) per eviction (expired entries elsewhere go when read).
    for (const [key, slot] of this.#slots) {
      if (this.#slots.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.#remove(key, slot);
    }
  }
}
