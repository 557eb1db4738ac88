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
