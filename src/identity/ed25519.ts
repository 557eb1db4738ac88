import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { encodeHeader, signWithEncodedHeader } from '../wire/jws.js';
import type { PublicJwk, SigningKey } from './provider.js';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** RFC 7638 thumbprint of an OKP/EC public JWK, base64url: our `kid`. */
export function jwkThumbprint(jwk: { kty?: string; crv?: string; x?: string; y?: string }): string {
  const canonical =
    jwk.kty === 'EC'
      ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
      : JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return createHash('sha256').update(canonical).digest('base64url');
}

/** An Ed25519 key held in memory only, with its protected header encoded once. */
export class Ed25519Key implements SigningKey {
  readonly alg = 'EdDSA' as const;
  readonly kid: string;
  readonly #encodedHeader: string;

  private constructor(
    readonly privateKey: KeyObject,
    readonly publicKey: KeyObject,
  ) {
    this.kid = jwkThumbprint(publicKey.export({ format: 'jwk' }));
    this.#encodedHeader = encodeHeader({ alg: 'EdDSA', typ: 'JWS', kid: this.kid });
  }

  static generate(): Ed25519Key {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    return new Ed25519Key(privateKey, publicKey);
  }

  /** An existing Ed25519 private key (e.g. loaded from a JWK file). */
  static fromPrivateKey(privateKey: KeyObject): Ed25519Key {
    if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
      throw new Error('not an Ed25519 private key');
    }
    return new Ed25519Key(privateKey, createPublicKey(privateKey));
  }

  /** Deterministic key from a 32-byte seed (tests, fixtures). */
  static fromSeed(seed: Uint8Array): Ed25519Key {
    if (seed.length !== 32) throw new Error('Ed25519 seed must be 32 bytes');
    const privateKey = createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    });
    return new Ed25519Key(privateKey, createPublicKey(privateKey));
  }

  sign(payload: Uint8Array): string {
    return signWithEncodedHeader(this.#encodedHeader, payload, this.privateKey, 'EdDSA');
  }

  publicJwk(principal?: string): PublicJwk {
    const jwk = this.publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string };
    return {
      kty: jwk.kty,
      crv: jwk.crv,
      x: jwk.x,
      kid: this.kid,
      alg: 'EdDSA',
      use: 'sig',
      ...(principal ? { principal } : {}),
    };
  }

  privateJwk(principal?: string): Record<string, unknown> {
    const jwk = this.privateKey.export({ format: 'jwk' });
    return { ...jwk, kid: this.kid, alg: 'EdDSA', use: 'sig', ...(principal ? { principal } : {}) };
  }
}
