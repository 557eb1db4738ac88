/**
 * docs/spec.md §5: OpenTelemetry JS's W3CBaggagePropagator silently drops members over 4096 encoded
 * bytes, beyond 180 members, or past 8192 header bytes. These tests push what BaggageManager
 * produces through that propagator, both directions, and show that for passports of 1 to 200
 * entries the kest members always arrive intact — or store() raised a typed error first.
 */
import { defaultTextMapGetter, defaultTextMapSetter, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import { W3CBaggagePropagator } from '@opentelemetry/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KestError } from '../../src/errors.js';
import { Passport } from '../../src/passport/passport.js';
import { type BaggageMembers, parseBaggageMembers, serializeBaggage } from '../../src/propagation/baggage.js';
import { MemoryCacheProvider } from '../../src/propagation/cache.js';
import { BaggageManager, type PropagationTier, passportTier } from '../../src/propagation/manager.js';
import { BAGGAGE_KEY } from '../../src/wire/constants.js';
import { makePassport } from './fixtures.js';

const otel = new W3CBaggagePropagator();
const KEST_KEYS = Object.values(BAGGAGE_KEY);

// One 200-entry chain with uneven entry sizes; prefixes give passports of every length.
const chain = makePassport(200, { note: 'n'.repeat(37) });
const prefix = (n: number) => Passport.fromSignedEntries(chain.entries.slice(0, n));

/** Receiving side: header → OpenTelemetry extract → the members OTel kept. */
function extractWithOtel(header: string): Record<string, string> {
  const ctx = otel.extract(ROOT_CONTEXT, { baggage: header }, defaultTextMapGetter);
  const out: Record<string, string> = {};
  for (const [k, v] of propagation.getBaggage(ctx)?.getAllEntries() ?? []) out[k] = v.value;
  return out;
}

/** Sending side: members → OpenTelemetry baggage → inject → header. */
function injectWithOtel(members: BaggageMembers): string {
  const entries: Record<string, { value: string }> = {};
  for (const k of Object.keys(members)) entries[k] = { value: members[k] as string };
  const ctx = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage(entries));
  const carrier: Record<string, string> = {};
  otel.inject(ctx, carrier, defaultTextMapSetter);
  return carrier.baggage ?? '';
}

function kestOnly(members: BaggageMembers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(members)) if (KEST_KEYS.includes(k as never)) out[k] = members[k] as string;
  return out;
}

const identity = { user: 'alice@example.org', agent: 'planner-agent', task: 'q3-report' };

describe('no passport is dropped silently by OpenTelemetry JS limits', () => {
  it('1..200 entries with a claim-check cache: every member survives OTel extract and inject', async () => {
    const cache = new MemoryCacheProvider();
    const mgr = new BaggageManager({ cache });
    const seen = new Set<PropagationTier>();
    for (let n = 1; n <= 200; n++) {
      const passport = prefix(n);
      const members = await mgr.store(passport, undefined, { identity, members: { 'app.tenant': 'acme' } });
      seen.add(passportTier(members) as PropagationTier);
      const header = serializeBaggage(members);

      const extracted = extractWithOtel(header);
      expect(kestOnly(extracted), `n=${n}: OTel extract dropped a kest member`).toEqual(kestOnly(members));
      const restored = await mgr.restore(extracted);
      expect(restored.tipHash).toBe(passport.tipHash);
      expect(restored.length).toBe(n);

      const injected = injectWithOtel(members);
      expect(kestOnly(parseBaggageMembers(injected)), `n=${n}: OTel inject dropped a kest member`).toEqual(
        kestOnly(members),
      );
    }
    // The sweep really crossed every tier boundary.
    expect([...seen].sort()).toEqual(['claim_check', 'compressed', 'inline']);
  });

  it('1..200 entries without a cache: intact through OTel, or a typed error from store()', async () => {
    const mgr = new BaggageManager();
    let refused = 0;
    for (let n = 1; n <= 200; n++) {
      let members: BaggageMembers;
      try {
        members = await mgr.store(prefix(n), undefined, { identity });
      } catch (err) {
        expect(err).toBeInstanceOf(KestError);
        expect((err as KestError).code).toBe('ERR_PASSPORT_TOO_LARGE');
        refused++;
        continue;
      }
      const extracted = extractWithOtel(serializeBaggage(members));
      expect(kestOnly(extracted), `n=${n}`).toEqual(kestOnly(members));
      expect((await mgr.restore(extracted)).length).toBe(n);
    }
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThan(200);
  });

  it('arbitrary passports and crowds of other members: intact through OTel or a typed error', async () => {
    const cache = new MemoryCacheProvider();
    const mgr = new BaggageManager({ cache });
    const crowd = fc.dictionary(
      fc.stringMatching(/^app\.[a-z]{1,8}$/),
      fc.string({ unit: 'grapheme', maxLength: 1200 }),
      { maxKeys: 12 },
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 200 }), crowd, async (n, others) => {
        const passport = prefix(n);
        let members: BaggageMembers;
        try {
          members = await mgr.store(passport, undefined, { identity, members: others });
        } catch (err) {
          // Only a crowd that leaves no room may refuse; and it says so with a typed error.
          expect(err).toBeInstanceOf(KestError);
          return;
        }
        const extracted = extractWithOtel(serializeBaggage(members));
        expect(kestOnly(extracted)).toEqual(kestOnly(members));
        expect((await mgr.restore(extracted)).tipHash).toBe(passport.tipHash);
      }),
      { numRuns: 150 },
    );
  });

  it('control: a passport member over 4096 encoded bytes really is dropped by OTel', () => {
    // Proves the test above could fail: the naive inline form vanishes without an error.
    const passport = prefix(6);
    const naive = `${BAGGAGE_KEY.passport}=${encodeURIComponent(passport.serialize())},${BAGGAGE_KEY.chainTip}=${passport.tipHash}`;
    const extracted = extractWithOtel(naive);
    expect(extracted[BAGGAGE_KEY.passport]).toBeUndefined();
    expect(extracted[BAGGAGE_KEY.chainTip]).toBe(passport.tipHash);
  });

  it('and a receiver that gets such a header refuses it instead of starting a new lineage', async () => {
    const passport = prefix(6);
    const naive = `${BAGGAGE_KEY.passport}=${encodeURIComponent(passport.serialize())},${BAGGAGE_KEY.chainTip}=${passport.tipHash}`;
    await expect(new BaggageManager().restore(extractWithOtel(naive))).rejects.toMatchObject({
      code: 'ERR_BAGGAGE_INVALID',
    });
  });
});
