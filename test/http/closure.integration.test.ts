/**
 * Nothing dropped unnoticed (docs/spec.md §11), over real HTTP: a three-hop chain exports its spans
 * to a file; each hop's completion signs the tip the next hop returned in `kest-tip`. Dropping any
 * hop's spans, only its completion, or only its call entry is detected and named; a span's unsigned
 * status/name cannot change the outcome the report shows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startChain } from '../../examples/trusted-chain/chain.js';
import { FRAMEWORKS, type Framework } from '../../examples/trusted-chain/servers.js';
import { type AuditReport, auditSpans } from '../../src/audit/index.js';
import { configure, resetConfiguration, silentLogger } from '../../src/index.js';
import { MockPolicyEngine } from '../../src/policy/mock.js';
import { KestTelemetry, type SpanRecord } from '../../src/telemetry/index.js';
import { readLines } from '../audit/run.js';
import { workloads } from '../support/chain.js';

const dir = mkdtempSync(join(tmpdir(), 'kest-closure-'));
beforeAll(() => configure({ logger: silentLogger }));
afterEach(() => trace.disable());
afterAll(() => {
  resetConfiguration();
  rmSync(dir, { recursive: true, force: true });
});

const { ids, trust } = workloads(3, 'spiffe://test.kest/hop');
const principal = (i: number) => ids[i]!.getWorkloadId();

let n = 0;
async function exportChain(frameworks: Framework[]): Promise<SpanRecord[]> {
  const path = join(dir, `chain-${n++}.jsonl`);
  const handle = KestTelemetry.setup({ serviceName: 'chain', exporter: 'file', path });
  const chain = await startChain({
    engine: MockPolicyEngine.allowAll(),
    policies: ['allow'],
    hops: frameworks.map((framework, i) => ({
      name: `hop${i + 1}`,
      framework,
      identity: ids[i]!,
      kest: { trust, roots: [{ principal: ids[0]!.getWorkloadId() }] },
    })),
  });
  try {
    const res = await fetch(chain.url);
    expect(res.status).toBe(200);
    // the first hop answers its own tip too
    expect(res.headers.get('kest-tip')).toMatch(/^[0-9a-f]{64};by=/);
  } finally {
    await chain.close();
    await handle.shutdown();
  }
  return readLines(path);
}

const audit = async (spans: SpanRecord[]) => (await auditSpans(spans, { trust }))[0] as AuditReport;
const ofHop = (s: SpanRecord, i: number) => s.attributes['kest.workload_id'] === principal(i);

describe.each(FRAMEWORKS)('closure through %s', (framework) => {
  it('each completion lists the tip the next hop returned; the trace verifies closed', async () => {
    const r = await audit(await exportChain([framework, framework, framework]));
    expect(r.status).toBe('verified');
    expect(r.incomplete).toEqual([]);
    expect(r.missingRecords).toEqual([]);
    const completions = r.entries.filter((e) => e.kind === 'completion');
    expect(completions.map((e) => e.principal)).toEqual([principal(2), principal(1), principal(0)]);
    // hop1's completion signed hop2's final tip, hop2's signed hop3's
    for (const [caller, callee] of [
      [2, 1],
      [1, 0],
    ] as const) {
      const payload = JSON.parse(
        Buffer.from(completions[caller]!.jws.split('.')[1]!, 'base64url').toString(),
      );
      expect(JSON.parse(payload.labels['kest.downstream'])).toEqual([
        { tip: completions[callee]!.hash, by: completions[callee]!.principal },
      ]);
    }
  });
});

describe('dropped records are detected and named', () => {
  let spans: SpanRecord[];
  beforeAll(async () => {
    spans = await exportChain(['node', 'express', 'hono']);
  });

  it('all spans of the last hop: its tip is a missing record, named', async () => {
    const r = await audit(spans.filter((s) => !ofHop(s, 2)));
    expect(r.status).toBe('incomplete');
    expect(r.missingRecords).toEqual([
      expect.objectContaining({ via: 'downstream', expectedFrom: principal(2) }),
    ]);
  });

  it('all spans of the middle hop: its tip is a missing record, named; the hop below is unverified', async () => {
    const r = await audit(spans.filter((s) => !ofHop(s, 1)));
    expect(r.status).toBe('incomplete');
    expect(r.missingRecords.filter((m) => m.via === 'downstream').map((m) => m.expectedFrom)).toEqual([
      principal(1),
    ]);
    expect(r.entries.filter((e) => e.principal === principal(2)).every((e) => e.reason === 'below_gap')).toBe(
      true,
    );
  });

  it('all spans of the first hop: the second hop names the lost parent', async () => {
    const r = await audit(spans.filter((s) => !ofHop(s, 0)));
    expect(r.status).toBe('incomplete');
    const hop2Call = r.entries.find((e) => e.principal === principal(1) && e.kind === 'call');
    expect(r.missingRecords).toEqual([
      expect.objectContaining({ via: 'parent', referencedBy: hop2Call?.entryId }),
    ]);
  });

  it('only the last hop’s completion: the call is incomplete and its tip missing, both naming it', async () => {
    const cut = spans.map((s) => {
      if (!ofHop(s, 2)) return s;
      const { 'kest.completion': _c, ...attributes } = s.attributes;
      return { ...s, attributes };
    });
    const r = await audit(cut);
    expect(r.status).toBe('incomplete');
    expect(r.incomplete).toEqual([
      expect.objectContaining({ principal: principal(2), operation: 'hop3.handle' }),
    ]);
    expect(r.missingRecords).toEqual([expect.objectContaining({ expectedFrom: principal(2) })]);
  });

  it('only the last hop’s call entry: its completion names the workload that lost it', async () => {
    const cut = spans.map((s) => {
      if (!ofHop(s, 2)) return s;
      const { 'kest.signature': _c, ...attributes } = s.attributes;
      return { ...s, attributes };
    });
    const r = await audit(cut);
    expect(r.status).toBe('incomplete');
    expect(r.missingRecords).toEqual([
      expect.objectContaining({ via: 'parent', expectedFrom: principal(2) }),
    ]);
  });

  it('an edited span status and name do not change the signed outcome', async () => {
    const edited = spans.map((s) =>
      ofHop(s, 1)
        ? {
            ...s,
            name: 'kest.verified.made-up',
            resource: { 'service.name': 'made-up' },
            status: { code: 'ERROR' as const, message: 'ERR_AUTHORIZATION: denied' },
          }
        : s,
    );
    const r = await audit(edited);
    expect(r.status).toBe('verified');
    const hop2 = r.entries.filter((e) => e.principal === principal(1));
    expect(hop2.map((e) => [e.operation, e.outcome, e.denied, e.deniedFrom])).toEqual([
      ['hop2.handle', 'ok', false, 'signed'],
      ['hop2.handle', 'ok', false, 'signed'],
    ]);
    expect(hop2[1]!.durationMs).toBeGreaterThanOrEqual(0);
  });
});
