/**
 * Baggage as the Python reference runtime sends it (profile `reference`, docs/interop.md):
 *
 *   kest.passport=["<jws>", "<jws>"]   raw: quotes, commas and spaces, no percent-encoding
 *   kest.passport_z=<base64url>==      zlib, URL-safe base64 *with* `=` padding
 *   both members                       past 4096 bytes it sends the two
 *
 * The raw inline member is outside the W3C grammar, but JWS characters exclude `"`, `,` and `]`,
 * so it can be delimited exactly: one linear sticky match, bounded by the member limit. It is cut
 * out and the rest of the header is parsed by the strict codec. Every value then goes through the
 * strict BaggageManager.restore (shape pre-check, inflate cap, trailing zlib bytes refused, chain
 * tip). When both members come, each is restored against the chain tip alone; at least one must
 * hold, and two that hold must be the same passport.
 */
import { KestBaggageError } from '../errors.js';
import { Passport, type PassportLimits } from '../passport/passport.js';
import { BAGGAGE_KEY } from '../wire/constants.js';
import {
  BAGGAGE_RECEIVE_LIMITS,
  type BaggageLimits,
  type BaggageMembers,
  parseBaggageMembers,
} from './baggage.js';
import type { CacheProvider } from './cache.js';
import type { BaggageManager } from './manager.js';

/** `kest.passport` = a raw JSON array of JWS strings (JSON whitespace of spaces/tabs allowed). */
const RAW_INLINE =
  /(^|,)[ \t]*kest\.passport[ \t]*=[ \t]*(\[[ \t]*(?:"[A-Za-z0-9_.-]*"(?:[ \t]*,[ \t]*"[A-Za-z0-9_.-]*")*)?[ \t]*\])[ \t]*(?=,|$)/;

const REFERENCE_READ = { profile: 'reference' } as const;

export interface ReferenceBaggage {
  /** The other members, decoded (kest.user, kest.chain_tip, app members...). */
  members: BaggageMembers;
  /** The raw inline passport JSON, when the header carried one. */
  rawInline: string | undefined;
}

/**
 * Split a header into its raw inline passport (if any) and the other members, parsed strictly.
 * Throws KestBaggageError on anything malformed or over the limits.
 */
export function parseReferenceBaggage(
  header: string | readonly string[] | undefined,
  limits?: BaggageLimits,
): ReferenceBaggage {
  if (header === undefined) return { members: parseBaggageMembers(undefined), rawInline: undefined };
  const text = typeof header === 'string' ? header : header.join(',');
  if (typeof text !== 'string') throw new KestBaggageError('baggage: header is not a string');
  const maxHeader = limits?.maxHeaderBytes ?? BAGGAGE_RECEIVE_LIMITS.maxHeaderBytes;
  const maxMember = limits?.maxMemberBytes ?? BAGGAGE_RECEIVE_LIMITS.maxMemberBytes;
  if (text.length > maxHeader)
    throw new KestBaggageError(`baggage: header is ${text.length} bytes (max ${maxHeader})`);
  const m = RAW_INLINE.exec(text);
  if (m === null) return { members: parseBaggageMembers(text, limits), rawInline: undefined };
  const lead = m[1] as string;
  const memberBytes = m[0].length - lead.length;
  if (memberBytes > maxMember) {
    throw new KestBaggageError(
      `baggage: member "${BAGGAGE_KEY.passport}" is ${memberBytes} bytes (max ${maxMember})`,
    );
  }
  // Cut the member out with one of its separating commas; the rest must parse strictly.
  let rest = text.slice(0, m.index) + text.slice(m.index + m[0].length);
  if (lead === '' && rest.startsWith(',')) rest = rest.slice(1);
  const members = parseBaggageMembers(rest.trim() === '' ? undefined : rest, limits);
  if (Object.hasOwn(members, BAGGAGE_KEY.passport)) {
    throw new KestBaggageError(`baggage: duplicate member "${BAGGAGE_KEY.passport}"`);
  }
  return { members, rawInline: m[2] as string };
}

/**
 * `kest.passport_z` without its `=` padding, when the padding is exactly what base64 needs
 * (anything else stays as is and fails the strict canonical check).
 */
export function unpadCompressed(value: string): string {
  const stripped = value.replace(/={1,2}$/, '');
  const pad = value.length - stripped.length;
  if (pad === 0) return value;
  return (stripped.length + pad) % 4 === 0 && stripped.length % 4 !== 0 ? stripped : value;
}

/**
 * The passport a reference-profile header carries (ours or the reference's forms), checked
 * against `kest.chain_tip`; its entries are read under the reference profile.
 */
export async function restoreReference(
  parsed: ReferenceBaggage,
  manager: BaggageManager,
  options: { cache?: CacheProvider; passportLimits?: PassportLimits } = {},
): Promise<Passport> {
  const members: Record<string, string> = { ...parsed.members };
  const z = members[BAGGAGE_KEY.passportCompressed];
  if (z !== undefined) members[BAGGAGE_KEY.passportCompressed] = unpadCompressed(z);
  if (parsed.rawInline !== undefined) members[BAGGAGE_KEY.passport] = parsed.rawInline;
  const inline = members[BAGGAGE_KEY.passport];
  const compressed = members[BAGGAGE_KEY.passportCompressed];
  let passport: Passport;
  if (inline !== undefined && compressed !== undefined) {
    passport = await restoreEither(members, inline, compressed, manager, options.cache);
  } else {
    passport = await manager.restore(members, options.cache, REFERENCE_READ);
  }
  return Passport.unparsed(passport.toJSON(), { ...options.passportLimits, profile: 'reference' });
}

/** Both members sent: each against the chain tip alone; the complete one, or both if they agree. */
async function restoreEither(
  members: Record<string, string>,
  inline: string,
  compressed: string,
  manager: BaggageManager,
  cache: CacheProvider | undefined,
): Promise<Passport> {
  const only = (key: string, value: string): Record<string, string> => {
    const out = { ...members };
    delete out[BAGGAGE_KEY.passport];
    delete out[BAGGAGE_KEY.passportCompressed];
    out[key] = value;
    return out;
  };
  const tries = await Promise.allSettled([
    manager.restore(only(BAGGAGE_KEY.passport, inline), cache, REFERENCE_READ),
    manager.restore(only(BAGGAGE_KEY.passportCompressed, compressed), cache, REFERENCE_READ),
  ]);
  const held = tries.flatMap((t) => (t.status === 'fulfilled' ? [t.value] : []));
  if (held.length === 0) throw (tries[1] as PromiseRejectedResult).reason;
  const [first, second] = held as [Passport, Passport | undefined];
  if (second !== undefined && first.serialize() !== second.serialize()) {
    throw new KestBaggageError(
      `baggage: ${BAGGAGE_KEY.passport} and ${BAGGAGE_KEY.passportCompressed} carry different passports`,
    );
  }
  return first;
}

/** parseReferenceBaggage + restoreReference: a `baggage` header to its passport, reference rules. */
export async function readReferenceBaggage(
  header: string | readonly string[] | undefined,
  manager: BaggageManager,
  options: { cache?: CacheProvider; passportLimits?: PassportLimits; limits?: BaggageLimits } = {},
): Promise<Passport> {
  return restoreReference(parseReferenceBaggage(header, options.limits), manager, options);
}
