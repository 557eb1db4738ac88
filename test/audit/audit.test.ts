/**
 * Offline audit (docs/spec.md §7): spans of a real three-hop run, exported to a JSON-lines file, to
 * SQLite and to an OTLP/HTTP receiver, are rebuilt into passports that verify; missing spans are
 * gaps, edited spans fail at the right entry, interleaved traces stay apart, order comes from the
 * hash links only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type AuditReport,
  auditFile,
  auditPassport,
  auditSpans,
  readSpansFile,
} from '../../src/audit/index.js';
import {
  configure,
  kestVerified,
  Passport,
  PassportVerifier,
  resetConfiguration,
  runWithPassport,
} from '../../src/index.js';
import { MockPolicyEngine } from '../../src/policy/mock.js';
import { MemoryCacheProvider } from '../../src/propagation/cache.js';
import { KestTelemetry, type KestTelemetryHandle, type SpanRecord } from '../../src/telemetry/index.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { buildPassport, workloads } from '../support/chain.js';
import { readLines, spansOfPassport, startOtlpReceiver, threeHopWorld } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'kest-audit-'));
let handle: KestTelemetryHandle | undefined;
afterEach(async () => {
  await handle?.shutdown();
  handle = undefined;
  trace.disable();
  resetConfiguration();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CALLS = ['gateway.handle', 'orders.place', 'ledger.record'];
/** Each call entry, then the completions, innermost first (each closes over the nested one). */
const OPS = [...CALLS, ...[...CALLS].reverse()];

/**
 * Run `n` concurrent three-hop requests with the file exporter; returns path and world. With
 * `passports`, spans also carry the passport copy (opt-in) the audit can recover entries from.
 */
async function exportRuns(n: number, name: string, passports = false) {
  if (passports) configure({ passportInSpans: true });
  const path = join(dir, `${name}.jsonl`);
  handle = KestTelemetry.setup({ serviceName: 'svc', exporter: 'file', path });
  const world = threeHopWorld();
  await Promise.all(Array.from({ length: n }, (_, i) => world.run(i)));
  await handle.shutdown();
  return { path, world };
}

function expectVerifiedChain(r: AuditReport) {
  expect(r.status).toBe('verified');
  expect(r.entries.map((e) => e.operation)).toEqual(OPS);
  expect(r.entries.every((e) => e.status === 'verified' && e.source === 'span')).toBe(true);
  expect(r.gaps).toEqual([]);
  expect(r.forks).toEqual([]);
  expect(r.incomplete).toEqual([]);
  expect(r.missingRecords).toEqual([]);
  expect(r.entries.map((e) => e.kind)).toEqual([
    'call',
    'call',
    'call',
    'completion',
    'completion',
    'completion',
  ]);
  expect(r.entries.map((e) => e.outcome)).toEqual(Array(6).fill('ok'));
  expect(r.failure).toBeUndefined();
  // every entry's trace label is the OTel trace id of its span
  for (const e of r.entries) expect(e.span?.traceId).toBe(r.traceId);
}

describe('rebuild and verify from exported spans', () => {
  it('JSON-lines file: three hops rebuild into a passport that verifies', async () => {
    const { path, world } = await exportRuns(1, 'file');
    const [r, ...rest] = await auditFile(path, { trust: world.trust });
    expect(rest).toEqual([]);
    expectVerifiedChain(r as AuditReport);
    // the rebuilt passport is a real passport: the core verifier accepts it on its own
    const report = await new PassportVerifier({ trust: world.trust }).verify(r?.passport as string[]);
    expect(report.entries.map((e) => e.operation)).toEqual(OPS);
    expect(report.trustScore).toBe(24); // user_input 40 → third_party_api 60% → internal
    expect(report.taints).toEqual(['pii']);
  });

  it('SQLite database: same result', async () => {
    const path = join(dir, 'audit.sqlite');
    handle = KestTelemetry.setup({ serviceName: 'svc', exporter: 'sqlite', path });
    const world = threeHopWorld();
    await world.run();
    await world.run();
    await handle.shutdown();
    const reports = await auditFile(path, { trust: world.trust });
    expect(reports).toHaveLength(2);
    for (const r of reports) expectVerifiedChain(r);
    const one = await auditFile(path, { trust: world.trust, traceId: reports[1]?.traceId as string });
    expect(one.map((r) => r.traceId)).toEqual([reports[1]?.traceId]);
  });

  it('OTLP/HTTP: what a real receiver got from the official exporter (OTLP/JSON) verifies', async () => {
    const receiver = await startOtlpReceiver();
    try {
      handle = KestTelemetry.setup({ serviceName: 'svc', exporter: 'otlp', endpoint: receiver.url });
      const world = threeHopWorld();
      await world.run();
      await handle.shutdown();
      // as a collector's file exporter stores them: one request per line
      const path = join(dir, 'otlp.jsonl');
      writeFileSync(path, receiver.bodies.map((b) => `${JSON.stringify(b)}\n`).join(''));
      const [r] = await auditFile(path, { trust: world.trust });
      expectVerifiedChain(r as AuditReport);
      expect(r?.serviceNames).toEqual(['svc']);
      // and as one pretty-printed document
      const pretty = join(dir, 'otlp.json');
      writeFileSync(pretty, JSON.stringify(receiver.bodies[0], null, 2));
      const spans = await readSpansFile(pretty);
      expect(spans.length).toBeGreaterThan(0);
      expect(spans[0]?.traceId).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      await receiver.close();
    }
  });

  it('order comes from hash links, not from file order or timestamps', async () => {
    const { path, world } = await exportRuns(1, 'order');
    const lines = readLines(path).reverse();
    // lie about time: the leaf claims to have started first, the root last
    const starts = lines.map((l) => l.startTimeUnixNano).reverse();
    lines.forEach((l, i) => {
      l.startTimeUnixNano = starts[i] as string;
    });
    const [r] = await auditSpans(lines, { trust: world.trust });
    expectVerifiedChain(r as AuditReport);
  });

  it('interleaved traces are separated correctly', async () => {
    const { path, world } = await exportRuns(4, 'interleaved');
    const lines = readLines(path);
    // the concurrent runs already interleave; shuffle deterministically on top
    const shuffled = lines
      .map((l, i) => ({ l, k: (i * 7919) % 13 }))
      .sort((a, b) => a.k - b.k)
      .map((x) => x.l);
    const reports = await auditSpans(shuffled, { trust: world.trust });
    expect(reports).toHaveLength(4);
    expect(new Set(reports.map((r) => r.traceId)).size).toBe(4);
    for (const r of reports) {
      expectVerifiedChain(r);
      // Non-root hops carry the OTel trace id in labels.trace_id. (The hook signs a root entry before
      // its span starts, so a root without an enclosing span has trace_id "": reported to the lead.)
      const labelIds = r.entries
        .slice(1)
        .map(
          (e) =>
            JSON.parse(Buffer.from(e.jws.split('.')[1] as string, 'base64url').toString()).labels.trace_id,
        );
      expect(labelIds).toEqual(Array(5).fill(r.traceId));
    }
  });
});

describe('findings', () => {
  it('a removed span is a gap (recovered from a carried passport, still reported)', async () => {
    const { path, world } = await exportRuns(1, 'gap', true);
    const lines = readLines(path);
    const removed = lines.find((l) => l.attributes['kest.operation'] === 'orders.place') as SpanRecord;
    const [r] = await auditSpans(
      lines.filter((l) => l !== removed),
      { trust: world.trust },
    );
    expect(r?.status).toBe('incomplete');
    // the span carried the call entry and its completion: both are gaps, both recovered
    expect(r?.gaps).toHaveLength(2);
    expect(r?.gaps[0]?.entryId).toBe(removed.attributes['kest.entry_id']);
    expect(r?.gaps.map((g) => g.recovered)).toEqual(['passport', 'passport']);
    expect(r?.gaps[0]?.referencedBy).toContain(
      lines.find((l) => l.attributes['kest.operation'] === 'ledger.record')?.attributes['kest.entry_id'],
    );
    // the recovered entries are still proven by their signatures
    expect(r?.entries.map((e) => [e.operation, e.source, e.status])).toEqual([
      ['gateway.handle', 'span', 'verified'],
      ['orders.place', 'passport', 'verified'],
      ['ledger.record', 'span', 'verified'],
      ['ledger.record', 'span', 'verified'],
      ['orders.place', 'passport', 'verified'],
      ['gateway.handle', 'span', 'verified'],
    ]);
  });

  it('a removed leaf span is a gap too (the enclosing span names it as its passport tip)', async () => {
    const { path, world } = await exportRuns(1, 'gap-leaf', true);
    const lines = readLines(path).filter((l) => l.attributes['kest.operation'] !== 'ledger.record');
    const [r] = await auditSpans(lines, { trust: world.trust });
    expect(r?.status).toBe('incomplete');
    // the leaf's completion is the parent of the enclosing completion; its call entry follows
    expect(r?.gaps.map((g) => [g.via, g.recovered])).toEqual([
      ['parent', 'passport'],
      ['parent', 'passport'],
    ]);
    expect(r?.missingRecords).toEqual([]);
  });

  it('without carried passports a gap loses the entry and what is below it stays unverified', async () => {
    // the default: spans carry no passport copy
    const { path, world } = await exportRuns(1, 'gap-lost');
    const lines = readLines(path).filter((l) => l.attributes['kest.operation'] !== 'orders.place');
    expect(lines.some((l) => l.attributes['kest.passport'] !== undefined)).toBe(false);
    const [r] = await auditSpans(lines, { trust: world.trust });
    expect(r?.status).toBe('incomplete');
    expect(r?.gaps[0]?.recovered).toBeNull();
    const byOp = new Map(r?.entries.filter((e) => e.kind === 'call').map((e) => [e.operation, e]));
    expect(byOp.get('gateway.handle')?.status).toBe('verified');
    expect(byOp.get('ledger.record')?.status).toBe('unverified');
    expect(byOp.get('ledger.record')?.reason).toBe('below_gap');
    // both lost entries are missing records (an in-process parent names no exporter)
    expect(r?.missingRecords.map((m) => m.via)).toEqual(['parent', 'parent']);
  });

  it('an edited span fails verification at the right entry', async () => {
    const { path, world } = await exportRuns(1, 'edited', true);
    const lines = readLines(path);
    const target = lines.find((l) => l.attributes['kest.operation'] === 'orders.place') as SpanRecord;
    const [h, p, s] = (target.attributes['kest.signature'] as string).split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.trust_score = 100; // claim full trust after signing
    target.attributes['kest.signature'] =
      `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    const [r] = await auditSpans(lines, { trust: world.trust });
    expect(r?.status).toBe('failed');
    expect(r?.failure?.index).toBe(1);
    expect(r?.failure?.entryId).toBe(target.attributes['kest.entry_id']);
    expect(r?.failure?.reason).toBe('bad_signature');
    const failed = r?.entries.filter((e) => e.status === 'failed');
    expect(failed?.map((e) => e.entryId)).toEqual([target.attributes['kest.entry_id']]);
    // the genuine entry (recovered from a carried passport) and the edit share a parent and an id
    expect(r?.forks.map((f) => f.kind)).toEqual(['conflict']);
  });

  it('a forged trust score, re-signed by a key that is not anchored, fails as key_not_anchored', async () => {
    const { path, world } = await exportRuns(1, 'forged');
    const lines = readLines(path);
    const root = lines.find((l) => l.attributes['kest.operation'] === 'gateway.handle') as SpanRecord;
    const impostor = new MockIdentityProvider({
      workloadId: 'spiffe://audit.test/gateway',
      seed: 'attacker',
    });
    const payload = JSON.parse(
      Buffer.from(
        (root.attributes['kest.signature'] as string).split('.')[1] as string,
        'base64url',
      ).toString(),
    );
    const { canonicalize } = await import('../../src/wire/canonical.js');
    root.attributes['kest.signature'] = impostor.sign(Buffer.from(canonicalize(payload)));
    const [r] = await auditSpans(lines, { trust: world.trust });
    expect(r?.status).toBe('failed');
    expect(r?.failure?.entryId).toBe(root.attributes['kest.entry_id']);
    expect(r?.failure?.reason).toBe('key_not_anchored');
  });

  it('lineage rules apply: an override needs a declared sanitizer', async () => {
    const { ids, trust } = workloads(3);
    const passport = await buildPassport([
      { identity: ids[0]!, sourceType: 'internet', addedTaints: ['web'] },
      { identity: ids[1]!, trustOverride: 90, removedTaints: ['web'] },
      { identity: ids[2]! },
    ]);
    const spans = spansOfPassport(passport.toJSON());
    const [bad] = await auditSpans(spans, { trust });
    expect(bad?.failure).toMatchObject({ index: 1, reason: 'unauthorized_sanitizer' });
    expect(bad?.entries[2]?.status).toBe('unverified');
    const [good] = await auditSpans(spans, {
      trust,
      sanitizers: [{ principal: ids[1]!.getWorkloadId(), mayRemove: ['web'] }],
    });
    expect(good?.status).toBe('verified');
    expect(good?.entries.map((e) => e.sanitized)).toEqual([false, true, false]);
    expect(good?.entries.map((e) => e.trustScore)).toEqual([10, 90, 90]);
  });

  it('a failed call closes with outcome error, trust 0 and failed_execution; everything after inherits 0', async () => {
    const path = join(dir, 'failed.jsonl');
    handle = KestTelemetry.setup({ serviceName: 'svc', exporter: 'file', path });
    const { ids, trust } = workloads(3, 'spiffe://audit.test/f');
    const engine = MockPolicyEngine.allowAll();
    const leaf = kestVerified(async () => 'ok', {
      policy: 'p',
      operation: 'leaf',
      identity: ids[2]!,
      engine,
    });
    const flaky = kestVerified(
      async () => {
        await leaf();
        throw new Error('boom');
      },
      { policy: 'p', operation: 'flaky', identity: ids[1]!, engine },
    );
    const after = kestVerified(async () => 'done', {
      policy: 'p',
      operation: 'after',
      identity: ids[2]!,
      engine,
    });
    const outer = kestVerified(
      async () => {
        await flaky().catch(() => undefined);
        return after();
      },
      { policy: 'p', operation: 'outer', identity: ids[0]!, engine },
    );
    await runWithPassport(Passport.empty(), () => outer());
    await handle.shutdown();
    const [r] = await auditFile(path, { trust });
    expect(r?.status).toBe('verified');
    expect(r?.gaps).toEqual([]);
    expect(r?.forks).toEqual([]);
    const flakyEntries = r?.entries.filter((e) => e.operation === 'flaky') ?? [];
    expect(flakyEntries.map((e) => [e.kind, e.outcome, e.failedExecution, e.trustScore])).toEqual([
      ['call', 'error', false, 10],
      ['completion', 'error', true, 0],
    ]);
    expect(flakyEntries[0]?.completedBy).toBe(flakyEntries[1]?.hash);
    expect(r?.entries.find((e) => e.operation === 'after')?.trustScore).toBe(0);
  });

  it('a denied call is marked denied', async () => {
    const path = join(dir, 'denied.jsonl');
    handle = KestTelemetry.setup({ serviceName: 'svc', exporter: 'file', path });
    const { ids, trust } = workloads(2, 'spiffe://audit.test/d');
    const engine = new MockPolicyEngine({ policies: { ok: 'allow', no: 'deny' } });
    const inner = kestVerified(async () => 1, {
      policy: 'no',
      operation: 'inner',
      identity: ids[1]!,
      engine,
    });
    const outer = kestVerified(async () => inner().catch(() => 0), {
      policy: 'ok',
      operation: 'outer',
      identity: ids[0]!,
      engine,
    });
    await runWithPassport(Passport.empty(), () => outer());
    await handle.shutdown();
    const [r] = await auditFile(path, { trust });
    expect(r?.status).toBe('verified');
    // from the signed outcome: the denied call closed with outcome denied
    expect(new Set(r?.entries.map((e) => `${e.operation}:${e.kind}:${e.denied}:${e.deniedFrom}`))).toEqual(
      new Set([
        'outer:call:false:signed',
        'outer:completion:false:signed',
        'inner:call:true:signed',
        'inner:completion:true:signed',
      ]),
    );
  });

  it('claim checks are resolved through the configured cache; an unreachable cache is reported', async () => {
    const { ids, trust } = workloads(3);
    const passport = await buildPassport([
      { identity: ids[0]! },
      { identity: ids[1]! },
      { identity: ids[2]! },
    ]);
    const spans = spansOfPassport(passport.toJSON());
    const id = '0193a7c2-7f1e-7a3b-9c4d-5e6f7a8b9c0d';
    spans[2]!.attributes['kest.claim_check'] = id;
    const withoutMiddle = [spans[0]!, spans[2]!];
    const cache = new MemoryCacheProvider();
    await cache.set(id, passport.serialize(), 60);
    const [r] = await auditSpans(withoutMiddle, { trust, cache });
    expect(r?.gaps.map((g) => g.recovered)).toEqual(['claim_check']);
    expect(r?.claimChecks).toEqual([{ id, spanId: spans[2]!.spanId, resolved: true }]);
    expect(r?.entries.every((e) => e.status === 'verified')).toBe(true);

    const down = {
      get: async () => {
        throw new Error('connection refused');
      },
      set: async () => undefined,
      delete: async () => undefined,
      close: async () => undefined,
    };
    const [r2] = await auditSpans(withoutMiddle, { trust, cache: down });
    expect(r2?.gaps.map((g) => g.recovered)).toEqual([null]);
    expect(r2?.claimChecks[0]).toMatchObject({ resolved: false, error: 'connection refused' });
    expect(r2?.status).toBe('incomplete');
  });

  it('a span whose signature is not a JWS fails at that entry', async () => {
    const { ids, trust } = workloads(2);
    const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const spans = spansOfPassport([...passport.toJSON(), 'not.a-jws']);
    const [r] = await auditSpans(spans, { trust });
    expect(r?.status).toBe('failed');
    expect(r?.failure).toMatchObject({ index: 2, reason: 'malformed_jws' });
    expect(r?.entries.slice(0, 2).every((e) => e.status === 'verified')).toBe(true);
  });

  it('spans without Kest entries are ignored; duplicates are counted once', async () => {
    const { ids, trust } = workloads(1);
    const passport = await buildPassport([{ identity: ids[0]! }]);
    const spans = spansOfPassport(passport.toJSON());
    const other: SpanRecord = { ...spans[0]!, spanId: 'ff'.repeat(8), name: 'GET /', attributes: {} };
    const noise: SpanRecord = { ...other, traceId: 'cd'.repeat(16) };
    const reports = await auditSpans([spans[0]!, spans[0]!, other, noise], { trust });
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'verified', duplicates: 1, otherSpans: 1 });
  });

  it('auditPassport reports a passport the same way (TC-02: an edited payload breaks the next link)', async () => {
    const { ids, trust } = workloads(2);
    const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    expect((await auditPassport(passport, { trust })).status).toBe('verified');
    const jws = passport.toJSON();
    const [h, p, s] = jws[0]!.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.operation = 'edited';
    jws[0] = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    const r = await auditPassport(JSON.stringify(jws), { trust });
    expect(r.status).toBe('failed');
    expect(r.failure?.index).toBe(0);
    // the original first entry is referenced by the second but present nowhere
    expect(r.gaps).toHaveLength(1);
    const unsure = await auditPassport(Passport.fromJws(passport.toJSON()));
    expect(unsure.status).toBe('unverified');
  });
});
