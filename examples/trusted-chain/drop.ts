/**
 * `--attack=drop`: a compromised hop3 deletes its own spans before they reach the collector (here:
 * the lines its workload wrote to the span file). Its caller's completion signed the tip hop3
 * returned in `kest-tip`, so the offline audit names the missing record and who should have sent it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { AuditReport } from '../../src/audit/index.js';

/** Remove every span of `workload` from a JSON-lines span file; returns how many were removed. */
export function dropOwnSpans(path: string, workload: string): number {
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  const kept = lines.filter((l) => JSON.parse(l).attributes?.['kest.workload_id'] !== workload);
  writeFileSync(path, kept.map((l) => `${l}\n`).join(''));
  return lines.length - kept.length;
}

/** The verdict line when the audit caught the drop, else undefined. */
export function dropVerdict(report: AuditReport, workload: string): string | undefined {
  const named = report.missingRecords.find((m) => m.expectedFrom === workload);
  if (!named) return undefined;
  return `dropped record detected: ${workload} returned tip ${named.hash.slice(0, 12)}… (signed into ${named.referencedBy}'s completion) but exported no span carrying it`;
}
