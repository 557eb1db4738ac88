/**
 * Kest's SQLite span table (better-sqlite3, loaded only when a SQLite file is opened). One row per
 * span in `spans`, indexed on trace_id; the kest.* attributes an auditor joins on have their own
 * columns. WAL journal: a committed export survives a process crash.
 *
 * Schema (SPANS_SCHEMA below is the source of truth):
 *   spans(id INTEGER PRIMARY KEY, trace_id, span_id, parent_span_id, name, kind,
 *         start_time_unix_nano INTEGER, end_time_unix_nano INTEGER, status_code, status_message,
 *         service_name, scope_name, entry_id, parent_hash, signature, attributes JSON, resource JSON)
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { missingPeerError } from '../peers.js';
import { SPAN } from '../wire/constants.js';
import { KestTelemetryError } from './errors.js';
import type { SpanRecord } from './record.js';

export const SPANS_SCHEMA = `
CREATE TABLE IF NOT EXISTS spans (
  id INTEGER PRIMARY KEY,
  trace_id TEXT NOT NULL,
  span_id TEXT NOT NULL,
  parent_span_id TEXT,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  start_time_unix_nano INTEGER NOT NULL,
  end_time_unix_nano INTEGER NOT NULL,
  status_code TEXT NOT NULL,
  status_message TEXT,
  service_name TEXT,
  scope_name TEXT,
  entry_id TEXT,
  parent_hash TEXT,
  signature TEXT,
  attributes TEXT NOT NULL,
  resource TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS spans_trace_id ON spans(trace_id);
CREATE INDEX IF NOT EXISTS spans_entry_id ON spans(entry_id);
`;

/**
 * The part of better-sqlite3's Database this package uses. Declared here, not imported, so the
 * published type declarations compile for users who never install better-sqlite3.
 */
export interface SpanDatabase {
  prepare(sql: string): {
    run(...params: unknown[]): unknown;
    all(...params: unknown[]): unknown[];
    safeIntegers(on?: boolean): { all(...params: unknown[]): unknown[] };
  };
  pragma(source: string): unknown;
  exec(source: string): unknown;
  transaction(fn: () => void): () => void;
  close(): unknown;
}
type DatabaseConstructor = new (
  path: string,
  options: { readonly?: boolean; fileMustExist?: boolean },
) => SpanDatabase;

/** Open (or create) a span database with the schema; better-sqlite3 is an optional dependency. */
export function openSpanDatabase(path: string, options: { readonly?: boolean } = {}): SpanDatabase {
  let Ctor: DatabaseConstructor;
  try {
    Ctor = createRequire(import.meta.url)('better-sqlite3') as DatabaseConstructor;
  } catch (err) {
    throw (
      missingPeerError(err, 'SQLite span files need', ['better-sqlite3']) ??
      new KestTelemetryError(`cannot load better-sqlite3: ${(err as Error).message}`, { cause: err })
    );
  }
  if (!options.readonly) mkdirSync(dirname(path), { recursive: true });
  const db = new Ctor(path, options.readonly ? { readonly: true, fileMustExist: true } : {});
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(SPANS_SCHEMA);
  }
  return db;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

export function insertRecords(db: SpanDatabase, records: readonly SpanRecord[]): void {
  const insert = db.prepare(
    `INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, start_time_unix_nano,
       end_time_unix_nano, status_code, status_message, service_name, scope_name, entry_id, parent_hash,
       signature, attributes, resource)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    for (const r of records) {
      insert.run(
        r.traceId,
        r.spanId,
        r.parentSpanId,
        r.name,
        r.kind,
        BigInt(r.startTimeUnixNano),
        BigInt(r.endTimeUnixNano),
        r.status.code,
        r.status.message ?? null,
        str(r.resource['service.name']),
        r.scope.name,
        str(r.attributes[SPAN.entryId]),
        str(r.attributes[SPAN.parentHash]),
        str(r.attributes[SPAN.signature]),
        JSON.stringify(r.attributes),
        JSON.stringify(r.resource),
      );
    }
  })();
}
