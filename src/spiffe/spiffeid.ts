/**
 * SPIFFE IDs and trust domains, parsed exactly as the SPIFFE ID standard (spiffe/standards,
 * SPIFFE-ID.md) says: scheme `spiffe` in lower case, a trust domain of [a-z0-9._-] only (so no
 * upper case, port, userinfo or percent-encoding), a path of `/`-separated segments of
 * [a-zA-Z0-9._-] that are neither empty nor `.`/`..`, no trailing slash, no query or fragment, and
 * at most 2048 bytes in all (255 for the trust domain name).
 */
import { KestSpiffeError } from './errors.js';

const SCHEME_PREFIX = 'spiffe://';
export const MAX_SPIFFE_ID_LENGTH = 2048;
export const MAX_TRUST_DOMAIN_LENGTH = 255;

const TD_CHAR = /^[a-z0-9._-]$/;
const PATH_CHAR = /^[a-zA-Z0-9._-]$/;

function describe(ch: string): string {
  return JSON.stringify(ch);
}

function checkTrustDomainName(name: string, error: (msg: string) => KestSpiffeError): void {
  if (name.length === 0) throw error('trust domain is empty');
  if (name.length > MAX_TRUST_DOMAIN_LENGTH) {
    throw error(`trust domain is longer than ${MAX_TRUST_DOMAIN_LENGTH} characters`);
  }
  for (const ch of name) {
    if (!TD_CHAR.test(ch)) {
      const hint =
        ch === ':'
          ? ' (a port is not allowed)'
          : ch === '@'
            ? ' (userinfo is not allowed)'
            : ch === '%'
              ? ' (percent-encoding is not allowed)'
              : /[A-Z]/.test(ch)
                ? ' (trust domains are lower case)'
                : '';
      throw error(`trust domain contains the character ${describe(ch)}${hint}`);
    }
  }
}

/** Validate a SPIFFE ID path ("" or "/seg/seg"). Throws KestSpiffeError('invalid_spiffe_id'). */
export function validatePath(path: string): void {
  if (path === '') return;
  const error = (m: string) => new KestSpiffeError('invalid_spiffe_id', `invalid SPIFFE ID path: ${m}`);
  if (path[0] !== '/') throw error('path must start with "/"');
  const segments = path.slice(1).split('/');
  for (const seg of segments) {
    if (seg === '') throw error('path has an empty segment (or a trailing slash)');
    if (seg === '.' || seg === '..') throw error('path has a dot segment');
    for (const ch of seg) {
      if (!PATH_CHAR.test(ch)) {
        const hint =
          ch === '?'
            ? ' (no query)'
            : ch === '#'
              ? ' (no fragment)'
              : ch === '%'
                ? ' (no percent-encoding)'
                : '';
        throw error(`path contains the character ${describe(ch)}${hint}`);
      }
    }
  }
}

/** A SPIFFE trust domain (e.g. `example.org`). Immutable; compare with `equals` or by `name`. */
export class TrustDomain {
  private constructor(readonly name: string) {}

  /**
   * Parse a trust domain name (`example.org`) or a trust domain's SPIFFE ID (`spiffe://example.org`;
   * the form Workload API bundle maps use as keys). A SPIFFE ID with a path is refused.
   */
  static parse(value: string): TrustDomain {
    if (typeof value !== 'string') {
      throw new KestSpiffeError('invalid_trust_domain', 'trust domain is not a string');
    }
    if (value.includes(':/')) {
      const id = SpiffeId.parse(value);
      if (id.path !== '') {
        throw new KestSpiffeError(
          'invalid_trust_domain',
          `${value} is a workload SPIFFE ID, not a trust domain`,
        );
      }
      return id.trustDomain;
    }
    checkTrustDomainName(
      value,
      (m) => new KestSpiffeError('invalid_trust_domain', `invalid trust domain: ${m}`),
    );
    return new TrustDomain(value);
  }

  /** @internal used by SpiffeId.parse after it has validated the name. */
  static unchecked(name: string): TrustDomain {
    return new TrustDomain(name);
  }

  /** `spiffe://<name>`: the trust domain's own SPIFFE ID. */
  idString(): string {
    return `${SCHEME_PREFIX}${this.name}`;
  }

  /** The SPIFFE ID of a workload in this trust domain. */
  id(path: string): SpiffeId {
    return SpiffeId.parse(`${this.idString()}${path}`);
  }

  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }

  toJSON(): string {
    return this.name;
  }
}

/** A parsed, valid SPIFFE ID: `spiffe://<trust domain><path>`. */
export class SpiffeId {
  private constructor(
    readonly trustDomain: TrustDomain,
    /** "" or "/seg/..." */
    readonly path: string,
  ) {}

  static parse(value: string): SpiffeId {
    const error = (m: string) => new KestSpiffeError('invalid_spiffe_id', `invalid SPIFFE ID: ${m}`);
    if (typeof value !== 'string') throw error('not a string');
    if (value.length === 0) throw error('empty');
    if (Buffer.byteLength(value, 'utf8') > MAX_SPIFFE_ID_LENGTH) {
      throw error(`longer than ${MAX_SPIFFE_ID_LENGTH} bytes`);
    }
    // The scheme is case-sensitive here on purpose: the standard says it MUST be lower case.
    if (!value.startsWith(SCHEME_PREFIX)) throw error('scheme must be "spiffe://" (lower case)');
    const rest = value.slice(SCHEME_PREFIX.length);
    const slash = rest.indexOf('/');
    const tdName = slash < 0 ? rest : rest.slice(0, slash);
    const path = slash < 0 ? '' : rest.slice(slash);
    checkTrustDomainName(tdName, (m) => error(m));
    validatePath(path);
    return new SpiffeId(TrustDomain.unchecked(tdName), path);
  }

  /** Build an ID from a trust domain and path segments, each validated. */
  static fromSegments(trustDomain: TrustDomain | string, ...segments: string[]): SpiffeId {
    const td = typeof trustDomain === 'string' ? TrustDomain.parse(trustDomain) : trustDomain;
    for (const s of segments) {
      if (s.includes('/'))
        throw new KestSpiffeError('invalid_spiffe_id', `path segment ${JSON.stringify(s)} contains "/"`);
    }
    return SpiffeId.parse(`${td.idString()}${segments.map((s) => `/${s}`).join('')}`);
  }

  memberOf(td: TrustDomain): boolean {
    return this.trustDomain.equals(td);
  }

  equals(other: SpiffeId): boolean {
    return this.toString() === other.toString();
  }

  toString(): string {
    return `${SCHEME_PREFIX}${this.trustDomain.name}${this.path}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** True when `value` is a valid SPIFFE ID (workload or trust-domain ID). */
export function isSpiffeId(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    SpiffeId.parse(value);
    return true;
  } catch {
    return false;
  }
}
