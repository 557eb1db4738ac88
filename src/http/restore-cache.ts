/**
 * The restored-passport cache of the server core (docs/http.md "Costs"): verified passports kept
 * by the exact baggage bytes that carried them, with the verdict that accepted them.
 */
import type { SignedEntry } from '../entry/signed.js';
import type { TrustSource } from '../keys/trust-source.js';
import { Passport } from '../passport/passport.js';
import type { PassportVerifier, VerificationReport } from '../passport/verifier.js';
import { BAGGAGE_KEY } from '../wire/constants.js';

/**
 * Which bytes a slot is for. The map is keyed by `id` (tier + declared chain tip: short, cheap to
 * hash) and a hit must also carry exactly the same member bytes (`raw`): hashing a 3 KB member on
 * every request cost ~3.5 µs of the ~7.6 µs admission (measured, depth 10).
 */
export interface RestoredKey {
  id: string;
  raw: string;
}

export interface RestoredSlot {
  raw: string;
  /** Frozen: shared by every request that arrives with these bytes. */
  entries: readonly SignedEntry[];
  tipHash: string;
  /** Frozen verdict; each hit gets a shallow copy naming its own Passport. */
  report: VerificationReport;
  verifier: PassportVerifier;
  stamp: VerdictStamp;
  cost: number;
}

/** What a kept verdict was obtained under. */
export interface VerdictStamp {
  epoch: unknown;
  generation: unknown;
}

/** Estimated bytes a slot retains: the key, the parsed entries (~2.3× their JWS, measured), the report. */
function slotCost(key: RestoredKey, entries: readonly SignedEntry[]): number {
  let jws = 0;
  for (const e of entries) jws += e.jws.length;
  return key.raw.length * 2 + jws * 3 + entries.length * 256;
}

/** Freeze an entry tree (typed arrays cannot be frozen; they are left as they are). */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || Object.isFrozen(value))
    return value;
  Object.freeze(value);
  for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  return value;
}

/** The stamp a verdict of `verifier` is valid under right now (`trust`: what it was built from, if known). */
export function verdictStamp(trust: TrustSource | undefined, verifier: PassportVerifier): VerdictStamp {
  return { epoch: epochOf(trust), generation: generationOf(verifier) };
}

/** Whether a kept verdict still holds: the same verifier, under the same epoch and generation. */
export function keptUnder(slot: RestoredSlot, verifier: PassportVerifier, stamp: VerdictStamp): boolean {
  return (
    slot.verifier === verifier &&
    slot.stamp.epoch === stamp.epoch &&
    slot.stamp.generation === stamp.generation
  );
}

/** The trust source's epoch (undefined for sources without one). */
function epochOf(trust: TrustSource | undefined): unknown {
  return (trust as { epoch?(): unknown } | undefined)?.epoch?.();
}

/** The verifier's cache generation (checks the trust epoch and drops stale tips as a side effect). */
function generationOf(verifier: PassportVerifier): unknown {
  return (verifier as unknown as { cacheGeneration?(): unknown }).cacheGeneration?.();
}

/**
 * A small LRU of verified passports keyed by the exact bytes that carried them (inline JSON or
 * compressed value), with the verdict of the verifier that accepted them. Equal bytes give equal
 * entries and hashes, so a kept verdict is no weaker than the verifier's own verified-tip cache —
 * provided it is reused only by the same verifier under the same trust epoch and cache generation
 * (a revoked key or rotated bundle changes them). The chain tip is re-checked on every hit.
 *
 * Only verified passports enter (junk never occupies memory), and the total estimated retained
 * memory is bounded as well as the slot count. A hit hands out a new Passport over the kept
 * (frozen) entries: Passport.addSignature appends in place, and what one request's code adds must
 * never reach another request that carries the same bytes.
 */
export class RestoredPassports {
  readonly #map = new Map<string, RestoredSlot>();
  readonly #max: number;
  readonly #maxBytes: number;
  #bytes = 0;
  constructor(max: number, maxBytes: number) {
    this.#max = max;
    this.#maxBytes = maxBytes;
  }

  /** The key of a request's passport member, or undefined when it is not cached (claim check, no tip, ambiguous). */
  static key(members: Readonly<Record<string, string>>): RestoredKey | undefined {
    if (Object.hasOwn(members, BAGGAGE_KEY.claimCheck)) return undefined;
    const tip = Object.hasOwn(members, BAGGAGE_KEY.chainTip) ? members[BAGGAGE_KEY.chainTip] : undefined;
    if (tip === undefined) return undefined;
    const inline = Object.hasOwn(members, BAGGAGE_KEY.passport) ? members[BAGGAGE_KEY.passport] : undefined;
    const z = Object.hasOwn(members, BAGGAGE_KEY.passportCompressed)
      ? members[BAGGAGE_KEY.passportCompressed]
      : undefined;
    if ((inline === undefined) === (z === undefined)) return undefined; // none, or ambiguous: let restore() decide
    return inline !== undefined ? { id: `i${tip}`, raw: inline } : { id: `z${tip}`, raw: z as string };
  }

  /** Entries kept for these bytes (the chain tip re-checked), or undefined. */
  get(key: RestoredKey | undefined, chainTip: string | undefined): RestoredSlot | undefined {
    if (key === undefined) return undefined;
    const hit = this.#map.get(key.id);
    if (!hit || hit.raw !== key.raw || hit.tipHash !== chainTip) return undefined;
    this.#map.delete(key.id);
    this.#map.set(key.id, hit);
    return hit;
  }

  /** Keep a passport `verifier` accepted under `stamp` (copied and frozen: the caller's stays its own). */
  put(
    key: RestoredKey | undefined,
    passport: Passport,
    report: VerificationReport,
    verifier: PassportVerifier,
    stamp: VerdictStamp,
  ): void {
    if (key === undefined || passport.length === 0) return;
    const entries = passport.entries.slice();
    const cost = slotCost(key, entries);
    if (cost > this.#maxBytes) return;
    const kept = Passport.fromSignedEntries(entries);
    const slot: RestoredSlot = {
      raw: key.raw,
      entries: deepFreeze(entries),
      tipHash: passport.tipHash as string,
      report: deepFreeze({ ...report, passport: kept, entries: report.entries.map((e) => ({ ...e })) }),
      verifier,
      stamp,
      cost,
    };
    this.#remove(key.id);
    this.#map.set(key.id, slot);
    this.#bytes += cost;
    while (this.#map.size > this.#max || this.#bytes > this.#maxBytes) {
      this.#remove(this.#map.keys().next().value as string);
    }
  }

  delete(key: string): void {
    this.#remove(key);
  }

  #remove(key: string): void {
    const slot = this.#map.get(key);
    if (!slot) return;
    this.#map.delete(key);
    this.#bytes -= slot.cost;
  }

  /** Estimated retained bytes and slot count (for tests and metrics). */
  get stats(): { size: number; bytes: number } {
    return { size: this.#map.size, bytes: this.#bytes };
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }
}
