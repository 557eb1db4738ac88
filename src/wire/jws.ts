/**
 * JWS compact serialization (RFC 7515) for Kest entries: sign and verify with an algorithm
 * allow-list (EdDSA/Ed25519, ES256/P-256 with raw r||s).
 *
 * Why not jose on this path: jose's compact sign/verify goes through WebCrypto and async key
 * import; calling node:crypto synchronously measured ~2x jose's EdDSA rate on the dev machine
 * (bench/core.bench.ts times this sign path). Everything here is strict: exactly three segments,
 * canonical base64url, bounded sizes, only the header members Kest signers emit (no duplicates, no
 * `crit`/`b64`/`zip`), and an `alg` that must match the key type.
 */
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { KestJWSError } from '../errors.js';
import { b64urlDecode, b64urlEncode } from './base64url.js';
import { ALLOWED_ALGS, type JwsAlg, LIMITS } from './constants.js';
import { ed25519Sign, ed25519Verify, ed25519VerifyAsync } from './ed25519.js';

export interface JwsHeader {
  alg: JwsAlg;
  typ?: string;
  kid?: string;
  /** X.509 chain, leaf first, standard base64 DER (RFC 7515 §4.1.6). */
  x5c?: string[];
  /** SHA-256 thumbprint of the leaf certificate, base64url (RFC 7515 §4.1.8). */
  'x5t#S256'?: string;
  [param: string]: unknown;
}

export interface ParsedJws {
  /** The full compact string, exactly as received. */
  readonly jws: string;
  readonly header: JwsHeader;
  readonly payload: Buffer;
  readonly signature: Buffer;
  /** ASCII `b64(header).b64(payload)`: the bytes the signature covers. */
  readonly signingInput: string;
}

export interface JwsLimits {
  maxJwsBytes?: number;
  maxHeaderBytes?: number;
  maxPayloadBytes?: number;
}

const SIG_LENGTH: Record<JwsAlg, number> = { EdDSA: 64, ES256: 64 };
const MAX_X5C = 10;
const MAX_KID = 256;

export function isAllowedAlg(alg: unknown): alg is JwsAlg {
  return typeof alg === 'string' && (ALLOWED_ALGS as readonly string[]).includes(alg);
}

/** The JWS `alg` a key signs with. Throws for key types Kest does not sign with. */
export function algForKey(key: KeyObject): JwsAlg {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new KestJWSError(
    'ERR_JWS_ALG_KEY_MISMATCH',
    `unsupported key type ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? `/${key.asymmetricKeyDetails.namedCurve}` : ''}: Kest signs with Ed25519 or EC P-256 only`,
  );
}

function assertKeyMatchesAlg(alg: JwsAlg, key: KeyObject): void {
  const keyAlg = algForKey(key);
  if (keyAlg !== alg) {
    throw new KestJWSError('ERR_JWS_ALG_KEY_MISMATCH', `alg ${alg} does not match the ${keyAlg} key`);
  }
}

/**
 * The members a Kest protected header may carry (what our signers and the spec emit). Anything else
 * (`b64`, `zip`, `enc`, `crit`, `jku`, ...) changes how the JWS is meant to be read: refused.
 */
const HEADER_MEMBERS: ReadonlySet<string> = new Set(['alg', 'typ', 'kid', 'x5c', 'x5t#S256']);
const HEADER_TYP = 'JWS';

const isJsonSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * Members of the top-level object of JSON text that JSON.parse accepted, duplicates included (the
 * parse keeps only the last copy; another parser may keep the first). One linear scan.
 */
export function countTopLevelMembers(text: string): number {
  let depth = 0;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
      if (depth !== 1) continue;
      let j = i + 1;
      while (isJsonSpace(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) === 0x3a) count++; // a string followed by ':' is a member name
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return count;
}

function validateHeader(value: unknown): JwsHeader {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KestJWSError('ERR_JWS_INVALID', 'protected header is not a JSON object');
  }
  const h = value as Record<string, unknown>;
  for (const member of Object.keys(h)) {
    if (!HEADER_MEMBERS.has(member)) {
      throw new KestJWSError(
        'ERR_JWS_INVALID',
        `protected header member ${JSON.stringify(member)} is not supported (only alg, typ, kid, x5c, x5t#S256)`,
      );
    }
  }
  if (!isAllowedAlg(h.alg)) {
    throw new KestJWSError(
      'ERR_JWS_ALG_NOT_ALLOWED',
      `alg ${JSON.stringify(h.alg)} is not allowed (EdDSA, ES256)`,
    );
  }
  if (h.typ !== undefined && h.typ !== HEADER_TYP)
    throw new KestJWSError('ERR_JWS_INVALID', `typ must be "${HEADER_TYP}" when present`);
  if (h.kid !== undefined && (typeof h.kid !== 'string' || h.kid.length === 0 || h.kid.length > MAX_KID)) {
    throw new KestJWSError('ERR_JWS_INVALID', 'kid is not a non-empty string of at most 256 characters');
  }
  if (h.x5c !== undefined) {
    if (
      !Array.isArray(h.x5c) ||
      h.x5c.length === 0 ||
      h.x5c.length > MAX_X5C ||
      !h.x5c.every((c) => typeof c === 'string' && c.length > 0)
    ) {
      throw new KestJWSError('ERR_JWS_INVALID', 'x5c is not a non-empty array of at most 10 certificates');
    }
  }
  const t = h['x5t#S256'];
  if (t !== undefined && (typeof t !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(t))) {
    throw new KestJWSError('ERR_JWS_INVALID', 'x5t#S256 is not a base64url SHA-256 thumbprint');
  }
  return h as JwsHeader;
}

/** Parse and structurally validate a compact JWS. Does not check the signature. */
export function parseJws(jws: unknown, limits: JwsLimits = {}): ParsedJws {
  if (typeof jws !== 'string') throw new KestJWSError('ERR_JWS_INVALID', 'JWS is not a string');
  const maxJws = limits.maxJwsBytes ?? LIMITS.maxJwsBytes;
  if (jws.length > maxJws) throw new KestJWSError('ERR_JWS_TOO_LARGE', `JWS is longer than ${maxJws} bytes`);
  const first = jws.indexOf('.');
  const second = first < 0 ? -1 : jws.indexOf('.', first + 1);
  if (first < 0 || second < 0 || jws.indexOf('.', second + 1) !== -1) {
    throw new KestJWSError('ERR_JWS_INVALID', 'JWS compact serialization must have exactly three segments');
  }
  const h64 = jws.slice(0, first);
  const p64 = jws.slice(first + 1, second);
  const s64 = jws.slice(second + 1);
  if (h64.length === 0 || s64.length === 0) throw new KestJWSError('ERR_JWS_INVALID', 'empty JWS segment');
  if (h64.length > (limits.maxHeaderBytes ?? LIMITS.maxHeaderBytes) * 1.34 + 4) {
    throw new KestJWSError('ERR_JWS_TOO_LARGE', 'protected header is too large');
  }
  if (p64.length > (limits.maxPayloadBytes ?? LIMITS.maxPayloadBytes) * 1.34 + 4) {
    throw new KestJWSError('ERR_JWS_TOO_LARGE', 'payload is too large');
  }
  const header = parseProtectedHeader(h64);
  const payload = b64urlDecode(p64, 'payload');
  const signature = b64urlDecode(s64, 'signature');
  if (signature.length !== SIG_LENGTH[header.alg]) {
    throw new KestJWSError(
      'ERR_JWS_INVALID',
      `${header.alg} signature must be ${SIG_LENGTH[header.alg]} bytes, got ${signature.length}` +
        (header.alg === 'EdDSA' && signature.length > 64
          ? ' (a DER-encoded ECDSA signature labelled EdDSA?)'
          : ''),
    );
  }
  return { jws, header, payload, signature, signingInput: jws.slice(0, second) };
}

/**
 * Signers repeat their protected header in every JWS: each distinct encoded header is decoded and
 * checked once, then shared (frozen). Bounded; a flood of distinct headers only empties it. Also
 * what the hook checks its own signers' headers with (hook/signed-entry.ts).
 */
const parsedHeaders = new Map<string, JwsHeader>();
const MAX_PARSED_HEADERS = 256;
const MAX_CACHED_HEADER_CHARS = 8192;

/** The checked protected header of a JWS, from its first segment. Throws KestJWSError. */
export function parseProtectedHeader(h64: string): JwsHeader {
  const cached = parsedHeaders.get(h64);
  if (cached) return cached;
  const headerText = b64urlDecode(h64, 'protected header').toString('utf8');
  let headerJson: unknown;
  try {
    headerJson = JSON.parse(headerText);
  } catch (err) {
    throw new KestJWSError('ERR_JWS_INVALID', 'protected header is not JSON', { cause: err });
  }
  const header = validateHeader(headerJson);
  if (countTopLevelMembers(headerText) !== Object.keys(header).length) {
    throw new KestJWSError('ERR_JWS_INVALID', 'protected header has a duplicate member');
  }
  if (Array.isArray(header.x5c)) Object.freeze(header.x5c);
  Object.freeze(header);
  if (h64.length <= MAX_CACHED_HEADER_CHARS) {
    if (parsedHeaders.size >= MAX_PARSED_HEADERS) parsedHeaders.clear();
    parsedHeaders.set(h64, header);
  }
  return header;
}

/** Encode a protected header once; providers cache the result since it rarely changes. */
export function encodeHeader(header: JwsHeader): string {
  validateHeader(header);
  return b64urlEncode(JSON.stringify(header));
}

/**
 * Sign `payload` with `key` under an already encoded protected header (see encodeHeader). The
 * header's alg must match the key (checked once by the caller that built the header: see signJws).
 */
export function signWithEncodedHeader(
  encodedHeader: string,
  payload: Uint8Array,
  key: KeyObject,
  alg: JwsAlg,
): string {
  const signingInput = `${encodedHeader}.${b64urlEncode(payload)}`;
  const data = Buffer.from(signingInput, 'latin1');
  const sig =
    alg === 'EdDSA' ? ed25519Sign(data, key) : cryptoSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${sig.toString('base64url')}`;
}

/** Sign a payload as a compact JWS. `header.alg` defaults to the key's algorithm and must match it. */
export function signJws(
  payload: Uint8Array,
  privateKey: KeyObject,
  header: Omit<JwsHeader, 'alg'> & { alg?: JwsAlg } = {},
): string {
  const alg = header.alg ?? algForKey(privateKey);
  assertKeyMatchesAlg(alg, privateKey);
  return signWithEncodedHeader(encodeHeader({ ...header, alg }), payload, privateKey, alg);
}

type SignedParts = Pick<ParsedJws, 'header' | 'signingInput' | 'signature'>;

/** node:crypto's verify arguments for a parsed JWS (the alg checked against the key first). */
function verifyArgs(parsed: SignedParts, publicKey: KeyObject) {
  const alg = parsed.header.alg;
  assertKeyMatchesAlg(alg, publicKey);
  const data = Buffer.from(parsed.signingInput, 'latin1');
  return alg === 'EdDSA'
    ? ([null, data, publicKey, parsed.signature] as const)
    : (['sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' as const }, parsed.signature] as const);
}

const checkFailed = (cause: unknown) =>
  new KestJWSError('ERR_JWS_SIGNATURE_INVALID', 'signature check failed', { cause });
const doesNotVerify = () => new KestJWSError('ERR_JWS_SIGNATURE_INVALID', 'signature does not verify');

/** Verify the signature of a parsed JWS with a public key. Throws unless it verifies. */
export function verifyJwsSignature(parsed: SignedParts, publicKey: KeyObject): void {
  const [algorithm, data, key, signature] = verifyArgs(parsed, publicKey);
  let ok: boolean;
  try {
    ok =
      algorithm === null
        ? ed25519Verify(data, publicKey, signature)
        : cryptoVerify(algorithm, data, key, signature);
  } catch (err) {
    throw checkFailed(err);
  }
  if (!ok) throw doesNotVerify();
}

/**
 * verifyJwsSignature for a hop that verifies one signature per request (the handoff): the check
 * does not hold the event loop longer than it must (EdDSA: ed25519VerifyAsync picks on the loop or
 * the thread pool; ES256: node:crypto's thread-pool form). Same checks, same errors.
 */
export async function verifyJwsSignatureOffLoop(parsed: SignedParts, publicKey: KeyObject): Promise<void> {
  const [algorithm, data, key, signature] = verifyArgs(parsed, publicKey);
  let ok: boolean;
  try {
    ok =
      algorithm === null
        ? await ed25519VerifyAsync(data, publicKey, signature)
        : await new Promise<boolean>((resolve, reject) =>
            cryptoVerify(algorithm, data, key, signature, (err, valid) =>
              err ? reject(err) : resolve(valid),
            ),
          );
  } catch (err) {
    throw checkFailed(err);
  }
  if (!ok) throw doesNotVerify();
}
