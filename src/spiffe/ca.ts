/**
 * A minimal X.509 certificate authority for the dev agent and tests: issues SPIFFE CA and SVID
 * certificates with node:crypto keys and the DER writer (no extra dependency, synchronous). Every
 * field an SVID check looks at can be set, so tests can mint exactly the bad certificate they need.
 * Not for production: real deployments get SVIDs from SPIRE.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { SpiffeBundle } from './bundle.js';
import { KeyUsage, OID, type ParsedCertificate, parseCertificate } from './certificate.js';
import { bitString, bool, ctx, octets, oid, seq, set, time, uint, utf8 } from './der.js';
import { TrustDomain } from './spiffeid.js';
import { X509SVID } from './x509svid.js';

export type SvidKeyType = 'ec-p256' | 'ed25519';

export interface CertificateTemplate {
  subjectCN: string;
  /** URI SANs (an SVID has exactly one; tests may set zero or several). */
  uris?: string[];
  isCA: boolean;
  keyUsage: number;
  notBefore: Date;
  notAfter: Date;
  /** Add extKeyUsage serverAuth + clientAuth (SVID leaves). */
  extKeyUsage?: boolean;
}

function generateKey(type: SvidKeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  return type === 'ed25519'
    ? generateKeyPairSync('ed25519')
    : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function name(cn: string): Buffer {
  return seq(set(seq(oid('2.5.4.10'), utf8('kest-dev-agent'))), set(seq(oid('2.5.4.3'), utf8(cn))));
}

function keyUsageBits(mask: number): Buffer {
  const bytes: number[] = [];
  for (let bit = 0; bit < 9; bit++) {
    if (mask & (1 << bit)) {
      const i = bit >> 3;
      while (bytes.length <= i) bytes.push(0);
      bytes[i]! |= 0x80 >> (bit & 7);
    }
  }
  if (bytes.length === 0) return bitString(Buffer.alloc(0));
  const last = bytes[bytes.length - 1]!;
  let unused = 0;
  while (unused < 7 && (last & (1 << unused)) === 0) unused++;
  return bitString(Buffer.from(bytes), unused);
}

function ext(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

function keyId(publicKey: KeyObject): Buffer {
  return createHash('sha1')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest();
}

export interface Issuer {
  name: string;
  key: KeyObject;
  publicKey: KeyObject;
}

/** Build and sign one certificate (self-signed when `issuer.publicKey` is `subjectKey`). */
export function issueCertificate(
  t: CertificateTemplate,
  subjectKey: KeyObject,
  issuer: Issuer,
): ParsedCertificate {
  const exts: Buffer[] = [
    ext(OID.basicConstraints, true, t.isCA ? seq(bool(true)) : seq()),
    ext(OID.keyUsage, true, keyUsageBits(t.keyUsage)),
    ext(OID.subjectKeyIdentifier, false, octets(keyId(subjectKey))),
    ext(OID.authorityKeyIdentifier, false, seq(ctx(0, false, keyId(issuer.publicKey)))),
  ];
  if (t.extKeyUsage) {
    exts.push(ext(OID.extKeyUsage, false, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2'))));
  }
  if (t.uris && t.uris.length > 0) {
    exts.push(
      ext(OID.subjectAltName, false, seq(...t.uris.map((u) => ctx(6, false, Buffer.from(u, 'latin1'))))),
    );
  }
  const isEd = issuer.key.asymmetricKeyType === 'ed25519';
  const sigAlg = seq(oid(isEd ? '1.3.101.112' : '1.2.840.10045.4.3.2'));
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const tbs = seq(
    ctx(0, true, uint(Buffer.from([2]))),
    uint(serial),
    sigAlg,
    name(issuer.name),
    seq(time(t.notBefore), time(t.notAfter)),
    name(t.subjectCN),
    subjectKey.export({ type: 'spki', format: 'der' }),
    ctx(3, true, seq(...exts)),
  );
  const signature = isEd ? sign(null, tbs, issuer.key) : sign('sha256', tbs, issuer.key);
  return parseCertificate(seq(tbs, sigAlg, bitString(signature)));
}

export interface IssueOptions {
  /** Full SPIFFE ID, or a path (`/svc/a`) in this CA's trust domain. */
  id: string;
  ttlSeconds?: number;
  keyType?: SvidKeyType;
  /** Test overrides: validity, SANs, CA flag and key usage of the leaf. */
  notBefore?: Date;
  notAfter?: Date;
  uris?: string[];
  isCA?: boolean;
  keyUsage?: number;
}

const second = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

/** A SPIFFE signing authority: a self-signed root, or an intermediate under another authority. */
export class DevCertificateAuthority {
  readonly trustDomain: TrustDomain;
  readonly certificate: ParsedCertificate;
  /** Certificates between an SVID issued here and the root (this CA first; empty for the root). */
  readonly intermediates: readonly ParsedCertificate[];
  readonly #key: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #name: string;
  readonly #root: DevCertificateAuthority | undefined;

  private constructor(
    trustDomain: TrustDomain,
    certificate: ParsedCertificate,
    key: KeyObject,
    publicKey: KeyObject,
    cn: string,
    intermediates: ParsedCertificate[],
    root: DevCertificateAuthority | undefined,
  ) {
    this.trustDomain = trustDomain;
    this.certificate = certificate;
    this.#key = key;
    this.#publicKey = publicKey;
    this.#name = cn;
    this.intermediates = intermediates;
    this.#root = root;
  }

  /** A new self-signed EC P-256 root for a trust domain. */
  static create(options: {
    trustDomain: string | TrustDomain;
    ttlSeconds?: number;
    now?: number;
    notBefore?: Date;
  }): DevCertificateAuthority {
    const td =
      typeof options.trustDomain === 'string' ? TrustDomain.parse(options.trustDomain) : options.trustDomain;
    const now = options.now ?? Date.now();
    const keys = generateKey('ec-p256');
    const cn = `${td.name} dev root ${randomBytes(4).toString('hex')}`;
    const cert = issueCertificate(
      {
        subjectCN: cn,
        uris: [td.idString()],
        isCA: true,
        keyUsage: KeyUsage.keyCertSign | KeyUsage.cRLSign | KeyUsage.digitalSignature,
        notBefore: options.notBefore ?? second(now - 60_000),
        notAfter: second(now + (options.ttlSeconds ?? 7 * 24 * 3600) * 1000),
      },
      keys.publicKey,
      { name: cn, key: keys.privateKey, publicKey: keys.publicKey },
    );
    return new DevCertificateAuthority(td, cert, keys.privateKey, keys.publicKey, cn, [], undefined);
  }

  /** An intermediate CA under this one (chains of length > 1 in tests). */
  createIntermediate(options: { ttlSeconds?: number; now?: number } = {}): DevCertificateAuthority {
    const now = options.now ?? Date.now();
    const keys = generateKey('ec-p256');
    const cn = `${this.trustDomain.name} dev intermediate ${randomBytes(4).toString('hex')}`;
    const cert = issueCertificate(
      {
        subjectCN: cn,
        uris: [this.trustDomain.idString()],
        isCA: true,
        keyUsage: KeyUsage.keyCertSign | KeyUsage.cRLSign,
        notBefore: second(now - 60_000),
        notAfter: second(now + (options.ttlSeconds ?? 24 * 3600) * 1000),
      },
      keys.publicKey,
      { name: this.#name, key: this.#key, publicKey: this.#publicKey },
    );
    return new DevCertificateAuthority(
      this.trustDomain,
      cert,
      keys.privateKey,
      keys.publicKey,
      cn,
      [cert, ...this.intermediates],
      this.#root ?? this,
    );
  }

  /** The trust bundle: the root's certificate. */
  bundle(): SpiffeBundle {
    const root = this.#root ?? this;
    return new SpiffeBundle(this.trustDomain, { x509Authorities: [root.certificate] });
  }

  /** Issue an X.509-SVID (leaf + this CA's intermediates) with a fresh key. */
  issue(options: IssueOptions): X509SVID {
    const { certificates, privateKey } = this.#issueLeaf(
      options,
      KeyUsage.digitalSignature | KeyUsage.keyEncipherment | KeyUsage.keyAgreement,
    );
    return new X509SVID(certificates, privateKey);
  }

  /** A leaf certificate only, skipping the SVID checks (tests of what verifiers reject). */
  issueRaw(options: IssueOptions): { certificates: ParsedCertificate[]; privateKey: KeyObject } {
    return this.#issueLeaf(options, KeyUsage.digitalSignature);
  }

  #issueLeaf(
    options: IssueOptions,
    defaultKeyUsage: number,
  ): { certificates: ParsedCertificate[]; privateKey: KeyObject } {
    const id = options.id.startsWith('/') ? `${this.trustDomain.idString()}${options.id}` : options.id;
    const now = Date.now();
    const keys = generateKey(options.keyType ?? 'ec-p256');
    const leaf = issueCertificate(
      {
        subjectCN: id,
        uris: options.uris ?? [id],
        isCA: options.isCA ?? false,
        keyUsage: options.keyUsage ?? defaultKeyUsage,
        notBefore: options.notBefore ?? second(now),
        notAfter: options.notAfter ?? second(now + (options.ttlSeconds ?? 3600) * 1000),
        extKeyUsage: true,
      },
      keys.publicKey,
      { name: this.#name, key: this.#key, publicKey: this.#publicKey },
    );
    return { certificates: [leaf, ...this.intermediates], privateKey: keys.privateKey };
  }
}
