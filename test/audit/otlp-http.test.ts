/**
 * The audit's OTLP/HTTP receiver against the official OpenTelemetry exporters on 127.0.0.1: spans
 * of real hook calls sent over OTLP/HTTP as JSON (@opentelemetry/exporter-trace-otlp-http) and as
 * protobuf (@opentelemetry/exporter-trace-otlp-proto), gzipped or not, audit to the verdicts of the
 * JSON-lines file; an edited span fails at the same entry; the recording reads back as a span
 * file; malformed, oversized, wrong-type, wrong-path and cut-off requests are answered as the
 * OTLP/HTTP specification says and counted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { auditFile, auditSpans, OtlpHttpReceiver } from '../../src/audit/index.js';
import { KestConfigurationError } from '../../src/errors.js';
import { KestTelemetry, type KestTelemetryHandle } from '../../src/telemetry/index.js';
import { exportVia, readableSpans, verdicts } from './otlp-send.js';
import { readLines, threeHopWorld, writeLines } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'kest-otlp-http-'));
const handles: KestTelemetryHandle[] = [];
const receivers: OtlpHttpReceiver[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.shutdown();
  for (const r of receivers.splice(0)) await r.close();
  trace.disable();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function receiver(options: Parameters<typeof OtlpHttpReceiver.start>[0] = {}) {
  const r = await OtlpHttpReceiver.start({ address: '127.0.0.1:0', ...options });
  receivers.push(r);
  return r;
}

type Compression = NonNullable<NonNullable<ConstructorParameters<typeof JsonExporter>[0]>['compression']>;
const gzip = { compression: 'gzip' as Compression };
const jsonExporter = (url: string, zip = false) => new JsonExporter({ url, ...(zip ? gzip : {}) });
const protoExporter = (url: string, zip = false) => new ProtoExporter({ url, ...(zip ? gzip : {}) });

/** Spans of one three-hop run, written by the file exporter. */
async function hookSpans(name: string) {
  const file = join(dir, name);
  handles.push(KestTelemetry.setup({ serviceName: 'svc', exporter: 'file', path: file }));
  const world = threeHopWorld();
  await world.run();
  for (const h of handles.splice(0)) await h.shutdown();
  return { file, world, records: readLines(file) };
}

/** One raw request; resolves with the status, headers and body (undefined if the socket broke). */
function send(
  url: string,
  body: Buffer | string,
  headers: Record<string, string> = { 'content-type': 'application/json' },
  method = 'POST',
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('OTLP/HTTP receiver', () => {
  it('hook spans over OTLP/HTTP JSON and protobuf and the file exporter: the same spans and verdicts', async () => {
    const jsonIn = await receiver({ recordTo: join(dir, 'recorded.jsonl') });
    const protoIn = await receiver();
    const file = join(dir, 'hook.jsonl');
    handles.push(KestTelemetry.setup({ serviceName: 'svc', exporter: 'file', path: file }));
    handles.push(KestTelemetry.setup({ serviceName: 'svc', exporter: jsonExporter(jsonIn.url) }));
    handles.push(KestTelemetry.setup({ serviceName: 'svc', exporter: protoExporter(protoIn.url, true) }));
    const world = threeHopWorld();
    await world.run(1);
    await world.run(2);
    for (const h of handles.splice(0)) await h.shutdown();

    const fromFile = readLines(file);
    for (const r of [jsonIn, protoIn]) {
      expect(r.stats).toMatchObject({ spans: fromFile.length, refusedExports: 0, unfinishedCalls: 0 });
      for (const f of fromFile) {
        expect(r.spans().find((s) => s.spanId === f.spanId)).toMatchObject({
          traceId: f.traceId,
          parentSpanId: f.parentSpanId,
          name: f.name,
          kind: f.kind,
          startTimeUnixNano: f.startTimeUnixNano,
          endTimeUnixNano: f.endTimeUnixNano,
          attributes: f.attributes,
          scope: { name: f.scope.name },
        });
      }
    }
    const trust = world.trust;
    const viaFile = verdicts(await auditFile(file, { trust, workers: 0 }));
    expect(viaFile).toHaveLength(2);
    expect(viaFile.every((v) => v.status === 'verified' && v.entries.length === 6)).toBe(true);
    expect(verdicts(await auditSpans(jsonIn.spans(), { trust, workers: 0 }))).toEqual(viaFile);
    expect(verdicts(await auditSpans(protoIn.spans(), { trust, workers: 0 }))).toEqual(viaFile);
    // The recording is a JSON-lines span file.
    expect(verdicts(await auditFile(join(dir, 'recorded.jsonl'), { trust, workers: 0 }))).toEqual(viaFile);
  });

  it('an edited entry fails at the same entry over OTLP/HTTP (JSON gzip, protobuf) as in the file', async () => {
    const { file, world, records } = await hookSpans('edit.jsonl');
    const target = records.find((r) => r.name === 'kest.verified.orders.place') as (typeof records)[0];
    const [h, p, s] = String(target.attributes['kest.signature']).split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.trust_score = 100;
    target.attributes['kest.signature'] =
      `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    writeLines(file, records);
    const viaFile = verdicts(await auditFile(file, { trust: world.trust, workers: 0 }));
    expect(viaFile[0]).toMatchObject({ status: 'failed', failure: { reason: expect.any(String) } });
    for (const exporter of [jsonExporter, protoExporter]) {
      const r = await receiver();
      expect(await exportVia(exporter(r.url, true), readableSpans(records))).toEqual({ code: 0 });
      expect(verdicts(await auditSpans(r.spans(), { trust: world.trust, workers: 0 }))).toEqual(viaFile);
    }
  });

  it('bounds: body size (as sent and gunzipped), span count; each refusal counted', async () => {
    const { records } = await hookSpans('bounds.jsonl');
    const spans = readableSpans(records);
    const small = await receiver({ maxMessageBytes: 1024 });
    expect((await exportVia(protoExporter(small.url), spans)).code).toBe(1);
    // 64 KiB of JSON whitespace gzips to well under 1 KiB: refused once decompressed.
    const bomb = gzipSync(Buffer.from(`{"resourceSpans":[]${' '.repeat(64 * 1024)}}`));
    expect(bomb.length).toBeLessThan(1024);
    const zipped = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    const r = await send(small.url, bomb, zipped);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body.toString())).toMatchObject({ code: 8, message: /at most 1024 bytes/ });
    expect(small.stats).toMatchObject({ exports: 0, refusedExports: 2, spans: 0 });

    const few = await receiver({ maxSpans: 2 });
    expect((await exportVia(jsonExporter(few.url), spans)).code).toBe(1);
    expect(few.stats).toMatchObject({ exports: 0, refusedExports: 1, refusedSpans: 3 });
    expect(few.stats.firstRefusal).toMatch(/at most 2 spans/);
    expect(few.spans()).toEqual([]);
  });

  it('malformed bodies: 400 with a google.rpc.Status in the request content type', async () => {
    const r = await receiver();
    const proto = { 'content-type': 'application/x-protobuf' };
    const bad = await send(r.url, Buffer.from([0x0a, 0x05, 0x01]), proto);
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toBe('application/x-protobuf');
    // Status{code: 3 (field 1, varint), message (field 2)}.
    expect([...bad.body.subarray(0, 3)]).toEqual([0x08, 3, 0x12]);
    expect(bad.body.toString('utf8')).toMatch(/not an OTLP trace message/);

    const json = async (body: string) => {
      const res = await send(r.url, body);
      return { status: res.status, ...JSON.parse(res.body.toString()) };
    };
    expect(await json('not json')).toMatchObject({ status: 400, code: 3, message: /not JSON/ });
    expect(await json('[]')).toMatchObject({ status: 400, message: /not an OTLP/ });
    expect(await json('{"resourceSpans":{}}')).toMatchObject({ status: 400 });
    const notGzip = await send(r.url, '{}', {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(notGzip.status).toBe(400);
    expect(JSON.parse(notGzip.body.toString()).message).toMatch(/bad gzip/);
    const span = (traceId: string) =>
      `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${traceId}","spanId":"0102030405060708","name":"x"}]}]}]}`;
    expect(await json(span('abcdef'))).toMatchObject({ status: 400, message: /malformed traceId/ });
    // Values nested 100 000 arrays deep: refused, not a crash.
    const deep = `${'{"arrayValue":{"values":['.repeat(100_000)}{"stringValue":"x"}${']}}'.repeat(100_000)}`;
    const attr = `"attributes":[{"key":"k","value":${deep}}]`;
    const nested = span('01'.repeat(16)).replace('"name":"x"', `"name":"x",${attr}`);
    expect(await json(nested)).toMatchObject({ status: 400 });
    // An empty request is fine (protobuf: no bytes; JSON: {}), answered with an empty response.
    const empty = await send(r.url, Buffer.alloc(0), proto);
    expect(empty).toMatchObject({ status: 200, headers: { 'content-type': 'application/x-protobuf' } });
    expect(empty.body.length).toBe(0);
    expect(await json('{}')).toMatchObject({ status: 200 });
    expect(await json(span('01'.repeat(16)))).toMatchObject({ status: 200 });
    expect(r.stats).toMatchObject({ exports: 3, spans: 1, refusedExports: 7, unfinishedCalls: 0 });
  });

  it('wrong path 404, method 405, media type or encoding 415, a cut-off request unfinished', async () => {
    const r = await receiver();
    const base = `http://${r.address}`;
    expect((await send(`${base}/v1/logs`, '{}')).status).toBe(404);
    expect((await send(`${base}/`, '', {}, 'GET')).status).toBe(404);
    const get = await send(r.url, '', {}, 'GET');
    expect(get).toMatchObject({ status: 405, headers: { allow: 'POST' } });
    expect((await send(r.url, 'x', { 'content-type': 'text/plain' })).status).toBe(415);
    const brotli = { 'content-type': 'application/json', 'content-encoding': 'br' };
    const refused = await send(r.url, '{}', brotli);
    expect(refused.status).toBe(415);
    expect(JSON.parse(refused.body.toString()).message).toMatch(/content-encoding "br"/);
    expect((await send(`${r.url}?x=1`, '{}')).status).toBe(200);
    // A request whose body never completes: counted as unfinished once the receiver closes.
    const cut = request(r.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '100' },
    });
    cut.on('error', () => undefined);
    cut.write('{"resourceSpans":');
    await vi.waitFor(() => expect(r.stats.unfinishedCalls).toBe(1)); // the receiver has it
    cut.destroy();
    await r.close();
    expect(r.stats).toMatchObject({ exports: 1, refusedExports: 5, unfinishedCalls: 1 });
    expect(r.stats.firstRefusal).toMatch(/POST "\/v1\/logs": not found/);
  });

  it('options: a bad address, a bad limit, an unwritable record file, a port in use fail at start', async () => {
    await expect(OtlpHttpReceiver.start({ address: 'localhost' })).rejects.toBeInstanceOf(
      KestConfigurationError,
    );
    await expect(OtlpHttpReceiver.start({ address: '127.0.0.1:0', maxMessageBytes: 0 })).rejects.toThrow(
      /maxMessageBytes/,
    );
    await expect(
      OtlpHttpReceiver.start({ address: '127.0.0.1:0', recordTo: join(dir, 'missing', 'x.jsonl') }),
    ).rejects.toThrow(/ENOENT/);
    const taken = await receiver();
    await expect(OtlpHttpReceiver.start({ address: taken.address })).rejects.toThrow(/EADDRINUSE/);
  });
});
