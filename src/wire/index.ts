export { b64urlDecode, b64urlEncode } from './base64url.js';
export { canonicalBytes, canonicalize } from './canonical.js';
export * from './constants.js';
export { canonicalHash, entryHash, isSha256Hex, sha256Hex } from './hash.js';
export {
  algForKey,
  encodeHeader,
  isAllowedAlg,
  type JwsHeader,
  type JwsLimits,
  type ParsedJws,
  parseJws,
  signJws,
  signWithEncodedHeader,
  verifyJwsSignature,
} from './jws.js';
export { isUuid, isUuidV7, uuidv7 } from './uuid.js';
