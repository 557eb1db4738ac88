/**
 * kest audit <spans.jsonl | audit.sqlite | otlp.json> [--trace ID] (--jwks FILE | --bundle FILE)
 *            [--sanitizers FILE] [--redis URL] [--json]
 *            [--allow-incomplete]
 * Exit 0: every trace verified; 1: a failure, a gap, an incomplete call, a missing record or nothing
 * to audit; 2: usage or input error.
 */
import type { Command } from 'commander';
import { auditFile, formatReport, summarizeReports } from '../../audit/index.js';
import { KestConfigurationError, KestError } from '../../index.js';
import type { CacheProvider } from '../../propagation/index.js';
import { type CliIo, type CommandContext, EXIT } from '../io.js';
import { loadSanitizers, loadTrustSource } from '../load-spans.js';

export interface AuditCommandOptions {
  trace?: string;
  jwks?: string[];
  bundle?: string;
  trustDomain?: string;
  sanitizers?: string;
  redis?: string;
  workers?: string;
  json?: boolean;
  allowIncomplete?: boolean;
}

/** The command's work, returning the exit code. */
export async function runAudit(file: string, opts: AuditCommandOptions, io: CliIo): Promise<number> {
  let cache: CacheProvider | undefined;
  try {
    const trust = await loadTrustSource({
      jwks: opts.jwks,
      bundle: opts.bundle,
      trustDomain: opts.trustDomain,
    });
    const sanitizers = opts.sanitizers ? loadSanitizers(opts.sanitizers) : undefined;
    const workers = opts.workers === undefined ? undefined : Number(opts.workers);
    if (workers !== undefined && !(Number.isInteger(workers) && workers >= 0)) {
      throw new KestConfigurationError('--workers must be a whole number >= 0');
    }
    if (opts.redis) {
      // kest/redis: loaded on use, the redis client is an optional peer dependency.
      const { RedisCacheProvider } = await import('../../propagation/redis.js');
      cache = new RedisCacheProvider({ url: opts.redis });
    }
    const reports = await auditFile(file, {
      trust,
      ...(sanitizers ? { sanitizers } : {}),
      ...(cache ? { cache } : {}),
      ...(opts.trace ? { traceId: opts.trace } : {}),
      ...(workers !== undefined ? { workers } : {}),
    });
    const summary = summarizeReports(reports, { allowIncomplete: opts.allowIncomplete === true });
    if (opts.json) {
      io.stdout.write(`${JSON.stringify({ summary, traces: reports }, null, 2)}\n`);
    } else {
      for (const r of reports) io.stdout.write(`${formatReport(r)}\n`);
      if (reports.length === 0) {
        io.stderr.write(
          opts.trace ? `no Kest spans for trace ${opts.trace} in ${file}\n` : `no Kest spans in ${file}\n`,
        );
      } else {
        io.stdout.write(
          `${summary.traces} trace(s): ${summary.verified} verified, ${summary.failed} failed, ${summary.incomplete} incomplete; ${summary.entries} entries, ${summary.gaps} gap(s), ${summary.forks} fork(s), ${summary.incompleteCalls} incomplete call(s), ${summary.missingRecords} missing record(s)\n`,
        );
      }
    }
    return summary.ok ? EXIT.ok : EXIT.invalid;
  } catch (err) {
    const msg = err instanceof KestError ? `${err.code}: ${err.message}` : (err as Error).message;
    io.stderr.write(`kest audit: ${msg}\n`);
    return EXIT.usage;
  } finally {
    await cache?.close().catch(() => undefined);
  }
}

export function register(program: Command, context: CommandContext): void {
  program
    .command('audit')
    .description(
      'rebuild passports from exported spans and verify them offline (exit 0 verified, 1 failure or gap, 2 usage)',
    )
    .argument('<spans>', 'spans: JSON lines file, SQLite database, or OTLP/JSON')
    .option('--trace <id>', 'only this trace (OpenTelemetry trace id or labels.trace_id)')
    .option(
      '--jwks <file...>',
      'trusted keys: JWKS file(s) with a "principal" per key, or a principal → JWKS map',
    )
    .option(
      '--bundle <file>',
      'trusted SPIFFE bundle(s): a {"trust domain": bundle} map, or one bundle with --trust-domain',
    )
    .option('--trust-domain <td>', 'trust domain of a single --bundle')
    .option(
      '--sanitizers <file>',
      'sanitizer rules (JSON or YAML): {"sanitizers":[{"principal","may_remove","max_trust"}]}',
    )
    .option('--redis <url>', 'resolve claim checks in this Redis when spans are missing')
    .option(
      '--workers <n>',
      'worker threads besides the main one (0: none; default: one per other core, at most 3)',
    )
    .option(
      '--allow-incomplete',
      'tolerate calls without completion (traces still in flight); missing records still fail',
    )
    .option('--json', 'print the reports as JSON')
    .action(async (file: string, opts: AuditCommandOptions) => {
      context.exitCode = await runAudit(file, opts, context.io);
    });
}
