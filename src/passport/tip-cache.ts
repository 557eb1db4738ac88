import type { SignedEntry } from '../entry/signed.js';

/**
 * A bounded LRU set of verified chain tips. An entry's hash commits to its ancestors' hashes, so a
 * passport whose entry k was the tip of an already verified passport needs no new work for k and
 * its ancestors: a hop pays only for the entries it has not seen (docs/spec.md §5).
 */
export class VerifiedTipCache {
  readonly #max: number;
  readonly #set = new Map<string, true>();

  constructor(maxEntries = 10_000) {
    this.#max = maxEntries;
  }

  has(hash: string): boolean {
    if (!this.#set.has(hash)) return false;
    this.#set.delete(hash);
    this.#set.set(hash, true);
    return true;
  }

  add(hash: string): void {
    if (this.#max <= 0) return;
    this.#set.delete(hash);
    this.#set.set(hash, true);
    if (this.#set.size > this.#max) this.#set.delete(this.#set.keys().next().value as string);
  }

  clear(): void {
    this.#set.clear();
  }

  get size(): number {
    return this.#set.size;
  }
}

/**
 * A bounded LRU of entries this verifier parsed in passports it verified, keyed by their exact
 * compact JWS (looked up by its signature). A passport that grows by one hop arrives again as text: without this every earlier
 * entry is parsed again (JWS, JSON, the canonical-bytes check, its hash), which was ~95 % of a warm
 * 100+1 verify (--cpu-prof of bench/core.bench.ts). Identical bytes parse to the identical entry under
 * the same limits and profile (one verifier has one of each), so the parsed form is reused as is.
 */
export class ParsedEntryCache {
  readonly #max: number;
  readonly #map = new Map<string, SignedEntry>();

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  /**
   * Keyed by the signature segment (hashing a ~100-byte key, not the whole ~1 KB JWS: the lookup
   * was a quarter of a warm verify), then the whole JWS compared: only identical bytes match.
   */
  get(jws: string): SignedEntry | undefined {
    const hit = this.#map.get(jws.slice(jws.lastIndexOf('.') + 1));
    return hit !== undefined && hit.jws === jws ? hit : undefined;
  }

  addAll(entries: readonly SignedEntry[]): void {
    if (this.#max <= 0) return;
    for (const e of entries) {
      const key = e.jws.slice(e.jws.lastIndexOf('.') + 1);
      this.#map.delete(key);
      this.#map.set(key, e);
    }
    while (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as string);
  }

  clear(): void {
    this.#map.clear();
  }
}
