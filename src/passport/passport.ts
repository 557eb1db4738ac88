/**
 * The passport: the entries of one request's lineage, parents before children (docs/spec.md §2).
 * Transport form is a JSON array of compact JWS strings. Parsing is strict and bounded; bad input
 * throws — it never becomes an empty passport, which would silently reset trust.
 */

import { parseSignedEntry, type SignedEntry } from '../entry/signed.js';
import { KestError, KestPassportError } from '../errors.js';
import { type InteropProfile, LIMITS } from '../wire/constants.js';
import { entryHash } from '../wire/hash.js';

export interface PassportLimits {
  /** Default 1000 entries. */
  maxEntries?: number;
  /** Default 8 MiB of serialized JSON. */
  maxBytes?: number;
  /** How entries are read: 'spec' (default) or 'reference' (docs/interop.md). Not a bound. */
  profile?: InteropProfile;
}

/** Entries parsed before under the same limits and profile, by their exact JWS (a verifier's cache). */
export type KnownEntries = (jws: string) => SignedEntry | undefined;

/**
 * The transport form as text: `[` JWS strings `]` (or `{"entries": [...]}`), JSON whitespace allowed,
 * strings of JWS characters only (no escapes). Checked before JSON.parse so that a hostile body
 * (nested arrays, objects, escapes) is refused in one linear scan, not parsed into a heap.
 */
const JWS_STRING = '"[A-Za-z0-9_.-]*"';
const WS = '[ \\t\\n\\r]*';
const ARRAY = `\\[${WS}(?:${JWS_STRING}${WS}(?:,${WS}${JWS_STRING}${WS})*)?\\]`;
const ARRAY_SHAPE = new RegExp(`^${WS}${ARRAY}${WS}$`);
const OBJECT_SHAPE = new RegExp(`^${WS}\\{${WS}"entries"${WS}:${WS}${ARRAY}${WS}\\}${WS}$`);

export class Passport {
  /** The compact JWS strings as received. */
  readonly #jws: string[];
  /** Parsed entries, filled on demand (see entryAt): a refusal parses no further than it must. */
  readonly #parsed: (SignedEntry | undefined)[];
  #all: SignedEntry[] | undefined;
  #byHash: Map<string, number> | undefined;
  readonly #profile: InteropProfile;
  readonly #known: KnownEntries | undefined;

  private constructor(
    jws: string[],
    parsed: (SignedEntry | undefined)[],
    all: boolean,
    profile: InteropProfile = 'spec',
    known?: KnownEntries,
  ) {
    this.#profile = profile;
    this.#known = known;
    this.#jws = jws;
    this.#parsed = parsed;
    this.#all = all ? (parsed as SignedEntry[]) : undefined;
  }

  static empty(): Passport {
    return new Passport([], [], true);
  }

  /** From already parsed entries (e.g. a context's passport plus one new entry). */
  static fromSignedEntries(entries: readonly SignedEntry[]): Passport {
    return new Passport(
      entries.map((e) => e.jws),
      [...entries],
      true,
    );
  }

  /** Parse a list of compact JWS strings (strict JWS + payload checks; no signature check). */
  static fromJws(list: readonly unknown[], limits: PassportLimits = {}): Passport {
    const passport = Passport.unparsed(list, limits);
    passport.entries; // parse every entry now: the caller asked for a parsed passport
    return passport;
  }

  /**
   * A passport whose entries are parsed only when read (entryAt, entries, tip): bounds and types
   * are checked now, the JWS contents later. The verifier reads one entry at a time and stops at
   * the first failure, so refusing a hostile passport costs about one entry, not all of them.
   */
  static unparsed(list: readonly unknown[], limits: PassportLimits = {}, known?: KnownEntries): Passport {
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
    for (let i = 0; i < list.length; i++) {
      const jws = list[i];
      if (typeof jws !== 'string') {
        throw new KestPassportError('ERR_PASSPORT_INVALID', 'JWS is not a string', { index: i });
      }
      bytes += jws.length + 3;
      if (bytes > maxBytes) {
        throw new KestPassportError('ERR_PASSPORT_TOO_LARGE', `passport is larger than ${maxBytes} bytes`);
      }
    }
    return new Passport(
      [...(list as string[])],
      new Array(list.length).fill(undefined),
      false,
      limits.profile,
      known,
    );
  }

  /**
   * Parse the transport form: a JSON array of JWS strings (or the spec's {"entries": [...]}), as text
   * or already decoded. Every entry is parsed (see readJwsList + unparsed for the lazy form).
   */
  static deserialize(input: unknown, limits: PassportLimits = {}): Passport {
    return Passport.fromJws(Passport.readJwsList(input, limits), limits);
  }

  /**
   * The JWS strings of the transport form, shape-checked (see ARRAY_SHAPE) and bounded, unparsed.
   * Text is refused unless it is a flat array of JWS-character strings, before any JSON.parse.
   */
  static readJwsList(input: unknown, limits: PassportLimits = {}): readonly unknown[] {
    let value = input;
    if (typeof input === 'string' || Buffer.isBuffer(input)) {
      const maxBytes = limits.maxBytes ?? LIMITS.maxPassportBytes;
      // Bytes, not UTF-16 units: the bound is on what crossed the wire.
      const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
      if (size > maxBytes) {
        throw new KestPassportError('ERR_PASSPORT_TOO_LARGE', `passport is larger than ${maxBytes} bytes`);
      }
      const text = input.toString();
      if (!ARRAY_SHAPE.test(text) && !OBJECT_SHAPE.test(text)) {
        throw new KestPassportError(
          'ERR_PASSPORT_INVALID',
          'passport must be a JSON array of JWS strings (or {"entries": [...]})',
        );
      }
      value = JSON.parse(text); // cannot fail: the shape is a subset of JSON
    }
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === 'entries') value = (value as { entries: unknown }).entries;
    }
    if (!Array.isArray(value)) {
      throw new KestPassportError('ERR_PASSPORT_INVALID', 'passport must be a JSON array of JWS strings');
    }
    return value;
  }

  /** Entry i, parsed now if it was not yet. Throws KestPassportError (with its index) when malformed. */
  entryAt(index: number): SignedEntry {
    const done = this.#parsed[index];
    if (done) return done;
    const jws = this.#jws[index];
    if (jws === undefined) throw new RangeError(`no entry ${index} in a passport of ${this.#jws.length}`);
    const entry = this.#known?.(jws) ?? parseOrThrow(jws, index, this.#profile);
    this.#parsed[index] = entry;
    return entry;
  }

  /** The hash link of entry i (SHA-256 of its JWS), without parsing it. */
  hashAt(index: number): string {
    const jws = this.#jws[index] as string;
    return (this.#parsed[index] ?? this.#known?.(jws))?.hash ?? entryHash(jws);
  }

  /** Every entry, parsed (throws KestPassportError naming the first malformed one). */
  get entries(): readonly SignedEntry[] {
    if (!this.#all) {
      for (let i = 0; i < this.#jws.length; i++) this.entryAt(i);
      this.#all = this.#parsed as SignedEntry[];
    }
    return this.#all;
  }

  get length(): number {
    return this.#jws.length;
  }

  get tip(): SignedEntry | undefined {
    return this.#jws.length === 0 ? undefined : this.entryAt(this.#jws.length - 1);
  }

  /** Hash of the last entry: the parent of the next hop and the `kest.chain_tip` baggage value. */
  get tipHash(): string | undefined {
    return this.#jws.length === 0 ? undefined : this.hashAt(this.#jws.length - 1);
  }

  /**
   * Index of the first entry with this hash link, or undefined. First, so that a duplicated entry
   * is reported where the copy appears, and children link to the original.
   */
  indexOfHash(hash: string): number | undefined {
    if (!this.#byHash) {
      this.#byHash = new Map();
      for (let i = 0; i < this.#jws.length; i++) {
        const h = this.hashAt(i);
        if (!this.#byHash.has(h)) this.#byHash.set(h, i);
      }
    }
    return this.#byHash.get(hash);
  }

  /**
   * Certificate chains the entries carry, by leaf `x5t#S256` (first occurrence): what a signer may
   * omit from its next header (compact SVID chains, docs/spec.md §10), and what a receiver resolves
   * a handoff's `x5t#S256` against. Empty for key-anchored (JWKS) passports.
   */
  certificateChains(): Map<string, readonly string[]> {
    const out = new Map<string, readonly string[]>();
    for (const e of this.entries) {
      const t = e.header['x5t#S256'];
      if (e.header.x5c && typeof t === 'string' && !out.has(t)) out.set(t, e.header.x5c);
    }
    return out;
  }

  /** A new passport with one more entry (passports in a context are immutable). */
  append(entry: string | SignedEntry): Passport {
    const parsed = typeof entry === 'string' ? parseOrThrow(entry, this.#jws.length, this.#profile) : entry;
    return new Passport(
      [...this.#jws, parsed.jws],
      [...this.#parsed, parsed],
      this.#all !== undefined,
      this.#profile,
    );
  }

  /** Append in place (builder style, as the reference's add_signature). */
  addSignature(jws: string): SignedEntry {
    const parsed = parseOrThrow(jws, this.#jws.length, this.#profile);
    this.#jws.push(parsed.jws);
    this.#parsed.push(parsed); // #all, when set, is this same array
    if (this.#byHash && !this.#byHash.has(parsed.hash)) this.#byHash.set(parsed.hash, this.#jws.length - 1);
    return parsed;
  }

  toJSON(): string[] {
    return [...this.#jws];
  }

  serialize(): string {
    return JSON.stringify(this.#jws);
  }
}

function parseOrThrow(jws: string, index: number, profile: InteropProfile = 'spec'): SignedEntry {
  try {
    return parseSignedEntry(jws, undefined, undefined, profile);
  } catch (err) {
    if (err instanceof KestError) {
      throw new KestPassportError('ERR_PASSPORT_INVALID', err.message, { index, cause: err });
    }
    throw err;
  }
}
