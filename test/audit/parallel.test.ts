/**
 * The audit's worker path (docs/spec.md §7, issue 7's benchmark) gives the same reports as the
 * in-process path: verified chains, failures (bad signature, unknown principal, forbidden
 * sanitizer), gaps recovered from carried passports or lost, a parent carried by another trace,
 * forks, malformed and duplicate spans. Traces a worker cannot finish alone are handed back.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupSpans } from '../../src/audit/graph.js';
import { type AuditOptions, type AuditReport, auditFile, auditSpans } from '../../src/audit/index.js';
import { AuditPool, closeAuditWorkers, plannedWorkers, workerSettings } from '../../src/audit/pool.js';
import type { TrustSource } from '../../src/keys/trust-source.js';
import type { SpanRecord } from '../../src/telemetry/record.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { DefaultTrustEvaluator, WeightedTrustEvaluator } from '../../src/trust/evaluator.js';
import { buildPassport, workloads } from '../support/chain.js';
import { spansOfPassport, writeLines } from './run.js';

afterAll(() => closeAuditWorkers());

const T = (n: number) => n.toString(16).padStart(32, '0');

/** Spans of a passport in one trace, each carrying the passport up to its own entry (as the hook does). */
function hookSpans(jws: readonly string[], traceId: string, from = 0): SpanRecord[] {
  return spansOfPassport(jws, traceId)
    .map((s, i) => ({
      ...s,
      spanId: `${traceId.slice(0, 8)}${(i + 1).toString(16).padStart(8, '0')}`,
      attributes: { ...s.attributes, 'kest.passport': JSON.stringify(jws.slice(0, i + 1)) },
    }))
    .slice(from);
}

function edit(jws: string, change: (p: Record<string, unknown>) => void): string {
  const [h, p, s] = jws.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  change(payload);
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

async function scenario() {
  const { ids, trust } = workloads(4, 'spiffe://parallel.test/svc');
  const [a, b, c, d] = ids as [
    MockIdentityProvider,
    MockIdentityProvider,
    MockIdentityProvider,
    MockIdentityProvider,
  ];
  const stranger = new MockIdentityProvider({ workloadId: 'spiffe://parallel.test/stranger' });
  const chain = async () =>
    (
      await buildPassport([
        { identity: a, sourceType: 'user_input', operation: 'ingress' },
        { identity: b, sourceType: 'third_party_api', addedTaints: ['pii'], operation: 'lookup' },
        { identity: c, operation: 'write' },
      ])
    ).toJSON();
  const spans: SpanRecord[] = [];

  // 1: verified
  spans.push(...hookSpans(await chain(), T(1)));
  // 2: an edited middle entry: bad_signature at index 1; the genuine entry, named by the passport
  // its span carried, is recovered from the next span's passport (a gap and a conflicting fork)
  const edited = hookSpans(await chain(), T(2));
  edited[1]!.attributes['kest.signature'] = edit(edited[1]!.attributes['kest.signature'] as string, (p) => {
    p.trust_score = 100;
  });
  spans.push(...edited);
  // 3: a removed span, recovered from the passport the next span carried (a gap)
  const gap = hookSpans(await chain(), T(3));
  spans.push(gap[0]!, gap[2]!);
  // 4: a removed span and no carried passports: the entry is lost, the leaf stays unverified
  const lost = hookSpans(await chain(), T(4)).map((s) => {
    const { 'kest.passport': _p, ...rest } = s.attributes;
    return { ...s, attributes: rest };
  });
  spans.push(lost[0]!, lost[2]!);
  // 5: one lineage over two traces: the second trace's parent is carried by a span of the first
  const split = (
    await buildPassport([
      { identity: a, sourceType: 'internal', operation: 'front' },
      { identity: b, operation: 'mid' },
      { identity: c, operation: 'back' },
      { identity: d, operation: 'end' },
    ])
  ).toJSON();
  spans.push(...hookSpans(split, T(5)).slice(0, 2));
  spans.push(
    ...hookSpans(split, T(6))
      .slice(2)
      .map((s) => ({
        ...s,
        attributes: { ...s.attributes, 'kest.passport': JSON.stringify(split.slice(2)) },
      })),
  );
  // 7: a sanitizer (allowed by the options) raises trust and clears a taint
  spans.push(
    ...hookSpans(
      (
        await buildPassport([
          { identity: a, sourceType: 'internet', addedTaints: ['web'], operation: 'fetch' },
          { identity: d, trustOverride: 90, removedTaints: ['web'], operation: 'sanitize' },
          { identity: c, operation: 'store' },
        ])
      ).toJSON(),
      T(7),
    ),
  );
  // 8: an entry signed by a principal the trust source does not know
  spans.push(
    ...hookSpans(
      (
        await buildPassport([
          { identity: a, sourceType: 'internal', operation: 'start' },
          { identity: stranger, operation: 'intrude' },
        ])
      ).toJSON(),
      T(8),
    ),
  );
  // 9: a concurrent fork, one branch edited: each branch verified on its own
  const fork = hookSpans(
    (
      await buildPassport([
        { identity: a, sourceType: 'internal', operation: 'root' },
        { identity: b, operation: 'left' },
        { identity: c, operation: 'right', parents: [0] },
      ])
    ).toJSON(),
    T(9),
  );
  // edited with the passport its span carries, so that nothing is missing
  fork[2]!.attributes['kest.signature'] = edit(fork[2]!.attributes['kest.signature'] as string, (p) => {
    p.operation = 'right-edited';
  });
  fork[2]!.attributes['kest.passport'] = JSON.stringify([
    fork[0]!.attributes['kest.signature'],
    fork[2]!.attributes['kest.signature'],
  ]);
  spans.push(...fork);
  // 10: a signature that is not a JWS, a span without an entry, a duplicate span
  const odd = hookSpans(await chain(), T(10));
  odd[2]!.attributes['kest.signature'] = 'not.a-jws';
  delete odd[2]!.attributes['kest.passport'];
  spans.push(...odd, { ...odd[0]!, spanId: 'dddddddddddddddd' });
  spans.push({ ...odd[0]!, spanId: 'eeeeeeeeeeeeeeee', name: 'http.get', attributes: {} });
  // a trace without any Kest entry
  spans.push({ ...odd[0]!, traceId: T(11), spanId: 'ffffffffffffffff', name: 'other', attributes: {} });

  const options: AuditOptions = {
    trust,
    sanitizers: [{ principal: d.getWorkloadId(), mayRemove: ['web'], maxTrust: 90 }],
  };
  return { spans, options, trust };
}

/** The statuses the scenario must produce (so that equal reports are not equally empty). */
function expectScenario(reports: AuditReport[]) {
  const by = new Map(reports.map((r) => [r.traceId, r]));
  expect(reports.map((r) => r.traceId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(T));
  expect(by.get(T(1))?.status).toBe('verified');
  expect(by.get(T(2))?.failure).toMatchObject({ index: 1, reason: 'bad_signature' });
  expect(by.get(T(2))?.forks.map((f) => f.kind)).toEqual(['conflict']);
  expect(by.get(T(3))?.gaps.map((g) => g.recovered)).toEqual(['passport']);
  expect(by.get(T(3))?.status).toBe('incomplete');
  expect(by.get(T(4))?.gaps.map((g) => g.recovered)).toEqual([null]);
  expect(by.get(T(4))?.entries.map((e) => e.reason)).toEqual([undefined, 'below_gap']);
  expect(by.get(T(5))?.status).toBe('verified');
  expect(by.get(T(6))?.entries.map((e) => e.crossTrace)).toEqual([true, true, false, false]);
  expect(by.get(T(6))?.status).toBe('verified');
  expect(by.get(T(7))?.entries.map((e) => e.sanitized)).toEqual([false, true, false]);
  expect(by.get(T(7))?.status).toBe('verified');
  expect(by.get(T(8))?.failure).toMatchObject({ index: 1, reason: 'unknown_principal' });
  expect(by.get(T(8))?.failure?.message).toContain('spiffe://parallel.test/stranger');
  expect(by.get(T(9))?.forks.map((f) => f.kind)).toEqual(['concurrent']);
  expect(by.get(T(9))?.branches.map((b) => b.status)).toEqual(['verified', 'failed']);
  expect(by.get(T(10))?.failure).toMatchObject({ index: 2, reason: 'malformed_jws' });
  expect(by.get(T(10))?.duplicates).toBe(1);
  expect(by.get(T(10))?.unsignedSpans).toEqual([]);
  expect(by.get(T(10))?.otherSpans).toBe(1);
}

describe('worker threads and in-process audit agree', () => {
  it('auditSpans: the same reports with workers as on the calling thread', async () => {
    const { spans, options } = await scenario();
    const inProcess = await auditSpans(spans, { ...options, workers: 0 });
    expectScenario(inProcess);
    const parallel = await auditSpans(spans, { ...options, workers: 2, workerMinSpans: 0 });
    expect(parallel).toEqual(inProcess);
  });

  it('workers audit what they can alone and hand back gaps and cross-trace parents', async () => {
    const { spans, options, trust } = await scenario();
    const inProcess = await auditSpans(spans, { ...options, workers: 0 });
    const settings = workerSettings(options);
    expect(settings?.keysByPrincipalAndKid).toBe(true);
    const { groups: all, byHash } = groupSpans(spans);
    const groups = [...all.values()].filter((g) => g.nodes.length > 0);
    const pool = AuditPool.start(2);
    try {
      expect(pool.size).toBe(2);
      // without a local auditor: every trace goes to a worker
      const results = await pool.run(groups, trust, settings!, (h) => byHash.get(h)?.jws);
      const kinds = Object.fromEntries(groups.map((g, i) => [g.traceId, results[i]?.kind]));
      expect(kinds).toEqual({
        [T(1)]: 'report',
        [T(2)]: 'main', // the genuine entry is in another span's passport
        [T(3)]: 'main', // gap: only the main thread holds the carried passports
        [T(4)]: 'main',
        [T(5)]: 'report',
        [T(6)]: 'main', // parent carried by trace 5
        [T(7)]: 'report',
        [T(8)]: 'report', // unknown principal: the error crossed the thread intact
        [T(9)]: 'report',
        [T(10)]: 'report',
      });
      for (const [i, g] of groups.entries()) {
        const r = results[i];
        if (r?.kind === 'report') expect(r.report).toEqual(inProcess.find((x) => x.traceId === g.traceId));
      }
    } finally {
      await pool.close();
    }
  });

  it('any trust source works through the main thread (no key reuse), and --trace filters', async () => {
    const { spans, options, trust } = await scenario();
    const calls: string[] = [];
    const wrapped: TrustSource = {
      resolveKey: (r) => {
        calls.push(r.principal);
        return trust.resolveKey(r);
      },
    };
    expect(workerSettings({ ...options, trust: wrapped })?.keysByPrincipalAndKid).toBe(false);
    const inProcess = await auditSpans(spans, { ...options, trust: wrapped, workers: 0 });
    const inProcessCalls = calls.length;
    calls.length = 0;
    const parallel = await auditSpans(spans, { ...options, trust: wrapped, workers: 2, workerMinSpans: 0 });
    expect(parallel).toEqual(inProcess);
    // every resolution reached the caller's trust source, none was reused by a worker
    expect(calls.length).toBe(inProcessCalls);

    const one = { ...options, traceId: T(2), trustEvaluator: new DefaultTrustEvaluator() };
    const filtered = await auditSpans(spans, { ...one, workers: 2, workerMinSpans: 0 });
    expect(filtered.map((r) => r.traceId)).toEqual([T(2)]);
    expect(filtered).toEqual(await auditSpans(spans, { ...one, workers: 0 }));
  });

  it('auditFile (what kest audit runs) uses the same path and gives the same reports', async () => {
    const { spans, options } = await scenario();
    const dir = mkdtempSync(join(tmpdir(), 'kest-parallel-'));
    try {
      const path = join(dir, 'spans.jsonl');
      writeLines(path, spans);
      const inProcess = await auditFile(path, { ...options, workers: 0 });
      expectScenario(inProcess);
      expect(await auditFile(path, { ...options, workers: 2, workerMinSpans: 0 })).toEqual(inProcess);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the shared workers serve overlapping audits, each with its own settings', async () => {
    const { spans, options, trust } = await scenario();
    const strict = { trust }; // without the sanitizer rule: trace 7 fails
    const [a, b] = await Promise.all([
      auditSpans(spans, { ...options, workers: 1, workerMinSpans: 0 }),
      auditSpans(spans, { ...strict, workers: 1, workerMinSpans: 0 }),
    ]);
    expect(a).toEqual(await auditSpans(spans, { ...options, workers: 0 }));
    expect(b).toEqual(await auditSpans(spans, { ...strict, workers: 0 }));
    expect(b.find((r) => r.traceId === T(7))?.failure?.reason).toBe('unauthorized_sanitizer');
    expect(a.find((r) => r.traceId === T(7))?.status).toBe('verified');
  });

  it('small audits, single traces and options that cannot cross a thread stay in-process', () => {
    const { options } = { options: { trust: workloads(1).trust } as AuditOptions };
    expect(plannedWorkers({ ...options }, 499, 100)).toBe(0);
    expect(plannedWorkers({ ...options, workers: 3 }, 10_000, 1)).toBe(0);
    // the calling thread audits too: two traces need one worker
    expect(plannedWorkers({ ...options, workers: 3 }, 10_000, 2)).toBe(1);
    expect(plannedWorkers({ ...options, workers: 3 }, 10_000, 1000)).toBe(3);
    expect(plannedWorkers({ ...options, workers: 0 }, 10_000, 1000)).toBe(0);
    // a custom trust evaluator is code: a worker could not run it
    expect(workerSettings({ ...options, trustEvaluator: new WeightedTrustEvaluator() })).toBeUndefined();
    expect(workerSettings({ ...options, trustEvaluator: new DefaultTrustEvaluator() })).toBeDefined();
    expect(workerSettings({})).toBeUndefined();
  });
});
