/**
 * Reports for whatever file an auditor holds: a passport (JSON) or a span file (JSON lines, SQLite,
 * OTLP/JSON), with or without a trust source. Used by `kest viz`; the flags and their wording live
 * in src/cli/.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { CacheProvider } from '../propagation/cache.js';
import { readFileBounded } from '../wire/bounded-file.js';
import { LIMITS } from '../wire/constants.js';
import { auditPassport, auditSpansUnchecked } from './audit-spans.js';
import { detectFormat, readSpansFile } from './readers.js';
import type { AuditOptions, AuditReport } from './report.js';

/** A passport file: a JSON array of JWS strings or {"entries": [...]}, judged from its first bytes. */
export function looksLikePassport(path: string): boolean {
  if (detectFormat(path) === 'sqlite') return false;
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const n = readSync(fd, head, 0, head.length, 0);
    const text = head
      .subarray(0, n)
      .toString('utf8')
      .replace(/^\uFEFF/, '')
      .trimStart();
    return /^\[\s*("|\])/.test(text) || /^\{\s*"entries"\s*:/.test(text);
  } finally {
    closeSync(fd);
  }
}

export interface LoadReportsOptions extends Partial<AuditOptions> {
  cache?: CacheProvider;
}

/**
 * Reports for a file: a passport becomes one report; a span file one per trace. Without `trust`
 * entries are drawn but stay 'unverified'.
 */
export async function loadReports(path: string, options: LoadReportsOptions = {}): Promise<AuditReport[]> {
  if (looksLikePassport(path)) {
    const { traceId: _t, ...rest } = options;
    return [await auditPassport(readFileBounded(path, LIMITS.maxPassportBytes + 4096), rest)];
  }
  const spans = await readSpansFile(path, options.traceId ? { traceId: options.traceId } : {});
  return auditSpansUnchecked(spans, options);
}
