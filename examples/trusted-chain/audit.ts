/**
 * What the hops record, and the offline check over it.
 *
 * Every kestVerified call emits an OpenTelemetry span carrying its signed entry (`kest.signature`,
 * docs/spec.md §7). The demo sends them with the real file exporter of kest/telemetry (JSON lines),
 * and the auditor runs the `kest audit` logic (auditFile of kest/audit) over that file: spans
 * grouped by trace, entries ordered by hash linkage, the rebuilt passport verified with the
 * PassportVerifier's rules, gaps and forks reported.
 */
import { rmSync } from 'node:fs';
import { type AuditReport, auditFile, auditPassport } from '../../src/audit/index.js';
import type { TrustSource } from '../../src/keys/trust-source.js';
import type { Passport } from '../../src/passport/passport.js';
import type { RootRule } from '../../src/passport/report.js';
import { KestTelemetry, type KestTelemetryHandle } from '../../src/telemetry/index.js';

/** Start writing every Kest span of this process to `path` (a fresh file per run). */
export function startSpanFile(path: string): KestTelemetryHandle {
  rmSync(path, { force: true });
  return KestTelemetry.setup({ serviceName: 'kest-demo-trusted-chain', exporter: 'file', path });
}

/** `kest audit <path> --jwks …|--bundle … --roots …`: one report per trace in the file. */
export async function auditSpanFile(
  path: string,
  trust: TrustSource,
  roots: readonly RootRule[],
): Promise<AuditReport[]> {
  return auditFile(path, { trust, roots });
}

/** The same audit over a passport someone presented (evidence of a refused request). */
export async function auditEvidence(
  passport: Passport,
  trust: TrustSource,
  roots: readonly RootRule[],
): Promise<AuditReport> {
  return auditPassport(passport, { trust, roots });
}
