/**
 * kest/audit: rebuild passports from exported spans and verify them offline (docs/spec.md §7), and
 * draw the lineage (HTML viewer, Mermaid, Graphviz DOT).
 */
export { auditPassport, auditSpans } from './audit-spans.js';
export { type AuditSummary, auditFile, formatReport, summarizeReports } from './file.js';
export { CLAIM_CHECK_ATTRIBUTE, passportTipJws } from './graph.js';
export { type LoadReportsOptions, loadReports, looksLikePassport } from './load.js';
export {
  OTLP_RECEIVER_DEFAULTS,
  OtlpGrpcReceiver,
  type OtlpGrpcReceiverOptions,
  type OtlpReceiverStats,
} from './otlp-grpc.js';
export { OTLP_HTTP_TRACES_PATH, OtlpHttpReceiver, type OtlpHttpReceiverOptions } from './otlp-http.js';
export { OTLP_PROTO_LIMITS, readOtlpProtoSpans, spansFromOtlpProto } from './otlp-proto.js';
export { closeAuditWorkers } from './pool.js';
export {
  detectFormat,
  readJsonSpans,
  readSpansFile,
  readSqliteSpans,
  type SpanFileFormat,
  spansFromJson,
} from './readers.js';
export type {
  AuditBranch,
  AuditClaimCheck,
  AuditEntry,
  AuditFailure,
  AuditFork,
  AuditGap,
  AuditOptions,
  AuditReport,
  AuditSpanInfo,
  EntrySource,
  EntryStatus,
} from './report.js';
export * from './viz/index.js';
