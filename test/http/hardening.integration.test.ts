/**
 * Integration (real servers on 127.0.0.1, every adapter): the opt-in ingress hardening of the HTTP
 * core against replay (H1: `maxTipAgeMs`) and a passport presented by someone other than its tip's
 * principal (H2: `bindTipPrincipal`). Both refuse with 401 and a `reason`; the handler never runs.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FRAMEWORKS } from '../../examples/trusted-chain/servers.js';
import { type IngressRequest, KestHttpCore } from '../../src/http/core.js';
import { configure, resetConfiguration, silentLogger } from '../../src/index.js';
import { buildPassport, workloads } from '../support/chain.js';
import { baggageFor, get, type Probe, startProbe } from './helpers.js';

beforeAll(() => configure({ logger: silentLogger }));
afterAll(() => resetConfiguration());

const MINUTE = 60_000;

describe.each(FRAMEWORKS)('ingress hardening through %s', (framework) => {
  const { ids, trust } = workloads(3);
  const open: Probe[] = [];
  const start = async (options: Parameters<typeof startProbe>[2]) => {
    const p = await startProbe(framework, ids[2]!, options);
    open.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  const signedAt = (ms: number) =>
    buildPassport([
      { identity: ids[0]! },
      {
        identity: ids[1]!,
        mutate: (p) => {
          p.timestamp_ms = ms;
        },
      },
    ]);

  it('maxTipAgeMs: a fresh tip is admitted, an old one → 401 stale_passport', async () => {
    const probe = await start({ trust, maxTipAgeMs: 5 * MINUTE });
    const fresh = await get(probe.service.url, { baggage: await baggageFor(await signedAt(Date.now())) });
    expect(fresh.status).toBe(200);
    expect(fresh.body.depth).toBe(3);

    const old = await signedAt(Date.now() - 10 * MINUTE);
    const res = await get(probe.service.url, { baggage: await baggageFor(old) });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      error: 'ERR_VERIFICATION_FAILED',
      reason: 'stale_passport',
      index: 1,
      entry_id: old.tip!.payload.entry_id,
    });
    expect(probe.runs).toBe(1);
  });

  it('maxTipAgeMs: a tip dated beyond the clock skew in the future → 401 stale_passport', async () => {
    const probe = await start({ trust, maxTipAgeMs: 5 * MINUTE, maxClockSkewMs: 10_000 });
    const future = await signedAt(Date.now() + 2 * MINUTE);
    const res = await get(probe.service.url, { baggage: await baggageFor(future) });
    expect(res.status).toBe(401);
    expect(res.body.reason).toBe('stale_passport');
    expect(probe.runs).toBe(0);
  });

  it('without maxTipAgeMs an old passport is still admitted (opt-in)', async () => {
    const probe = await start({ trust });
    const res = await get(probe.service.url, {
      baggage: await baggageFor(await signedAt(Date.now() - 10 * MINUTE)),
    });
    expect(res.status).toBe(200);
  });

  it('bindTipPrincipal: the tip principal must be the authenticated caller, else 401 unbound_passport', async () => {
    const seen: IngressRequest[] = [];
    // A stand-in for the mTLS peer / token client_id: the caller names itself in a header here.
    const probe = await start({
      trust,
      bindTipPrincipal: (tip, request) => {
        seen.push(request);
        const h = request.headers as Record<string, string | undefined> | Headers;
        const caller =
          typeof (h as Headers).get === 'function'
            ? (h as Headers).get('x-caller')
            : (h as Record<string, string>)['x-caller'];
        return tip === caller;
      },
    });
    const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const baggage = await baggageFor(passport);
    const bound = await get(probe.service.url, { baggage, 'x-caller': ids[1]!.getWorkloadId() });
    expect(bound.status).toBe(200);

    const replayed = await get(probe.service.url, { baggage, 'x-caller': ids[0]!.getWorkloadId() });
    expect(replayed.status).toBe(401);
    expect(replayed.body).toMatchObject({ reason: 'unbound_passport', index: 1 });
    expect(probe.runs).toBe(1);
    // The adapter hands the check the connection and its own request object (for mTLS peers).
    expect(seen[0]!.socket?.remoteAddress).toMatch(/127\.0\.0\.1$/);
    expect(seen[0]!.raw).toBeDefined();
    expect(seen[0]!.method).toBe('GET');
  });

  it('bindTipPrincipal: a check that throws refuses; a request without passport is not asked', async () => {
    let calls = 0;
    const probe = await start({
      trust,
      bindTipPrincipal: () => {
        calls++;
        throw new Error('peer lookup failed');
      },
    });
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const res = await get(probe.service.url, { baggage: await baggageFor(passport) });
    expect(res.status).toBe(401);
    expect(res.body.reason).toBe('unbound_passport');
    const root = await get(probe.service.url);
    expect(root.status).toBe(200);
    expect(calls).toBe(1);
  });
});

describe('hardening options', () => {
  it('a replay of kept bytes is re-checked for age (the cache keeps verdicts, not freshness)', async () => {
    let now = Date.now();
    const realNow = Date.now;
    const { ids, trust } = workloads(2);
    const core = new KestHttpCore({ trust, maxTipAgeMs: MINUTE });
    const headers = {
      baggage: await baggageFor(
        await buildPassport([
          { identity: ids[0]! },
          {
            identity: ids[1]!,
            mutate: (p) => {
              p.timestamp_ms = now;
            },
          },
        ]),
      ),
    };
    try {
      Date.now = () => now;
      await core.admit(headers);
      now += 2 * MINUTE;
      await expect(core.admit(headers)).rejects.toMatchObject({ reason: 'stale_passport' });
    } finally {
      Date.now = realNow;
    }
  });

  it('refuses a negative or non-numeric age and a non-function binding', () => {
    expect(() => new KestHttpCore({ maxTipAgeMs: -1 })).toThrow(/maxTipAgeMs/);
    expect(() => new KestHttpCore({ maxClockSkewMs: Number.NaN })).toThrow(/maxClockSkewMs/);
    expect(() => new KestHttpCore({ bindTipPrincipal: 'peer' as never })).toThrow(/bindTipPrincipal/);
  });
});
