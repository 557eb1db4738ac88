/**
 * Former home of the audit (split into report.ts, graph.ts, auditor.ts, audit-spans.ts): these
 * re-exports keep old import paths compiling (load.ts, cli/commands/viz.ts). New code imports the
 * module that defines a name, or the public entry `kest/audit` (index.ts). Nothing in src/audit
 * imports this file.
 */
export { auditPassport, auditSpans, auditSpansUnchecked } from './audit-spans.js';
export { Auditor } from './auditor.js';
export {
  CLAIM_CHECK_ATTRIBUTE,
  type Group,
  groupSpans,
  lazyNode,
  matchesTrace,
  type Node,
  parseNode,
  passportTipHash,
  passportTipJws,
} from './graph.js';
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
