/**
 * SpanRecord: the one line format Kest writes for a finished span (JSON lines file, SQLite rows) and
 * that the auditor reads back. A plain, versionless subset of the OTLP span: ids in lowercase hex,
 * times as decimal strings of Unix nanoseconds (exact beyond 2^53), attributes as a JSON object.
 *
 * {"traceId":"<32 hex>","spanId":"<16 hex>","parentSpanId":"<16 hex>"|null,"name":"kest.verified.op",
 *  "kind":"INTERNAL","startTimeUnixNano":"1732...","endTimeUnixNano":"1732...",
 *  "status":{"code":"UNSET"|"OK"|"ERROR","message"?:"..."},"attributes":{"kest.signature":"...",...},
 *  "resource":{"service.name":"checkout",...},"scope":{"name":"kest.core","version"?:"..."}}
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

export type SpanStatusName = 'UNSET' | 'OK' | 'ERROR';
export type AttributeValue = string | number | boolean | readonly (string | number | boolean | null)[] | null;

export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status: { code: SpanStatusName; message?: string };
  attributes: Record<string, AttributeValue>;
  resource: Record<string, AttributeValue>;
  scope: { name: string; version?: string };
}

const STATUS: Record<number, SpanStatusName> = {
  [SpanStatusCode.UNSET]: 'UNSET',
  [SpanStatusCode.OK]: 'OK',
  [SpanStatusCode.ERROR]: 'ERROR',
};

export function hrTimeToNanos(t: readonly [number, number]): string {
  return (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();
}

function plain(attrs: Record<string, unknown> | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  if (!attrs) return out;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    out[k] = v as AttributeValue;
  }
  return out;
}

/** The record of a finished SDK span. `serviceName` fills in service.name when the resource lacks it. */
export function toSpanRecord(span: ReadableSpan, serviceName?: string): SpanRecord {
  const ctx = span.spanContext();
  const resource = plain(span.resource?.attributes as Record<string, unknown> | undefined);
  if (serviceName && typeof resource['service.name'] !== 'string') resource['service.name'] = serviceName;
  const status: SpanRecord['status'] = { code: STATUS[span.status.code] ?? 'UNSET' };
  if (span.status.message) status.message = span.status.message;
  const scope: SpanRecord['scope'] = { name: span.instrumentationScope.name };
  if (span.instrumentationScope.version) scope.version = span.instrumentationScope.version;
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? null,
    name: span.name,
    kind: SpanKind[span.kind] ?? 'INTERNAL',
    startTimeUnixNano: hrTimeToNanos(span.startTime),
    endTimeUnixNano: hrTimeToNanos(span.endTime),
    status,
    attributes: plain(span.attributes as Record<string, unknown>),
    resource,
    scope,
  };
}
