/**
 * kest/audit: rebuild passports from exported spans and verify them offline (docs/spec.md §7), and
 * draw the lineage (HTML viewer, Mermaid, Graphviz DOT).
 */
export {
  type AuditBranch,
  type AuditClaimCheck,
  type AuditEntry,
  type AuditFailure,
  type AuditFork,
  type AuditGap,
  type AuditOptions,
  type AuditReport,
  type AuditSpanInfo,
  auditPassport,
  auditSpans,
  CLAIM_CHECK_ATTRIBUTE,
  type EntrySource,
  type EntryStatus,
  passportTipJws,
} from './audit.js';
export { type AuditSummary, auditFile, formatReport, summarizeReports } from './file.js';
export { closeAuditWorkers } from './pool.js';
export { detectFormat, readJsonSpans, readSpansFile, readSqliteSpans, spansFromJson } from './readers.js';
export * from './viz/index.js';
