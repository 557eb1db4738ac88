/**
 * Senders for the OTLP/gRPC receiver tests: the official OpenTelemetry exporter
 * (@opentelemetry/exporter-trace-otlp-grpc) fed with spans rebuilt from records, and a raw grpc-js
 * client that sends exact bytes; plus the part of a report two audits must agree on.
 */
import * as grpc from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { AuditReport } from '../../src/audit/index.js';
import type { SpanRecord } from '../../src/telemetry/index.js';

type ExporterConfig = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>;

/** The official exporter, plaintext to the receiver (an `http://` URL means insecure). */
export function grpcExporter(address: string, gzip = false): OTLPTraceExporter {
  return new OTLPTraceExporter({
    url: `http://${address}`,
    ...(gzip ? { compression: 'gzip' as NonNullable<ExporterConfig['compression']> } : {}),
  });
}

/** Export through an exporter; resolves with its result (code 0 success, 1 failed). */
export function exportVia(
  exporter: { export(spans: ReadableSpan[], done: (r: { code: number; error?: Error }) => void): void },
  spans: ReadableSpan[],
): Promise<{ code: number; error?: Error }> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

const hr = (ns: string): [number, number] => {
  const n = BigInt(ns);
  return [Number(n / 1_000_000_000n), Number(n % 1_000_000_000n)];
};

/** SDK spans carrying exactly a record's ids, times, attributes, resource and scope. */
export function readableSpans(records: readonly SpanRecord[]): ReadableSpan[] {
  const resources = new Map<string, ReturnType<typeof resourceFromAttributes>>();
  return records.map((r) => {
    const resourceKey = JSON.stringify(r.resource);
    if (!resources.has(resourceKey)) {
      resources.set(resourceKey, resourceFromAttributes(r.resource as Record<string, string>));
    }
    const ctx = { traceId: r.traceId, spanId: r.spanId, traceFlags: 1 };
    return {
      name: r.name,
      kind: SpanKind[r.kind as keyof typeof SpanKind] ?? SpanKind.INTERNAL,
      spanContext: () => ctx,
      ...(r.parentSpanId ? { parentSpanContext: { ...ctx, spanId: r.parentSpanId } } : {}),
      startTime: hr(r.startTimeUnixNano),
      endTime: hr(r.endTimeUnixNano),
      status: {
        code: SpanStatusCode[r.status.code as keyof typeof SpanStatusCode],
        ...(r.status.message ? { message: r.status.message } : {}),
      },
      attributes: r.attributes as ReadableSpan['attributes'],
      links: [],
      events: [],
      duration: [0, 0],
      ended: true,
      resource: resources.get(resourceKey) as ReadableSpan['resource'],
      instrumentationScope: { name: r.scope.name, ...(r.scope.version ? { version: r.scope.version } : {}) },
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  });
}

const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** One Export call with exactly these request bytes; resolves with the status code and details. */
export function sendRaw(address: string, bytes: Buffer): Promise<{ code: number; details: string }> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      EXPORT,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      (err: grpc.ServiceError | null) => {
        client.close();
        resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' });
      },
    );
  });
}

/** What two audits of the same spans must agree on, whatever carried the spans. */
export function verdicts(reports: readonly AuditReport[]) {
  return reports
    .map((r) => ({
      traceId: r.traceId,
      status: r.status,
      failure: r.failure ? { index: r.failure.index, reason: r.failure.reason } : null,
      gaps: r.gaps.length,
      forks: r.forks.length,
      entries: r.entries.map((e) => `${e.index} ${e.status} ${e.entryId} ${e.operation} ${e.trustScore}`),
    }))
    .sort((a, b) => a.traceId.localeCompare(b.traceId));
}
