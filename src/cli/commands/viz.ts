/**
 * kest viz <passport.json | spans file | sqlite> --format html|mermaid|dot [-o FILE]
 *          [--jwks FILE | --bundle FILE] [--trace ID] [--sanitizers FILE]
 * Draws the lineage. With a trust source each node shows its verification status; without one
 * every node is drawn as unverified. Exit 0 when written, 2 on usage or input errors.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type AuditReport, loadReports, renderDot, renderHtml, renderMermaid } from '../../audit/index.js';
import { escapeTerminal } from '../../entry/index.js';
import { KestError } from '../../index.js';
import { type CliIo, type CommandContext, EXIT } from '../io.js';
import { loadSanitizers, loadTrustSource } from '../load-spans.js';

export interface VizCommandOptions {
  format?: string;
  output?: string;
  trace?: string;
  jwks?: string[];
  bundle?: string;
  trustDomain?: string;
  sanitizers?: string;
  title?: string;
}

export const VIZ_FORMATS = ['html', 'mermaid', 'dot'] as const;

export function renderReports(reports: readonly AuditReport[], format: string, title?: string): string {
  switch (format) {
    case 'html':
      return renderHtml(reports, title ? { title } : {});
    case 'mermaid':
      return renderMermaid(reports);
    case 'dot':
      return renderDot(reports);
    default:
      throw new Error(`--format must be one of ${VIZ_FORMATS.join(', ')}`);
  }
}

export async function runViz(input: string, opts: VizCommandOptions, io: CliIo): Promise<number> {
  const format = opts.format ?? 'html';
  try {
    if (!(VIZ_FORMATS as readonly string[]).includes(format)) {
      throw new Error(`--format must be one of ${VIZ_FORMATS.join(', ')}`);
    }
    const withTrust = (opts.jwks?.length ?? 0) > 0 || opts.bundle !== undefined;
    const trust = withTrust
      ? await loadTrustSource({ jwks: opts.jwks, bundle: opts.bundle, trustDomain: opts.trustDomain })
      : undefined;
    const sanitizers = opts.sanitizers ? loadSanitizers(opts.sanitizers) : undefined;
    const reports = await loadReports(input, {
      ...(trust ? { trust } : {}),
      ...(sanitizers ? { sanitizers } : {}),
      ...(opts.trace ? { traceId: opts.trace } : {}),
    });
    if (reports.length === 0) throw new Error(`no Kest entries in ${input}`);
    const text = renderReports(reports, format, opts.title);
    if (opts.output) {
      writeFileSync(opts.output, text);
      io.stderr.write(`wrote ${format} for ${reports.length} trace(s) to ${opts.output}\n`);
    } else {
      // A file keeps the document as drawn; a terminal gets its control characters escaped.
      io.stdout.write(escapeTerminal(text, { keepLines: true }));
    }
    return EXIT.ok;
  } catch (err) {
    const msg = err instanceof KestError ? `${err.code}: ${err.message}` : (err as Error).message;
    io.stderr.write(`kest viz: ${escapeTerminal(msg)}\n`);
    return EXIT.usage;
  }
}

export function register(program: Command, context: CommandContext): void {
  program
    .command('viz')
    .description('draw a lineage DAG: self-contained HTML viewer, Mermaid or Graphviz DOT')
    .argument(
      '<input>',
      'passport.json, spans file (JSON lines / OTLP/JSON / OTLP protobuf) or SQLite span database',
    )
    .option('--format <format>', 'html | mermaid | dot', 'html')
    .option('-o, --output <file>', 'write here instead of stdout')
    .option('--trace <id>', 'only this trace')
    .option('--jwks <file...>', 'verify against these JWKS files (status per node)')
    .option('--bundle <file>', 'verify against SPIFFE bundle(s)')
    .option('--trust-domain <td>', 'trust domain of a single --bundle')
    .option('--sanitizers <file>', 'sanitizer rules (JSON or YAML)')
    .option('--title <text>', 'page title (html)')
    .action(async (input: string, opts: VizCommandOptions) => {
      context.exitCode = await runViz(input, opts, context.io);
    });
}
