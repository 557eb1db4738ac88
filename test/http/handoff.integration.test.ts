/**
 * Integration (real servers on 127.0.0.1, every adapter): the handoff (docs/spec.md §11). A passport
 * is admitted once, by the hop it was handed to, from the workload that signed its tip; every other
 * case is a 401 with its own reason (a 503 when the replay store cannot answer) and the handler
 * never runs.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FRAMEWORKS } from '../../examples/trusted-chain/servers.js';
import { KestCacheError } from '../../src/errors.js';
import type { KestHttpOptions } from '../../src/http/core.js';
import { MemoryReplayStore, type ReplayStore, signHandoff } from '../../src/http/index.js';
import { configure, type Passport, resetConfiguration, silentLogger } from '../../src/index.js';
import { BAGGAGE_KEY, LABEL } from '../../src/wire/constants.js';
import { buildPassport, workloads } from '../support/chain.js';
import { baggageFor, get, getMany, type Probe, startProbe } from './helpers.js';

beforeAll(() => configure({ logger: silentLogger }));
afterAll(() => resetConfiguration());

const { ids, trust } = workloads(4);
const receiver = ids[2]!;
const AUD = receiver.getWorkloadId();

/** A two-hop passport whose tip (ids[1]) recorded user alice. */
function lineage(): Promise<Passport> {
  return buildPassport([
    { identity: ids[0]! },
    {
      identity: ids[1]!,
      mutate: (p) => {
        p.labels[LABEL.identity] = JSON.stringify({ user: 'alice', agent: null, task: null });
      },
    },
  ]);
}

async function headersFor(passport: Passport, handoff: string | undefined): Promise<Record<string, string>> {
  return {
    baggage: await baggageFor(passport, handoff ? { extra: { [BAGGAGE_KEY.handoff]: handoff } } : {}),
  };
}

describe.each(FRAMEWORKS)('handoff at the %s ingress', (framework) => {
  const open: Probe[] = [];
  const start = async (extra: Partial<KestHttpOptions> = {}) => {
    const p = await startProbe(framework, receiver, { trust, handoff: { audience: [AUD] }, ...extra });
    open.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  const refusedWith = async (probe: Probe, headers: Record<string, string>, reason: string, status = 401) => {
    const res = await get(probe.service.url, headers);
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ error: 'ERR_VERIFICATION_FAILED', reason });
    return res;
  };

  it('admits a bound passport once and takes its user; the same request again → replayed', async () => {
    const probe = await start();
    const passport = await lineage();
    const headers = await headersFor(passport, await signHandoff(ids[1]!, passport, AUD));
    const first = await get(probe.service.url, headers);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ depth: 3, user: 'alice' });
    await refusedWith(probe, headers, 'replayed');
    expect(probe.runs).toBe(1);
  });

  it('addressed to another hop → wrong_audience; an origin audience is accepted when configured', async () => {
    const probe = await start();
    const passport = await lineage();
    await refusedWith(
      probe,
      await headersFor(passport, await signHandoff(ids[1]!, passport, ids[3]!.getWorkloadId())),
      'wrong_audience',
    );
    // An origin audience (as a caller without a workload-id mapping sends it), default port written out.
    const byOrigin = await start({ handoff: { audience: ['http://orders.internal'] } });
    const handoff = await signHandoff(ids[1]!, passport, 'http://orders.internal:80');
    const ok = await get(byOrigin.service.url, await headersFor(passport, handoff));
    expect(ok.status).toBe(200);
    expect(probe.runs).toBe(0);
  });

  it('old → expired_handoff; issued beyond the skew in the future → expired_handoff', async () => {
    const probe = await start();
    const passport = await lineage();
    const old = await signHandoff(ids[1]!, passport, AUD, { now: Date.now() - 120_000, ttlMs: 60_000 });
    await refusedWith(probe, await headersFor(passport, old), 'expired_handoff');
    const future = await signHandoff(ids[1]!, passport, AUD, { now: Date.now() + 120_000 });
    await refusedWith(probe, await headersFor(passport, future), 'expired_handoff');
    expect(probe.runs).toBe(0);
  });

  it('signed by another anchored principal → unbound_handoff', async () => {
    const probe = await start();
    const passport = await lineage();
    await refusedWith(
      probe,
      await headersFor(passport, await signHandoff(ids[3]!, passport, AUD)),
      'unbound_handoff',
    );
    expect(probe.runs).toBe(0);
  });

  it('stripped → missing_handoff; a passport rebuilt from exported entries (no handoff) → refused', async () => {
    const probe = await start();
    const passport = await lineage();
    await refusedWith(probe, await headersFor(passport, undefined), 'missing_handoff');
    const { Passport: P } = await import('../../src/index.js');
    const rebuilt = P.fromSignedEntries(passport.entries.map((e) => e));
    await refusedWith(probe, await headersFor(rebuilt, undefined), 'missing_handoff');
    expect(probe.runs).toBe(0);
  });

  it('forged (claims changed under the old signature, or another tip) → bad_handoff', async () => {
    const probe = await start();
    const passport = await lineage();
    const real = (await signHandoff(ids[1]!, passport, AUD)) as string;
    const [h, p, s] = real.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    claims.exp = (claims.exp as number) + 100;
    const { canonicalize } = await import('../../src/wire/canonical.js');
    const forged = `${h}.${Buffer.from(canonicalize(claims)).toString('base64url')}.${s}`;
    await refusedWith(probe, await headersFor(passport, forged), 'bad_handoff');
    await refusedWith(probe, await headersFor(passport, 'not-a-jws'), 'bad_handoff');
    const other = await lineage();
    await refusedWith(
      probe,
      await headersFor(passport, await signHandoff(ids[1]!, other, AUD)),
      'bad_handoff',
    );
    expect(probe.runs).toBe(0);
  });

  it('replay store down or slow → 503 replay_store_unavailable, never admitted', async () => {
    const down: ReplayStore = { claim: () => Promise.reject(new KestCacheError('connection refused')) };
    const slow: ReplayStore = { claim: () => new Promise((r) => setTimeout(() => r(true), 2000)) };
    const passport = await lineage();
    for (const store of [down, slow]) {
      const probe = await start({ handoff: { audience: [AUD], store, storeTimeoutMs: 100 } });
      const res = await refusedWith(
        probe,
        await headersFor(passport, await signHandoff(ids[1]!, passport, AUD)),
        'replay_store_unavailable',
        503,
      );
      expect(res.headers.get('retry-after')).toBe('1');
      expect(probe.runs).toBe(0);
    }
  });

  it('required: false admits an unbound passport but takes no user from it; first hops are unaffected', async () => {
    const probe = await start({ handoff: { required: false, audience: [AUD] } });
    const res = await get(probe.service.url, await headersFor(await lineage(), undefined));
    expect(res.status).toBe(200);
    expect(res.body.user).toBeUndefined();
    const strict = await start();
    const firstHop = await get(strict.service.url);
    expect(firstHop.status).toBe(200);
    expect(firstHop.body.depth).toBe(1);
  });

  it('1,000 concurrent distinct requests are all admitted; 1,000 copies of one → exactly one', async () => {
    const store = new MemoryReplayStore();
    const probe = await start({ handoff: { audience: [AUD], store } });
    const passport = await lineage();
    const distinct = await Promise.all(
      Array.from({ length: 1000 }, async () =>
        headersFor(passport, await signHandoff(ids[1]!, passport, AUD)),
      ),
    );
    const ok = await getMany(probe.service.url, distinct);
    expect(ok.filter((r) => r.status === 200)).toHaveLength(1000);
    const one = await headersFor(passport, await signHandoff(ids[1]!, passport, AUD));
    const copies = await getMany(probe.service.url, Array(1000).fill(one));
    expect(copies.filter((r) => r.status === 200)).toHaveLength(1);
    expect(copies.filter((r) => r.status === 401 && r.body.reason === 'replayed')).toHaveLength(999);
    expect(probe.runs).toBe(1001);
  }, 60_000);
});
