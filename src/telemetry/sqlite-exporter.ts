/**
 * Spans into a SQLite database (better-sqlite3, loaded only when this exporter is used). One row
 * per span in `spans`, indexed on trace_id; the kest.* attributes an auditor joins on have their own
 * columns. WAL journal: a committed export survives a process crash; shutdown() checkpoints.
 *
 * Schema (SPANS_SCHEMA below is the source of truth):
 *   spans(id INTEGER PRIMARY KEY, trace_id, span_id, parent_span_id, name, kind,
 *         start_time_unix_nano INTEGER, end_time_unix_nano INTEGER, status_code, status_message,
 *         service_name, scope_name, entry_id, parent_hash, signature, attributes JSON, resource JSON)
 */

import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type BetterSqlite3 from 'better-sqlite3';
import { SPAN } from '../wire/constants.js';
import { KestTelemetryError } from './errors.js';
import { type SpanRecord, toSpanRecord } from './record.js';

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

type Database = BetterSqlite3.Database;

/** Open (or create) a span database with the schema; better-sqlite3 is an optional dependency. */
export function openSpanDatabase(path: string, options: { readonly?: boolean } = {}): Database {
  let Ctor: typeof BetterSqlite3;
  try {
    Ctor = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
  } catch (err) {
    throw new KestTelemetryError('the sqlite exporter needs the better-sqlite3 package', { cause: err });
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

export function insertRecords(db: Database, records: readonly SpanRecord[]): void {
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

export interface SqliteExporterOptions {
  path: string;
  serviceName?: string;
}

export class SqliteSpanExporter implements SpanExporter {
  readonly path: string;
  readonly #serviceName: string | undefined;
  #db: Database | undefined;

  constructor(options: SqliteExporterOptions) {
    this.path = options.path;
    this.#serviceName = options.serviceName;
    this.#db = openSpanDatabase(options.path);
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const db = this.#db;
    if (!db) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('exporter is shut down') });
      return;
    }
    try {
      insertRecords(
        db,
        spans.map((s) => toSpanRecord(s, this.#serviceName)),
      );
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (err) {
      resultCallback({ code: ExportResultCode.FAILED, error: err as Error });
    }
  }

  async forceFlush(): Promise<void> {
    this.#db?.pragma('wal_checkpoint(PASSIVE)');
  }

  async shutdown(): Promise<void> {
    const db = this.#db;
    if (!db) return;
    this.#db = undefined;
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
  }
}
