/**
 * kest audit <spans.jsonl | audit.sqlite | otlp.json | otlp.pb> [--trace ID] (--jwks FILE | --bundle FILE)
 *            [--sanitizers FILE] [--roots FILE] [--redis URL] [--json] [--summary]
 *            [--allow-incomplete] [--profile reference]
 * kest audit (--otlp-grpc | --otlp-http) HOST:PORT [--idle SECONDS] [--max-spans N] [--record FILE]
 *            (same options): receive the spans over OTLP until stopped, then audit them.
 * Without --roots every root's origin (source_type, trust) is reported as self-asserted.
 * Exit 0: every trace verified; 1: a failure, a gap, an incomplete call, a missing record, nothing
 * to audit, or a received export refused; 2: usage or input error.
 */
import type { Command } from 'commander';
import {
  type AuditReport,
  auditFile,
  auditSpans,
  formatReport,
  summarizeReports,
} from '../../audit/index.js';
import { escapeJsonForTerminal, escapeTerminal } from '../../entry/index.js';
import { KestConfigurationError, KestError } from '../../index.js';
import type { CacheProvider } from '../../propagation/index.js';
import { startProgress, summaryLine, totalsLine } from '../audit-output.js';
import { type Received, receiveSpans, refusalLines } from '../audit-receive.js';
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
  /** Receive over OTLP/gRPC or OTLP/HTTP on HOST:PORT instead of reading a file. */
  otlpGrpc?: string;
  otlpHttp?: string;
  idle?: string;
  maxSpans?: string;
  record?: string;
}

/**
 * The command's work, returning the exit code. `file` is the span file, or undefined with
 * `--otlp-grpc` / `--otlp-http`; `until` stops a receiver (as SIGINT does).
 */
export async function runAudit(
  file: string | undefined,
  opts: AuditCommandOptions,
  io: CliIo,
  until?: AbortSignal,
): Promise<number> {
  let cache: CacheProvider | undefined;
  try {
    const sources = [file, opts.otlpGrpc, opts.otlpHttp].filter((s) => s !== undefined);
    if (sources.length !== 1) {
      throw new KestConfigurationError(
        'give a span file, --otlp-grpc HOST:PORT or --otlp-http HOST:PORT (one of them)',
      );
    }
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
    const options = {
      trust,
      ...(sanitizers ? { sanitizers } : {}),
      ...(roots ? { roots } : {}),
      ...(cache ? { cache } : {}),
      ...(opts.trace ? { traceId: opts.trace } : {}),
      ...(workers !== undefined ? { workers } : {}),
      ...(opts.profile === 'reference' ? { profile: 'reference' as const } : {}),
    };
    let reports: AuditReport[];
    let received: Received | undefined;
    if (file === undefined) {
      received = await receiveSpans(opts, io, until);
      reports = await auditSpans(received.spans, options);
    } else {
      const stopProgress = startProgress(io.stderr, file);
      reports = await auditFile(file, options).finally(stopProgress);
    }
    return print(reports, opts, io, file ?? `what was received on ${received?.address}`, received);
  } catch (err) {
    const msg = err instanceof KestError ? `${err.code}: ${err.message}` : (err as Error).message;
    io.stderr.write(`kest audit: ${escapeTerminal(msg)}\n`);
    return EXIT.usage;
  } finally {
    await cache?.close().catch(() => undefined);
  }
}

/** The reports (text, --summary or --json) and the exit code they earn. */
function print(
  reports: AuditReport[],
  opts: AuditCommandOptions,
  io: CliIo,
  source: string,
  received: Received | undefined,
): number {
  const summary = summarizeReports(reports, { allowIncomplete: opts.allowIncomplete === true });
  const lost = received ? refusalLines(received.stats) : [];
  if (opts.json) {
    const origins = opts.roots ? 'checked' : 'self-asserted';
    const receiver = received ? { receiver: { address: received.address, ...received.stats } } : {};
    io.stdout.write(
      `${escapeJsonForTerminal(JSON.stringify({ summary, origins, ...receiver, traces: reports }, null, 2))}\n`,
    );
  } else {
    for (const r of reports) io.stdout.write(`${opts.summary ? summaryLine(r) : formatReport(r)}\n`);
    if (reports.length === 0) {
      const where = escapeTerminal(source);
      io.stderr.write(
        opts.trace ? `no Kest spans for trace ${opts.trace} in ${where}\n` : `no Kest spans in ${where}\n`,
      );
    } else {
      io.stdout.write(`${totalsLine(summary)}\n`);
      if (!opts.roots) io.stdout.write(`${SELF_ASSERTED_NOTE}\n`);
    }
  }
  for (const line of lost) io.stderr.write(`${line}\n`);
  return summary.ok && lost.length === 0 ? EXIT.ok : EXIT.invalid;
}

export function register(program: Command, context: CommandContext): void {
  program
    .command('audit')
    .description(
      'rebuild passports from exported spans and verify them offline (exit 0 verified, 1 failure or gap, 2 usage)',
    )
    .argument('[spans]', 'spans: JSON lines file, SQLite database, OTLP/JSON or OTLP protobuf file')
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
    .option(
      '--otlp-grpc <host:port>',
      'instead of a file: receive spans over OTLP/gRPC (plaintext) until Ctrl-C, SIGTERM or --idle, then audit them',
    )
    .option(
      '--otlp-http <host:port>',
      'instead of a file: receive spans over OTLP/HTTP (POST /v1/traces, protobuf or JSON, plain HTTP) until Ctrl-C, SIGTERM or --idle, then audit them',
    )
    .option('--idle <seconds>', 'with --otlp-grpc/--otlp-http: stop after this long without an export')
    .option(
      '--max-spans <n>',
      'with --otlp-grpc/--otlp-http: keep at most this many spans (default 1000000); more are refused',
    )
    .option(
      '--record <file>',
      'with --otlp-grpc: append every accepted request here (an OTLP protobuf span file); with --otlp-http: their spans (a JSON-lines span file)',
    )
    .option('--json', 'print the reports as JSON')
    .option('--summary', 'one line per trace and the totals, instead of every entry')
    .action(async (file: string | undefined, opts: AuditCommandOptions, command: Command) => {
      profileOption(opts.profile, command, 'audit');
      context.exitCode = await runAudit(file, opts, context.io);
    });
}
