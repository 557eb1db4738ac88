/**
 * KestTelemetry.setup (docs/spec.md §7): spans of real hook calls reach the file, SQLite and OTLP/HTTP
 * exporters with service.name and the kest.* attributes; an application's own SDK is joined, not
 * replaced; shutdown flushes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyTracerProvider, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KestConfigurationError } from '../../src/errors.js';
import { KestTelemetry, type KestTelemetryHandle } from '../../src/telemetry/index.js';
import { readLines, startOtlpReceiver, threeHopWorld } from '../audit/run.js';

const dir = mkdtempSync(join(tmpdir(), 'kest-telemetry-'));
let handle: KestTelemetryHandle | undefined;

afterEach(async () => {
  await handle?.shutdown();
  handle = undefined;
  trace.disable();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('KestTelemetry.setup', () => {
  it('file: one JSON line per hook call with the documented fields', async () => {
    const path = join(dir, 'spans.jsonl');
    handle = KestTelemetry.setup({ serviceName: 'checkout', exporter: 'file', path });
    expect(handle.mode).toBe('registered');
    await threeHopWorld().run(5);
    await handle.shutdown();
    const lines = readLines(path);
    expect(lines).toHaveLength(3);
    for (const r of lines) {
      expect(r.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(r.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(r.scope.name).toBe('kest.core');
      expect(r.name).toMatch(/^kest\.verified\./);
      expect(r.resource['service.name']).toBe('checkout');
      expect(BigInt(r.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(r.startTimeUnixNano));
      expect(typeof r.attributes['kest.signature']).toBe('string');
      expect(Number.isInteger(r.attributes['kest.trust_score'])).toBe(true);
      expect(r.attributes['kest.operation']).toBe(r.name.slice('kest.verified.'.length));
      expect(typeof r.attributes['kest.entry_id']).toBe('string');
      expect(typeof r.attributes['kest.workload_id']).toBe('string');
      expect(typeof r.attributes['kest.parent_hash']).toBe('string');
      expect(r.status.code).toBe('UNSET');
    }
    // nesting: one trace, parent span ids link the three calls
    expect(new Set(lines.map((l) => l.traceId)).size).toBe(1);
    const outer = lines.find((l) => l.name === 'kest.verified.gateway.handle');
    expect(outer?.parentSpanId).toBeNull();
    expect(lines.find((l) => l.name === 'kest.verified.orders.place')?.parentSpanId).toBe(outer?.spanId);
  });

  it('file: appends across setups (durable log, never truncated)', async () => {
    const path = join(dir, 'append.jsonl');
    handle = KestTelemetry.setup({ serviceName: 'a', exporter: 'file', path });
    await threeHopWorld().run();
    await handle.shutdown();
    trace.disable();
    handle = KestTelemetry.setup({ serviceName: 'b', exporter: 'file', path });
    await threeHopWorld().run();
    await handle.shutdown();
    const lines = readLines(path);
    expect(lines.map((l) => l.resource['service.name'])).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
  });

  it('sqlite: a spans table indexed on trace id, one row per call', async () => {
    const path = join(dir, 'audit.sqlite');
    handle = KestTelemetry.setup({ serviceName: 'ledger-svc', exporter: 'sqlite', path });
    await threeHopWorld().run();
    await threeHopWorld().run();
    await handle.shutdown();
    const db = new Database(path, { readonly: true });
    try {
      const rows = db.prepare('SELECT * FROM spans ORDER BY id').all() as Record<string, unknown>[];
      expect(rows).toHaveLength(6);
      expect(new Set(rows.map((r) => r.trace_id)).size).toBe(2);
      for (const r of rows) {
        expect(r.service_name).toBe('ledger-svc');
        expect(r.scope_name).toBe('kest.core');
        expect(r.signature).toBe(JSON.parse(r.attributes as string)['kest.signature']);
        expect(r.entry_id).toBe(JSON.parse(r.attributes as string)['kest.entry_id']);
      }
      const indexes = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index'").all() as {
        name: string;
        sql: string;
      }[];
      expect(indexes.some((i) => /ON spans\(trace_id\)/.test(i.sql))).toBe(true);
      const plan = db.prepare('EXPLAIN QUERY PLAN SELECT * FROM spans WHERE trace_id = ?').all('x') as {
        detail: string;
      }[];
      expect(plan.map((p) => p.detail).join(' ')).toMatch(/USING INDEX spans_trace_id/);
    } finally {
      db.close();
    }
  });

  it('otlp: the official exporter reaches a real OTLP/HTTP receiver on loopback, flushed by shutdown', async () => {
    const receiver = await startOtlpReceiver();
    try {
      handle = KestTelemetry.setup({ serviceName: 'gw', exporter: 'otlp', endpoint: receiver.url });
      await threeHopWorld().run();
      expect(receiver.bodies).toHaveLength(0); // batched until flushed
      await handle.shutdown();
      const spans = (
        receiver.bodies as {
          resourceSpans: { resource: unknown; scopeSpans: { scope: { name: string }; spans: unknown[] }[] }[];
        }[]
      )
        .flatMap((b) => b.resourceSpans)
        .flatMap((rs) => rs.scopeSpans.map((ss) => ({ rs, ss })));
      expect(spans.reduce((n, x) => n + x.ss.spans.length, 0)).toBe(3);
      expect(spans[0]?.ss.scope.name).toBe('kest.core');
      expect(JSON.stringify(spans[0]?.rs.resource)).toContain('"service.name"');
      expect(JSON.stringify(spans[0]?.rs.resource)).toContain('"gw"');
    } finally {
      await receiver.close();
    }
  });

  it('joins an SDK the application registered instead of registering a second provider', async () => {
    const mine = new InMemorySpanExporter();
    const appProvider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'app' }),
      spanProcessors: [new SimpleSpanProcessor(mine)],
    });
    expect(trace.setGlobalTracerProvider(appProvider)).toBe(true);
    const path = join(dir, 'attached.jsonl');
    handle = KestTelemetry.setup({ serviceName: 'ignored', exporter: 'file', path });
    expect(handle.mode).toBe('attached');
    expect((trace.getTracerProvider() as ProxyTracerProvider).getDelegate()).toBe(appProvider);
    await threeHopWorld().run();
    await handle.shutdown();
    expect(mine.getFinishedSpans()).toHaveLength(3);
    const lines = readLines(path);
    expect(lines).toHaveLength(3);
    // the application's resource wins
    expect(lines.every((l) => l.resource['service.name'] === 'app')).toBe(true);
    await appProvider.shutdown();
  });

  it("existingProvider 'error' refuses to touch an application's SDK", () => {
    const appProvider = new BasicTracerProvider();
    trace.setGlobalTracerProvider(appProvider);
    expect(() =>
      KestTelemetry.setup({ serviceName: 's', exporter: 'console', existingProvider: 'error' }),
    ).toThrow(KestConfigurationError);
  });

  it('validates its options', () => {
    expect(() => KestTelemetry.setup({ serviceName: '', exporter: 'console' })).toThrow(
      KestConfigurationError,
    );
    expect(() => KestTelemetry.setup({ serviceName: 's', exporter: 'zipkin' as unknown as 'otlp' })).toThrow(
      /unknown telemetry exporter/,
    );
    // nothing was registered by the failed calls
    const proxy = trace.getTracerProvider() as ProxyTracerProvider;
    expect(proxy.getDelegate()).toBe(new ProxyTracerProvider().getDelegate());
  });

  it('shutdown is idempotent and unregisters, so setup can run again', async () => {
    const path = join(dir, 'again.jsonl');
    handle = KestTelemetry.setup({ serviceName: 's', exporter: 'file', path });
    await handle.shutdown();
    await handle.shutdown();
    handle = KestTelemetry.setup({ serviceName: 's', exporter: 'file', path });
    expect(handle.mode).toBe('registered');
  });
});
