/** The wire format (docs/spec.md §1–§2): JCS, base64url, JWS compact, hashes, UUIDv7, wire constants. */
export { b64urlDecode, b64urlEncode } from './base64url.js';
export { fileTooLarge, MAX_CONFIG_FILE_BYTES, readBytesBounded, readFileBounded } from './bounded-file.js';
export { canonicalBytes, canonicalize } from './canonical.js';
export * from './constants.js';
export { type Ed25519Backend, ed25519Backend } from './ed25519.js';
export { canonicalHash, entryHash, isSha256Hex, sha256Hex } from './hash.js';
export type { PublicJwk } from './jwk.js';
export {
  algForKey,
  isAllowedAlg,
  type JwsHeader,
  type JwsLimits,
  type ParsedJws,
  parseJws,
  signJws,
  verifyJwsSignature,
} from './jws.js';
export { escapeJsonForTerminal, escapeTerminal } from './terminal.js';
export { isUuid, isUuidV7, uuidv7 } from './uuid.js';
