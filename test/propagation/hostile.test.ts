/**
 * Hostile baggage (issue 14): W3C receive limits, the inflate cap tied to what senders produce,
 * one `_z` encoding per passport, the shape check before any JSON.parse, and a bounded fuzz target
 * from the raw `baggage` header to admission (strict parse → restore → verify against the tip).
 */
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KestError, KestPassportError } from '../../src/errors.js';
import { PassportVerifier, type VerificationReport } from '../../src/passport/verifier.js';
import {
  BAGGAGE_RECEIVE_LIMITS,
  parseBaggage,
  parseBaggageMembers,
  serializeBaggage,
} from '../../src/propagation/baggage.js';
import { BaggageManager } from '../../src/propagation/manager.js';
import { BAGGAGE_KEY } from '../../src/wire/constants.js';
import { buildPassport, workloads } from '../support/chain.js';

const { ids, trust } = workloads(3, 'spiffe://hostile.kest/svc');
const genuine = await buildPassport(
  Array.from({ length: 10 }, (_, i) => ({
    identity: ids[i % 3]!,
    ...(i === 0 ? { sourceType: 'internal' } : {}),
  })),
);
const tip = genuine.tipHash as string;
const manager = new BaggageManager();
const verifier = new PassportVerifier({ trust });

/** What an ingress does with a raw header: strict parse, restore, verify against the chain tip. */
async function admit(header: string): Promise<VerificationReport | undefined> {
  const members = parseBaggageMembers(header);
  const passport = await manager.restore(members);
  if (passport.length === 0) return undefined;
  return verifier.verify(passport, { expectedTip: members[BAGGAGE_KEY.chainTip] as string });
}

const zMember = (json: string | Buffer) =>
  `${BAGGAGE_KEY.passportCompressed}=${deflateSync(json, { level: 9 }).toString('base64url')},${BAGGAGE_KEY.chainTip}=${tip}`;

async function refusal(p: Promise<unknown>): Promise<KestError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KestError);
    return err as KestError;
  }
  throw new Error('accepted');
}

describe('W3C receive limits (sending stays at OpenTelemetry JS 4096 per member)', () => {
  it('accepts a single 8192-byte member and 64 members in 8192 bytes', () => {
    const one = `k=${'x'.repeat(8190)}`;
    expect(one.length).toBe(8192);
    expect(parseBaggage(one)[0]!.value).toHaveLength(8190);
    const many = Array.from(
      { length: 64 },
      (_, i) => `k${String(i).padStart(2, '0')}=${'v'.repeat(120)}`,
    ).join(',');
    expect(many.length).toBeLessThanOrEqual(8192);
    expect(parseBaggage(many)).toHaveLength(64);
    expect(BAGGAGE_RECEIVE_LIMITS.maxMemberBytes).toBe(8192);
  });

  it('still refuses a header over 8192 bytes, and sending still caps members at 4096', () => {
    expect(() => parseBaggage(`k=${'x'.repeat(8191)}`)).toThrow(/max 8192/);
    expect(() => serializeBaggage({ k: 'x'.repeat(4095) })).toThrow(/max 4096/);
  });
});

describe('kest.passport_z: bounded inflate, one encoding', () => {
  it('a bomb of nested arrays (294 bytes → 200 KB) is refused at the 32 KiB cap', async () => {
    const bomb = zMember('['.repeat(100_000) + ']'.repeat(100_000));
    expect(bomb.length).toBeLessThan(600);
    const err = await refusal(admit(bomb));
    expect(err).toBeInstanceOf(KestPassportError);
    expect(err.message).toMatch(/inflates beyond 32768 bytes/);
  });

  it('nested arrays or objects under the cap are refused by the shape check, before JSON.parse', async () => {
    for (const json of [
      '['.repeat(15_000) + ']'.repeat(15_000),
      `[${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}]`,
    ]) {
      const err = await refusal(admit(zMember(json)));
      expect(err.message).toMatch(/must be a JSON array of JWS strings/);
    }
  });

  it('bytes after the zlib stream are refused (one passport, one encoding)', async () => {
    const json = genuine.serialize();
    const z = deflateSync(json, { level: 1 });
    const good = `${BAGGAGE_KEY.passportCompressed}=${z.toString('base64url')},${BAGGAGE_KEY.chainTip}=${tip}`;
    expect((await admit(good))?.tipHash).toBe(tip);
    for (const extra of [Buffer.from([0]), Buffer.from('junk'), z]) {
      const padded = Buffer.concat([z, extra]).toString('base64url');
      const err = await refusal(
        admit(`${BAGGAGE_KEY.passportCompressed}=${padded},${BAGGAGE_KEY.chainTip}=${tip}`),
      );
      expect(err.message).toMatch(/after the zlib stream/);
    }
  });

  it('what a sender compresses is always under the receive cap', async () => {
    const stored = await manager.store(genuine);
    const header = serializeBaggage(stored);
    expect((await admit(header))?.tipHash).toBe(tip);
  });
});

describe('fuzz: raw baggage header → admission', () => {
  const genuineHeader = serializeBaggage(
    Object.fromEntries([
      [BAGGAGE_KEY.passportCompressed, deflateSync(genuine.serialize(), { level: 1 }).toString('base64url')],
      [BAGGAGE_KEY.chainTip, tip],
    ]),
  );
  const mutated = fc.tuple(fc.nat(), fc.string({ minLength: 1, maxLength: 3 })).map(([at, s]) => {
    const i = at % genuineHeader.length;
    return genuineHeader.slice(0, i) + s + genuineHeader.slice(i + 1);
  });
  const jsonish = fc.oneof(
    fc.json({ maxDepth: 4 }),
    fc.array(fc.string(), { maxLength: 5 }).map((a) => JSON.stringify(a)),
    fc.constant(JSON.stringify(genuine.toJSON().slice(0, 9))),
  );
  const inline = jsonish.map(
    (j) => `${BAGGAGE_KEY.passport}=${encodeURIComponent(j)},${BAGGAGE_KEY.chainTip}=${tip}`,
  );
  const compressed = jsonish.map((j) => zMember(j));
  const arbitrary = fc.string({ maxLength: 300 });

  it('every header is admitted only as the genuine passport, or refused with a KestError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated, inline, compressed, arbitrary), async (header) => {
        let report: VerificationReport | undefined;
        try {
          report = await admit(header);
        } catch (err) {
          if (!(err instanceof KestError)) throw err;
          return;
        }
        if (report) expect(report.tipHash).toBe(tip);
      }),
      { numRuns: 300 },
    );
  });
});
