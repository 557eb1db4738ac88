/**
 * Hostile input (issue 14): what an attacker with a valid key, or none, must not get through, and
 * that refusals stop early. Payloads must be their own RFC 8785 bytes; headers carry only known
 * members, once; a passport is a flat array of JWS strings and is parsed no further than its first
 * bad entry; partial lineage still bounds trust by the parents; the SPIFFE chain cache key is
 * unambiguous.
 */
import { describe, expect, it } from 'vitest';
import { b64urlEncode, canonicalize, parseJws, parseSignedEntry } from '../../src/entry/index.js';
import { KestVerificationError, Passport, PassportVerifier } from '../../src/index.js';
import { DevCertificateAuthority, SPIREProvider, SpiffeTrustSource } from '../../src/spiffe/index.js';
import { buildPassport, workloads } from '../support/chain.js';

const { ids, trust } = workloads(3, 'spiffe://hostile.kest/svc');
const root = await buildPassport([{ identity: ids[0]!, sourceType: 'internal' }]);

const genuine: Passport = await buildPassport([
  { identity: ids[0]!, sourceType: 'internal' },
  { identity: ids[1]! },
  { identity: ids[2]! },
]);

const otherRuntime = (p: { runtime: { name: string; version: string } }) => {
  p.runtime = { name: 'kest-py', version: '0.3.0' };
};

const inflated = await buildPassport([
  { identity: ids[0]!, mutate: otherRuntime },
  {
    identity: ids[1]!,
    mutate: (p) => {
      otherRuntime(p);
      p.trust_score = 100;
    },
  },
]);

async function reasonAt(p: Promise<unknown>): Promise<[string, number | undefined] | 'accepted'> {
  try {
    await p;
    return 'accepted';
  } catch (err) {
    if (!(err instanceof KestVerificationError)) throw err;
    return [err.reason, err.index];
  }
}

describe('payload bytes must be the RFC 8785 form of their value', () => {
  const canonical = canonicalize(root.entries[0]!.payload);
  const resign = (bytes: Buffer) => ids[0]!.sign(bytes) as string;

  it('the canonical bytes, re-signed, verify (the control)', async () => {
    expect(await reasonAt(new PassportVerifier({ trust }).verify([resign(Buffer.from(canonical))]))).toBe(
      'accepted',
    );
  });

  const variants: [string, () => Buffer][] = [
    // A first-wins parser in another runtime would read trust_score 100.
    [
      'duplicate key',
      () => Buffer.from(canonical.replace('"trust_score":', '"trust_score":100,"trust_score":')),
    ],
    ['pretty-printed', () => Buffer.from(JSON.stringify(JSON.parse(canonical), null, 2))],
    [
      'escaped character',
      () => Buffer.from(canonical.replace('"operation":"op0"', '"operation":"\\u006fp0"')),
    ],
    ['-0', () => Buffer.from(canonical.replace('"metadata":null', '"metadata":-0'))],
    ['exponent form', () => Buffer.from(canonical.replace('"metadata":null', '"metadata":1e2'))],
    ['1e999999', () => Buffer.from(canonical.replace('"metadata":null', '"metadata":1e999999'))],
    ['lone surrogate', () => Buffer.from(canonical.replace('"metadata":null', '"metadata":"\\ud800"'))],
    [
      'invalid UTF-8',
      () => {
        const b = Buffer.from(canonical.replace('"metadata":null', '"metadata":"xx"'));
        const at = b.indexOf('"xx"') + 1;
        b[at] = 0xc3; // a lead byte followed by an ASCII byte: not UTF-8
        return b;
      },
    ],
  ];
  it.each(variants)('%s, validly signed, is refused as malformed_entry', async (_name, bytes) => {
    const jws = resign(bytes());
    expect(() => parseSignedEntry(jws)).toThrow(/RFC 8785/);
    expect(await reasonAt(new PassportVerifier({ trust }).verify([jws]))).toEqual(['malformed_entry', 0]);
  });
});

describe('protected header: known members only, each once', () => {
  const payload = b64urlEncode('{}');
  const sig = Buffer.alloc(64).toString('base64url');
  const jwsWithHeader = (text: string) => `${b64urlEncode(text)}.${payload}.${sig}`;

  it.each([
    ['duplicate alg', '{"alg":"EdDSA","alg":"EdDSA","typ":"JWS"}', /duplicate/],
    ['duplicate kid (spaced)', '{"alg":"EdDSA", "kid" :"a" , "kid":"b"}', /duplicate/],
    ['b64', '{"alg":"EdDSA","b64":false}', /"b64"/],
    ['zip', '{"alg":"EdDSA","zip":"DEF"}', /"zip"/],
    ['enc', '{"alg":"EdDSA","enc":"A256GCM"}', /"enc"/],
    ['crit', '{"alg":"EdDSA","crit":["exp"],"exp":1}', /"crit"/],
    ['jwk', '{"alg":"EdDSA","jwk":{"kty":"OKP"}}', /"jwk"/],
    ['__proto__', '{"alg":"EdDSA","__proto__":{}}', /"__proto__"/],
    ['typ JWT', '{"alg":"EdDSA","typ":"JWT"}', /typ must be "JWS"/],
  ])('%s → ERR_JWS_INVALID', (_name, header, message) => {
    expect(() => parseJws(jwsWithHeader(header))).toThrow(message);
  });

  it('what our signers emit still parses (alg, typ JWS, kid, x5c, x5t#S256; a string value may hold ":")', () => {
    const h =
      '{"alg":"ES256","typ":"JWS","kid":"a:\\"b\\":c","x5c":["MII="],"x5t#S256":"' + 'A'.repeat(43) + '"}';
    expect(parseJws(jwsWithHeader(h)).header.kid).toBe('a:"b":c');
  });
});

describe('a passport is parsed no further than its first bad entry', () => {
  const list = genuine.toJSON();

  it('text that is not a flat array of JWS strings is refused before JSON.parse', async () => {
    const v = new PassportVerifier({ trust });
    for (const text of [
      `[${'['.repeat(5000)}${']'.repeat(5000)}]`,
      `[${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}]`,
      `["${list[0]}",1]`,
      `["\\u0041${list[0]!.slice(1)}"]`,
      `["${list[0]}",]`,
      `{"entries":["${list[0]}"],"x":1}`,
    ]) {
      expect(await reasonAt(v.verify(text))).toEqual(['malformed_entry', -1]);
    }
    // JSON whitespace (another runtime's serializer) and the spec's object form are fine.
    expect(await reasonAt(v.verify(`[ "${list[0]}" ,\n "${list[1]}" ]`))).toBe('accepted');
    expect(await reasonAt(v.verify(JSON.stringify({ entries: list })))).toBe('accepted');
  });

  it('entries after an unanchored first entry are never parsed', async () => {
    const rogue = workloads(1, 'spiffe://rogue.kest/svc').ids[0]!;
    const first = (await buildPassport([{ identity: rogue, sourceType: 'internal' }])).toJSON()[0]!;
    // 250 copies would each be refused too; the point is that only the first is looked at.
    const passport = [first, ...Array.from({ length: 249 }, () => first)];
    const v = new PassportVerifier({ trust });
    expect(await reasonAt(v.verify(passport))).toEqual(['unknown_principal', 0]);
    const hostile = [list[0]!, 'not a jws', ...list.slice(1)];
    const lazy = Passport.unparsed(hostile);
    expect(await reasonAt(v.verify(lazy))).toEqual(['malformed_jws', 1]);
    // Entry 2 (a genuine one) was never parsed: reading it now is the first parse.
    expect(lazy.entryAt(2).hash).toBe(genuine.entries[1]!.hash);
  });
});

describe('--partial-lineage (strictLineage false) still bounds trust by the parents', () => {
  it('a non-root entry above its parents without a sanitizer: unauthorized_sanitizer', async () => {
    expect(inflated.entries[0]!.payload.trust_score).toBeLessThan(100);
    const v = new PassportVerifier({ trust, strictLineage: false });
    expect(await reasonAt(v.verify(inflated))).toEqual(['unauthorized_sanitizer', 1]);
  });

  it('an authorized sanitizer may raise it; equal or lower needs none', async () => {
    const sanitizers = [{ principal: ids[1]!.workloadId, maxTrust: 100 }];
    const report = await new PassportVerifier({ trust, strictLineage: false, sanitizers }).verify(inflated);
    expect(report.entries[1]!.sanitized).toBe(true);
    expect(report.uncheckedTrust).toEqual([0, 1]);
    const lower = await buildPassport([
      { identity: ids[0]!, mutate: otherRuntime },
      {
        identity: ids[1]!,
        mutate: (p) => {
          otherRuntime(p);
          p.trust_score = 0;
        },
      },
    ]);
    const ok = await new PassportVerifier({ trust, strictLineage: false }).verify(lower);
    expect(ok.entries[1]!.sanitized).toBe(false);
  });
});

describe('SPIFFE chain cache key', () => {
  it('a header x5c ["leaf.intermediate"] does not hit the cache of ["leaf", "intermediate"]', async () => {
    const ca = DevCertificateAuthority.create({
      trustDomain: 'example.org',
      notBefore: new Date(Date.now() - 3_600_000),
    });
    const svid = ca.createIntermediate().issue({ id: '/orders' });
    const provider = new SPIREProvider({ getX509SVID: () => svid });
    const jws = provider.sign(Buffer.from(canonicalize({ x: 1 }))) as string;
    const header = parseJws(jws).header;
    expect(header.x5c).toHaveLength(2);
    const source = new SpiffeTrustSource({ bundles: ca.bundle() });
    const entry = { timestamp_ms: Date.now() } as never;
    const principal = 'spiffe://example.org/orders';
    await source.resolveKey({ principal, header, entry, index: 0 });
    expect(source.stats.misses).toBe(1);
    const joined = { alg: header.alg, x5c: [header.x5c!.join('.')] };
    const refused = await (async () =>
      source.resolveKey({ principal, header: joined, entry, index: 0 }))().then(
      () => 'resolved',
      (err: KestVerificationError) => err.reason,
    );
    expect(refused).toBe('key_not_anchored');
    expect(source.stats).toMatchObject({ hits: 0, misses: 2 });
  });
});
