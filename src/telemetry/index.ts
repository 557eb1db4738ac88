/**
 * kest/telemetry: where the hook's spans go (docs/spec.md §7). Exporters: OTLP/HTTP (the official
 * exporter), JSON lines file, SQLite, console.
 */
export { KestTelemetryError } from './errors.js';
export { type JsonLinesExporterOptions, JsonLinesSpanExporter } from './file-exporter.js';
export {
  type AttributeValue,
  hrTimeToNanos,
  type SpanRecord,
  type SpanStatusName,
  toSpanRecord,
} from './record.js';
export {
  type ExporterKind,
  KestTelemetry,
  type KestTelemetryHandle,
  type KestTelemetryOptions,
} from './setup.js';
export { insertRecords, openSpanDatabase, SPANS_SCHEMA, type SpanDatabase } from './sqlite-db.js';
export { type SqliteExporterOptions, SqliteSpanExporter } from './sqlite-exporter.js';
