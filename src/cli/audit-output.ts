/** `kest audit` output beyond the full report: a progress line on a TTY and the --summary form. */
import type { AuditReport, AuditSummary } from '../audit/index.js';
import { escapeTerminal } from '../entry/index.js';
import type { TextSink } from './io.js';

/** One line per trace: id, services, status and counts. */
export function summaryLine(r: AuditReport): string {
  const services = r.serviceNames.length > 0 ? ` [${r.serviceNames.join(', ')}]` : '';
  return escapeTerminal(
    `${r.traceId}${services} ${r.status.toUpperCase()} entries=${r.entries.length} gaps=${r.gaps.length} forks=${r.forks.length}`,
  );
}

export function totalsLine(s: AuditSummary): string {
  return `${s.traces} trace(s): ${s.verified} verified, ${s.failed} failed, ${s.incomplete} incomplete; ${s.entries} entries, ${s.gaps} gap(s), ${s.forks} fork(s), ${s.incompleteCalls} incomplete call(s), ${s.missingRecords} missing record(s)`;
}

/**
 * Elapsed time on stderr while an audit runs, redrawn in place; only when stderr is a terminal
 * (a log file or pipe gets nothing). Returns the function that clears it.
 */
export function startProgress(stderr: TextSink, file: string): () => void {
  if (!(stderr as { isTTY?: boolean }).isTTY) return () => undefined;
  const started = Date.now();
  const draw = () =>
    stderr.write(
      `\r\u001b[2Kkest audit: auditing ${escapeTerminal(file)}… ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  draw();
  const timer = setInterval(draw, 250);
  timer.unref();
  return () => {
    clearInterval(timer);
    stderr.write('\r\u001b[2K');
  };
}
