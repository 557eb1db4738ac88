/**
 * Carries a passport across a hop in W3C baggage (docs/spec.md §5), in the smallest tier that fits:
 *
 *   kest.passport     the JSON array itself (percent-encoded)
 *   kest.passport_z   zlib level 1 of that JSON, base64url
 *   kest.claim_check  a UUID; the JSON waits in a CacheProvider with a TTL
 *
 * plus `kest.chain_tip` (hash of the last entry), always sent with a passport and checked on
 * arrival, so a truncated, swapped or dropped passport is refused rather than read as shorter.
 * Tiers are chosen by the *encoded* member size against OpenTelemetry JS's limits, for the whole
 * header; when nothing fits and no cache is configured, store() throws: nothing is dropped silently.
 */
import { randomUUID } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import {
  KestBaggageError,
  KestCacheError,
  KestClaimCheckError,
  KestError,
  KestPassportError,
  KestVerificationError,
} from '../errors.js';
import { Passport, type PassportLimits } from '../passport/passport.js';
import { BAGGAGE_KEY, type InteropProfile } from '../wire/constants.js';
import { isSha256Hex } from '../wire/hash.js';
import { isUuid } from '../wire/uuid.js';
import {
  BAGGAGE_LIMITS,
  type BaggageLimits,
  type BaggageMembers,
  encodeBaggageValue,
  isBaggageKey,
} from './baggage.js';
import type { CacheProvider } from './cache.js';

export type PropagationTier = 'inline' | 'compressed' | 'claim_check';

const TIER_KEY: Record<PropagationTier, string> = {
  inline: BAGGAGE_KEY.passport,
  compressed: BAGGAGE_KEY.passportCompressed,
  claim_check: BAGGAGE_KEY.claimCheck,
};

/** Members a hop rewrites; never forwarded as received (kest.jwt never leaves the service). */
const TRANSPORT_KEYS: ReadonlySet<string> = new Set([
  BAGGAGE_KEY.passport,
  BAGGAGE_KEY.passportCompressed,
  BAGGAGE_KEY.claimCheck,
  BAGGAGE_KEY.chainTip,
  BAGGAGE_KEY.jwt,
  BAGGAGE_KEY.handoff,
]);

export interface BaggageManagerOptions {
  /** Where claim checks are stored and resolved. Without one, a passport too big for baggage throws. */
  cache?: CacheProvider;
  /** Lifetime of a claim check. Default 300 s. */
  claimCheckTtlSeconds?: number;
  /** The smallest tier to use (e.g. 'claim_check' to keep passports out of headers). Default 'inline'. */
  minTier?: PropagationTier;
  /**
   * Hard cap on the inflated size of `kest.passport_z`. Default: what a sender with these limits
   * produces at most, MAX_DEFLATE_RATIO × maxMemberBytes (8 × 4096 = 32 KiB).
   */
  maxInflatedBytes?: number;
  /** Bounds on the restored passport (entries, bytes). */
  passportLimits?: PassportLimits;
  /** Header limits the whole baggage must meet. Default OpenTelemetry JS's (180 / 4096 / 8192). */
  limits?: BaggageLimits;
  /** Header bytes to leave free for members added after store() (e.g. by other instrumentation). */
  reserveHeaderBytes?: number;
}

export interface StoreOptions {
  /** Upstream identity claims to send as kest.user / kest.agent / kest.task. */
  identity?: UpstreamIdentity;
  /** This hop's handoff to the callee (kest.handoff): counted in the header budget like the rest. */
  handoff?: string | undefined;
  /**
   * Other members that travel in the same header (the incoming baggage being forwarded, app
   * members): counted against the header limits and returned merged. Their kest transport members
   * (passport, tiers, chain tip, jwt) are replaced, never forwarded.
   */
  members?: BaggageMembers;
}

/** kest.user / kest.agent / kest.task: claims any caller can write. Never trust them unverified. */
export interface UpstreamIdentity {
  user?: string;
  agent?: string;
  task?: string;
}

const DEFAULT_TTL_SECONDS = 300;
/**
 * Real passports deflate ~2-5x (base64url JWS); a sender deflates only JSON of at most 8x the member
 * budget (above that it uses the claim check), so a receiver never needs to inflate more than this
 * ratio times the member limit: anything bigger is refused at the cap, not parsed.
 */
const MAX_DEFLATE_RATIO = 8;

function own(members: BaggageMembers, key: string): string | undefined {
  return Object.hasOwn(members, key) ? members[key] : undefined;
}

/** Which passport tier a set of members carries, or undefined when it carries none. */
export function passportTier(members: BaggageMembers): PropagationTier | undefined {
  if (own(members, BAGGAGE_KEY.passport) !== undefined) return 'inline';
  if (own(members, BAGGAGE_KEY.passportCompressed) !== undefined) return 'compressed';
  if (own(members, BAGGAGE_KEY.claimCheck) !== undefined) return 'claim_check';
  return undefined;
}

/** The kest.user / kest.agent / kest.task members present: untrusted claims of the caller. */
export function readUpstreamIdentity(members: BaggageMembers): UpstreamIdentity {
  const out: UpstreamIdentity = {};
  const user = own(members, BAGGAGE_KEY.user);
  const agent = own(members, BAGGAGE_KEY.agent);
  const task = own(members, BAGGAGE_KEY.task);
  if (user) out.user = user;
  if (agent) out.agent = agent;
  if (task) out.task = task;
  return out;
}

/** Members for an identity (empty or absent fields are left out). */
export function identityMembers(identity: UpstreamIdentity): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, key] of [
    ['user', BAGGAGE_KEY.user],
    ['agent', BAGGAGE_KEY.agent],
    ['task', BAGGAGE_KEY.task],
  ] as const) {
    const v = identity[field];
    if (v === undefined || v === '') continue;
    if (typeof v !== 'string') throw new KestBaggageError(`identity ${field} must be a string`);
    out[key] = v;
  }
  return out;
}

export class BaggageManager {
  readonly #cache: CacheProvider | undefined;
  readonly #ttl: number;
  readonly #minTier: PropagationTier;
  readonly #maxInflated: number;
  readonly #passportLimits: PassportLimits;
  readonly #limits: Required<BaggageLimits>;
  readonly #reserve: number;

  constructor(options: BaggageManagerOptions = {}) {
    this.#cache = options.cache;
    this.#ttl = options.claimCheckTtlSeconds ?? DEFAULT_TTL_SECONDS;
    this.#minTier = options.minTier ?? 'inline';
    this.#passportLimits = options.passportLimits ?? {};
    this.#limits = { ...BAGGAGE_LIMITS, ...options.limits };
    this.#maxInflated = options.maxInflatedBytes ?? MAX_DEFLATE_RATIO * this.#limits.maxMemberBytes;
    this.#reserve = options.reserveHeaderBytes ?? 0;
    if (!Number.isFinite(this.#ttl) || this.#ttl <= 0) {
      throw new KestBaggageError('claimCheckTtlSeconds must be a positive number');
    }
    if (!(this.#minTier in TIER_KEY)) throw new KestBaggageError(`unknown tier ${String(this.#minTier)}`);
    if (!Number.isInteger(this.#maxInflated) || this.#maxInflated < 1) {
      throw new KestBaggageError('maxInflatedBytes must be a positive integer');
    }
  }

  /**
   * The baggage members that carry `passport` to the next hop (plus identity and forwarded
   * members, when given). An empty passport carries nothing: the next hop starts a new lineage.
   * Throws when the passport cannot travel (too big and no cache, cache failure): never drops it.
   */
  async store(
    passport: Passport,
    cache?: CacheProvider,
    options: StoreOptions = {},
  ): Promise<BaggageMembers> {
    const out: Record<string, string> = Object.create(null);
    if (options.members) {
      for (const key of Object.keys(options.members)) {
        if (!TRANSPORT_KEYS.has(key)) out[key] = options.members[key] as string;
      }
    }
    if (options.identity) Object.assign(out, identityMembers(options.identity));

    const tip = passport.tipHash;
    if (tip === undefined) return out;
    out[BAGGAGE_KEY.chainTip] = tip;
    if (options.handoff !== undefined) out[BAGGAGE_KEY.handoff] = options.handoff;

    // Budget for the passport member: what the other members leave of the header, and one member.
    let count = 1;
    let used = this.#reserve;
    for (const key of Object.keys(out)) {
      if (!isBaggageKey(key)) throw new KestBaggageError(`invalid baggage key ${JSON.stringify(key)}`);
      const bytes = key.length + 1 + encodeBaggageValue(out[key] as string).length;
      if (bytes > this.#limits.maxMemberBytes) {
        throw new KestBaggageError(
          `member "${key}" encodes to ${bytes} bytes (max ${this.#limits.maxMemberBytes})`,
        );
      }
      used += bytes + 1; // + comma
      count++;
    }
    if (count > this.#limits.maxMembers) {
      throw new KestBaggageError(`${count} baggage members (max ${this.#limits.maxMembers})`);
    }
    const budget = Math.min(this.#limits.maxMemberBytes, this.#limits.maxHeaderBytes - used);

    const json = passport.serialize();
    const minTier = this.#minTier;

    if (minTier === 'inline') {
      const keyBytes = BAGGAGE_KEY.passport.length + 1;
      // Encoding never shrinks: skip it when the raw JSON is already too long.
      if (keyBytes + json.length <= budget) {
        const encoded = encodeBaggageValue(json);
        if (keyBytes + encoded.length <= budget) {
          out[BAGGAGE_KEY.passport] = json;
          return out;
        }
      }
    }
    if (minTier !== 'claim_check') {
      const keyBytes = BAGGAGE_KEY.passportCompressed.length + 1;
      if (json.length <= budget * MAX_DEFLATE_RATIO) {
        // base64url is all unreserved characters: its encoded size is its length.
        const z = deflateSync(json, { level: 1 }).toString('base64url');
        if (keyBytes + z.length <= budget) {
          out[BAGGAGE_KEY.passportCompressed] = z;
          return out;
        }
      }
    }

    const store = cache ?? this.#cache;
    if (!store) {
      throw new KestPassportError(
        'ERR_PASSPORT_TOO_LARGE',
        `passport of ${passport.length} entries (${json.length} bytes) does not fit in baggage ` +
          `(${budget} bytes free) and no claim-check cache is configured`,
      );
    }
    const id = randomUUID();
    if (BAGGAGE_KEY.claimCheck.length + 1 + id.length > budget) {
      throw new KestBaggageError(`no room left in the baggage header for ${BAGGAGE_KEY.claimCheck}`);
    }
    try {
      await store.set(id, json, this.#ttl);
    } catch (err) {
      if (err instanceof KestError) throw err;
      throw new KestCacheError(`claim check could not be stored: ${(err as Error)?.message}`, { cause: err });
    }
    out[BAGGAGE_KEY.claimCheck] = id;
    return out;
  }

  /**
   * The passport the members carry, checked against `kest.chain_tip`. No passport member and no
   * chain tip: an empty passport (a new lineage). Anything else that does not add up throws:
   * KestBaggageError (malformed), KestPassportError (bad passport, or over the inflate cap),
   * KestClaimCheckError (unresolvable claim check), KestVerificationError chain_tip_mismatch.
   * `read.profile` says how entries are read (propagation/reference.ts uses 'reference').
   */
  async restore(
    members: BaggageMembers,
    cache?: CacheProvider,
    read: { profile?: InteropProfile } = {},
  ): Promise<Passport> {
    const inline = own(members, BAGGAGE_KEY.passport);
    const compressed = own(members, BAGGAGE_KEY.passportCompressed);
    const claim = own(members, BAGGAGE_KEY.claimCheck);
    const tip = own(members, BAGGAGE_KEY.chainTip);
    const carried =
      (inline !== undefined ? 1 : 0) + (compressed !== undefined ? 1 : 0) + (claim !== undefined ? 1 : 0);

    if (carried === 0) {
      if (tip !== undefined) {
        throw new KestBaggageError(
          `${BAGGAGE_KEY.chainTip} without a passport: the passport was lost in transit`,
        );
      }
      return Passport.empty();
    }
    if (carried > 1) throw new KestBaggageError('more than one passport member in baggage');
    if (tip === undefined) throw new KestBaggageError(`passport without ${BAGGAGE_KEY.chainTip}`);
    if (!isSha256Hex(tip))
      throw new KestBaggageError(`${BAGGAGE_KEY.chainTip} is not a lowercase SHA-256 hex`);

    let json: string;
    if (inline !== undefined) json = inline;
    else if (compressed !== undefined) json = this.#inflate(compressed);
    else json = await this.#resolveClaim(claim as string, cache ?? this.#cache);

    // Shape and bounds now, and the tip (one entry); the others are parsed one at a time by the
    // verifier, which stops at the first bad one.
    const limits = read.profile ? { ...this.#passportLimits, profile: read.profile } : this.#passportLimits;
    const passport = Passport.unparsed(Passport.readJwsList(json, limits), limits);
    if (passport.tip?.hash !== tip) {
      throw new KestVerificationError(
        'chain_tip_mismatch',
        passport.length === 0
          ? `${BAGGAGE_KEY.chainTip} names an entry but the passport is empty`
          : `passport ends at ${passport.tipHash} but ${BAGGAGE_KEY.chainTip} is ${tip} (truncated or swapped)`,
        { index: -1 },
      );
    }
    return passport;
  }

  #inflate(value: string): string {
    if (value.length === 0) throw new KestBaggageError(`${BAGGAGE_KEY.passportCompressed} is empty`);
    // Deflate never shrinks by less than its block overhead: input this long inflates past the cap.
    if (value.length > Math.ceil(((this.#maxInflated + 64) * 4) / 3)) {
      throw new KestPassportError(
        'ERR_PASSPORT_TOO_LARGE',
        `${BAGGAGE_KEY.passportCompressed} is larger than the inflate cap (${this.#maxInflated} bytes)`,
      );
    }
    let bytes: Buffer;
    try {
      bytes = Buffer.from(value, 'base64url');
    } catch (err) {
      throw new KestBaggageError(`${BAGGAGE_KEY.passportCompressed} is not base64url`, { cause: err });
    }
    // Buffer's decoder skips junk; only canonical base64url round-trips.
    if (bytes.toString('base64url') !== value) {
      throw new KestBaggageError(`${BAGGAGE_KEY.passportCompressed} is not canonical base64url`);
    }
    let inflated: Buffer;
    try {
      // `info: true` returns the engine too (@types/node types only the plain form).
      const { buffer, engine } = inflateSync(bytes, {
        maxOutputLength: this.#maxInflated,
        info: true,
      }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
      // zlib stops at the end of its stream: bytes after it would give one passport many encodings.
      if (engine.bytesWritten !== bytes.length) {
        throw new KestBaggageError(`${BAGGAGE_KEY.passportCompressed} has bytes after the zlib stream`);
      }
      inflated = buffer;
    } catch (err) {
      if (err instanceof KestBaggageError) throw err;
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new KestPassportError(
          'ERR_PASSPORT_TOO_LARGE',
          `${BAGGAGE_KEY.passportCompressed} inflates beyond ${this.#maxInflated} bytes`,
          { cause: err },
        );
      }
      throw new KestBaggageError(`${BAGGAGE_KEY.passportCompressed} is not valid zlib data`, { cause: err });
    }
    return inflated.toString('utf8');
  }

  async #resolveClaim(id: string, cache: CacheProvider | undefined): Promise<string> {
    if (!isUuid(id)) throw new KestBaggageError(`${BAGGAGE_KEY.claimCheck} is not a UUID`);
    if (!cache) throw new KestClaimCheckError(`claim check ${id} received but no cache is configured`);
    let value: string | undefined;
    try {
      value = await cache.get(id);
    } catch (err) {
      throw new KestClaimCheckError(`claim check ${id} could not be resolved: ${(err as Error)?.message}`, {
        cause: err,
      });
    }
    if (typeof value !== 'string') {
      throw new KestClaimCheckError(`claim check ${id} not found (expired or never stored)`);
    }
    return value;
  }
}
