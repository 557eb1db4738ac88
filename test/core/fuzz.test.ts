/**
 * Property tests (fast-check): arbitrary strings, JSON values and mutations of a real passport fed
 * to parseJws, Passport.deserialize and PassportVerifier.verify only ever produce typed KestErrors —
 * never a TypeError/RangeError, never a silently empty passport, never an unexpected acceptance.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJws } from '../../src/entry/index.js';
import {
  KestError,
  KestJWSError,
  KestPassportError,
  KestVerificationError,
  Passport,
  PassportVerifier,
} from '../../src/index.js';
import { buildPassport, workloads } from '../support/chain.js';

const { ids, trust } = workloads(3, 'spiffe://fuzz.kest/svc');
const genuine = await buildPassport([
  { identity: ids[0]!, sourceType: 'user_input', addedTaints: ['pii'] },
  { identity: ids[1]! },
  { identity: ids[2]!, addedTaints: ['x'] },
  { identity: ids[0]!, sourceType: 'internal' },
]);
const list = genuine.toJSON();
const text = genuine.serialize();
const verifier = new PassportVerifier({ trust, tipCacheSize: 0 });

/** Runs fn; returns 'ok' or the error, failing the property on a non-KestError. */
function typed<T>(fn: () => T, cls: new (...args: never[]) => KestError = KestError): 'ok' | KestError {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (!(err instanceof cls)) throw new Error(`untyped failure: ${String(err)}`, { cause: err });
    return err;
  }
}

async function typedVerify(input: unknown): Promise<'ok' | KestVerificationError> {
  try {
    await verifier.verify(input as string);
    return 'ok';
  } catch (err) {
    if (!(err instanceof KestVerificationError))
      throw new Error(`untyped failure: ${String(err)}`, { cause: err });
    return err;
  }
}

// Strings that look like JWS: three base64url-ish segments, sometimes of real parts.
const segment = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{0,120}$/),
  fc.constantFrom(...list.flatMap((j) => j.split('.'))),
  fc.string({ maxLength: 40 }),
);
const jwsLike = fc.oneof(
  fc.tuple(segment, segment, segment).map((p) => p.join('.')),
  fc.array(segment, { maxLength: 6 }).map((p) => p.join('.')),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

describe('fuzz: only typed errors', () => {
  it('parseJws: arbitrary strings and values → KestJWSError', () => {
    fc.assert(
      fc.property(fc.oneof(jwsLike, fc.anything()), (input) => {
        typed(() => parseJws(input), KestJWSError);
      }),
      { numRuns: 2000 },
    );
  });

  it('parseJws: headers from arbitrary JSON → KestJWSError, or an allowed alg', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom('EdDSA', 'ES256', 'none', 'HS256'), (extra, alg) => {
        const header = Buffer.from(JSON.stringify({ alg, extra })).toString('base64url');
        const r = typed(
          () => parseJws(`${header}.e30.${Buffer.alloc(64).toString('base64url')}`),
          KestJWSError,
        );
        if (r === 'ok') expect(['EdDSA', 'ES256']).toContain(alg);
      }),
      { numRuns: 500 },
    );
  });

  it('Passport.deserialize: arbitrary text / JSON / values → KestPassportError; never empty unless "[]"', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.json(),
          fc.jsonValue(),
          fc.anything(),
          fc.array(jwsLike, { maxLength: 4 }),
        ),
        (input) => {
          let p: Passport | undefined;
          const r = typed(() => {
            p = Passport.deserialize(input);
          }, KestPassportError);
          if (r === 'ok' && p!.length === 0) {
            // Only an empty array (in any of the accepted forms) may give an empty passport.
            const v = typeof input === 'string' ? JSON.parse(input) : input;
            expect(Array.isArray(v) ? v : (v as { entries: unknown }).entries).toEqual([]);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('verify: single-character mutations of a genuine passport → typed refusal (or the same passport)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: text.length - 1 }),
        fc.oneof(
          fc.constantFrom('"', ',', '[', ']', '\\', '.', '{', ' ', 'A', '0', '-'),
          fc.string({ minLength: 1, maxLength: 3 }),
        ),
        fc.constantFrom('replace', 'insert', 'delete'),
        async (pos, str, op) => {
          const mutated =
            op === 'delete'
              ? text.slice(0, pos) + text.slice(pos + 1)
              : text.slice(0, pos) + str + text.slice(op === 'replace' ? pos + str.length : pos);
          const r = await typedVerify(mutated);
          if (r === 'ok') expect(JSON.parse(mutated)).toEqual(list);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('verify: arbitrary selections of genuine entries → accepted only as a genuine prefix', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: list.length - 1 }), { maxLength: 8 }), async (picks) => {
        const picked = picks.map((i) => list[i]!);
        const r = await typedVerify(picked);
        if (r === 'ok') expect(picked).toEqual(list.slice(0, picked.length));
      }),
      { numRuns: 1000 },
    );
  });

  it('verify: arbitrary JSON and values → KestVerificationError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.jsonValue(), fc.anything(), fc.string(), fc.array(jwsLike)),
        async (input) => {
          const r = await typedVerify(input);
          if (r === 'ok') {
            const v = typeof input === 'string' ? JSON.parse(input) : input;
            expect(Array.isArray(v) ? v : (v as { entries: unknown }).entries).toEqual([]);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('verify: payload fields replaced by arbitrary JSON and re-signed by the anchored key → typed', async () => {
    const fields = Object.keys(genuine.entries[1]!.payload);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fields), fc.jsonValue(), async (field, value) => {
        const payload = { ...genuine.entries[1]!.payload, [field]: value } as Record<string, unknown>;
        const bytes = Buffer.from(JSON.stringify(payload));
        const jws = ids[1]!.sign(bytes);
        await typedVerify([list[0]!, jws, ...list.slice(2)]);
      }),
      { numRuns: 1000 },
    );
  });
});
