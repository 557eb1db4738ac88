/**
 * What Kest reads from an X.509 certificate beyond node:crypto's X509Certificate: the validity
 * window as epoch ms, key usage bits, every URI SAN (node joins SANs into one display string), and
 * which extensions are critical. Parsed once per certificate with the strict DER reader.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { children, decodeOid, readTlv, splitDerSequence, TAG, type Tlv } from './der.js';
import { KestSpiffeError } from './errors.js';

export const OID = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
} as const;

/** Key usage bits (RFC 5280 §4.2.1.3), bit n of the ASN.1 BIT STRING. */
export const KeyUsage = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
} as const;

/** Extensions whose semantics Kest enforces or that carry no constraint; any other critical one is refused. */
const UNDERSTOOD_CRITICAL = new Set<string>([
  OID.keyUsage,
  OID.basicConstraints,
  OID.subjectAltName,
  OID.extKeyUsage,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
  OID.certificatePolicies,
]);

export interface ParsedCertificate {
  readonly x509: X509Certificate;
  readonly der: Buffer;
  /** base64url SHA-256 of the DER: the JWS `x5t#S256` value. */
  readonly thumbprint: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** Key usage bitmask (KeyUsage), or undefined when the extension is absent. */
  readonly keyUsage: number | undefined;
  readonly isCA: boolean;
  /** Every URI in subjectAltName, in order. */
  readonly uris: readonly string[];
  /** OIDs of critical extensions Kest does not understand (name constraints included: not enforced). */
  readonly unhandledCritical: readonly string[];
}

function bad(message: string, cause?: unknown): KestSpiffeError {
  return new KestSpiffeError('invalid_certificate', message, { cause });
}

function parseTime(buf: Buffer, t: Tlv): number {
  const s = buf.toString('ascii', t.start, t.end);
  let m: RegExpMatchArray | null;
  let year: number;
  if (t.tag === TAG.UTC_TIME) {
    m = s.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/);
    if (!m) throw bad(`bad UTCTime ${JSON.stringify(s)}`);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (t.tag === TAG.GENERALIZED_TIME) {
    m = s.match(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/);
    if (!m) throw bad(`bad GeneralizedTime ${JSON.stringify(s)}`);
    year = Number(m[1]);
  } else {
    throw bad('validity is not a Time');
  }
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

/** Parse one DER certificate. Throws KestSpiffeError('invalid_certificate'). */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const buf = Buffer.from(der);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(buf);
  } catch (err) {
    throw bad(`not an X.509 certificate: ${(err as Error).message}`, err);
  }
  const cert = readTlv(buf, 0);
  if (cert.tag !== TAG.SEQUENCE || cert.next !== buf.length) throw bad('certificate has trailing bytes');
  const [tbs] = children(buf, cert);
  if (!tbs || tbs.tag !== TAG.SEQUENCE) throw bad('no TBSCertificate');
  const fields = children(buf, tbs);
  const base = fields[0]?.tag === 0xa0 ? 1 : 0;
  const validity = fields[base + 3];
  if (!validity || validity.tag !== TAG.SEQUENCE) throw bad('no validity');
  const [nb, na] = children(buf, validity);
  if (!nb || !na) throw bad('incomplete validity');
  const notBefore = parseTime(buf, nb);
  const notAfter = parseTime(buf, na);

  let keyUsage: number | undefined;
  let isCA = false;
  const uris: string[] = [];
  const unhandledCritical: string[] = [];
  const extWrapper = fields.find((f) => f.tag === 0xa3);
  if (extWrapper) {
    const [extSeq] = children(buf, extWrapper);
    if (!extSeq || extSeq.tag !== TAG.SEQUENCE) throw bad('bad extensions');
    const seen = new Set<string>();
    for (const ext of children(buf, extSeq)) {
      const parts = children(buf, ext);
      const id = decodeOid(buf, parts[0]!);
      if (seen.has(id)) throw bad(`duplicate extension ${id}`);
      seen.add(id);
      let critical = false;
      let valueTlv = parts[1];
      if (valueTlv?.tag === TAG.BOOLEAN) {
        critical = buf[valueTlv.start] !== 0;
        valueTlv = parts[2];
      }
      if (!valueTlv || valueTlv.tag !== TAG.OCTET_STRING) throw bad(`extension ${id} has no value`);
      const inner = readTlv(buf, valueTlv.start, valueTlv.end);
      if (critical && !UNDERSTOOD_CRITICAL.has(id)) unhandledCritical.push(id);
      if (id === OID.keyUsage) {
        if (inner.tag !== TAG.BIT_STRING || inner.end <= inner.start) throw bad('bad keyUsage');
        let bits = 0;
        for (let i = inner.start + 1, n = 0; i < inner.end; i++, n += 8) {
          const byte = buf[i]!;
          for (let b = 0; b < 8; b++) if (byte & (0x80 >> b)) bits |= 1 << (n + b);
        }
        keyUsage = bits;
      } else if (id === OID.basicConstraints) {
        if (inner.tag !== TAG.SEQUENCE) throw bad('bad basicConstraints');
        const bc = children(buf, inner);
        isCA = bc[0]?.tag === TAG.BOOLEAN && buf[bc[0].start] !== 0;
      } else if (id === OID.subjectAltName) {
        if (inner.tag !== TAG.SEQUENCE) throw bad('bad subjectAltName');
        for (const name of children(buf, inner)) {
          // uniformResourceIdentifier [6] IMPLICIT IA5String
          if (name.tag === 0x86) uris.push(buf.toString('latin1', name.start, name.end));
        }
      }
    }
  }
  if (isCA !== x509.ca) throw bad('basicConstraints disagree with the certificate parser');
  return {
    x509,
    der: buf,
    thumbprint: createHash('sha256').update(buf).digest('base64url'),
    notBefore,
    notAfter,
    keyUsage,
    isCA,
    uris,
    unhandledCritical,
  };
}

/** Parse certificates given as one DER, concatenated DERs (Workload API form), a PEM text, or a list. */
export function parseCertificates(
  input: Uint8Array | string | readonly (Uint8Array | string)[],
): ParsedCertificate[] {
  if (Array.isArray(input)) return input.flatMap((i) => parseCertificates(i));
  if (typeof input === 'string') return pemToDer(input).map(parseCertificate);
  return splitDerSequence(input as Uint8Array).map(parseCertificate);
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Extract the DER of every CERTIFICATE block of a PEM text. Throws when there is none. */
export function pemToDer(pem: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    if (m[1] !== 'CERTIFICATE') continue;
    const body = m[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw bad('PEM body is not base64');
    out.push(Buffer.from(body, 'base64'));
  }
  if (out.length === 0) throw bad('no CERTIFICATE block in PEM input');
  return out;
}

export function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** Decode an x5c member (standard base64 DER, RFC 7515 §4.1.6), strictly. */
export function decodeX5c(x5c: readonly string[]): Buffer[] {
  return x5c.map((c, i) => {
    if (typeof c !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(c) || c.length % 4 !== 0) {
      throw bad(`x5c[${i}] is not standard base64`);
    }
    return Buffer.from(c, 'base64');
  });
}
