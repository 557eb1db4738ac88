/**
 * OIDCIdentity: the workload id is the `sub` of an OIDC token the platform gives the workload (a
 * projected Kubernetes service-account token, a CI job token, ...), read from a file or an
 * environment variable. Entries are signed with an Ed25519 key generated in memory; `iss` and `sub`
 * are recorded in every entry's labels. The token is decoded, not verified: it names this
 * workload to itself. Verifiers anchor the signing key separately (getPublicJwks → a JWKS trust
 * source), exactly as with LocalEd25519Provider.
 */
import { readFileSync } from 'node:fs';
import { decodeJwt } from 'jose';
import { KestIdentityError } from '../errors.js';
import { Ed25519Key } from './ed25519.js';
import type { IdentityProvider, PublicJwk } from './provider.js';

export const OIDC_TOKEN_FILE_ENV = 'KEST_OIDC_TOKEN_FILE';
export const OIDC_TOKEN_ENV = 'KEST_OIDC_TOKEN';
export const OIDC_LABEL = { issuer: 'kest.oidc.iss', subject: 'kest.oidc.sub' } as const;

export interface OIDCIdentityOptions {
  /** The token itself (takes precedence). */
  token?: string;
  /** File holding the token; re-read when the token it held expires. Default $KEST_OIDC_TOKEN_FILE. */
  tokenFile?: string;
  /** Environment variable holding the token. Default KEST_OIDC_TOKEN. */
  tokenEnv?: string;
  /** Clock (ms) for the `exp` check. Default Date.now. */
  now?: () => number;
  env?: NodeJS.ProcessEnv;
}

interface TokenClaims {
  iss: string;
  sub: string;
  exp: number | undefined;
}

function decode(token: string, where: string): TokenClaims {
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(token.trim());
  } catch (err) {
    throw new KestIdentityError(`OIDC token from ${where} is not a JWT: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (typeof claims.iss !== 'string' || claims.iss === '')
    throw new KestIdentityError(`OIDC token from ${where} has no iss`);
  if (typeof claims.sub !== 'string' || claims.sub === '')
    throw new KestIdentityError(`OIDC token from ${where} has no sub`);
  if (claims.exp !== undefined && typeof claims.exp !== 'number') {
    throw new KestIdentityError(`OIDC token from ${where} has a non-numeric exp`);
  }
  return { iss: claims.iss, sub: claims.sub, exp: claims.exp as number | undefined };
}

export class OIDCIdentity implements IdentityProvider {
  readonly #key = Ed25519Key.generate();
  readonly #file: string | undefined;
  readonly #now: () => number;
  readonly #where: string;
  #claims: TokenClaims;

  constructor(options: OIDCIdentityOptions = {}) {
    const env = options.env ?? process.env;
    this.#now = options.now ?? Date.now;
    const envName = options.tokenEnv ?? OIDC_TOKEN_ENV;
    this.#file =
      options.token === undefined
        ? (options.tokenFile ?? (env[OIDC_TOKEN_FILE_ENV] || undefined))
        : undefined;
    let token: string | undefined = options.token;
    if (token !== undefined) {
      this.#where = 'options.token';
    } else if (this.#file) {
      this.#where = this.#file;
      token = OIDCIdentity.#read(this.#file);
    } else if (env[envName]) {
      this.#where = `$${envName}`;
      token = env[envName];
    } else {
      throw new KestIdentityError(
        `no OIDC token: pass token/tokenFile, or set ${OIDC_TOKEN_FILE_ENV} or ${envName}`,
      );
    }
    this.#claims = decode(token as string, this.#where);
    this.#checkFresh();
  }

  static #read(file: string): string {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new KestIdentityError(`cannot read OIDC token file ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  get issuer(): string {
    return this.#claims.iss;
  }

  getWorkloadId(): string {
    this.#checkFresh();
    return this.#claims.sub;
  }

  getLabels(): Record<string, string> {
    return { [OIDC_LABEL.issuer]: this.#claims.iss, [OIDC_LABEL.subject]: this.#claims.sub };
  }

  sign(payload: Uint8Array): string {
    this.#checkFresh();
    return this.#key.sign(payload);
  }

  getPublicJwks(): { keys: PublicJwk[] } {
    return { keys: [this.#key.publicJwk(this.#claims.sub)] };
  }

  get kid(): string {
    return this.#key.kid;
  }

  /** An expired token is re-read from its file (rotated by the platform); else no signing. */
  #checkFresh(): void {
    const { exp } = this.#claims;
    if (exp === undefined || exp * 1000 > this.#now()) return;
    if (this.#file) {
      const next = decode(OIDCIdentity.#read(this.#file), this.#file);
      if (next.sub !== this.#claims.sub || next.iss !== this.#claims.iss) {
        throw new KestIdentityError(
          `the OIDC token in ${this.#file} now names ${next.iss} ${next.sub}, not ${this.#claims.iss} ${this.#claims.sub}: restart to change identity`,
        );
      }
      this.#claims = next;
      if (next.exp === undefined || next.exp * 1000 > this.#now()) return;
    }
    throw new KestIdentityError(
      `OIDC token from ${this.#where} expired at ${new Date(exp * 1000).toISOString()}`,
    );
  }
}
