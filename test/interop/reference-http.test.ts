/**
 * Issue 15 items 1-3 over real HTTP on 127.0.0.1: an ingress with profile 'reference' admits the
 * reference's baggage forms (the default refuses them), reference sources are matched by what the
 * caller cannot choose and held to a tip-age window, and a destination marked as a reference hop
 * receives the passport as kest.passport_z only, readable with plain zlib + URL-safe base64.
 * Item 2 end to end: a reference caller (no kest.handoff) at real express and node adapters that
 * require handoffs — admitted only where the options name it, within the tip-age window.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  checkReferenceTipAge,
  isReferenceSource,
  KestHttpCore,
  type KestHttpOptions,
  OutboundPropagator,
  refusalFor,
} from '../../src/http/index.js';
import { configure, JwksTrustSource, Passport, resetConfiguration, silentLogger } from '../../src/index.js';
import { MemoryCacheProvider, parseBaggageMembers } from '../../src/propagation/index.js';
import { get, type Probe, startProbe } from '../http/helpers.js';
import { buildPassport, workloads } from '../support/chain.js';

const SCRIPT = join(new URL('../..', import.meta.url).pathname, 'test/interop/kest_reference_shape.py');
let dir: string;
let trust: JwksTrustSource;
const read = (name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8'));

function generate(out: string, ...args: string[]): void {
  const r = spawnSync('/usr/bin/python3', [SCRIPT, out, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) throw new Error(`generator failed: ${r.error?.message ?? r.stderr}`);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kest-refhttp-'));
  generate(dir);
  trust = new JwksTrustSource(read('jwks.json'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** A real server whose handler answers the admission (or the refusal) as JSON. */
async function serve(options: KestHttpOptions): Promise<{ url: string; server: Server }> {
  // Any root up to 100: these tests are about the profile, not about who may start a lineage.
  const core = new KestHttpCore({
    logger: silent,
    roots: [{ principal: '*', maxSourceTrust: 100 }],
    ...options,
  });
  const server = createServer(async (req, res) => {
    try {
      const a = await core.admit(req.headers, { socket: req.socket, url: req.url, raw: req });
      res.end(JSON.stringify({ ok: true, entries: a.passport.length, trust: a.report?.trustScore ?? null }));
    } catch (err) {
      const r = refusalFor(err, 'ingress') as NonNullable<ReturnType<typeof refusalFor>>;
      res.statusCode = r.status;
      res.end(JSON.stringify(r.body));
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function call(url: string, baggage: string) {
  const res = await fetch(url, { headers: { baggage } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('ingress profile', () => {
  it.each(['inline', 'z'])(
    'ref3 as %s: admitted under reference, refused under the default',
    async (form) => {
      const header = read('headers.json').ref3[form] as string;
      const ref = await serve({ trust, profile: 'reference' });
      const spec = await serve({ trust });
      try {
        expect(await call(ref.url, header)).toMatchObject({ status: 200, body: { ok: true, entries: 3 } });
        const refused = await call(spec.url, header);
        expect(refused.status).toBe(400);
      } finally {
        ref.server.close();
        spec.server.close();
      }
    },
  );

  it('reference sources: tip-age window enforced for them only', async () => {
    const header = read('headers.json').ref3.inline as string;
    const src = await serve({
      trust,
      profile: 'reference',
      referenceSources: { origins: ['127.0.0.1'] },
      referenceMaxTipAgeMs: 1, // the generator signed seconds ago: outside the window
    });
    try {
      await new Promise((r) => setTimeout(r, 5));
      expect(await call(src.url, header)).toMatchObject({ status: 401, body: { reason: 'stale_passport' } });
    } finally {
      src.server.close();
    }
  });
});

describe('isReferenceSource / checkReferenceTipAge', () => {
  const opts = {
    referenceSources: {
      origins: ['10.0.0.7'],
      spiffeIds: ['spiffe://ref.kest/gateway'],
      routes: ['/ref/*', '/py'],
    },
  };
  it('matches address and route, never a header; no mTLS means no SPIFFE match', () => {
    expect(isReferenceSource({ socket: { remoteAddress: '10.0.0.7' }, url: '/x' }, opts)).toBe(true);
    expect(isReferenceSource({ socket: { remoteAddress: '10.0.0.8' }, url: '/ref/a' }, opts)).toBe(true);
    expect(isReferenceSource({ socket: { remoteAddress: '10.0.0.8' }, url: '/py' }, opts)).toBe(true);
    expect(isReferenceSource({ socket: { remoteAddress: '10.0.0.8' }, url: '/py/x' }, opts)).toBe(false);
    expect(isReferenceSource({ socket: { remoteAddress: '10.0.0.8' }, url: '/refx' }, opts)).toBe(false);
    expect(isReferenceSource({ socket: { remoteAddress: '10.0.0.7' } }, {})).toBe(false);
  });

  it('window: fresh admitted, older refused, future beyond skew refused (default 60 s)', () => {
    const p = Passport.unparsed(read('ref3.json'), { profile: 'reference' });
    const ts = p.tip!.payload.timestamp_ms;
    expect(() => checkReferenceTipAge(p, {}, ts + 59_000)).not.toThrow();
    expect(() => checkReferenceTipAge(p, {}, ts + 61_000)).toThrow(/window 60000 ms/);
    expect(() => checkReferenceTipAge(p, { referenceMaxTipAgeMs: 5_000 }, ts + 6_000)).toThrow(/stale|ago/);
    expect(() => checkReferenceTipAge(p, {}, ts - 31_000)).toThrow(/future/);
  });

  it('exempt sources are logged when the ingress is built; bad options refused', () => {
    const seen: string[] = [];
    const logger = { ...silent, warn: (_r: unknown, m: string) => void seen.push(m) };
    new KestHttpCore({ trust, logger, referenceSources: { routes: ['/py'] } });
    expect(seen.join('\n')).toMatch(/reference sources are admitted without kest.handoff/);
    expect(() => new KestHttpCore({ trust, logger, referenceMaxTipAgeMs: -1 })).toThrow(
      /referenceMaxTipAgeMs/,
    );
  });
});

describe('outbound reference hops', () => {
  it('a reference-marked destination gets kest.passport_z only; others keep the smallest tier', async () => {
    const { ids } = workloads(2);
    const passport = await buildPassport([
      { identity: ids[0]!, sourceType: 'system' },
      { identity: ids[1]!, addedTaints: ['pii'] },
    ]);
    const cache = new MemoryCacheProvider();
    const out = new OutboundPropagator({
      propagateTo: '*',
      referenceHops: ['py.internal'],
      passport: () => passport,
      cache,
    });
    const ref = parseBaggageMembers((await out.headers({}, new URL('http://py.internal/x'))).baggage);
    expect(Object.keys(ref).sort()).toEqual(['kest.chain_tip', 'kest.passport_z']);
    // A plain reader: URL-safe base64 (padding optional) + zlib.
    const z = ref['kest.passport_z'] as string;
    const json = inflateSync(Buffer.from(z.replace(/-/g, '+').replace(/_/g, '/'), 'base64')).toString();
    expect(JSON.parse(json)).toEqual(passport.toJSON());
    const ours = parseBaggageMembers((await out.headers({}, new URL('http://ts.internal/x'))).baggage);
    expect(Object.keys(ours)).toContain('kest.passport');
  });

  it('too big for _z: throws rather than using a claim check', async () => {
    const { ids } = workloads(1);
    const many = await buildPassport(
      Array.from({ length: 40 }, (_, i) => ({
        identity: ids[0]!,
        ...(i === 0 ? { sourceType: 'system' } : {}),
      })),
    );
    const cache = new MemoryCacheProvider();
    const out = new OutboundPropagator({ referenceHops: ['py.internal'], passport: () => many, cache });
    await expect(out.headers({}, new URL('http://py.internal/'))).rejects.toMatchObject({
      code: 'ERR_PASSPORT_TOO_LARGE',
    });
    const ts = parseBaggageMembers((await out.headers({}, new URL('http://ts.internal/'))).baggage);
    expect(Object.keys(ts)).toContain('kest.claim_check');
  });
});

describe.each(['express', 'node'] as const)('a reference caller at the %s adapter (item 2)', (framework) => {
  // This service knows who it is (handoff.audience): every passport must come with a handoff,
  // except from the sources its options name.
  const { ids } = workloads(1, 'spiffe://kest.test/ingress');
  const me = ids[0]!;
  const open: Probe[] = [];
  let stale: { dir: string; trust: JwksTrustSource; headers: Record<string, Record<string, string>> };
  beforeAll(() => {
    configure({ logger: silentLogger });
    // The same reference shapes, signed as if ten minutes ago: tips outside the default window.
    const staleDir = mkdtempSync(join(tmpdir(), 'kest-refhttp-stale-'));
    generate(staleDir, '--clock-offset-s', '-600');
    const at = (name: string) => JSON.parse(readFileSync(join(staleDir, name), 'utf8'));
    stale = { dir: staleDir, trust: new JwksTrustSource(at('jwks.json')), headers: at('headers.json') };
  });
  afterAll(() => {
    resetConfiguration();
    rmSync(stale.dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((p) => p.close()));
  });

  const start = async (extra: Partial<KestHttpOptions>, trustSource: JwksTrustSource = trust) => {
    const probe = await startProbe(framework, me, {
      trust: trustSource,
      profile: 'reference',
      handoff: { audience: [me.getWorkloadId()] },
      roots: [{ principal: '*', maxSourceTrust: 100 }],
      ...extra,
    });
    open.push(probe);
    return probe;
  };
  const send = (probe: Probe, baggage: string) => get(probe.service.url, { baggage });

  it('named as a reference source: admitted without kest.handoff (both baggage forms)', async () => {
    const probe = await start({ referenceSources: { origins: ['127.0.0.1'] } });
    for (const form of ['inline', 'z']) {
      const res = await send(probe, read('headers.json').ref3[form]);
      expect(res.status).toBe(200);
      // The handler ran on the reference lineage (3 entries) plus its own entry.
      expect(res.body).toMatchObject({ depth: 4 });
    }
    expect(probe.runs).toBe(2);
    const byRoute = await start({ referenceSources: { routes: ['/probe'] } });
    expect((await send(byRoute, read('headers.json').ref6.z)).status).toBe(200);
    expect(byRoute.runs).toBe(1);
  });

  it('not named: the same request is refused missing_handoff; the handler never runs', async () => {
    const unnamed = await start({});
    const elsewhere = await start({ referenceSources: { origins: ['10.9.9.9'], routes: ['/legacy/*'] } });
    for (const probe of [unnamed, elsewhere]) {
      for (const form of ['inline', 'z']) {
        const res = await send(probe, read('headers.json').ref3[form]);
        expect(res.status).toBe(401);
        expect(res.body).toMatchObject({ reason: 'missing_handoff' });
      }
      expect(probe.runs).toBe(0);
    }
  });

  it('named, but the tip is older than the window: refused stale_passport; the handler never runs', async () => {
    const probe = await start({ referenceSources: { origins: ['127.0.0.1'] } }, stale.trust);
    for (const form of ['inline', 'z']) {
      const res = await send(probe, stale.headers.ref3?.[form] as string);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ reason: 'stale_passport' });
      expect(String(res.body.message)).toMatch(
        /reference source: the tip was signed \d+ ms ago \(window 60000 ms\)/,
      );
    }
    // A wider window, chosen by the operator, admits the same passport.
    const wide = await start(
      { referenceSources: { origins: ['127.0.0.1'] }, referenceMaxTipAgeMs: 3_600_000 },
      stale.trust,
    );
    expect((await send(wide, stale.headers.ref3?.z as string)).status).toBe(200);
    expect(probe.runs).toBe(0);
    expect(wide.runs).toBe(1);
  });

  it('named: only the handoff is waived, lineage checks still refuse an inflated trust', async () => {
    const probe = await start({ referenceSources: { origins: ['127.0.0.1'] } });
    const inflated = read('bad.json').inflated as string[];
    const raw = `[${inflated.map((j) => `"${j}"`).join(', ')}]`; // as the reference writes it
    const tip = createHash('sha256')
      .update(inflated.at(-1) as string)
      .digest('hex');
    const res = await send(probe, `kest.passport=${raw},kest.chain_tip=${tip}`);
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ reason: 'unauthorized_sanitizer' });
    expect(probe.runs).toBe(0);
  });
});
