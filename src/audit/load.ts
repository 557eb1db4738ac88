/**
 * Loading what an auditor points the tools at: trust (JWKS files or SPIFFE bundles), sanitizer
 * rules, and the input (a span file or a passport). Shared by `kest audit`, `kest viz` and the demo.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { KestConfigurationError } from '../errors.js';
import { JwksTrustSource } from '../keys/jwks.js';
import type { TrustSource } from '../keys/trust-source.js';
import type { CacheProvider } from '../propagation/cache.js';
import { SanitizerPolicy } from '../trust/sanitizers.js';
import { type AuditOptions, type AuditReport, auditPassport, auditSpansUnchecked } from './audit.js';
import { detectFormat, readSpansFile } from './readers.js';

export interface TrustFiles {
  /** JWKS files (keys anchored per principal). */
  jwks?: readonly string[] | string;
  /** A SPIFFE bundle file: a federated map {"<trust domain>": bundle}, or one bundle with trustDomain. */
  bundle?: string;
  trustDomain?: string;
}

/** A trust source from files; throws KestConfigurationError on a bad or missing choice. */
export async function loadTrustSource(files: TrustFiles): Promise<TrustSource> {
  const jwks = typeof files.jwks === 'string' ? [files.jwks] : [...(files.jwks ?? [])];
  if (jwks.length > 0 && files.bundle) throw new KestConfigurationError('give --jwks or --bundle, not both');
  if (jwks.length > 0) return JwksTrustSource.fromFile(...jwks);
  if (files.bundle) {
    let mod: typeof import('../spiffe/trust-source.js');
    try {
      mod = await import('../spiffe/trust-source.js');
    } catch (err) {
      throw new KestConfigurationError(
        'SPIFFE bundles are not available in this build (kest/spiffe missing)',
        {
          cause: err,
        },
      );
    }
    // An audit reads old traces: each SVID is checked at its entry's signing time, not now.
    try {
      return files.trustDomain
        ? mod.SpiffeTrustSource.fromBundleFile(files.trustDomain, files.bundle, {
            svidValidity: 'signing-time',
          })
        : mod.SpiffeTrustSource.fromFederatedFile(files.bundle, { svidValidity: 'signing-time' });
    } catch (err) {
      throw new KestConfigurationError(`cannot load bundle ${files.bundle}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  throw new KestConfigurationError('a trust source is required: --jwks FILE or --bundle FILE');
}

/** Sanitizer rules from JSON or YAML: {"sanitizers":[{"principal","may_remove","max_trust"}]}. */
export function loadSanitizers(path: string): SanitizerPolicy {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new KestConfigurationError(`cannot read sanitizers ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return SanitizerPolicy.fromJSON(doc);
}

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
    return [await auditPassport(readFileSync(path, 'utf8'), rest)];
  }
  const spans = await readSpansFile(path, options.traceId ? { traceId: options.traceId } : {});
  return auditSpansUnchecked(spans, options);
}
