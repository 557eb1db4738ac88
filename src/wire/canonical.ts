import canonicalizeLib from 'canonicalize';
import { KestError } from '../errors.js';

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS). Uses the maintained `canonicalize` package, which
 * rejects NaN/Infinity, lone surrogates and cycles; we wrap its failures in a typed error.
 */
export function canonicalize(value: unknown): string {
  let out: string | undefined;
  try {
    out = canonicalizeLib(value);
  } catch (err) {
    throw new KestError('ERR_CANONICALIZE', `cannot canonicalize: ${(err as Error).message}`, { cause: err });
  }
  if (out === undefined) {
    throw new KestError('ERR_CANONICALIZE', 'cannot canonicalize: value has no JSON form');
  }
  return out;
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}
