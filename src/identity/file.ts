/**
 * A signing identity kept in a file: the private JWK `kest keygen` writes. Loaded like ssh loads a
 * private key: the file must be readable by its owner only (mode 0600 or stricter), else nothing
 * is loaded. Every refusal is a KestIdentityError (ERR_IDENTITY) naming the file and what to fix.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { KestIdentityError } from '../errors.js';
import { Ed25519Key } from './ed25519.js';
import { Ed25519KeyIdentity } from './key-identity.js';

/** The largest private JWK file read: a keygen file is about 300 bytes. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export interface FileIdentityOptions {
  /**
   * The workload id to sign as. Default: the file's `principal` (keygen writes it); when both are
   * present they must be equal.
   */
  workloadId?: string;
}

function fail(path: string, what: string, cause?: unknown): never {
  throw new KestIdentityError(`identity file ${path}: ${what}`, cause === undefined ? undefined : { cause });
}

/** Group/other permission bits must be clear (POSIX only: Windows has no such mode bits). */
function checkPermissions(path: string): void {
  let mode: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) fail(path, 'not a regular file');
    if (stat.size > MAX_KEY_FILE_BYTES) fail(path, `larger than ${MAX_KEY_FILE_BYTES} bytes`);
    mode = stat.mode;
  } catch (err) {
    if (err instanceof KestIdentityError) throw err;
    fail(path, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(3, '0');
    fail(path, `private key is accessible by group or others (mode ${octal}): run chmod 600 ${path}`);
  }
}

interface PrivateJwkFile {
  d: string;
  x: string;
  kid?: unknown;
  principal?: unknown;
}

function parseJwk(path: string): PrivateJwkFile {
  let jwk: unknown;
  try {
    jwk = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail(path, `not a JSON private JWK: ${(err as Error).message}`, err);
  }
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) fail(path, 'not a JSON object');
  const o = jwk as Record<string, unknown>;
  if (o.kty !== 'OKP' || o.crv !== 'Ed25519')
    fail(path, 'only Ed25519 keys (kty OKP, crv Ed25519) are supported');
  if (typeof o.d !== 'string' || typeof o.x !== 'string') fail(path, 'no private key (d, x)');
  return o as unknown as PrivateJwkFile;
}

/** A workload id shaped like a SPIFFE ID; `kest keygen` validated the full syntax when it wrote it. */
function checkWorkloadId(path: string, id: unknown): string {
  if (typeof id !== 'string' || !/^spiffe:\/\/[^/\s]+(\/\S*)?$/.test(id) || id.length > 2048) {
    fail(path, `principal ${JSON.stringify(id)} is not a SPIFFE ID (spiffe://trust-domain/path)`);
  }
  return id;
}

export class FileIdentityProvider extends Ed25519KeyIdentity {
  private constructor(key: Ed25519Key, workloadId: string) {
    super(key, workloadId);
  }

  /** Load the private JWK at `path` (what `kest keygen` writes as kest-private.jwk.json). */
  static fromFile(path: string, options: FileIdentityOptions = {}): FileIdentityProvider {
    checkPermissions(path);
    const jwk = parseJwk(path);
    if (
      options.workloadId !== undefined &&
      jwk.principal !== undefined &&
      jwk.principal !== options.workloadId
    ) {
      fail(path, `principal ${JSON.stringify(jwk.principal)} differs from workloadId ${options.workloadId}`);
    }
    const workloadId = checkWorkloadId(path, options.workloadId ?? jwk.principal);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({
        key: { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x },
        format: 'jwk',
      });
    } catch (err) {
      fail(path, `invalid Ed25519 private key: ${(err as Error).message}`, err);
    }
    const key = Ed25519Key.fromPrivateKey(privateKey);
    // x and kid are derived from d: a mismatch means a damaged or hand-edited file.
    if (key.publicJwk().x !== jwk.x) fail(path, 'public key x does not match the private key d');
    if (jwk.kid !== undefined && jwk.kid !== key.kid)
      fail(path, `kid ${String(jwk.kid)} is not the key's thumbprint`);
    return new FileIdentityProvider(key, workloadId);
  }
}
