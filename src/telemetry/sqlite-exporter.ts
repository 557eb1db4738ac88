/**
 * Spans into a SQLite database (sqlite-db.ts: schema and the better-sqlite3 loading, which happens
 * only when this exporter is used). shutdown() checkpoints the WAL.
 */
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { toSpanRecord } from './record.js';
import { insertRecords, openSpanDatabase, type SpanDatabase } from './sqlite-db.js';

export interface SqliteExporterOptions {
  path: string;
  serviceName?: string;
}

export class SqliteSpanExporter implements SpanExporter {
  readonly path: string;
  readonly #serviceName: string | undefined;
  #db: SpanDatabase | undefined;

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
