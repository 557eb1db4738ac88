/**
 * The Ed25519 primitive behind every EdDSA JWS: libsodium (the optional dependency `sodium-native`)
 * when it loads, node:crypto (OpenSSL) otherwise. Both produce the same bytes (RFC 8032 signatures
 * are deterministic); a differential test keeps them equal.
 *
 * Why a second backend: signing and verifying are the hot path (two signatures per protected call,
 * one verification per hop and per handoff). On the 2-core dev VM (Node 20, OpenSSL 3.0.19,
 * 1,000-byte messages) libsodium signs in ~21–24 µs and verifies in ~53–55 µs; node:crypto takes
 * ~38–40 µs and ~111–122 µs (`openssl speed ed25519` agrees: 24.8k signs/s, 9.0k verifies/s).
 *
 * libsodium's verification is also the stricter one: it refuses small-order public keys and
 * non-canonical encodings that OpenSSL accepts. No honest key or signature is affected.
 *
 * `KEST_ED25519=node` forces node:crypto (A/B measurements; deployments that must use one
 * validated crypto module). FIPS mode (crypto.getFips()) always uses node:crypto.
 */
import { sign as cryptoSign, verify as cryptoVerify, getFips, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

/** The part of sodium-native Kest calls. */
interface Sodium {
  crypto_sign_detached(signature: Buffer, message: Buffer, secretKey: Buffer): void;
  crypto_sign_verify_detached(signature: Buffer, message: Buffer, publicKey: Buffer): boolean;
  crypto_sign_seed_keypair(publicKey: Buffer, secretKey: Buffer, seed: Buffer): void;
  sodium_malloc(size: number): Buffer;
}

export type Ed25519Backend = 'libsodium' | 'node:crypto';

let sodium: Sodium | null | undefined;

function loadSodium(): Sodium | null {
  if (sodium !== undefined) return sodium;
  sodium = null;
  if (process.env.KEST_ED25519 === 'node' || getFips() === 1) return sodium;
  try {
    sodium = createRequire(import.meta.url)('sodium-native') as Sodium;
  } catch {
    // Not installed (npm --omit=optional) or no prebuild for this platform: node:crypto it is.
  }
  return sodium;
}

/** Which implementation signs and verifies Ed25519 in this process. */
export function ed25519Backend(): Ed25519Backend {
  return loadSodium() ? 'libsodium' : 'node:crypto';
}

/** libsodium's forms of each KeyObject, derived once: seed‖public (64 bytes) or public (32). */
const secretKeys = new WeakMap<KeyObject, Buffer>();
const publicKeys = new WeakMap<KeyObject, Buffer>();

/** Both backends refuse any other key type alike (node:crypto would sign ECDSA with a P-256 key). */
function ed25519Only(key: KeyObject): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 key: ${key.asymmetricKeyType}`);
  return key;
}

function rawJwkMember(key: KeyObject, member: 'd' | 'x'): Buffer {
  ed25519Only(key);
  const jwk = key.export({ format: 'jwk' }) as { d?: string; x?: string };
  const value = jwk[member];
  if (typeof value !== 'string')
    throw new Error(`not an Ed25519 ${member === 'd' ? 'private' : 'public'} key`);
  const raw = Buffer.from(value, 'base64url');
  if (raw.length !== 32) throw new Error('Ed25519 key is not 32 bytes');
  return raw;
}

function secretKeyOf(na: Sodium, key: KeyObject): Buffer {
  let sk = secretKeys.get(key);
  if (!sk) {
    const seed = rawJwkMember(key, 'd');
    // Guarded, zeroed-on-free memory for the expanded key (libsodium's secure allocator).
    sk = na.sodium_malloc(64);
    na.crypto_sign_seed_keypair(Buffer.alloc(32), sk, seed);
    seed.fill(0);
    secretKeys.set(key, sk);
  }
  return sk;
}

function publicKeyOf(key: KeyObject): Buffer {
  let pk = publicKeys.get(key);
  if (!pk) {
    pk = rawJwkMember(key, 'x');
    publicKeys.set(key, pk);
  }
  return pk;
}

/** Sign `data` with an Ed25519 private key: the 64-byte RFC 8032 signature. */
export function ed25519Sign(data: Buffer, privateKey: KeyObject): Buffer {
  const na = loadSodium();
  if (!na) return cryptoSign(null, data, ed25519Only(privateKey));
  const signature = Buffer.allocUnsafe(64);
  na.crypto_sign_detached(signature, data, secretKeyOf(na, privateKey));
  return signature;
}

/** Whether `signature` is a valid Ed25519 signature of `data` under `publicKey`. */
export function ed25519Verify(data: Buffer, publicKey: KeyObject, signature: Buffer): boolean {
  const na = loadSodium();
  if (!na) return cryptoVerify(null, data, ed25519Only(publicKey), signature);
  if (signature.length !== 64) return false;
  return na.crypto_sign_verify_detached(signature, data, publicKeyOf(publicKey));
}

/**
 * ed25519Verify without holding the event loop for OpenSSL's 111 µs: node:crypto's callback form
 * runs on libuv's thread pool. libsodium verifies on the loop in about half that, which served as
 * many requests in an A/B (bench/http.bench.ts, Hono, depth 10) with less CPU in all.
 */
export function ed25519VerifyAsync(data: Buffer, publicKey: KeyObject, signature: Buffer): Promise<boolean> {
  if (loadSodium()) {
    try {
      return Promise.resolve(ed25519Verify(data, publicKey, signature));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return new Promise((resolve, reject) => {
    try {
      cryptoVerify(null, data, ed25519Only(publicKey), signature, (err, ok) =>
        err ? reject(err) : resolve(ok),
      );
    } catch (err) {
      reject(err);
    }
  });
}
