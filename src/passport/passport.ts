/**
 * The passport: the entries of one request's lineage, parents before children (docs/spec.md §2).
 * Transport form is a JSON array of compact JWS strings. Parsing is strict and bounded; bad input
 * throws — it never becomes an empty passport, which would silently reset trust.
 */

import { parseSignedEntry, type SignedEntry } from '../entry/signed.js';
import { KestError, KestPassportError } from '../errors.js';
import { LIMITS } from '../wire/constants.js';

export interface PassportLimits {
  /** Default 1000 entries. */
  maxEntries?: number;
  /** Default 8 MiB of serialized JSON. */
  maxBytes?: number;
}

export class Passport {
  readonly #entries: SignedEntry[];
  #byHash: Map<string, number> | undefined;

  private constructor(entries: SignedEntry[]) {
    this.#entries = entries;
  }

  static empty(): Passport {
    return new Passport([]);
  }

  /** From already parsed entries (e.g. a context's passport plus one new entry). */
  static fromSignedEntries(entries: readonly SignedEntry[]): Passport {
    return new Passport([...entries]);
  }

  /** Parse a list of compact JWS strings (strict JWS + payload checks; no signature check). */
  static fromJws(list: readonly unknown[], limits: PassportLimits = {}): Passport {
    const maxEntries = limits.maxEntries ?? LIMITS.maxPassportEntries;
    if (list.length > maxEntries) {
      throw new KestPassportError(
        'ERR_PASSPORT_TOO_LARGE',
        `passport has ${list.length} entries (max ${maxEntries})`,
      );
    }
    // An array that arrives already decoded skipped deserialize's byte bound: apply it here too.
    const maxBytes = limits.maxBytes ?? LIMITS.maxPassportBytes;
    let bytes = 1; // "[" + per entry: quotes and a "," or "]"
    for (const jws of list) {
      bytes += (typeof jws === 'string' ? jws.length : 0) + 3;
      if (bytes > maxBytes) {
        throw new KestPassportError('ERR_PASSPORT_TOO_LARGE', `passport is larger than ${maxBytes} bytes`);
      }
    }
    const entries: SignedEntry[] = new Array(list.length);
    for (let i = 0; i < list.length; i++) {
      try {
        entries[i] = parseSignedEntry(list[i]);
      } catch (err) {
        throw new KestPassportError('ERR_PASSPORT_INVALID', (err as Error).message, { index: i, cause: err });
      }
    }
    return new Passport(entries);
  }

  /**
   * Parse the transport form: a JSON array of JWS strings (or the spec's {"entries": [...]}), as text
   * or already decoded.
   */
  static deserialize(input: unknown, limits: PassportLimits = {}): Passport {
    let value = input;
    if (typeof input === 'string' || Buffer.isBuffer(input)) {
      const maxBytes = limits.maxBytes ?? LIMITS.maxPassportBytes;
      // Bytes, not UTF-16 units: the bound is on what crossed the wire.
      const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
      if (size > maxBytes) {
        throw new KestPassportError('ERR_PASSPORT_TOO_LARGE', `passport is larger than ${maxBytes} bytes`);
      }
      try {
        value = JSON.parse(input.toString());
      } catch (err) {
        throw new KestPassportError('ERR_PASSPORT_INVALID', 'passport is not JSON', { cause: err });
      }
    }
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === 'entries') value = (value as { entries: unknown }).entries;
    }
    if (!Array.isArray(value)) {
      throw new KestPassportError('ERR_PASSPORT_INVALID', 'passport must be a JSON array of JWS strings');
    }
    return Passport.fromJws(value, limits);
  }

  get entries(): readonly SignedEntry[] {
    return this.#entries;
  }

  get length(): number {
    return this.#entries.length;
  }

  get tip(): SignedEntry | undefined {
    return this.#entries[this.#entries.length - 1];
  }

  /** Hash of the last entry: the parent of the next hop and the `kest.chain_tip` baggage value. */
  get tipHash(): string | undefined {
    return this.tip?.hash;
  }

  /**
   * Index of the first entry with this hash link, or undefined. First, so that a duplicated entry
   * is reported where the copy appears, and children link to the original.
   */
  indexOfHash(hash: string): number | undefined {
    if (!this.#byHash) {
      this.#byHash = new Map();
      for (let i = 0; i < this.#entries.length; i++) {
        const h = (this.#entries[i] as SignedEntry).hash;
        if (!this.#byHash.has(h)) this.#byHash.set(h, i);
      }
    }
    return this.#byHash.get(hash);
  }

  /** A new passport with one more entry (passports in a context are immutable). */
  append(entry: string | SignedEntry): Passport {
    const parsed = typeof entry === 'string' ? parseOrThrow(entry, this.#entries.length) : entry;
    return new Passport([...this.#entries, parsed]);
  }

  /** Append in place (builder style, as the reference's add_signature). */
  addSignature(jws: string): SignedEntry {
    const parsed = parseOrThrow(jws, this.#entries.length);
    this.#entries.push(parsed);
    if (this.#byHash && !this.#byHash.has(parsed.hash))
      this.#byHash.set(parsed.hash, this.#entries.length - 1);
    return parsed;
  }

  toJSON(): string[] {
    return this.#entries.map((e) => e.jws);
  }

  serialize(): string {
    return JSON.stringify(this.toJSON());
  }
}

function parseOrThrow(jws: string, index: number): SignedEntry {
  try {
    return parseSignedEntry(jws);
  } catch (err) {
    if (err instanceof KestError) {
      throw new KestPassportError('ERR_PASSPORT_INVALID', err.message, { index, cause: err });
    }
    throw err;
  }
}
