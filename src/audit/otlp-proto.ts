/**
 * OTLP protobuf for the audit: the trace messages an exporter sends over OTLP/gRPC (and OTLP/HTTP
 * with `application/x-protobuf`), decoded into SpanRecords like OTLP/JSON; and span files holding
 * them — one serialized ExportTraceServiceRequest / TracesData (a captured request body), or the
 * OpenTelemetry Collector file exporter's `format: proto` (each TracesData preceded by its length,
 * a 4-byte big-endian unsigned integer).
 *
 * The schema is a protobufjs JSON descriptor for @grpc/proto-loader's fromJSON (as for the SPIFFE
 * Workload API in spiffe/proto.ts): nothing to ship or locate at run time. Packages, messages,
 * field numbers and types are those of opentelemetry-proto v1 (Apache-2.0):
 * collector/trace/v1/trace_service.proto, trace/v1/trace.proto, common/v1/common.proto,
 * resource/v1/resource.proto. Only the fields the audit reads are declared; protobuf decoding
 * skips the others (events, links, flags, ...).
 *
 * @grpc/proto-loader (an optional peer, with protobufjs) is loaded on first use, so `kest/audit`
 * loads without it.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { KestConfigurationError } from '../errors.js';
import { missingPeerError, type OptionalPeer } from '../peers.js';
import { KestTelemetryError } from '../telemetry/errors.js';
import type { SpanRecord } from '../telemetry/record.js';
import { fromOtlpJson } from './otlp-json.js';

const f = (type: string, id: number) => ({ type, id });
const many = (type: string, id: number) => ({ rule: 'repeated', type, id });
const COMMON = 'opentelemetry.proto.common.v1';
const TRACE = 'opentelemetry.proto.trace.v1';

type Namespace = { nested: Record<string, unknown> };

/** A protobufjs JSON root from message and service definitions keyed by their package. */
function packages(defs: Record<string, Record<string, unknown>>): Namespace {
  const root: Namespace = { nested: {} };
  for (const [path, types] of Object.entries(defs)) {
    let ns = root;
    for (const name of path.split('.')) {
      ns.nested[name] ??= { nested: {} };
      ns = ns.nested[name] as Namespace;
    }
    Object.assign(ns.nested, types);
  }
  return root;
}

/**
 * The part of opentelemetry-proto the audit reads. Fields are named as in OTLP/JSON (lowerCamelCase)
 * so decoded messages read like OTLP/JSON; on the wire only the numbers count.
 */
export const OTLP_TRACE_DESCRIPTOR = packages({
  [COMMON]: {
    AnyValue: {
      oneofs: {
        value: {
          oneof: [
            'stringValue',
            'boolValue',
            'intValue',
            'doubleValue',
            'arrayValue',
            'kvlistValue',
            'bytesValue',
          ],
        },
      },
      fields: {
        stringValue: f('string', 1),
        boolValue: f('bool', 2),
        intValue: f('int64', 3),
        doubleValue: f('double', 4),
        arrayValue: f('ArrayValue', 5),
        kvlistValue: f('KeyValueList', 6),
        bytesValue: f('bytes', 7),
      },
    },
    ArrayValue: { fields: { values: many('AnyValue', 1) } },
    KeyValueList: { fields: { values: many('KeyValue', 1) } },
    KeyValue: { fields: { key: f('string', 1), value: f('AnyValue', 2) } },
    InstrumentationScope: { fields: { name: f('string', 1), version: f('string', 2) } },
  },
  'opentelemetry.proto.resource.v1': {
    Resource: { fields: { attributes: many(`${COMMON}.KeyValue`, 1) } },
  },
  [TRACE]: {
    TracesData: { fields: { resourceSpans: many('ResourceSpans', 1) } },
    ResourceSpans: {
      fields: {
        resource: f('opentelemetry.proto.resource.v1.Resource', 1),
        scopeSpans: many('ScopeSpans', 2),
      },
    },
    ScopeSpans: { fields: { scope: f(`${COMMON}.InstrumentationScope`, 1), spans: many('Span', 2) } },
    Span: {
      fields: {
        traceId: f('bytes', 1),
        spanId: f('bytes', 2),
        parentSpanId: f('bytes', 4),
        name: f('string', 5),
        kind: f('int32', 6), // enum SpanKind, read as its number
        startTimeUnixNano: f('fixed64', 7),
        endTimeUnixNano: f('fixed64', 8),
        attributes: many(`${COMMON}.KeyValue`, 9),
        status: f('Status', 15),
      },
    },
    Status: { fields: { message: f('string', 2), code: f('int32', 3) } }, // code: enum StatusCode
  },
  'opentelemetry.proto.collector.trace.v1': {
    TraceService: {
      methods: {
        Export: { requestType: 'ExportTraceServiceRequest', responseType: 'ExportTraceServiceResponse' },
      },
    },
    ExportTraceServiceRequest: { fields: { resourceSpans: many(`${TRACE}.ResourceSpans`, 1) } },
    ExportTraceServiceResponse: { fields: { partialSuccess: f('ExportTracePartialSuccess', 1) } },
    ExportTracePartialSuccess: { fields: { rejectedSpans: f('int64', 1), errorMessage: f('string', 2) } },
  },
});

/** The gRPC service name (method path `/opentelemetry.proto.collector.trace.v1.TraceService/Export`). */
export const OTLP_TRACE_SERVICE = 'opentelemetry.proto.collector.trace.v1.TraceService';

/** Bounds on OTLP protobuf input. */
export const OTLP_PROTO_LIMITS = {
  /** One ExportTraceServiceRequest / TracesData (after decompression): 32 MiB, as one JSON span line. */
  maxMessageBytes: 32 * 1024 * 1024,
  /** A whole protobuf span file: 2 GiB, as a JSON-lines file. */
  maxFileBytes: 2 * 1024 * 1024 * 1024,
} as const;

/** The service definition (for a grpc-js server) and the request decoder, from proto-loader. */
export interface OtlpTraceCodec {
  /** grpc-js ServiceDefinition of TraceService. */
  readonly service: Record<string, unknown>;
  /** bytes of an ExportTraceServiceRequest or TracesData → plain object (camelCase, ids base64). */
  decode(bytes: Uint8Array): unknown;
  /** ExportTraceServiceResponse → bytes. */
  encodeResponse(response: object): Buffer;
}

let codec: OtlpTraceCodec | undefined;

/** Optional peers, loaded on use; a missing one is a configuration error naming the install. */
export function requireOptional<T>(name: OptionalPeer, purpose: string): T {
  try {
    return createRequire(import.meta.url)(name) as T;
  } catch (err) {
    throw (
      missingPeerError(err, `${purpose} needs`, [name]) ??
      new KestTelemetryError(`cannot load ${name}: ${(err as Error).message}`, { cause: err })
    );
  }
}

interface ProtoLoader {
  fromJSON(json: object, options: object): Record<string, Record<string, MethodDefinition>>;
}
interface MethodDefinition {
  requestDeserialize(bytes: Uint8Array): unknown;
  responseSerialize(value: object): Buffer;
}

export function otlpTraceCodec(): OtlpTraceCodec {
  if (codec) return codec;
  const loader = requireOptional<ProtoLoader>('@grpc/proto-loader', 'OTLP protobuf');
  // Ids and bytes as base64 strings, 64-bit numbers as decimal strings, absent fields absent (so
  // an AnyValue holds only the member that was set), absent lists as [].
  const definition = loader.fromJSON(OTLP_TRACE_DESCRIPTOR, {
    keepCase: true,
    longs: String,
    enums: Number,
    bytes: String,
    defaults: false,
    arrays: true,
  });
  const service = definition[OTLP_TRACE_SERVICE] as Record<string, MethodDefinition>;
  const exportMethod = service.Export as MethodDefinition;
  codec = {
    service,
    decode: (bytes) => exportMethod.requestDeserialize(bytes),
    encodeResponse: (response) => exportMethod.responseSerialize(response),
  };
  return codec;
}

/** A protobuf id (base64 from the decoder) as lowercase hex of exactly `size` bytes. */
function hexId(value: unknown, size: number, what: string, where: string): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  if (bytes.length !== size) {
    throw new KestTelemetryError(`${where}: OTLP span ${what} has ${bytes.length} bytes (expected ${size})`);
  }
  return bytes.toString('hex');
}

/**
 * Spans of one decoded request. Ids are checked (trace 16 bytes, span 8, parent none or 8) and
 * turned into hex; the rest is read as OTLP/JSON is (readers.ts), under the same rules.
 */
export function spansFromDecodedOtlp(decoded: unknown, where: string): SpanRecord[] {
  const request = decoded as { resourceSpans?: { scopeSpans?: { spans?: Record<string, unknown>[] }[] }[] };
  for (const rs of request.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        s.traceId = hexId(s.traceId, 16, 'trace_id', where);
        s.spanId = hexId(s.spanId, 8, 'span_id', where);
        s.parentSpanId =
          s.parentSpanId === undefined ? '' : hexId(s.parentSpanId, 8, 'parent_span_id', where);
        s.name ??= ''; // proto3: an empty name is not on the wire
      }
    }
  }
  const out: SpanRecord[] = [];
  fromOtlpJson(request.resourceSpans ?? [], out, where);
  return out;
}

/** Spans of one serialized ExportTraceServiceRequest or TracesData. */
export function spansFromOtlpProto(bytes: Uint8Array, where = 'OTLP protobuf'): SpanRecord[] {
  let decoded: unknown;
  try {
    decoded = otlpTraceCodec().decode(bytes);
  } catch (err) {
    if (err instanceof KestConfigurationError) throw err;
    throw new KestTelemetryError(`${where}: not an OTLP trace message: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return spansFromDecodedOtlp(decoded, where);
}

/**
 * Whether a file's first bytes are OTLP protobuf rather than JSON text: binary (JSON has no control
 * characters but tab, CR and LF; every OTLP message has some: field tags 0x0A, 0x12, lengths, ids),
 * and shaped like one bare message (field 1, resource_spans: 0x0A) or like length-prefixed ones (a
 * non-zero length, then 0x0A). Anything else is left to the JSON reader and its errors.
 */
export function looksLikeOtlpProto(head: Uint8Array): boolean {
  let binary = false;
  for (const b of head) if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) binary = true;
  if (!binary) return false;
  if (head[0] === 0x0a) return true;
  const size = head.length >= 5 ? Buffer.from(head).readUInt32BE(0) : 0;
  return size > 0 && head[4] === 0x0a;
}

export interface OtlpProtoFileLimits {
  maxMessageBytes?: number;
  maxFileBytes?: number;
}

/**
 * Spans of a protobuf span file. A file starting with 0x0A (field 1, resource_spans) is one
 * message; otherwise it is length-prefixed messages (a prefix starting with 0x0A would announce
 * over 160 MiB, beyond the message bound).
 */
export function readOtlpProtoSpans(path: string, limits: OtlpProtoFileLimits = {}): SpanRecord[] {
  const maxMessage = limits.maxMessageBytes ?? OTLP_PROTO_LIMITS.maxMessageBytes;
  const maxFile = limits.maxFileBytes ?? OTLP_PROTO_LIMITS.maxFileBytes;
  const fd = openSync(path, 'r');
  try {
    const read = (n: number): Buffer => {
      const buf = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const k = readSync(fd, buf, got, n - got, null);
        if (k === 0) break;
        got += k;
      }
      return buf.subarray(0, got);
    };
    const head = read(4);
    if (head.length > 0 && head[0] === 0x0a) {
      const rest = read(maxMessage + 1 - head.length);
      if (head.length + rest.length > maxMessage) {
        throw new KestTelemetryError(`${path}: one OTLP message larger than ${maxMessage} bytes`);
      }
      return spansFromOtlpProto(Buffer.concat([head, rest]), path);
    }
    const out: SpanRecord[] = [];
    let total = 0;
    for (let prefix = head, n = 1; prefix.length > 0; prefix = read(4), n++) {
      if (prefix.length < 4) throw new KestTelemetryError(`${path}: message ${n}: truncated length prefix`);
      const size = prefix.readUInt32BE(0);
      if (size === 0) {
        // An exporter writes no empty message; zeros are not a span file (and must not loop).
        throw new KestTelemetryError(`${path}: message ${n} has length 0: not an OTLP protobuf span file`);
      }
      if (size > maxMessage) {
        throw new KestTelemetryError(
          `${path}: message ${n} announces ${size} bytes (the OTLP message limit is ${maxMessage})`,
        );
      }
      total += 4 + size;
      if (total > maxFile) throw new KestTelemetryError(`${path}: larger than ${maxFile} bytes`);
      const message = read(size);
      if (message.length < size) throw new KestTelemetryError(`${path}: message ${n} is truncated`);
      for (const s of spansFromOtlpProto(message, `${path}: message ${n}`)) out.push(s);
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
