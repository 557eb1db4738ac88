import { KestJWSError } from '../errors.js';

const B64URL = /^[A-Za-z0-9_-]*$/;

export function b64urlEncode(data: Uint8Array | string): string {
  return (typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data)).toString('base64url');
}

/**
 * Strict base64url (RFC 4648 §5, no padding): Buffer's decoder silently skips junk characters, so
 * the alphabet and the length are checked first.
 */
export function b64urlDecode(text: string, what = 'segment'): Buffer {
  if (!B64URL.test(text) || text.length % 4 === 1) {
    throw new KestJWSError('ERR_JWS_INVALID', `${what} is not valid base64url`);
  }
  const out = Buffer.from(text, 'base64url');
  // Non-canonical trailing bits (e.g. "QR" vs "QQ") decode to the same bytes; refuse them so every
  // byte of a signed string is significant.
  if (out.toString('base64url') !== text) {
    throw new KestJWSError('ERR_JWS_INVALID', `${what} is not canonical base64url`);
  }
  return out;
}
