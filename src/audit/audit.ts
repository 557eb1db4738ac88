/**
 * Former home of the audit (split into report.ts, graph.ts, auditor.ts, audit-spans.ts): these
 * re-exports keep the old import path compiling for load.ts and cli/commands/viz.ts. New code
 * imports the module that defines a name, or the public entry `kest/audit` (index.ts); once those
 * two import report.ts and audit-spans.ts, this file goes.
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
export type * from './report.js';
