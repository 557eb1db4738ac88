/**
 * Tamper matrix (issue 2, docs/spec.md §2 / F-PA-05): for a 10-entry passport, every single-character
 * change of every entry's compact JWS, every swap of two entries, every drop, every duplicate and
 * every re-signing by an unanchored key is refused — 0 accepted — with a KestVerificationError that
 * names the index of the first entry that differs. Run against a cold verifier and one whose tip
 * cache already holds the genuine passport (the case of a hop that saw it before).
 */
import { describe, expect, it } from 'vitest';
import { canonicalBytes, signJws } from '../../src/entry/index.js';
import { Ed25519Key } from '../../src/identity/ed25519.js';
import { KestVerificationError, type Passport, PassportVerifier } from '../../src/index.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { b64urlEncode } from '../../src/wire/base64url.js';
import { signWithEncodedHeader } from '../../src/wire/jws.js';
import { buildPassport, workloads } from '../support/chain.js';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const { ids, trust } = workloads(5, 'spiffe://tamper.kest/svc');
const sanitizers = [{ principal: ids[3]!.workloadId, mayRemove: ['pii'], maxTrust: 90 }];

// A lineage with something at stake in each hop: origins, taints, a fan-in, a sanitizer. Every entry
// descends from the one before it, so exactly one order is valid (siblings of a DAG may be listed in
// either order: that is the same lineage, see the last test).
const genuine: Passport = await buildPassport([
  { identity: ids[0]!, sourceType: 'user_input', addedTaints: ['pii'] }, // 0: 40
  { identity: ids[1]!, sourceType: 'internal' }, // 1: 40
  { identity: ids[2]!, sourceType: 'verified_rag' }, // 2: 36
  { identity: ids[1]!, parents: [1, 2], addedTaints: ['unverified'] }, // 3: 36
  { identity: ids[4]!, sourceType: 'third_party_api' }, // 4: 21
  { identity: ids[3]!, trustOverride: 90, removedTaints: ['pii'] }, // 5: sanitizer → 90
  { identity: ids[0]!, sourceType: 'llm' }, // 6: 0
  { identity: ids[2]! }, // 7
  { identity: ids[4]!, addedTaints: ['model_output'] }, // 8
  { identity: ids[1]!, operation: 'respond' }, // 9
]);
const jwsList = genuine.toJSON();
const tip = genuine.tipHash!;

function coldVerifier() {
  return new PassportVerifier({ trust, sanitizers, tipCacheSize: 0 });
}

interface Outcome {
  case: string;
  problem: string;
}

/** Verify; record a problem unless it fails with KestVerificationError at `index`. */
async function expectRefused(
  v: PassportVerifier,
  list: readonly string[],
  index: number,
  label: string,
  problems: Outcome[],
  options: { expectedTip?: string } = {},
): Promise<void> {
  try {
    await v.verify(list, options);
    problems.push({ case: label, problem: 'ACCEPTED' });
  } catch (err) {
    if (!(err instanceof KestVerificationError)) {
      problems.push({ case: label, problem: `not a KestVerificationError: ${String(err)}` });
    } else if (err.index !== index) {
      problems.push({ case: label, problem: `index ${err.index} (${err.reason}), expected ${index}` });
    }
  }
}

describe('tamper matrix: 10-entry passport', () => {
  it('the genuine passport verifies (cold, with sanitizers)', async () => {
    const r = await coldVerifier().verify(jwsList, { expectedTip: tip });
    expect(r.entries).toHaveLength(10);
    expect(r.entries.map((e) => e.trustScore)).toEqual([40, 40, 36, 36, 21, 90, 0, 0, 0, 0]);
    expect(r.taints).toEqual(['model_output', 'unverified']);
    expect(r.entries[5]!.sanitized).toBe(true);
  });

  it('every single-character change of every entry is refused at that entry', async () => {
    const cold = coldVerifier();
    const warm = new PassportVerifier({ trust, sanitizers });
    await warm.verify(jwsList);
    const problems: Outcome[] = [];
    let cases = 0;
    for (let i = 0; i < jwsList.length; i++) {
      const jws = jwsList[i]!;
      // Entries are verified one at a time, so a cold refusal at entry i first verifies entries
      // 0..i-1: every position is checked with that prefix already proven (its tip cached), and
      // every 16th position also cold and with the whole genuine passport cached.
      const prefixWarm = new PassportVerifier({ trust, sanitizers });
      if (i > 0) await prefixWarm.verify(jwsList.slice(0, i));
      for (let k = 0; k < jws.length; k++) {
        const ch = jws[k]!;
        // A different character that keeps the string "valid-ish": the next base64url letter, or a
        // letter where a dot was (which merges two segments).
        const repl = ch === '.' ? 'A' : B64[(B64.indexOf(ch) + 1) % 64]!;
        const tampered = jwsList.slice();
        tampered[i] = jws.slice(0, k) + repl + jws.slice(k + 1);
        cases++;
        await expectRefused(prefixWarm, tampered, i, `entry ${i} char ${k} prefix warm`, problems);
        if (k % 16 !== 0) continue;
        await expectRefused(cold, tampered, i, `entry ${i} char ${k} cold`, problems);
        await expectRefused(warm, tampered, i, `entry ${i} char ${k} warm`, problems);
      }
    }
    expect(cases).toBeGreaterThan(5000);
    expect(problems).toEqual([]);
  }, 60_000);

  it('non-alphabet characters and raw bytes at sampled positions are refused', async () => {
    const v = coldVerifier();
    const problems: Outcome[] = [];
    for (let i = 0; i < jwsList.length; i++) {
      const jws = jwsList[i]!;
      for (const k of [0, 1, 20, jws.indexOf('.'), jws.length >> 1, jws.lastIndexOf('.'), jws.length - 1]) {
        for (const repl of ['=', '+', '/', ' ', '\u0000', 'é', '.']) {
          if (jws[k] === repl) continue;
          const tampered = jwsList.slice();
          tampered[i] = jws.slice(0, k) + repl + jws.slice(k + 1);
          await expectRefused(v, tampered, i, `entry ${i} char ${k} → ${JSON.stringify(repl)}`, problems);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('every swap of two entries is refused at the first moved position', async () => {
    const v = coldVerifier();
    const problems: Outcome[] = [];
    let cases = 0;
    for (let i = 0; i < 10; i++) {
      for (let j = i + 1; j < 10; j++) {
        const swapped = jwsList.slice();
        [swapped[i], swapped[j]] = [swapped[j]!, swapped[i]!];
        cases++;
        await expectRefused(v, swapped, i, `swap ${i}<->${j}`, problems);
      }
    }
    expect(cases).toBe(45);
    expect(problems).toEqual([]);
  });

  it('every drop is refused; dropping the tip leaves a valid shorter chain that expectedTip refuses', async () => {
    const v = coldVerifier();
    const problems: Outcome[] = [];
    for (let i = 0; i < 9; i++) {
      const dropped = jwsList.filter((_, k) => k !== i);
      // Entry i+1, now at position i, names a parent that is gone.
      await expectRefused(v, dropped, i, `drop ${i}`, problems);
    }
    expect(problems).toEqual([]);
    const shorter = jwsList.slice(0, 9);
    const r = await v.verify(shorter);
    expect(r.entries).toHaveLength(9);
    await expectRefused(v, shorter, -1, 'drop tip with expectedTip', problems, { expectedTip: tip });
    try {
      await v.verify(shorter, { expectedTip: tip });
    } catch (err) {
      expect((err as KestVerificationError).reason).toBe('chain_tip_mismatch');
    }
    expect(problems).toEqual([]);
  });

  it('every duplicate is refused where the copy appears', async () => {
    const v = coldVerifier();
    const problems: Outcome[] = [];
    for (let i = 0; i < 10; i++) {
      const adjacent = [...jwsList.slice(0, i + 1), jwsList[i]!, ...jwsList.slice(i + 1)];
      await expectRefused(v, adjacent, i + 1, `duplicate ${i} adjacent`, problems);
      await expectRefused(v, [...jwsList, jwsList[i]!], 10, `duplicate ${i} at end`, problems);
    }
    expect(problems).toEqual([]);
  });

  it('re-signing any entry by an unanchored key is refused at that entry', async () => {
    const v = coldVerifier();
    const problems: Outcome[] = [];
    const rogueKey = Ed25519Key.generate();
    for (let i = 0; i < 10; i++) {
      const entry = genuine.entries[i]!;
      const principal = entry.payload.labels.principal!;
      const bytes = canonicalBytes(entry.payload);
      const variants: [string, string][] = [
        // Same principal, an impostor key with its own kid.
        ['impostor kid', new MockIdentityProvider({ workloadId: principal, seed: 'rogue' }).sign(bytes)],
        // Same principal, no kid: the principal's anchored key is tried and fails.
        ['no kid', signJws(bytes, rogueKey.privateKey, { typ: 'JWS' })],
        // The genuine kid, the wrong key.
        ['stolen kid', signJws(bytes, rogueKey.privateKey, { typ: 'JWS', kid: entry.header.kid as string })],
        // A header-carried JWK of the rogue key (an unsupported header member: refused at parse).
        [
          'header jwk',
          signWithEncodedHeader(
            b64urlEncode(JSON.stringify({ alg: 'EdDSA', typ: 'JWS', jwk: rogueKey.publicJwk() })),
            bytes,
            rogueKey.privateKey,
            'EdDSA',
          ),
        ],
      ];
      for (const [name, jws] of variants) {
        const resigned = jwsList.slice();
        resigned[i] = jws;
        await expectRefused(v, resigned, i, `re-sign ${i} (${name})`, problems);
      }
    }
    expect(problems).toEqual([]);
  });

  it('siblings of a DAG may be listed in either order: the same lineage, the same tip', async () => {
    // Not a tamper: 1 and 2 are both children of 0, so [0,2,1,3] lists the very same signed DAG.
    const dag = await buildPassport([
      { identity: ids[0]!, sourceType: 'internal' },
      { identity: ids[1]!, parents: [0], addedTaints: ['x'] },
      { identity: ids[2]!, parents: [0], sourceType: 'third_party_api' },
      { identity: ids[3]!, parents: [1, 2] },
    ]);
    const [e0, e1, e2, e3] = dag.toJSON() as [string, string, string, string];
    const a = await coldVerifier().verify([e0, e1, e2, e3]);
    const b = await coldVerifier().verify([e0, e2, e1, e3], { expectedTip: dag.tipHash! });
    expect([b.trustScore, b.taints, b.tipHash]).toEqual([a.trustScore, a.taints, a.tipHash]);
    // Any order that puts a child before a parent is refused.
    const problems: Outcome[] = [];
    await expectRefused(coldVerifier(), [e0, e3, e1, e2], 1, 'child first', problems);
    await expectRefused(coldVerifier(), [e1, e0, e2, e3], 0, 'root second', problems);
    expect(problems).toEqual([]);
  });
});
