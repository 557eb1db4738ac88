/**
 * JWS compact sign/verify with the algorithm allow-list (docs/spec.md §1): RFC 8037 A.4 reproduced
 * exactly, ES256 raw r||s interop with jose, and the rejection table.
 */
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { compactVerify, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  algForKey,
  b64urlDecode,
  b64urlEncode,
  parseJws,
  signJws,
  verifyJwsSignature,
} from '../../src/entry/index.js';
import { KestJWSError } from '../../src/index.js';
import { verifyJwsSignatureOffLoop } from '../../src/wire/jws.js';

// RFC 8037 appendix A.1/A.2/A.4.
const RFC8037 = {
  d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A',
  x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
  payload: 'Example of Ed25519 signing',
  jws:
    'eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.' +
    'hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg',
};

function expectJwsError(fn: () => unknown, code: string): KestJWSError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KestJWSError);
    expect((err as KestJWSError).code).toBe(code);
    return err as KestJWSError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

const ed = generateKeyPairSync('ed25519');
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const payload = Buffer.from('{"a":1}');
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function compact(header: unknown, body: Uint8Array | string, sig: Uint8Array | string): string {
  return `${b64urlEncode(JSON.stringify(header))}.${b64urlEncode(body)}.${typeof sig === 'string' ? sig : b64urlEncode(sig)}`;
}

describe('RFC 8037 appendix A.4', () => {
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: RFC8037.d, x: RFC8037.x },
    format: 'jwk',
  });
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: RFC8037.x }, format: 'jwk' });

  it('signJws reproduces the example signature byte for byte', () => {
    const jws = signJws(Buffer.from(RFC8037.payload, 'utf8'), privateKey, { alg: 'EdDSA' });
    expect(jws).toBe(RFC8037.jws);
  });

  it('parseJws + verifyJwsSignature accept the example, and reject it under another key', () => {
    const parsed = parseJws(RFC8037.jws);
    expect(parsed.header).toEqual({ alg: 'EdDSA' });
    expect(parsed.payload.toString('utf8')).toBe(RFC8037.payload);
    verifyJwsSignature(parsed, publicKey);
    expectJwsError(() => verifyJwsSignature(parsed, ed.publicKey), 'ERR_JWS_SIGNATURE_INVALID');
  });
});

describe('sign/verify round trips', () => {
  it('EdDSA, verified by jose too', async () => {
    const jws = signJws(payload, ed.privateKey, { typ: 'JWS', kid: 'k1' });
    expect(parseJws(jws).header).toEqual({ typ: 'JWS', kid: 'k1', alg: 'EdDSA' });
    verifyJwsSignature(parseJws(jws), ed.publicKey);
    const r = await compactVerify(jws, await importJWK(ed.publicKey.export({ format: 'jwk' }), 'EdDSA'));
    expect(Buffer.from(r.payload).toString()).toBe('{"a":1}');
  });

  it('ES256 uses raw r||s (64 bytes), verified by jose', async () => {
    const jws = signJws(payload, p256.privateKey);
    const parsed = parseJws(jws);
    expect(parsed.header.alg).toBe('ES256');
    expect(parsed.signature.length).toBe(64);
    verifyJwsSignature(parsed, p256.publicKey);
    await compactVerify(jws, await importJWK(p256.publicKey.export({ format: 'jwk' }), 'ES256'));
  });

  it('off the event loop: the same verdicts, as rejected promises with the same codes', async () => {
    for (const [key, pub] of [
      [ed.privateKey, ed.publicKey],
      [p256.privateKey, p256.publicKey],
    ] as const) {
      const parsed = parseJws(signJws(payload, key));
      await expect(verifyJwsSignatureOffLoop(parsed, pub)).resolves.toBeUndefined();
      const bad = { ...parsed, signature: Buffer.from(parsed.signature).fill(7, 0, 8) };
      await expect(verifyJwsSignatureOffLoop(bad, pub)).rejects.toMatchObject({
        code: 'ERR_JWS_SIGNATURE_INVALID',
      });
    }
    // A key of another algorithm is refused before any work, as a rejection (not a throw).
    const edJws = parseJws(signJws(payload, ed.privateKey));
    const pending = verifyJwsSignatureOffLoop(edJws, p256.publicKey);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_JWS_ALG_KEY_MISMATCH' });
  });

  it('algForKey: Ed25519 → EdDSA, P-256 → ES256, others refused', () => {
    expect(algForKey(ed.publicKey)).toBe('EdDSA');
    expect(algForKey(p256.privateKey)).toBe('ES256');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    expectJwsError(() => algForKey(p384.publicKey), 'ERR_JWS_ALG_KEY_MISMATCH');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expectJwsError(() => signJws(payload, rsa.privateKey), 'ERR_JWS_ALG_KEY_MISMATCH');
  });
});

describe('base64url strictness', () => {
  it('refuses characters outside the URL-safe alphabet, padding and impossible lengths', () => {
    for (const bad of ['ab+c', 'ab/c', 'YQ==', 'YQ=', 'a b', 'a\nb', 'abcde', 'Y\u00e9']) {
      expectJwsError(() => b64urlDecode(bad), 'ERR_JWS_INVALID');
    }
  });
  it('refuses non-canonical trailing bits ("QR" decodes like "QQ")', () => {
    expect(b64urlDecode('QQ').toString()).toBe('A');
    expectJwsError(() => b64urlDecode('QR'), 'ERR_JWS_INVALID');
  });
});

describe('JWS rejection table', () => {
  const good = signJws(payload, ed.privateKey, { typ: 'JWS' });
  const [h, p, s] = good.split('.') as [string, string, string];
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });

  const notAllowed: [string, string][] = [
    ['alg none with empty signature', `${b64urlEncode('{"alg":"none"}')}.${p}.`],
    ['alg none with a signature', compact({ alg: 'none' }, payload, Buffer.alloc(64))],
    [
      'HS256 (HMAC over the signing input)',
      (() => {
        const hs = `${b64urlEncode('{"alg":"HS256","typ":"JWT"}')}.${p}`;
        return `${hs}.${createHmac('sha256', 'secret').update(hs).digest('base64url')}`;
      })(),
    ],
    [
      'RS256 (real RSA signature)',
      (() => {
        const rs = `${b64urlEncode('{"alg":"RS256"}')}.${p}`;
        return `${rs}.${sign('sha256', Buffer.from(rs), rsa.privateKey).toString('base64url')}`;
      })(),
    ],
    ['unknown alg', compact({ alg: 'EdDSA448' }, payload, Buffer.alloc(64))],
    ['ES512', compact({ alg: 'ES512' }, payload, Buffer.alloc(132))],
    ['lowercase eddsa', compact({ alg: 'eddsa' }, payload, Buffer.alloc(64))],
    ['missing alg', compact({ typ: 'JWS' }, payload, Buffer.alloc(64))],
    ['numeric alg', compact({ alg: 1 }, payload, Buffer.alloc(64))],
  ];
  it.each(notAllowed)('%s → ERR_JWS_ALG_NOT_ALLOWED', (_name, jws) => {
    // "alg none with empty signature" fails on the empty segment first; both are typed refusals.
    const err = (() => {
      try {
        parseJws(jws);
      } catch (e) {
        return e;
      }
      throw new Error('accepted');
    })();
    expect(err).toBeInstanceOf(KestJWSError);
    expect(['ERR_JWS_ALG_NOT_ALLOWED', 'ERR_JWS_INVALID']).toContain((err as KestJWSError).code);
    if (!_name.includes('empty')) expect((err as KestJWSError).code).toBe('ERR_JWS_ALG_NOT_ALLOWED');
  });

  const invalid: [string, unknown][] = [
    ['not a string', 42],
    ['two segments', `${h}.${p}`],
    ['four segments', `${good}.${s}`],
    ['five segments (JWE shape)', `${h}.${p}.${s}.${s}.${s}`],
    ['empty header', `.${p}.${s}`],
    ['empty signature', `${h}.${p}.`],
    ['padding in the signature', `${h}.${p}.${s}==`],
    ['standard base64 characters', `${h}.${p}.${s.replace(/-|_/g, '+')}${/[-_]/.test(s) ? '' : '+'}`],
    ['whitespace', `${h}.${p} .${s}`],
    // 64 bytes leave 4 unused bits in the last character: setting one decodes to the same bytes.
    [
      'non-canonical last signature character',
      `${h}.${p}.${s.slice(0, -1)}${B64[B64.indexOf(s.at(-1) as string) + 1]}`,
    ],
    ['header is not JSON', `${b64urlEncode('{alg:EdDSA}')}.${p}.${s}`],
    ['header is an array', `${b64urlEncode('["EdDSA"]')}.${p}.${s}`],
    ['crit header', compact({ alg: 'EdDSA', crit: ['exp'], exp: 1 }, payload, Buffer.alloc(64))],
    ['typ not a string', compact({ alg: 'EdDSA', typ: 1 }, payload, Buffer.alloc(64))],
    ['empty kid', compact({ alg: 'EdDSA', kid: '' }, payload, Buffer.alloc(64))],
    ['x5c not an array', compact({ alg: 'ES256', x5c: 'MII' }, payload, Buffer.alloc(64))],
    ['bad x5t#S256', compact({ alg: 'ES256', 'x5t#S256': 'abc' }, payload, Buffer.alloc(64))],
    ['EdDSA signature of 63 bytes', compact({ alg: 'EdDSA' }, payload, Buffer.alloc(63))],
    ['ES256 signature of 65 bytes', compact({ alg: 'ES256' }, payload, Buffer.alloc(65))],
  ];
  it.each(invalid)('%s → ERR_JWS_INVALID', (_name, jws) => {
    expectJwsError(() => parseJws(jws), 'ERR_JWS_INVALID');
  });

  it('oversized parts → ERR_JWS_TOO_LARGE', () => {
    const big = compact({ alg: 'EdDSA' }, Buffer.alloc(70 * 1024, 0x61), Buffer.alloc(64));
    expectJwsError(() => parseJws(big), 'ERR_JWS_TOO_LARGE');
    const bigPayload = compact({ alg: 'EdDSA' }, Buffer.alloc(2000, 0x61), Buffer.alloc(64));
    expectJwsError(() => parseJws(bigPayload, { maxPayloadBytes: 1000 }), 'ERR_JWS_TOO_LARGE');
    const bigHeader = compact({ alg: 'EdDSA', x5c: ['x'.repeat(2000)] }, payload, Buffer.alloc(64));
    expectJwsError(() => parseJws(bigHeader, { maxHeaderBytes: 1000 }), 'ERR_JWS_TOO_LARGE');
    // The same inputs under the default limits parse.
    expect(parseJws(bigPayload).payload.length).toBe(2000);
    expect(parseJws(bigHeader).header.x5c?.[0]).toHaveLength(2000);
  });

  it('an EdDSA label over a DER-encoded ECDSA signature from a P-256 key is refused (typed)', () => {
    // What the Python reference emits for EC keys: alg "EdDSA", DER ECDSA signature.
    const signingInput = `${b64urlEncode('{"alg":"EdDSA","typ":"JWS"}')}.${p}`;
    const der = sign('sha256', Buffer.from(signingInput), p256.privateKey);
    expect(der[0]).toBe(0x30); // DER SEQUENCE
    expect(der.length).toBeGreaterThan(64);
    const jws = `${signingInput}.${der.toString('base64url')}`;
    const err = expectJwsError(() => parseJws(jws), 'ERR_JWS_INVALID');
    expect(err.message).toMatch(/DER/);
  });

  it('alg/key mismatch is refused on both sign and verify', () => {
    // ES256 label, Ed25519 key (and the reverse).
    expectJwsError(() => signJws(payload, ed.privateKey, { alg: 'ES256' }), 'ERR_JWS_ALG_KEY_MISMATCH');
    expectJwsError(() => signJws(payload, p256.privateKey, { alg: 'EdDSA' }), 'ERR_JWS_ALG_KEY_MISMATCH');
    const edJws = parseJws(signJws(payload, ed.privateKey));
    expectJwsError(() => verifyJwsSignature(edJws, p256.publicKey), 'ERR_JWS_ALG_KEY_MISMATCH');
    const esJws = parseJws(signJws(payload, p256.privateKey));
    expectJwsError(() => verifyJwsSignature(esJws, ed.publicKey), 'ERR_JWS_ALG_KEY_MISMATCH');
    // A raw Ed25519 signature relabelled ES256 parses (64 bytes) but is refused by the key check.
    const relabelled = parseJws(compact({ alg: 'ES256' }, payload, edJws.signature));
    expectJwsError(() => verifyJwsSignature(relabelled, ed.publicKey), 'ERR_JWS_ALG_KEY_MISMATCH');
  });

  it('a flipped signature bit fails cryptographically (TC-03 at the JWS level)', () => {
    const parsed = parseJws(good);
    const sig = Buffer.from(parsed.signature);
    sig[10] = (sig[10] as number) ^ 1;
    expectJwsError(
      () => verifyJwsSignature({ ...parsed, signature: sig }, ed.publicKey),
      'ERR_JWS_SIGNATURE_INVALID',
    );
    // ES256 too.
    const es = parseJws(signJws(payload, p256.privateKey));
    const esSig = Buffer.from(es.signature);
    esSig[5] = (esSig[5] as number) ^ 0x80;
    expectJwsError(
      () => verifyJwsSignature({ ...es, signature: esSig }, p256.publicKey),
      'ERR_JWS_SIGNATURE_INVALID',
    );
  });
});

describe('protected header parse cache', () => {
  const payload = Buffer.from('{"a":1}');
  it('shares one frozen header per encoded header, so no caller can change it for the next', () => {
    const jws = signJws(payload, ed.privateKey, { typ: 'JWS', kid: 'k1' });
    const a = parseJws(jws);
    const b = parseJws(signJws(Buffer.from('{"b":2}'), ed.privateKey, { typ: 'JWS', kid: 'k1' }));
    expect(b.header).toBe(a.header);
    expect(Object.isFrozen(a.header)).toBe(true);
    expect(() => {
      (a.header as { kid?: string }).kid = 'other';
    }).toThrow(TypeError);
  });
  it('caches no refusal: a bad header is refused every time', () => {
    const dup = b64urlEncode('{"alg":"EdDSA","alg":"EdDSA"}');
    const bad = `${dup}.${b64urlEncode(payload)}.${b64urlEncode(Buffer.alloc(64))}`;
    expectJwsError(() => parseJws(bad), 'ERR_JWS_INVALID');
    expectJwsError(() => parseJws(bad), 'ERR_JWS_INVALID');
  });
});
