/**
 * The audit's OTLP/gRPC receiver and OTLP protobuf span files, against the official OpenTelemetry
 * exporters on 127.0.0.1: spans of real hook calls sent at once over OTLP/gRPC, OTLP/HTTP (JSON)
 * and to the JSON-lines file audit to the same verdicts; an edited span fails at the same entry
 * however it travelled; what the receiver records reads back as a span file; the bounds hold.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  auditFile,
  auditSpans,
  detectFormat,
  OtlpGrpcReceiver,
  readSpansFile,
} from '../../src/audit/index.js';
import { KestConfigurationError } from '../../src/errors.js';
import { KestTelemetry, type KestTelemetryHandle } from '../../src/telemetry/index.js';
import { exportVia, grpcExporter, readableSpans, sendRaw, verdicts } from './otlp-send.js';
import { readLines, startOtlpReceiver, threeHopWorld, writeLines } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'kest-otlp-grpc-'));
const handles: KestTelemetryHandle[] = [];
const receivers: OtlpGrpcReceiver[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.shutdown();
  for (const r of receivers.splice(0)) await r.close();
  trace.disable();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function receiver(options: Parameters<typeof OtlpGrpcReceiver.start>[0] = {}) {
  const r = await OtlpGrpcReceiver.start({ address: '127.0.0.1:0', ...options });
  receivers.push(r);
  return r;
}

/** Protobuf by hand: a varint, a length-delimited field. */
const varint = (n: number) => {
  const out: number[] = [];
  for (let v = n; ; v = Math.floor(v / 128)) {
    out.push(v >= 128 ? (v & 0x7f) | 0x80 : v);
    if (v < 128) return Buffer.from(out);
  }
};
const ld = (field: number, bytes: Buffer) =>
  Buffer.concat([Buffer.from([(field << 3) | 2]), varint(bytes.length), bytes]);

/** An attribute value nested `levels` arrays deep (AnyValue.array_value → ArrayValue.values → ...). */
function deepValue(levels: number): Buffer {
  const inner = ld(1, Buffer.from('x'));
  const prefixes: Buffer[] = [];
  let size = inner.length;
  for (let i = 0; i < levels; i++) {
    for (const tag of [0x0a, 0x2a]) {
      const prefix = Buffer.concat([Buffer.from([tag]), varint(size)]);
      size += prefix.length;
      prefixes.push(prefix);
    }
  }
  return Buffer.concat([...prefixes.reverse(), inner]);
}

describe('OTLP/gRPC receiver', () => {
  it('hook spans over OTLP/gRPC, OTLP/HTTP and the file exporter: the same spans and verdicts', async () => {
    const grpcIn = await receiver({ recordTo: join(dir, 'recorded.pb') });
    const httpIn = await startOtlpReceiver();
    const file = join(dir, 'hook.jsonl');
    try {
      const exporter = grpcExporter(grpcIn.address);
      handles.push(KestTelemetry.setup({ serviceName: 'svc', exporter, processor: 'batch' }));
      handles.push(KestTelemetry.setup({ serviceName: 'svc', exporter: 'file', path: file }));
      handles.push(KestTelemetry.setup({ serviceName: 'svc', exporter: 'otlp', endpoint: httpIn.url }));
      expect(handles.map((h) => h.mode)).toEqual(['registered', 'attached', 'attached']);
      const world = threeHopWorld();
      await world.run(1);
      await world.run(2);
      for (const h of handles.splice(0)) await h.shutdown();
      const httpFile = join(dir, 'http.jsonl');
      writeFileSync(httpFile, httpIn.bodies.map((b) => `${JSON.stringify(b)}\n`).join(''));

      // The records themselves: every field the audit reads arrived intact over gRPC.
      const fromFile = readLines(file);
      const fromGrpc = grpcIn.spans();
      expect(fromGrpc).toHaveLength(fromFile.length);
      for (const r of fromFile) {
        const g = fromGrpc.find((s) => s.spanId === r.spanId);
        expect(g).toMatchObject({
          traceId: r.traceId,
          parentSpanId: r.parentSpanId,
          name: r.name,
          kind: r.kind,
          startTimeUnixNano: r.startTimeUnixNano,
          endTimeUnixNano: r.endTimeUnixNano,
          attributes: r.attributes,
          scope: { name: r.scope.name },
        });
        expect(g?.resource['service.name']).toBe('svc');
      }
      expect(grpcIn.stats).toMatchObject({ spans: fromFile.length, refusedExports: 0, unfinishedCalls: 0 });

      const trust = world.trust;
      const viaFile = verdicts(await auditFile(file, { trust, workers: 0 }));
      expect(viaFile).toHaveLength(2);
      expect(viaFile.every((v) => v.status === 'verified' && v.entries.length === 6)).toBe(true);
      expect(verdicts(await auditSpans(fromGrpc, { trust, workers: 0 }))).toEqual(viaFile);
      expect(verdicts(await auditFile(httpFile, { trust, workers: 0 }))).toEqual(viaFile);
      // What the receiver recorded is an OTLP protobuf span file.
      expect(detectFormat(join(dir, 'recorded.pb'))).toBe('otlp-proto');
      expect(verdicts(await auditFile(join(dir, 'recorded.pb'), { trust, workers: 0 }))).toEqual(viaFile);
    } finally {
      await httpIn.close();
    }
  });

  it('an edited entry fails at the same entry over gRPC (gzip) as in the file', async () => {
    const file = join(dir, 'edit.jsonl');
    handles.push(KestTelemetry.setup({ serviceName: 'svc', exporter: 'file', path: file }));
    const world = threeHopWorld();
    await world.run();
    for (const h of handles.splice(0)) await h.shutdown();
    const records = readLines(file);
    const target = records.find((r) => r.name === 'kest.verified.orders.place') as (typeof records)[0];
    const [h, p, s] = String(target.attributes['kest.signature']).split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.trust_score = 100;
    target.attributes['kest.signature'] =
      `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    writeLines(file, records);

    const grpcIn = await receiver();
    expect(await exportVia(grpcExporter(grpcIn.address, true), readableSpans(records))).toEqual({ code: 0 });
    const viaFile = verdicts(await auditFile(file, { trust: world.trust, workers: 0 }));
    expect(viaFile[0]).toMatchObject({ status: 'failed', failure: { reason: expect.any(String) } });
    expect(verdicts(await auditSpans(grpcIn.spans(), { trust: world.trust, workers: 0 }))).toEqual(viaFile);
  });

  it('bounds: message size, span count, malformed requests; each refusal counted', async () => {
    const file = join(dir, 'bounds.jsonl');
    handles.push(KestTelemetry.setup({ serviceName: 'svc', exporter: 'file', path: file }));
    await threeHopWorld().run();
    for (const h of handles.splice(0)) await h.shutdown();
    const spans = readableSpans(readLines(file));

    const small = await receiver({ maxMessageBytes: 1024 });
    expect((await exportVia(grpcExporter(small.address), spans)).code).toBe(1);
    await small.close();
    expect(small.stats).toMatchObject({ exports: 0, spans: 0, unfinishedCalls: 1 });

    const few = await receiver({ maxSpans: 2 });
    expect((await exportVia(grpcExporter(few.address), spans)).code).toBe(1);
    expect(few.stats).toMatchObject({ exports: 0, refusedExports: 1, refusedSpans: 3 });
    expect(few.stats.firstRefusal).toMatch(/at most 2 spans/);
    expect(few.spans()).toEqual([]);

    const strict = await receiver();
    expect(await sendRaw(strict.address, Buffer.from([0x0a, 0x05, 0x01]))).toMatchObject({ code: 3 });
    // A span whose trace_id has 3 bytes: well-formed protobuf, refused by the id check.
    const span = Buffer.concat([
      ld(1, Buffer.from('abcdef', 'hex')),
      ld(2, Buffer.alloc(8, 1)),
      ld(5, Buffer.from('x')),
    ]);
    const badId = ld(1, ld(2, ld(2, span)));
    expect(await sendRaw(strict.address, badId)).toMatchObject({
      code: 3,
      details: expect.stringMatching(/trace_id has 3 bytes/),
    });
    // Nesting 10 000 arrays deep: refused by the decoder's depth limit, not a stack overflow.
    const attribute = ld(9, Buffer.concat([ld(1, Buffer.from('k')), ld(2, deepValue(10_000))]));
    const deepSpan = Buffer.concat([ld(1, Buffer.alloc(16, 1)), ld(2, Buffer.alloc(8, 2)), attribute]);
    expect(await sendRaw(strict.address, ld(1, ld(2, ld(2, deepSpan))))).toMatchObject({
      code: 3,
      details: expect.stringMatching(/nesting depth/),
    });
    // An empty request is fine (exporters send them) and holds nothing.
    expect(await sendRaw(strict.address, Buffer.alloc(0))).toMatchObject({ code: 0 });
    expect(strict.stats).toMatchObject({ exports: 1, refusedExports: 3, spans: 0 });
  });

  it('options: a bad address, a bad limit and an unwritable record file fail at start', async () => {
    await expect(OtlpGrpcReceiver.start({ address: 'localhost' })).rejects.toBeInstanceOf(
      KestConfigurationError,
    );
    await expect(OtlpGrpcReceiver.start({ address: '127.0.0.1:0', maxSpans: 0 })).rejects.toThrow(/maxSpans/);
    await expect(
      OtlpGrpcReceiver.start({ address: '127.0.0.1:0', recordTo: join(dir, 'missing', 'x.pb') }),
    ).rejects.toThrow(/ENOENT/);
  });
});

describe('OTLP protobuf span files', () => {
  it('truncated or oversized messages are refused with the file and message named', async () => {
    const grpcIn = await receiver({ recordTo: join(dir, 'rec2.pb') });
    handles.push(KestTelemetry.setup({ serviceName: 'svc', exporter: grpcExporter(grpcIn.address) }));
    await threeHopWorld().run();
    for (const h of handles.splice(0)) await h.shutdown();
    const bytes = readFileSync(join(dir, 'rec2.pb'));
    expect((await readSpansFile(join(dir, 'rec2.pb'))).length).toBe(3);

    const cut = join(dir, 'cut.pb');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 3));
    await expect(readSpansFile(cut)).rejects.toThrow(/cut\.pb: message \d+ is truncated/);
    const huge = join(dir, 'huge.pb');
    writeFileSync(huge, Buffer.concat([Buffer.from([0x7f, 0xff, 0xff, 0xff]), bytes.subarray(4)]));
    await expect(readSpansFile(huge)).rejects.toThrow(/message 1 announces 2147483647 bytes/);
    // One bare message (a captured request body) reads as well.
    const bare = join(dir, 'bare.pb');
    writeFileSync(bare, bytes.subarray(4, 4 + bytes.readUInt32BE(0)));
    expect(detectFormat(bare)).toBe('otlp-proto');
    expect((await readSpansFile(bare)).length).toBeGreaterThan(0);
    await expect(readSpansFile(bare, { maxLineBytes: 100 })).rejects.toThrow(/larger than 100 bytes/);
  });

  it('JSON text stays JSON, even starting with a blank line; zeros are not protobuf', async () => {
    const path = join(dir, 'blank.jsonl');
    writeFileSync(path, '\n{"traceId":"ab","spanId":"cd","name":"x"}\n');
    expect(detectFormat(path)).toBe('json');
    const zeros = join(dir, 'zeros.bin');
    writeFileSync(zeros, Buffer.alloc(64));
    expect(detectFormat(zeros)).toBe('json');
    // A recording skips empty requests; zeros after a message are refused at once, not read as
    // endless empty messages.
    const recorded = join(dir, 'rec3.pb');
    const grpcIn = await receiver({ recordTo: recorded });
    const span = Buffer.concat([
      ld(1, Buffer.alloc(16, 1)),
      ld(2, Buffer.alloc(8, 2)),
      ld(5, Buffer.from('x')),
    ]);
    for (const body of [Buffer.alloc(0), ld(1, ld(2, ld(2, span))), Buffer.alloc(0)]) {
      expect(await sendRaw(grpcIn.address, body)).toMatchObject({ code: 0 });
    }
    expect(await readSpansFile(recorded)).toMatchObject([{ traceId: '01'.repeat(16), name: 'x' }]);
    const padded = join(dir, 'padded.pb');
    writeFileSync(padded, Buffer.concat([readFileSync(recorded), Buffer.alloc(1024)]));
    await expect(readSpansFile(padded)).rejects.toThrow(/message 2 has length 0/);
  });
});
