/**
 * A strict W3C Baggage codec (https://www.w3.org/TR/baggage/): the `baggage` header as a list of
 * members `key=value;property;key=value`, values percent-encoded.
 *
 * Strict: anything outside the grammar throws KestBaggageError (a 400 at the edge), never a partial
 * result. Sending limits are OpenTelemetry JS's, because that propagator silently drops what exceeds
 * them: 180 members, 4096 bytes per member, 8192 bytes per header; Kest throws instead of dropping.
 * Receiving limits are W3C's (§3.3.1: a receiver MUST accept 64 members and 8192 bytes, including a
 * single 8192-byte member): 180 members, 8192 bytes per member and per header.
 *
 * Hot path (every request): a single pass over char codes with lookup tables, no regexes, no
 * intermediate split arrays; values without `%` are returned as slices.
 */
import { KestBaggageError } from '../errors.js';

export const BAGGAGE_HEADER = 'baggage';

export interface BaggageLimits {
  /** Members per header. Default 180 (OpenTelemetry JS). */
  maxMembers?: number;
  /**
   * Bytes of one `key=value;props` member, as sent. Default 4096 when sending (OpenTelemetry JS),
   * 8192 when receiving (W3C).
   */
  maxMemberBytes?: number;
  /** Bytes of the whole header value. Default 8192 (OpenTelemetry JS). */
  maxHeaderBytes?: number;
}

/** Limits for sending (serializeBaggage, BaggageManager.store): OpenTelemetry JS's. */
export const BAGGAGE_LIMITS: Readonly<Required<BaggageLimits>> = Object.freeze({
  maxMembers: 180,
  maxMemberBytes: 4096,
  maxHeaderBytes: 8192,
});

/** Limits for receiving (parseBaggage): at least what W3C Baggage requires receivers to accept. */
export const BAGGAGE_RECEIVE_LIMITS: Readonly<Required<BaggageLimits>> = Object.freeze({
  maxMembers: 180,
  maxMemberBytes: 8192,
  maxHeaderBytes: 8192,
});

export interface BaggageProperty {
  readonly key: string;
  /** Decoded value; absent for a key-only property. */
  readonly value?: string;
}

export interface BaggageMember {
  readonly key: string;
  /** Decoded (percent-decoding applied) value. */
  readonly value: string;
  readonly properties?: readonly BaggageProperty[];
}

/** Members by key, decoded values, properties dropped: the form the BaggageManager reads and writes. */
export type BaggageMembers = Readonly<Record<string, string>>;

// RFC 9110 token characters (1 = allowed) and hex digit values.
const TCHAR = new Uint8Array(128);
const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 128; c++) {
  const isAlnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  if (isAlnum || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))) TCHAR[c] = 1;
}
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

// Long runs (values are up to 4 KiB) are scanned with sticky regexes: irregexp compiles them to
// native code, several times faster than a charCodeAt loop (bench/propagation.bench.ts).
// baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
const OCTET_RUN = /[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*/y;

const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;

/** End of the run of baggage-octets starting at `pos`. */
function octetRunEnd(text: string, pos: number): number {
  OCTET_RUN.lastIndex = pos;
  OCTET_RUN.test(text);
  return OCTET_RUN.lastIndex;
}

const SP = 0x20;
const HTAB = 0x09;
const COMMA = 0x2c;
const SEMI = 0x3b;
const EQ = 0x3d;
const PCT = 0x25;

function limitsOf(
  limits: BaggageLimits | undefined,
  defaults: Readonly<Required<BaggageLimits>>,
): Required<BaggageLimits> {
  if (!limits) return defaults;
  return {
    maxMembers: limits.maxMembers ?? defaults.maxMembers,
    maxMemberBytes: limits.maxMemberBytes ?? defaults.maxMemberBytes,
    maxHeaderBytes: limits.maxHeaderBytes ?? defaults.maxHeaderBytes,
  };
}

function fail(message: string, at?: number): never {
  throw new KestBaggageError(
    at === undefined ? `baggage: ${message}` : `baggage: ${message} at offset ${at}`,
  );
}

/** True when `key` is an RFC 9110 token, i.e. a valid baggage key. */
export function isBaggageKey(key: string): boolean {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Percent-decode a raw value. Escapes must be `%XX`; octets that are not valid UTF-8 become U+FFFD,
 * as the W3C spec requires of decoders.
 */
export function decodeBaggageValue(raw: string): string {
  if (raw.indexOf('%') === -1) return raw;
  if (BAD_ESCAPE.test(raw)) fail('`%` not followed by two hex digits in value');
  try {
    return decodeURIComponent(raw);
  } catch {
    // Valid escapes but not UTF-8: decode bytewise with replacement characters.
    const bytes: number[] = [];
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      if (c === PCT) {
        bytes.push(((HEX[raw.charCodeAt(i + 1)] as number) << 4) | (HEX[raw.charCodeAt(i + 2)] as number));
        i += 2;
      } else {
        bytes.push(c);
      }
    }
    return Buffer.from(bytes).toString('utf8');
  }
}

/** Percent-encode a value exactly as OpenTelemetry JS does (encodeURIComponent), so sizes agree. */
export function encodeBaggageValue(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch (err) {
    throw new KestBaggageError('baggage: value is not well-formed Unicode (lone surrogate)', { cause: err });
  }
}

/** Bytes of `key=encoded(value)` on the wire (all ASCII after encoding). */
export function encodedMemberBytes(key: string, value: string): number {
  return key.length + 1 + encodeBaggageValue(value).length;
}

/**
 * Parse a `baggage` header value (or several header lines, which HTTP joins with commas).
 * An absent or blank header is an empty list. Throws KestBaggageError on anything malformed or
 * over the limits.
 */
export function parseBaggage(
  header: string | readonly string[] | undefined,
  limits?: BaggageLimits,
): BaggageMember[] {
  if (header === undefined) return [];
  const text = typeof header === 'string' ? header : header.join(',');
  if (typeof text !== 'string') fail('header is not a string');
  const lim = limitsOf(limits, BAGGAGE_RECEIVE_LIMITS);
  if (text.length > lim.maxHeaderBytes) fail(`header is ${text.length} bytes (max ${lim.maxHeaderBytes})`);

  const n = text.length;
  let pos = 0;
  // Blank header (only OWS) = no members.
  while (pos < n && (text.charCodeAt(pos) === SP || text.charCodeAt(pos) === HTAB)) pos++;
  if (pos === n) return [];
  pos = 0;

  const out: BaggageMember[] = [];
  for (;;) {
    const memberStart = pos;
    let c = text.charCodeAt(pos);
    while (c === SP || c === HTAB) c = text.charCodeAt(++pos);

    // key
    const keyStart = pos;
    while (c < 128 && TCHAR[c] === 1) c = text.charCodeAt(++pos);
    if (pos === keyStart) fail('expected a key', pos);
    const key = text.slice(keyStart, pos);
    while (c === SP || c === HTAB) c = text.charCodeAt(++pos);
    if (c !== EQ) fail(`expected '=' after key "${key}"`, pos);
    c = text.charCodeAt(++pos);
    while (c === SP || c === HTAB) c = text.charCodeAt(++pos);

    // value
    const valueStart = pos;
    pos = octetRunEnd(text, pos);
    c = text.charCodeAt(pos);
    const value = decodeBaggageValue(text.slice(valueStart, pos));
    while (c === SP || c === HTAB) c = text.charCodeAt(++pos);

    // properties
    let properties: BaggageProperty[] | undefined;
    while (c === SEMI) {
      c = text.charCodeAt(++pos);
      while (c === SP || c === HTAB) c = text.charCodeAt(++pos);
      const pkStart = pos;
      while (c < 128 && TCHAR[c] === 1) c = text.charCodeAt(++pos);
      if (pos === pkStart) fail('expected a property key', pos);
      const pkey = text.slice(pkStart, pos);
      while (c === SP || c === HTAB) c = text.charCodeAt(++pos);
      let prop: BaggageProperty;
      if (c === EQ) {
        c = text.charCodeAt(++pos);
        while (c === SP || c === HTAB) c = text.charCodeAt(++pos);
        const pvStart = pos;
        pos = octetRunEnd(text, pos);
        c = text.charCodeAt(pos);
        prop = { key: pkey, value: decodeBaggageValue(text.slice(pvStart, pos)) };
        while (c === SP || c === HTAB) c = text.charCodeAt(++pos);
      } else {
        prop = { key: pkey };
      }
      if (properties) properties.push(prop);
      else properties = [prop];
    }

    if (pos < n && c !== COMMA) fail(`unexpected character ${JSON.stringify(text[pos])}`, pos);
    if (pos - memberStart > lim.maxMemberBytes) {
      fail(`member "${key}" is ${pos - memberStart} bytes (max ${lim.maxMemberBytes})`);
    }
    if (out.length >= lim.maxMembers) fail(`more than ${lim.maxMembers} members`);
    out.push(properties ? { key, value, properties } : { key, value });
    if (pos >= n) return out;
    pos++; // comma; a member must follow (a trailing comma fails on the next key)
  }
}

/** Serialize one member as `key=value;prop=value;prop`. Throws on an invalid key or value. */
export function serializeMember(member: BaggageMember): string {
  if (!isBaggageKey(member.key)) fail(`invalid key ${JSON.stringify(member.key)} (must be a token)`);
  if (typeof member.value !== 'string') fail(`value of "${member.key}" is not a string`);
  let s = `${member.key}=${encodeBaggageValue(member.value)}`;
  if (member.properties) {
    for (const p of member.properties) {
      if (!isBaggageKey(p.key)) fail(`invalid property key ${JSON.stringify(p.key)} (must be a token)`);
      s += p.value === undefined ? `;${p.key}` : `;${p.key}=${encodeBaggageValue(p.value)}`;
    }
  }
  return s;
}

function isMemberList(members: Iterable<BaggageMember> | BaggageMembers): members is Iterable<BaggageMember> {
  return typeof (members as Iterable<BaggageMember>)[Symbol.iterator] === 'function';
}

/**
 * Serialize members into a header value. Over a limit it throws (KestBaggageError) rather than
 * dropping members the way OpenTelemetry does.
 */
export function serializeBaggage(
  members: Iterable<BaggageMember> | BaggageMembers,
  limits?: BaggageLimits,
): string {
  const lim = limitsOf(limits, BAGGAGE_LIMITS);
  const list: BaggageMember[] = isMemberList(members)
    ? [...members]
    : Object.keys(members).map((key) => ({ key, value: (members as Record<string, string>)[key] as string }));
  if (list.length > lim.maxMembers) fail(`${list.length} members (max ${lim.maxMembers})`);
  let header = '';
  for (const m of list) {
    const s = serializeMember(m);
    if (s.length > lim.maxMemberBytes) {
      fail(`member "${m.key}" encodes to ${s.length} bytes (max ${lim.maxMemberBytes})`);
    }
    header = header === '' ? s : `${header},${s}`;
  }
  if (header.length > lim.maxHeaderBytes) {
    fail(`header encodes to ${header.length} bytes (max ${lim.maxHeaderBytes})`);
  }
  return header;
}

/**
 * Members by key. A repeated `kest.*` key is refused (which copy would be the passport?); other
 * repeated keys keep the last, as OpenTelemetry does.
 */
export function toBaggageMembers(list: Iterable<BaggageMember>): BaggageMembers {
  const out: Record<string, string> = Object.create(null);
  for (const m of list) {
    if (m.key in out && m.key.startsWith('kest.')) fail(`duplicate member "${m.key}"`);
    out[m.key] = m.value;
  }
  return out;
}

/** parseBaggage + toBaggageMembers. */
export function parseBaggageMembers(
  header: string | readonly string[] | undefined,
  limits?: BaggageLimits,
): BaggageMembers {
  return toBaggageMembers(parseBaggage(header, limits));
}
