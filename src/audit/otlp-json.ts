/**
 * OTLP/JSON (the JSON mapping of ExportTraceServiceRequest / TracesData) into SpanRecords: what
 * OTLP/HTTP JSON bodies and collector files hold, and what otlp-proto.ts decodes protobuf into.
 */
import { KestTelemetryError } from '../telemetry/errors.js';
import type { AttributeValue, SpanRecord, SpanStatusName } from '../telemetry/record.js';

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function statusOf(code: unknown, message: unknown): SpanRecord['status'] {
  let name: SpanStatusName = 'UNSET';
  if (code === 2 || code === 'ERROR' || code === 'STATUS_CODE_ERROR') name = 'ERROR';
  else if (code === 1 || code === 'OK' || code === 'STATUS_CODE_OK') name = 'OK';
  return typeof message === 'string' && message ? { code: name, message } : { code: name };
}

interface OtlpKeyValue {
  key: string;
  value?: Record<string, unknown>;
}

function anyValue(v: Record<string, unknown> | undefined): AttributeValue {
  if (!v) return null;
  if ('stringValue' in v) return String(v.stringValue);
  if ('boolValue' in v) return Boolean(v.boolValue);
  if ('intValue' in v) {
    const n = Number(v.intValue as string | number);
    return Number.isSafeInteger(n) ? n : String(v.intValue);
  }
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) {
    const values = ((v.arrayValue as { values?: Record<string, unknown>[] })?.values ?? []).map(anyValue);
    return values as (string | number | boolean | null)[];
  }
  if ('kvlistValue' in v)
    return JSON.stringify(attributesOf((v.kvlistValue as { values?: OtlpKeyValue[] })?.values));
  if ('bytesValue' in v) return String(v.bytesValue);
  return null;
}

function attributesOf(list: unknown): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  if (!Array.isArray(list)) return out;
  for (const kv of list as OtlpKeyValue[]) {
    if (typeof kv?.key === 'string') out[kv.key] = anyValue(kv.value);
  }
  return out;
}

/** OTLP/JSON ids are hex; tolerate the base64 of protobuf's generic JSON mapping. */
function idOf(v: unknown, bytes: number): string | null {
  if (typeof v !== 'string' || v.length === 0) return null;
  if (v.length === bytes * 2 && /^[0-9a-fA-F]+$/.test(v)) return v.toLowerCase();
  const b = Buffer.from(v, 'base64');
  return b.length === bytes ? b.toString('hex') : v;
}

const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

function nanos(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'string') return String(v);
  if (isObject(v)) {
    const { low, high } = v as { low: number; high: number };
    return ((BigInt(high >>> 0) << 32n) + BigInt(low >>> 0)).toString();
  }
  return '0';
}

export function fromOtlpJson(resourceSpans: unknown[], out: SpanRecord[], where: string): void {
  for (const rs of resourceSpans as Record<string, unknown>[]) {
    const resource = attributesOf((rs?.resource as { attributes?: unknown } | undefined)?.attributes);
    const scopeSpans = (rs?.scopeSpans ?? rs?.instrumentationLibrarySpans) as
      | Record<string, unknown>[]
      | undefined;
    for (const ss of scopeSpans ?? []) {
      const scopeRaw = (ss.scope ?? ss.instrumentationLibrary) as
        | { name?: unknown; version?: unknown }
        | undefined;
      const scope: SpanRecord['scope'] = { name: typeof scopeRaw?.name === 'string' ? scopeRaw.name : '' };
      if (typeof scopeRaw?.version === 'string' && scopeRaw.version) scope.version = scopeRaw.version;
      for (const s of (ss.spans ?? []) as Record<string, unknown>[]) {
        const traceId = idOf(s.traceId, 16);
        const spanId = idOf(s.spanId, 8);
        if (!traceId || !spanId || typeof s.name !== 'string') {
          throw new KestTelemetryError(`${where}: OTLP span without traceId, spanId or name`);
        }
        const st = (s.status ?? {}) as { code?: unknown; message?: unknown };
        const kind =
          typeof s.kind === 'number' ? (KINDS[s.kind] ?? 'INTERNAL') : String(s.kind ?? 'INTERNAL');
        out.push({
          traceId,
          spanId,
          parentSpanId: idOf(s.parentSpanId, 8),
          name: s.name,
          kind: kind.replace(/^SPAN_KIND_/, ''),
          startTimeUnixNano: nanos(s.startTimeUnixNano),
          endTimeUnixNano: nanos(s.endTimeUnixNano),
          status: statusOf(st.code, st.message),
          attributes: attributesOf(s.attributes),
          resource,
          scope,
        });
      }
    }
  }
}

const HEX_ID = { 16: /^[0-9a-f]{32}$/, 8: /^[0-9a-f]{16}$/ } as const;

/**
 * Spans of one OTLP/JSON ExportTraceServiceRequest body (OTLP/HTTP with `application/json`),
 * strictly: UTF-8, one object whose `resourceSpans` is a list (or absent: an empty request), and
 * ids of exactly 16 (trace) and 8 (span, parent) bytes, as the protobuf decoder demands.
 */
export function spansFromOtlpJsonRequest(body: Uint8Array, where: string): SpanRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (err) {
    throw new KestTelemetryError(`${where}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const request = value as { resourceSpans?: unknown };
  if (!isObject(value) || !(request.resourceSpans === undefined || Array.isArray(request.resourceSpans))) {
    throw new KestTelemetryError(`${where}: not an OTLP ExportTraceServiceRequest`);
  }
  const out: SpanRecord[] = [];
  try {
    fromOtlpJson((request.resourceSpans ?? []) as unknown[], out, where);
  } catch (err) {
    if (err instanceof KestTelemetryError) throw err;
    // A list where an object belongs, values nested past the stack: malformed, not a crash.
    throw new KestTelemetryError(`${where}: malformed OTLP/JSON: ${(err as Error).message}`, { cause: err });
  }
  for (const s of out) {
    const bad = !HEX_ID[16].test(s.traceId)
      ? 'traceId'
      : !HEX_ID[8].test(s.spanId)
        ? 'spanId'
        : s.parentSpanId !== null && !HEX_ID[8].test(s.parentSpanId)
          ? 'parentSpanId'
          : undefined;
    if (bad) throw new KestTelemetryError(`${where}: span ${JSON.stringify(s.name)} has a malformed ${bad}`);
  }
  return out;
}
