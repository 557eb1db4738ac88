/**
 * The little DER (X.690) this package needs: a bounds-checked reader for the certificate fields
 * node:crypto does not expose (key usage bits, every URI SAN, critical extensions) and a writer for
 * the dev agent's certificates. Not a general ASN.1 library: definite lengths only, strict.
 */
import { KestSpiffeError } from './errors.js';

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export interface Tlv {
  tag: number;
  /** Offset of the content in the source buffer. */
  start: number;
  /** Offset just past the content. */
  end: number;
  /** Offset just past the whole TLV (== end). Kept for readability at call sites. */
  next: number;
  /** Offset of the tag byte. */
  headerStart: number;
}

function bad(message: string): KestSpiffeError {
  return new KestSpiffeError('invalid_certificate', `malformed DER: ${message}`);
}

/** Read one TLV at `offset` within `[offset, limit)`. Multi-byte tags are refused (X.509 never needs them). */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw bad('truncated header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw bad('multi-byte tags are not supported');
  let len = buf[offset + 1]!;
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw bad('unsupported length encoding');
    if (pos + n > limit) throw bad('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i]!;
    if (len < 0x80 || (n > 1 && buf[pos] === 0)) throw bad('non-minimal length');
    pos += n;
  }
  const end = pos + len;
  if (end > limit) throw bad('content runs past its container');
  return { tag, start: pos, end, next: end, headerStart: offset };
}

/** The TLVs directly inside a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.start;
  while (pos < parent.end) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.next;
  }
  return out;
}

export function decodeOid(buf: Uint8Array, t: Tlv): string {
  if (t.tag !== TAG.OID || t.end === t.start) throw bad('expected an OBJECT IDENTIFIER');
  const parts: number[] = [];
  let value = 0;
  for (let i = t.start; i < t.end; i++) {
    const b = buf[i]!;
    value = value * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const a = first < 40 ? 0 : first < 80 ? 1 : 2;
  return [a, first - a * 40, ...parts].join('.');
}

/** Split a concatenation of DER certificates (Workload API `bytes` fields) into single DERs. */
export function splitDerSequence(buf: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const t = readTlv(buf, pos);
    if (t.tag !== TAG.SEQUENCE) throw bad('expected a certificate SEQUENCE');
    out.push(Buffer.from(buf.subarray(pos, t.next)));
    pos = t.next;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writer

function encodeLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let l = len; l > 0; l = Math.floor(l / 256)) bytes.unshift(l & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

export const seq = (...c: Uint8Array[]): Buffer => tlv(TAG.SEQUENCE, ...c);
export const set = (...c: Uint8Array[]): Buffer => tlv(TAG.SET, ...c);

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [parts[0]! * 40 + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(TAG.OID, Buffer.from(bytes));
}

/** A non-negative INTEGER from big-endian bytes (leading zeros trimmed, sign byte added). */
export function uint(bytes: Uint8Array): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = Buffer.from(bytes.subarray(i));
  return tlv(TAG.INTEGER, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export const bool = (v: boolean): Buffer => tlv(TAG.BOOLEAN, Buffer.from([v ? 0xff : 0]));
export const octets = (b: Uint8Array): Buffer => tlv(TAG.OCTET_STRING, b);
export const bitString = (b: Uint8Array, unusedBits = 0): Buffer =>
  tlv(TAG.BIT_STRING, Buffer.from([unusedBits]), b);
export const utf8 = (s: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));

/** X.509 Time: UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(TAG.UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(`${digits}Z`, 'ascii'));
}

/** Context-specific tag: [n] constructed (explicit) or primitive (implicit). */
export const ctx = (n: number, constructed: boolean, ...c: Uint8Array[]): Buffer =>
  tlv(0x80 | (constructed ? 0x20 : 0) | n, ...c);
