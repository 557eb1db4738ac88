/**
 * Readers: exported spans back into SpanRecords, whatever carried them — Kest's JSON lines file,
 * Kest's SQLite database, OTLP/JSON (one ExportTraceServiceRequest per file or per line, as a
 * collector's file exporter writes them; otlp-json.ts), OTLP protobuf (otlp-proto.ts), and the
 * Python reference's exports (reference-readers.ts).
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { KestTelemetryError } from '../telemetry/errors.js';
import type { AttributeValue, SpanRecord } from '../telemetry/record.js';
import { openSpanDatabase } from '../telemetry/sqlite-db.js';
import { readFileBounded } from '../wire/bounded-file.js';
import { fromOtlpJson, statusOf } from './otlp-json.js';
import { looksLikeOtlpProto, readOtlpProtoSpans } from './otlp-proto.js';

/**
 * Bounds on what a span file may hold: a hostile or mistaken file (/dev/zero, a log without
 * newlines) stops with a clear error instead of exhausting memory. A line carries at most a span
 * with a whole passport (8 MiB at most) and its entry.
 */
export const SPAN_FILE_LIMITS = {
  /** One JSON line, or one OTLP protobuf message: 32 MiB. */
  maxLineBytes: 32 * 1024 * 1024,
  /** A whole JSON-lines file: 2 GiB. */
  maxFileBytes: 2 * 1024 * 1024 * 1024,
  /** A file that is one (pretty-printed) JSON document: 256 MiB. */
  maxDocumentBytes: 256 * 1024 * 1024,
} as const;

export interface SpanFileLimits {
  maxLineBytes?: number;
  maxFileBytes?: number;
  maxDocumentBytes?: number;
}

export interface ReadSpansOptions extends SpanFileLimits {
  /** Only this trace (a SQLite read selects it; JSON files are read whole). */
  traceId?: string;
}

import {
  isReferenceDatabase,
  isReferenceSpanJson,
  readReferenceSqlite,
  referenceSpanFromJson,
} from './reference-readers.js';

const SQLITE_MAGIC = 'SQLite format 3\0';

/**
 * What a file holds, from its first bytes: a SQLite database, OTLP protobuf (otlp-proto.ts), or
 * JSON.
 */
export function detectFormat(path: string): SpanFileFormat {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new KestTelemetryError(`cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const head = Buffer.alloc(4096);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n >= 16 && head.toString('latin1', 0, 16) === SQLITE_MAGIC) return 'sqlite';
    return looksLikeOtlpProto(head.subarray(0, n)) ? 'otlp-proto' : 'json';
  } finally {
    closeSync(fd);
  }
}

export type SpanFileFormat = 'sqlite' | 'otlp-proto' | 'json';

/**
 * Read every span of a file (format detected). `traceId` limits a SQLite read to one trace.
 * OTLP protobuf needs the optional peer @grpc/proto-loader.
 */
export async function readSpansFile(path: string, options: ReadSpansOptions = {}): Promise<SpanRecord[]> {
  const format = detectFormat(path);
  if (format === 'sqlite') {
    return isReferenceDatabase(path) ? readReferenceSqlite(path, options) : readSqliteSpans(path, options);
  }
  if (format === 'otlp-proto') {
    return readOtlpProtoSpans(path, {
      ...(options.maxLineBytes !== undefined ? { maxMessageBytes: options.maxLineBytes } : {}),
      ...(options.maxFileBytes !== undefined ? { maxFileBytes: options.maxFileBytes } : {}),
    });
  }
  return readJsonSpans(path, options);
}

/** JSON lines of SpanRecords or of OTLP requests, or one (pretty-printed) OTLP/JSON document. */
export async function readJsonSpans(path: string, limits: SpanFileLimits = {}): Promise<SpanRecord[]> {
  const out: SpanRecord[] = [];
  let lineNo = 0;
  let firstFailed = false;
  for await (const line of jsonLines(path, { ...SPAN_FILE_LIMITS, ...definedOnly(limits) })) {
    lineNo++;
    if (line.length === 0 || /^\s*$/.test(line)) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      if (out.length === 0) {
        firstFailed = true;
        break;
      }
      throw new KestTelemetryError(`${path}:${lineNo}: not JSON: ${(err as Error).message}`, { cause: err });
    }
    pushValue(value, out, `${path}:${lineNo}`);
  }
  if (firstFailed) {
    // Not JSON lines: one JSON document over several lines.
    let value: unknown;
    try {
      value = JSON.parse(readFileBounded(path, limits.maxDocumentBytes ?? SPAN_FILE_LIMITS.maxDocumentBytes));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EFBIG') {
        throw new KestTelemetryError(`${path}: not JSON lines, and ${(err as Error).message}`, {
          cause: err,
        });
      }
      throw new KestTelemetryError(`${path}: neither JSON lines nor a JSON document`, { cause: err });
    }
    pushValue(value, out, path);
  }
  return out;
}

/**
 * The lines of a file (\n, \r\n or a lone \r end a line, as for readline). Splitting the raw bytes
 * at 0x0A is safe in UTF-8 and measured about twice as fast as node:readline on span files whose
 * lines carry whole passports.
 */
async function* jsonLines(path: string, limits: Required<SpanFileLimits>): AsyncGenerator<string> {
  // Bytes of a line that spans chunks (a list, so a very long line is joined once, not per chunk).
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let fileBytes = 0;
  let lineNo = 0;
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      fileBytes += chunk.length;
      if (fileBytes > limits.maxFileBytes) {
        throw new KestTelemetryError(
          `${path}: larger than ${limits.maxFileBytes} bytes (the span file limit)`,
        );
      }
      let start = 0;
      let nl = chunk.indexOf(10);
      if (nl === -1) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes > limits.maxLineBytes) throw lineTooLong(path, lineNo + 1, limits.maxLineBytes);
        continue;
      }
      if (pending.length > 0) {
        if (pendingBytes + nl > limits.maxLineBytes) throw lineTooLong(path, lineNo + 1, limits.maxLineBytes);
        pending.push(chunk.subarray(0, nl));
        lineNo++;
        yield* splitCr(Buffer.concat(pending).toString('utf8'));
        pending = [];
        pendingBytes = 0;
        start = nl + 1;
        nl = chunk.indexOf(10, start);
      }
      for (; nl !== -1; nl = chunk.indexOf(10, start)) {
        if (nl - start > limits.maxLineBytes) throw lineTooLong(path, lineNo + 1, limits.maxLineBytes);
        lineNo++;
        yield* splitCr(chunk.toString('utf8', start, nl));
        start = nl + 1;
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        pendingBytes = chunk.length - start;
        if (pendingBytes > limits.maxLineBytes) throw lineTooLong(path, lineNo + 1, limits.maxLineBytes);
      }
    }
  } finally {
    stream.destroy();
  }
  if (pending.length > 0) yield* splitCr(Buffer.concat(pending).toString('utf8'));
}

function lineTooLong(path: string, lineNo: number, max: number): KestTelemetryError {
  return new KestTelemetryError(`${path}:${lineNo}: line longer than ${max} bytes (the span line limit)`);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function splitCr(line: string): string[] {
  if (line.indexOf('\r') === -1) return [line];
  const parts = (line.endsWith('\r') ? line.slice(0, -1) : line).split('\r');
  return parts;
}

/** Spans from parsed JSON: a SpanRecord, an OTLP request, or an array of either. */
export function spansFromJson(value: unknown, where = 'input'): SpanRecord[] {
  const out: SpanRecord[] = [];
  pushValue(value, out, where);
  return out;
}

function pushValue(value: unknown, out: SpanRecord[], where: string): void {
  if (Array.isArray(value)) {
    for (const v of value) pushValue(v, out, where);
    return;
  }
  if (typeof value !== 'object' || value === null) {
    throw new KestTelemetryError(`${where}: expected a span record or an OTLP request`);
  }
  const v = value as Record<string, unknown>;
  if (isReferenceSpanJson(v)) {
    out.push(referenceSpanFromJson(v, where));
    return;
  }
  if (Array.isArray(v.resourceSpans)) {
    fromOtlpJson(v.resourceSpans, out, where);
    return;
  }
  out.push(normalizeRecord(v, where));
}

function normalizeRecord(v: Record<string, unknown>, where: string): SpanRecord {
  if (typeof v.traceId !== 'string' || typeof v.spanId !== 'string' || typeof v.name !== 'string') {
    throw new KestTelemetryError(`${where}: a span record needs traceId, spanId and name`);
  }
  const attributes = isObject(v.attributes) ? (v.attributes as Record<string, AttributeValue>) : {};
  const resource = isObject(v.resource) ? (v.resource as Record<string, AttributeValue>) : {};
  const status = isObject(v.status) ? (v.status as { code?: unknown; message?: unknown }) : {};
  const scope = isObject(v.scope) ? (v.scope as { name?: unknown; version?: unknown }) : {};
  return {
    traceId: v.traceId.toLowerCase(),
    spanId: v.spanId.toLowerCase(),
    parentSpanId: typeof v.parentSpanId === 'string' && v.parentSpanId ? v.parentSpanId : null,
    name: v.name,
    kind: typeof v.kind === 'string' ? v.kind : 'INTERNAL',
    startTimeUnixNano: String(v.startTimeUnixNano ?? '0'),
    endTimeUnixNano: String(v.endTimeUnixNano ?? '0'),
    status: statusOf(status.code, status.message),
    attributes,
    resource,
    scope: {
      name: typeof scope.name === 'string' ? scope.name : '',
      ...(typeof scope.version === 'string' ? { version: scope.version } : {}),
    },
  };
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---- SQLite ----

interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  kind: string;
  start_ns: string;
  end_ns: string;
  status_code: string;
  status_message: string | null;
  attributes: string;
  resource: string;
  scope_name: string | null;
}

/** Rows of Kest's spans table (telemetry/sqlite-db.ts), in insertion order. */
export function readSqliteSpans(path: string, options: { traceId?: string } = {}): SpanRecord[] {
  const db = openSpanDatabase(path, { readonly: true });
  try {
    const sql = `SELECT trace_id, span_id, parent_span_id, name, kind,
        CAST(start_time_unix_nano AS TEXT) AS start_ns, CAST(end_time_unix_nano AS TEXT) AS end_ns,
        status_code, status_message, attributes, resource, scope_name
      FROM spans ${options.traceId ? 'WHERE trace_id = ?' : ''} ORDER BY id`;
    let rows: SpanRow[];
    try {
      const stmt = db.prepare(sql);
      rows = (options.traceId ? stmt.all(options.traceId.toLowerCase()) : stmt.all()) as SpanRow[];
    } catch (err) {
      throw new KestTelemetryError(`${path}: not a Kest span database: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return rows.map((r, i) => {
      let attributes: Record<string, AttributeValue>;
      let resource: Record<string, AttributeValue>;
      try {
        attributes = JSON.parse(r.attributes);
        resource = JSON.parse(r.resource);
      } catch (err) {
        throw new KestTelemetryError(`${path}: row ${i + 1} has malformed JSON`, { cause: err });
      }
      return {
        traceId: r.trace_id,
        spanId: r.span_id,
        parentSpanId: r.parent_span_id,
        name: r.name,
        kind: r.kind,
        startTimeUnixNano: r.start_ns,
        endTimeUnixNano: r.end_ns,
        status: statusOf(r.status_code, r.status_message),
        attributes,
        resource,
        scope: { name: r.scope_name ?? '' },
      };
    });
  } finally {
    db.close();
  }
}
