/**
 * The Ed25519 backend (src/wire/ed25519.ts): libsodium and node:crypto give the same signatures
 * and the same verdicts on honest and mutated input; libsodium also refuses small-order keys;
 * KEST_ED25519=node selects node:crypto in a fresh process, and JWS still round-trips there.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ed25519Backend, ed25519Sign, ed25519Verify } from '../../src/wire/ed25519.js';
import { parseJws, signJws, verifyJwsSignature } from '../../src/wire/jws.js';

const keys = Array.from({ length: 8 }, () => generateKeyPairSync('ed25519'));

describe('Ed25519 backend', () => {
  it('loads libsodium here (sodium-native is installed)', () => {
    expect(ed25519Backend()).toBe('libsodium');
  });

  it('signs exactly as node:crypto and agrees on every verdict, honest or mutated', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: keys.length - 1 }),
        fc.uint8Array({ maxLength: 2048 }),
        fc.nat(),
        (k, bytes, flip) => {
          const { privateKey, publicKey } = keys[k]!;
          const data = Buffer.from(bytes);
          const ours = ed25519Sign(data, privateKey);
          expect(ours.equals(sign(null, data, privateKey))).toBe(true);
          expect(ed25519Verify(data, publicKey, ours)).toBe(true);
          const bad = Buffer.from(ours);
          bad[flip % 64] = (bad[flip % 64] as number) ^ (1 << (flip % 8));
          expect(ed25519Verify(data, publicKey, bad)).toBe(verify(null, data, publicKey, bad));
          expect(ed25519Verify(data, publicKey, bad)).toBe(false);
          const other = keys[(k + 1) % keys.length]!.publicKey;
          expect(ed25519Verify(data, other, ours)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a signature of the wrong length and a non-Ed25519 key', () => {
    const { privateKey, publicKey } = keys[0]!;
    const data = Buffer.from('x');
    expect(ed25519Verify(data, publicKey, ed25519Sign(data, privateKey).subarray(0, 63))).toBe(false);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => ed25519Sign(data, ec.privateKey)).toThrow(/not an Ed25519 key/);
    expect(() => ed25519Verify(data, ec.publicKey, Buffer.alloc(64))).toThrow(/not an Ed25519 key/);
  });

  it('refuses a small-order public key that OpenSSL accepts (R = identity, S = 0)', () => {
    // The neutral element as A: [0]B == R + [k]A holds for every message under OpenSSL's check.
    const identity = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);
    const weak = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: identity.toString('base64url') },
      format: 'jwk',
    });
    const forged = Buffer.concat([identity, Buffer.alloc(32)]);
    const data = Buffer.from('any message at all');
    expect(verify(null, data, weak, forged)).toBe(true);
    expect(ed25519Verify(data, weak, forged)).toBe(false);
  });

  it('KEST_ED25519=node selects node:crypto; a JWS signed there verifies here and back', () => {
    const { privateKey, publicKey } = keys[0]!;
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const script = `
      import { createPrivateKey } from 'node:crypto';
      import { ed25519Backend } from './src/wire/ed25519.ts';
      import { createPublicKey } from 'node:crypto';
      import { parseJws, signJws, verifyJwsSignatureOffLoop } from './src/wire/jws.ts';
      const key = createPrivateKey(process.env.PEM);
      const jws = signJws(Buffer.from('{"a":1}'), key);
      const pub = createPublicKey(key);
      await verifyJwsSignatureOffLoop(parseJws(jws), pub); // the thread-pool form here
      const forged = parseJws(jws.slice(0, -2) + (jws.endsWith('AA') ? 'AQ' : 'AA'));
      const refused = await verifyJwsSignatureOffLoop(forged, pub).then(() => 'admitted', (e) => e.code);
      process.stdout.write(JSON.stringify({ backend: ed25519Backend(), jws, refused }));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, KEST_ED25519: 'node', PEM: pem },
      encoding: 'utf8',
    });
    const { backend, jws, refused } = JSON.parse(out) as { backend: string; jws: string; refused: string };
    expect(backend).toBe('node:crypto');
    expect(refused).toBe('ERR_JWS_SIGNATURE_INVALID');
    expect(jws).toBe(signJws(Buffer.from('{"a":1}'), privateKey));
    expect(() => verifyJwsSignature(parseJws(jws), publicKey)).not.toThrow();
  });
});
