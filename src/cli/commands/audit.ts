/**
 * kest audit <spans.jsonl | audit.sqlite | otlp.json> [--trace ID] (--jwks FILE | --bundle FILE)
 *            [--sanitizers FILE] [--roots FILE] [--redis URL] [--json] [--summary]
 *            [--allow-incomplete] [--profile reference]
 * Without --roots every root's origin (source_type, trust) is reported as self-asserted.
 * Exit 0: every trace verified; 1: a failure, a gap, an incomplete call, a missing record or nothing
 * to audit; 2: usage or input error.
 */
import type { Command } from 'commander';
import { auditFile, formatReport, summarizeReports } from '../../audit/index.js';
import { escapeJsonForTerminal, escapeTerminal } from '../../entry/index.js';
import { KestConfigurationError, KestError } from '../../index.js';
import type { CacheProvider } from '../../propagation/index.js';
import { startProgress, summaryLine, totalsLine } from '../audit-output.js';
import { type CliIo, type CommandContext, EXIT } from '../io.js';
import { loadRoots, loadSanitizers, loadTrustSource, SELF_ASSERTED_NOTE } from '../load-spans.js';
import { importRedis } from '../optional.js';
import { PROFILE_HELP, profileOption } from '../profile.js';

export interface AuditCommandOptions {
  trace?: string;
  jwks?: string[];
  bundle?: string;
  trustDomain?: string;
  sanitizers?: string;
  roots?: string;
  redis?: string;
  workers?: string;
  profile?: string;
  json?: boolean;
  summary?: boolean;
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
    const roots = opts.roots ? loadRoots(opts.roots) : undefined;
    const workers = opts.workers === undefined ? undefined : Number(opts.workers);
    if (workers !== undefined && !(Number.isInteger(workers) && workers >= 0)) {
      throw new KestConfigurationError('--workers must be a whole number >= 0');
    }
    if (opts.redis) {
      const { RedisCacheProvider } = await importRedis('--redis (claim checks in Redis) needs');
      cache = new RedisCacheProvider({ url: opts.redis });
    }
    const stopProgress = startProgress(io.stderr, file);
    const reports = await auditFile(file, {
      trust,
      ...(sanitizers ? { sanitizers } : {}),
      ...(roots ? { roots } : {}),
      ...(cache ? { cache } : {}),
      ...(opts.trace ? { traceId: opts.trace } : {}),
      ...(workers !== undefined ? { workers } : {}),
      ...(opts.profile === 'reference' ? { profile: 'reference' as const } : {}),
    }).finally(stopProgress);
    const summary = summarizeReports(reports, { allowIncomplete: opts.allowIncomplete === true });
    if (opts.json) {
      const origins = roots ? 'checked' : 'self-asserted';
      io.stdout.write(
        `${escapeJsonForTerminal(JSON.stringify({ summary, origins, traces: reports }, null, 2))}\n`,
      );
    } else {
      for (const r of reports) io.stdout.write(`${opts.summary ? summaryLine(r) : formatReport(r)}\n`);
      if (reports.length === 0) {
        io.stderr.write(
          opts.trace ? `no Kest spans for trace ${opts.trace} in ${file}\n` : `no Kest spans in ${file}\n`,
        );
      } else {
        io.stdout.write(`${totalsLine(summary)}\n`);
        if (!roots) io.stdout.write(`${SELF_ASSERTED_NOTE}\n`);
      }
    }
    return summary.ok ? EXIT.ok : EXIT.invalid;
  } catch (err) {
    const msg = err instanceof KestError ? `${err.code}: ${err.message}` : (err as Error).message;
    io.stderr.write(`kest audit: ${escapeTerminal(msg)}\n`);
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
    .option(
      '--roots <file>',
      'who may start a lineage (JSON or YAML): {"roots":[{"principal","max_source_trust"}]}; without it root origins are self-asserted',
    )
    .option('--redis <url>', 'resolve claim checks in this Redis when spans are missing')
    .option(
      '--workers <n>',
      'worker threads besides the main one (0: none; default: one per other core, at most 3)',
    )
    .option('--profile <name>', PROFILE_HELP)
    .option(
      '--allow-incomplete',
      'tolerate calls without completion (traces still in flight); missing records still fail',
    )
    .option('--json', 'print the reports as JSON')
    .option('--summary', 'one line per trace and the totals, instead of every entry')
    .action(async (file: string, opts: AuditCommandOptions, command: Command) => {
      profileOption(opts.profile, command, 'audit');
      context.exitCode = await runAudit(file, opts, context.io);
    });
}
