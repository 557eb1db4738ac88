/**
 * Readers for the Python reference runtime's span exports (docs/interop.md), into SpanRecords the
 * audit reads like Kest's own: its SQLite table `spans(id, trace_id, name, start_time, end_time,
 * attributes)` (no span ids, parents or status) and its JSON-array file (objects with
 * `context.trace_id` / `context.span_id`, as OpenTelemetry Python's span JSON). Its entries are in
 * `kest.signature`, as in ours; whether they verify is the audit's business, under the profile.
 */
import { createHash } from 'node:crypto';
import { KestTelemetryError } from '../telemetry/errors.js';
import type { AttributeValue, SpanRecord } from '../telemetry/record.js';
import { openSpanDatabase } from '../telemetry/sqlite-db.js';
import { REFERENCE } from '../wire/constants.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A hex id of `width` digits from what the reference stored (hex with or without 0x, or a number). */
function hexId(v: unknown, width: number, fallbackSeed: string): string {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v.toString(16).padStart(width, '0');
  if (typeof v === 'bigint') return v.toString(16).padStart(width, '0');
  if (typeof v === 'string') {
    const hex = v.toLowerCase().replace(/^0x/, '');
    if (/^[0-9a-f]+$/.test(hex) && hex.length <= width) return hex.padStart(width, '0');
  }
  return createHash('sha256').update(fallbackSeed).digest('hex').slice(0, width);
}

/** Nanoseconds as a decimal string, from integer ns or an ISO date. */
function nanos(v: unknown): string {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string' && /^\d+$/.test(v)) return v;
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return (BigInt(ms) * 1_000_000n).toString();
  }
  return '0';
}

function attributesOf(v: unknown, where: string): Record<string, AttributeValue> {
  let value = v;
  if (typeof v === 'string') {
    try {
      value = JSON.parse(v);
    } catch (err) {
      throw new KestTelemetryError(`${where}: attributes are not JSON`, { cause: err });
    }
  }
  if (!isObject(value)) throw new KestTelemetryError(`${where}: attributes are not an object`);
  return value as Record<string, AttributeValue>;
}

function record(
  fields: { trace: unknown; span: unknown; parent: unknown; name: unknown; start: unknown; end: unknown },
  attributes: Record<string, AttributeValue>,
  where: string,
): SpanRecord {
  if (typeof fields.name !== 'string') throw new KestTelemetryError(`${where}: span has no name`);
  return {
    traceId: hexId(fields.trace, 32, `${where}:trace`),
    spanId: hexId(fields.span, 16, `${where}:span`),
    parentSpanId:
      fields.parent === null || fields.parent === undefined ? null : hexId(fields.parent, 16, where),
    name: fields.name,
    kind: 'INTERNAL',
    startTimeUnixNano: nanos(fields.start),
    endTimeUnixNano: nanos(fields.end),
    status: { code: 'UNSET' },
    attributes,
    resource: {},
    scope: { name: REFERENCE.spanScope },
  };
}

/** Whether a SQLite file holds the reference's spans table (no span_id column). */
export function isReferenceDatabase(path: string): boolean {
  const db = openSpanDatabase(path, { readonly: true });
  try {
    const cols = (db.prepare('PRAGMA table_info(spans)').all() as { name: string }[]).map((c) => c.name);
    return cols.includes('attributes') && cols.includes('trace_id') && !cols.includes('span_id');
  } finally {
    db.close();
  }
}

interface ReferenceRow {
  id: unknown;
  trace_id: unknown;
  name: unknown;
  start_time: unknown;
  end_time: unknown;
  attributes: unknown;
}

/** Rows of the reference's spans table, in insertion order. */
export function readReferenceSqlite(path: string, options: { traceId?: string } = {}): SpanRecord[] {
  const db = openSpanDatabase(path, { readonly: true });
  try {
    const rows = db
      .prepare('SELECT id, trace_id, name, start_time, end_time, attributes FROM spans ORDER BY rowid')
      .safeIntegers(true)
      .all() as ReferenceRow[];
    const out = rows.map((r, i) =>
      record(
        { trace: r.trace_id, span: r.id, parent: null, name: r.name, start: r.start_time, end: r.end_time },
        attributesOf(r.attributes, `${path}: row ${i + 1}`),
        `${path}: row ${i + 1}`,
      ),
    );
    const want = options.traceId?.toLowerCase();
    return want === undefined ? out : out.filter((s) => s.traceId === want);
  } finally {
    db.close();
  }
}

/** Whether a parsed JSON value is one of the reference's span objects. */
export function isReferenceSpanJson(value: unknown): boolean {
  return (
    isObject(value) &&
    isObject(value.context) &&
    'trace_id' in value.context &&
    typeof value.name === 'string'
  );
}

/** One reference span object (OpenTelemetry Python's span JSON shape). */
export function referenceSpanFromJson(value: Record<string, unknown>, where: string): SpanRecord {
  const ctx = value.context as Record<string, unknown>;
  return record(
    {
      trace: ctx.trace_id,
      span: ctx.span_id,
      parent: value.parent_id,
      name: value.name,
      start: value.start_time,
      end: value.end_time,
    },
    attributesOf(value.attributes ?? {}, where),
    where,
  );
}
