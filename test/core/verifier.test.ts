/**
 * PassportVerifier: the four checks of docs/spec.md §2 and the trust model of §4 (TC-01..TC-06),
 * DAG fan-in, anchoring, sanitizer rules, failed executions, the verified-tip cache, expectedTip.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { b64urlEncode, buildEntry, canonicalBytes, sha256Hex, signJws } from '../../src/entry/index.js';
import {
  computeTaints,
  DefaultTrustEvaluator,
  Ed25519Key,
  type IdentityProvider,
  JwksTrustSource,
  type KestEntryPayload,
  KestVerificationError,
  Passport,
  PassportVerifier,
  type SanitizerRule,
  type VerificationReason,
} from '../../src/index.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { signWithEncodedHeader } from '../../src/wire/jws.js';
import { buildPassport, workloads } from '../support/chain.js';

const { ids, trust } = workloads(4);
const [a, b, c, d] = ids as [
  MockIdentityProvider,
  MockIdentityProvider,
  MockIdentityProvider,
  MockIdentityProvider,
];

function verifier(
  sanitizers: SanitizerRule[] = [],
  extra: Partial<ConstructorParameters<typeof PassportVerifier>[0]> = {},
) {
  return new PassportVerifier({ trust, sanitizers, ...extra });
}

async function expectFailure(
  promise: Promise<unknown>,
  reason: VerificationReason,
  index: number,
): Promise<KestVerificationError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(KestVerificationError);
    const e = err as KestVerificationError;
    expect(e.code).toBe('ERR_VERIFICATION_FAILED');
    expect({ reason: e.reason, index: e.index }).toEqual({ reason, index });
    return e;
  }
  throw new Error(`expected ${reason} at ${index}, but the passport verified`);
}

/** Re-encode a compact JWS with an edited payload, keeping header and signature. */
function editPayload(jws: string, edit: (p: Record<string, unknown>) => void): string {
  const [h, p, s] = jws.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  edit(payload);
  return `${h}.${b64urlEncode(canonicalBytes(payload))}.${s}`;
}

describe('conformance (docs/spec.md §8)', () => {
  it('TC-01: a root-only passport verifies', async () => {
    const p = await buildPassport([{ identity: a, sourceType: 'system' }]);
    const r = await verifier().verify(p);
    expect(r.valid).toBe(true);
    expect(r.entries).toHaveLength(1);
    expect(r.trustScore).toBe(100);
    expect(r.principals).toEqual([a.workloadId]);
    expect(r.tipHash).toBe(p.tipHash);
  });

  it('TC-02: a payload edited after signing breaks the next link', async () => {
    const p = await buildPassport([{ identity: a }, { identity: b }]);
    const [e0, e1] = p.toJSON() as [string, string];
    // Edited in place: the old signature no longer covers it.
    const edited = editPayload(e0, (x) => (x.operation = 'forged'));
    await expectFailure(verifier().verify([edited, e1]), 'bad_signature', 0);
    // Even re-signed by its own (anchored) signer, its hash changed, so entry 1's link breaks.
    const payload = JSON.parse(Buffer.from(e0.split('.')[1]!, 'base64url').toString());
    payload.operation = 'forged';
    const resigned = a.sign(canonicalBytes(payload));
    const err = await expectFailure(verifier().verify([resigned, e1]), 'broken_link', 1);
    expect(err.entryId).toBe(p.entries[1]!.payload.entry_id);
  });

  it('TC-03: altered signature bytes fail cryptographically', async () => {
    const p = await buildPassport([{ identity: a }, { identity: b }]);
    const [e0, e1] = p.toJSON() as [string, string];
    const [h, pl, s] = e1.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    sig[0] = (sig[0] as number) ^ 0x01;
    await expectFailure(verifier().verify([e0, `${h}.${pl}.${b64urlEncode(sig)}`]), 'bad_signature', 1);
  });

  it('TC-04: internet (10) → internal (100) gives 10', async () => {
    const p = await buildPassport([
      { identity: a, sourceType: 'internet' },
      { identity: b, sourceType: 'internal' },
    ]);
    const r = await verifier().verify(p);
    expect(r.entries.map((e) => e.trustScore)).toEqual([10, 10]);
    expect(r.trustScore).toBe(10);
    // A hop that claims 100 there is caught.
    const forged = await buildPassport([
      { identity: a, sourceType: 'internet' },
      { identity: b, sourceType: 'internal', mutate: (x) => (x.trust_score = 100) },
    ]);
    await expectFailure(verifier().verify(forged), 'trust_mismatch', 1);
  });

  it('TC-05: override 100 over parent 10 gives 100 (sanitizer)', async () => {
    const p = await buildPassport([
      { identity: a, sourceType: 'internet' },
      { identity: b, trustOverride: 100 },
    ]);
    const r = await verifier([{ principal: b.workloadId }]).verify(p);
    expect(r.trustScore).toBe(100);
    expect(r.entries[1]!.sanitized).toBe(true);
    // The same override by a principal that is not a declared sanitizer is refused.
    await expectFailure(verifier().verify(p), 'unauthorized_sanitizer', 1);
  });

  it('TC-06: taints [a,b] + [c] − [b] = [a,c]', async () => {
    expect(computeTaints([['a', 'b']], ['c'], ['b'])).toEqual(['a', 'c']);
    const p = await buildPassport([
      { identity: a, addedTaints: ['b', 'a'] },
      { identity: b, addedTaints: ['c'], removedTaints: ['b'] },
    ]);
    expect(p.tip!.payload.taints).toEqual(['a', 'c']);
    const r = await verifier([{ principal: b.workloadId, mayRemove: ['b'] }]).verify(p);
    expect(r.taints).toEqual(['a', 'c']);
  });
});

describe('links (check 2)', () => {
  it('a linear chain verifies; an empty passport is valid with null trust', async () => {
    const p = await buildPassport([{ identity: a }, { identity: b }, { identity: c }, { identity: d }]);
    const r = await verifier().verify(p.serialize());
    expect(r.entries.map((e) => e.index)).toEqual([0, 1, 2, 3]);
    expect(r.principals).toEqual(ids.map((i) => i.workloadId));
    const empty = await verifier().verify('[]');
    expect(empty.entries).toEqual([]);
    expect(empty.trustScore).toBeNull();
  });

  it('DAG fan-in with several parents: min trust, union of taints', async () => {
    const p = await buildPassport([
      { identity: a, sourceType: 'system', addedTaints: ['x'] }, // 0: 100
      { identity: b, sourceType: 'verified_rag', addedTaints: ['y'] }, // 1 ← 0: 90
      { identity: c, sourceType: 'third_party_api', parents: [0], addedTaints: ['z'] }, // 2 ← 0: 60
      { identity: d, parents: [1, 2, 0] }, // 3 ← 1,2,0: min(90,60,100) = 60
    ]);
    expect(p.entries[3]!.payload.parent_ids).toHaveLength(3);
    const r = await verifier().verify(p);
    expect(r.entries.map((e) => e.trustScore)).toEqual([100, 90, 60, 60]);
    expect(r.taints).toEqual(['x', 'y', 'z']);
    expect(r.entries[3]!.parents).toEqual([p.entries[1]!.hash, p.entries[2]!.hash, p.entries[0]!.hash]);
  });

  it('several roots (fan-in of separate lineages) only with allowMultipleRoots', async () => {
    const p = await buildPassport([
      { identity: a, sourceType: 'internal' },
      { identity: b, sourceType: 'user_input', parents: [] },
      { identity: c, parents: [0, 1] },
    ]);
    await expectFailure(verifier().verify(p), 'root_not_first', 1);
    const r = await verifier([], { allowMultipleRoots: true }).verify(p);
    expect(r.trustScore).toBe(40);
  });

  it('a parent must precede its child', async () => {
    const p = await buildPassport([{ identity: a }, { identity: b }, { identity: c, parents: [0] }]);
    const [e0, e1, e2] = p.toJSON() as [string, string, string];
    // e2 ← e0 and e1 ← e0: any order with e0 first is a valid topological order.
    await verifier().verify([e0, e2, e1]);
    // e1 before its parent e0.
    await expectFailure(verifier().verify([e1, e0]), 'broken_link', 0);
    const chain = (await buildPassport([{ identity: c }], p)).toJSON() as string[];
    // e3 ← e2 listed before e2.
    await expectFailure(verifier().verify([e0, e1, chain[3]!, e2]), 'broken_link', 2);
  });

  it('an entry whose parent hash names nothing in the passport is refused', async () => {
    const p = await buildPassport([
      { identity: a },
      { identity: b, mutate: (x) => (x.parent_ids = [sha256Hex('elsewhere')]) },
    ]);
    await expectFailure(verifier().verify(p), 'broken_link', 1);
  });

  it('a duplicated entry_id is refused', async () => {
    const first = await buildPassport([{ identity: a }]);
    const id = first.entries[0]!.payload.entry_id;
    const p = await buildPassport([{ identity: b, mutate: (x) => (x.entry_id = id) }], first);
    await expectFailure(verifier().verify(p), 'duplicate_entry', 1);
  });
});

describe('anchored keys (check 3)', () => {
  it('an unknown principal is refused', async () => {
    const stranger = new MockIdentityProvider({ workloadId: 'spiffe://elsewhere/svc' });
    const p = await buildPassport([{ identity: a }, { identity: stranger }]);
    const err = await expectFailure(verifier().verify(p), 'unknown_principal', 1);
    expect(err.entryId).toBe(p.entries[1]!.payload.entry_id);
  });

  it('the key of principal A is refused for an entry of principal B', async () => {
    // Signs as B with A's key (and A's kid).
    const impostor = new MockIdentityProvider({ workloadId: b.workloadId, seed: a.workloadId });
    const p = await buildPassport([{ identity: a }, { identity: impostor }]);
    await expectFailure(verifier().verify(p), 'key_not_anchored', 1);
    // Without a kid, B's one anchored key is tried and A's signature does not verify under it.
    const aKey = Ed25519Key.fromSeed(createHash('sha256').update(a.workloadId).digest());
    const kidless: IdentityProvider = {
      getWorkloadId: () => b.workloadId,
      sign: (bytes) => signJws(bytes, aKey.privateKey, { typ: 'JWS' }),
    };
    const p2 = await buildPassport([{ identity: a }, { identity: kidless }]);
    await expectFailure(verifier().verify(p2), 'bad_signature', 1);
    // Control: A's kidless signature is fine for A's own entries.
    const own: IdentityProvider = { getWorkloadId: () => a.workloadId, sign: kidless.sign };
    await verifier().verify(await buildPassport([{ identity: own }]));
  });

  it('a key carried in the header (jwk) is never enough: the member itself is refused', async () => {
    const rogue = generateKeyPairSync('ed25519');
    const jwk = rogue.publicKey.export({ format: 'jwk' });
    const genuine = await buildPassport([{ identity: a }, { identity: b }]);
    const payload = canonicalBytes(genuine.entries[1]!.payload);
    for (const header of [
      { alg: 'EdDSA', typ: 'JWS', jwk },
      { alg: 'EdDSA', typ: 'JWS', kid: 'rogue', jwk },
    ]) {
      const sneaky = signWithEncodedHeader(
        b64urlEncode(JSON.stringify(header)),
        payload,
        rogue.privateKey,
        'EdDSA',
      );
      await expectFailure(verifier().verify([genuine.toJSON()[0]!, sneaky]), 'malformed_jws', 1);
    }
  });
});

describe('lineage rules (check 4)', () => {
  it('a hop cannot inflate its own trust or silently drop a taint', async () => {
    const inflate = await buildPassport([
      { identity: a, sourceType: 'user_input' },
      { identity: b, mutate: (x) => (x.trust_score = 41) },
    ]);
    await expectFailure(verifier().verify(inflate), 'trust_mismatch', 1);
    const drop = await buildPassport([
      { identity: a, addedTaints: ['pii'] },
      { identity: b, mutate: (x) => (x.taints = []) },
    ]);
    await expectFailure(verifier().verify(drop), 'taint_mismatch', 1);
    // Unsorted taints are a malformed entry (the passport cannot even be built from it).
    const root = await buildPassport([{ identity: a, addedTaints: ['a'] }]);
    const e1 = buildEntry({
      operation: 'x',
      principal: b.workloadId,
      trustScore: 10,
      parentIds: [root.tipHash!],
      addedTaints: ['b'],
    });
    e1.taints = ['b', 'a'];
    await expectFailure(
      verifier().verify([...root.toJSON(), b.sign(canonicalBytes(e1))]),
      'malformed_entry',
      1,
    );
  });

  it('override/removal by a non-sanitizer is refused; by a sanitizer accepted', async () => {
    const removal = await buildPassport([
      { identity: a, addedTaints: ['pii', 'unverified'] },
      { identity: b, removedTaints: ['unverified'] },
    ]);
    await expectFailure(verifier().verify(removal), 'unauthorized_sanitizer', 1);
    await expectFailure(
      verifier([{ principal: c.workloadId, mayRemove: '*' }]).verify(removal),
      'unauthorized_sanitizer',
      1,
    );
    const r = await verifier([{ principal: b.workloadId, mayRemove: ['unverified'] }]).verify(removal);
    expect(r.taints).toEqual(['pii']);
    expect(r.entries[1]!.sanitized).toBe(true);

    const override = await buildPassport([
      { identity: a, sourceType: 'llm' },
      { identity: b, trustOverride: 70 },
    ]);
    await expectFailure(verifier().verify(override), 'unauthorized_sanitizer', 1);
    expect((await verifier([{ principal: b.workloadId }]).verify(override)).trustScore).toBe(70);
  });

  it('sanitizer limits: mayRemove lists exactly what it may clear; maxTrust caps overrides', async () => {
    const removal = await buildPassport([
      { identity: a, addedTaints: ['pii', 'unverified'] },
      { identity: b, removedTaints: ['pii'] },
    ]);
    await expectFailure(
      verifier([{ principal: b.workloadId, mayRemove: ['unverified'] }]).verify(removal),
      'unauthorized_sanitizer',
      1,
    );
    await expectFailure(verifier([{ principal: b.workloadId }]).verify(removal), 'unauthorized_sanitizer', 1);
    await verifier([{ principal: b.workloadId, mayRemove: '*' }]).verify(removal);

    const to90 = await buildPassport([
      { identity: a, sourceType: 'internet' },
      { identity: b, trustOverride: 90 },
    ]);
    await expectFailure(
      verifier([{ principal: b.workloadId, maxTrust: 80 }]).verify(to90),
      'unauthorized_sanitizer',
      1,
    );
    expect((await verifier([{ principal: b.workloadId, maxTrust: 90 }]).verify(to90)).trustScore).toBe(90);
    // Lowering trust needs no sanitizer.
    const lower = await buildPassport([
      { identity: a, sourceType: 'system' },
      { identity: b, trustOverride: 20 },
    ]);
    expect((await verifier().verify(lower)).trustScore).toBe(20);
    // Removing a taint that is not there is a no-op, not a sanitization.
    const noop = await buildPassport([{ identity: a }, { identity: b, removedTaints: ['ghost'] }]);
    expect((await verifier().verify(noop)).entries[1]!.sanitized).toBe(false);
  });

  it('failed_execution forces trust 0 (docs/spec.md §3), even under an override', async () => {
    const p = await buildPassport([
      { identity: a, sourceType: 'system' },
      { identity: b, addedTaints: ['failed_execution'] },
      { identity: c },
    ]);
    const r = await verifier().verify(p);
    expect(r.entries.map((e) => e.trustScore)).toEqual([100, 0, 0]);
    expect(r.taints).toEqual(['failed_execution']);
    const forged = await buildPassport([
      { identity: a, sourceType: 'system' },
      { identity: b, addedTaints: ['failed_execution'], mutate: (x) => (x.trust_score = 100) },
    ]);
    await expectFailure(verifier().verify(forged), 'trust_mismatch', 1);
  });

  it('a malformed trust_override label is refused', async () => {
    const p = await buildPassport([
      { identity: a },
      { identity: b, mutate: (x) => (x.labels['kest.trust_override'] = 'high') },
    ]);
    await expectFailure(verifier([{ principal: b.workloadId }]).verify(p), 'malformed_entry', 1);
  });

  it('entries of other runtimes without source_type: strict by default, listed when lenient', async () => {
    const other = (x: KestEntryPayload) => {
      x.runtime = { name: 'kest-python', version: '0.3.0' };
      x.trust_score = 7; // not what our evaluator computes (10), and not above the parent
    };
    const p = await buildPassport([{ identity: a }, { identity: b, mutate: other }]);
    await expectFailure(verifier().verify(p), 'trust_mismatch', 1);
    const r = await verifier([], { strictLineage: false }).verify(p);
    expect(r.uncheckedTrust).toEqual([1]);
  });

  it('uses the configured evaluator (extra origins)', async () => {
    const p = await buildPassport([{ identity: a, sourceType: 'partner' }]);
    // The default map does not know "partner": unknown origin at a root = 10, and buildPassport used 10.
    expect((await verifier().verify(p)).trustScore).toBe(10);
    const custom = verifier([], {
      trustEvaluator: new DefaultTrustEvaluator({ additionalOrigins: { partner: 70 } }),
    });
    await expectFailure(custom.verify(p), 'trust_mismatch', 0);
  });
});

describe('verified-tip cache and expectedTip', () => {
  it('a second verify of an extended passport checks only the new entries', async () => {
    const v = verifier();
    const base = await buildPassport([{ identity: a }, { identity: b }, { identity: c }]);
    const first = await v.verify(base);
    expect(first.cachedEntries).toBe(0);
    const extended = await buildPassport([{ identity: d }, { identity: a }], base);
    const second = await v.verify(extended);
    expect(second.cachedEntries).toBe(3);
    expect(second.entries.map((e) => e.cached)).toEqual([true, true, true, false, false]);
    // Verified again: everything is now cached.
    expect((await v.verify(extended)).cachedEntries).toBe(5);
  });

  it('a tampered new entry still fails after its ancestors were cached', async () => {
    const v = verifier();
    const base = await buildPassport([{ identity: a }, { identity: b }]);
    await v.verify(base);
    const bad = await buildPassport([{ identity: c, mutate: (x) => (x.trust_score = 99) }], base);
    await expectFailure(v.verify(bad), 'trust_mismatch', 2);
    const [h, pl, s] = (await buildPassport([{ identity: c }], base)).toJSON()[2]!.split('.') as [
      string,
      string,
      string,
    ];
    const sig = Buffer.from(s, 'base64url');
    sig[7] = (sig[7] as number) ^ 4;
    await expectFailure(v.verify([...base.toJSON(), `${h}.${pl}.${b64urlEncode(sig)}`]), 'bad_signature', 2);
    // An unrelated passport sharing nothing with the cache gets no credit.
    const other = await buildPassport([{ identity: d }]);
    expect((await v.verify(other)).cachedEntries).toBe(0);
  });

  it('entries parsed before are reused only for identical bytes: a known signature over other bytes is refused', async () => {
    const v = verifier();
    const base = await buildPassport([{ identity: a }, { identity: b }, { identity: c }]);
    await v.verify(base.serialize());
    const grown = await buildPassport([{ identity: d }], base);
    const again = await v.verify(grown.serialize());
    // The parsed entries of the first verify are the ones in the second report's passport.
    expect(again.passport.entries.slice(0, 3)).toEqual(base.entries);
    expect(again.cachedEntries).toBe(3);
    // Entry 1's signature with an edited payload: same lookup key, other bytes → parsed and refused.
    const [e0, e1] = base.toJSON() as [string, string];
    const forged = editPayload(e1, (x) => {
      x.operation = 'forged';
    });
    await expectFailure(v.verify(JSON.stringify([e0, forged])), 'bad_signature', 1);
  });

  it('a cache of size 0 verifies everything every time; clearCache forgets', async () => {
    const p = await buildPassport([{ identity: a }, { identity: b }]);
    const v0 = verifier([], { tipCacheSize: 0 });
    await v0.verify(p);
    expect((await v0.verify(p)).cachedEntries).toBe(0);
    const v = verifier();
    await v.verify(p);
    v.clearCache();
    expect((await v.verify(p)).cachedEntries).toBe(0);
  });

  it('expectedTip: the last entry must hash to the declared chain tip', async () => {
    const p = await buildPassport([{ identity: a }, { identity: b }]);
    expect((await verifier().verify(p, { expectedTip: p.tipHash! })).tipHash).toBe(p.tipHash);
    await expectFailure(verifier().verify(p, { expectedTip: p.entries[0]!.hash }), 'chain_tip_mismatch', -1);
    await expectFailure(verifier().verify('[]', { expectedTip: p.tipHash! }), 'chain_tip_mismatch', -1);
  });
});

describe('input forms', () => {
  it('accepts a Passport, its JSON text, and a list of JWS strings', async () => {
    const p = await buildPassport([{ identity: a }, { identity: b }]);
    for (const input of [p, p.serialize(), p.toJSON(), JSON.stringify({ entries: p.toJSON() })]) {
      expect((await verifier().verify(input)).entries).toHaveLength(2);
    }
  });

  it('maps parse failures to KestVerificationError with the entry index', async () => {
    const p = await buildPassport([{ identity: a }, { identity: b }]);
    const [e0] = p.toJSON() as [string];
    await expectFailure(verifier().verify('not json'), 'malformed_entry', -1);
    await expectFailure(verifier().verify([e0, 'a.b']), 'malformed_jws', 1);
    await expectFailure(
      verifier().verify([e0, `${b64urlEncode('{"alg":"none"}')}.e30.AA`]),
      'alg_not_allowed',
      1,
    );
    const v4 = buildEntry({
      operation: 'x',
      principal: b.workloadId,
      trustScore: 100,
      entryId: '3b241101-e2bb-4255-8caf-4136c566a962',
    });
    await expectFailure(verifier().verify([e0, b.sign(canonicalBytes(v4))]), 'malformed_entry', 1);
    await expectFailure(verifier([], { limits: { maxEntries: 1 } }).verify(p.toJSON()), 'too_large', -1);
    await expectFailure(
      verifier().verify(Passport.empty().serialize(), { expectedTip: 'x' }),
      'chain_tip_mismatch',
      -1,
    );
  });

  it('JwksTrustSource refuses keys without a principal and private keys', () => {
    const jwks = a.getPublicJwks();
    const { principal: _p, ...noPrincipal } = jwks.keys[0]!;
    expect(() => new JwksTrustSource({ keys: [noPrincipal] })).toThrow(/principal/);
    const priv = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    expect(() => new JwksTrustSource({ [a.workloadId]: priv })).toThrow(/private/);
    // Map form: principal → JWKS.
    const byMap = new JwksTrustSource({ [a.workloadId]: { keys: [noPrincipal] } });
    expect(byMap.principals).toEqual([a.workloadId]);
    // A bare JWK anchors nothing; a key listed under another principal than it names is refused.
    expect(() => new JwksTrustSource(noPrincipal)).toThrow(/bare JWK/);
    expect(() => new JwksTrustSource({ [b.workloadId]: jwks })).toThrow(/names principal/);
    expect(() => new JwksTrustSource({ [a.workloadId]: 'key' })).toThrow(/not a JWK/);
    // Only Ed25519 / P-256 keys, and a declared alg must match.
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    expect(() => new JwksTrustSource({ [a.workloadId]: rsa })).toThrow(/Ed25519 or EC P-256/);
    expect(() => new JwksTrustSource({ [a.workloadId]: { ...noPrincipal, alg: 'ES256' } })).toThrow(
      /does not match/,
    );
  });
});
