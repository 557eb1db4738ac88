/**
 * `kest verify <passport.json|-> --jwks FILE [--sanitizers FILE] [--roots FILE] [--expected-tip HASH] [--partial-lineage] [--json]`:
 * the offline audit. Runs every check of docs/spec.md §2 against keys anchored in the JWKS. Without
 * --roots the root entry's origin is reported as self-asserted (not checked).
 * Exit 0 valid, 1 invalid (prints code, reason, entry index and id), 2 usage or configuration error.
 */
import type { Command } from 'commander';
import { escapeJsonForTerminal, escapeTerminal, isSha256Hex, readFileBounded } from '../../entry/index.js';
import {
  JwksTrustSource,
  KestError,
  KestVerificationError,
  PassportVerifier,
  SanitizerPolicy,
  type VerificationReport,
} from '../../index.js';
import { readPassportInput } from '../input.js';
import { type CliIo, type CommandContext, EXIT } from '../io.js';
import { loadRoots, loadSanitizers, SELF_ASSERTED_NOTE } from '../load-spans.js';
import { PROFILE_HELP, profileOption } from '../profile.js';

function readJsonFile(path: string, what: string, command: Command): unknown {
  try {
    return JSON.parse(readFileBounded(path));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EFBIG' ? e.message : (e.code ?? e.message);
    return command.error(`kest verify: cannot read ${what} ${escapeTerminal(path)}: ${escapeTerminal(why)}`, {
      exitCode: EXIT.usage,
    });
  }
}

interface VerifyCliOptions {
  jwks: string[];
  sanitizers?: string;
  roots?: string;
  expectedTip?: string;
  partialLineage?: boolean;
  profile?: string;
  json?: boolean;
}

function reportJson(report: VerificationReport) {
  return {
    valid: true,
    entries: report.entries.map((e) => ({
      index: e.index,
      entryId: e.entryId,
      operation: e.operation,
      principal: e.principal,
      trustScore: e.trustScore,
      taints: e.taints,
      hash: e.hash,
      sanitized: e.sanitized,
      ...(e.origin ? { origin: e.origin } : {}),
    })),
    principals: report.principals,
    trustScore: report.trustScore,
    taints: report.taints,
    tipHash: report.tipHash ?? null,
    uncheckedTrust: report.uncheckedTrust,
    origins: report.entries.some((e) => e.origin === 'self-asserted') ? 'self-asserted' : 'checked',
  };
}

export function register(program: Command, context: CommandContext): void {
  program
    .command('verify')
    .description('verify a passport offline: links, anchored signatures, lineage rules (docs/spec.md §2)')
    .argument(
      '<passport>',
      'passport JSON file (array of compact JWS, or {"entries": [...]}), or - for stdin',
    )
    .requiredOption(
      '--jwks <file>',
      'trusted keys: JWKS whose keys carry "principal", or {principal: JWKS}; repeatable',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--sanitizers <file>', 'sanitizer rules: {"sanitizers":[{"principal","may_remove","max_trust"}]}')
    .option(
      '--roots <file>',
      'who may start a lineage (JSON or YAML): {"roots":[{"principal","max_source_trust"}]}; without it root origins are self-asserted',
    )
    .option(
      '--expected-tip <hash>',
      'the chain tip the sender declared (kest.chain_tip): the last entry must hash to it',
    )
    .option(
      '--partial-lineage',
      'entries of other runtimes without kest.source_type (e.g. the Python reference): check signatures, links and taints, leave trust unchecked and list them',
    )
    .option('--profile <name>', PROFILE_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (source: string, options: VerifyCliOptions, command: Command) => {
      context.exitCode = await runVerify(source, options, command, context.io);
    });
}

/** Trust and sanitizers from the flags; a bad file is a usage error (exit 2). */
function loadVerifier(options: VerifyCliOptions, command: Command): PassportVerifier {
  try {
    const trust = new JwksTrustSource(...options.jwks.map((f) => readJsonFile(f, 'JWKS', command)));
    const sanitizers = options.sanitizers ? loadSanitizers(options.sanitizers) : new SanitizerPolicy();
    return new PassportVerifier({
      trust,
      sanitizers,
      ...(options.roots ? { roots: loadRoots(options.roots) } : {}),
      ...(options.partialLineage ? { strictLineage: false } : {}),
      profile: profileOption(options.profile, command, 'verify'),
    });
  } catch (err) {
    if (err instanceof KestError && !(err instanceof KestVerificationError)) {
      return command.error(`kest verify: ${escapeTerminal(err.message)}`, { exitCode: EXIT.usage });
    }
    throw err;
  }
}

async function runVerify(
  source: string,
  options: VerifyCliOptions,
  command: Command,
  io: CliIo,
): Promise<number> {
  const verifier = loadVerifier(options, command);
  if (options.expectedTip !== undefined && !isSha256Hex(options.expectedTip)) {
    return command.error('kest verify: --expected-tip must be 64 lowercase hex characters', {
      exitCode: EXIT.usage,
    });
  }
  const text = await readPassportInput(source, command, io);
  try {
    const report = await verifier.verify(
      text,
      options.expectedTip ? { expectedTip: options.expectedTip } : {},
    );
    io.stdout.write(
      options.json ? `${escapeJsonForTerminal(JSON.stringify(reportJson(report)))}\n` : reportText(report),
    );
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof KestVerificationError)) throw err;
    io.stdout.write(
      options.json ? `${escapeJsonForTerminal(JSON.stringify(failureJson(err)))}\n` : failureText(err),
    );
    return EXIT.invalid;
  }
}

function reportText(report: VerificationReport): string {
  const n = report.entries.length;
  return (
    `VALID: ${n} entr${n === 1 ? 'y' : 'ies'}, ${report.principals.length} principal(s), ` +
    `trust ${report.trustScore ?? '-'}, taints [${escapeTerminal(report.taints.join(', '))}]\n` +
    (report.tipHash ? `tip ${report.tipHash}\n` : '') +
    (report.uncheckedTrust.length > 0
      ? `note: trust not recomputed for entries ${report.uncheckedTrust.join(', ')} (other runtimes)\n`
      : '') +
    originLines(report)
  );
}

/** One line per root entry: its origin claim and whether root rules checked it. */
function originLines(report: VerificationReport): string {
  const roots = report.entries.filter((e) => e.origin !== undefined);
  const lines = roots.map(
    (e) =>
      `origin of entry ${e.index} (root by ${e.principal}): ${e.sourceType ?? 'unknown'}, trust ${e.trustScore}, ${e.origin}\n`,
  );
  const unchecked = roots.some((e) => e.origin === 'self-asserted');
  return lines.join('') + (unchecked ? `${SELF_ASSERTED_NOTE}\n` : '');
}

function failureJson(err: KestVerificationError) {
  return {
    valid: false,
    code: err.code,
    reason: err.reason,
    index: err.index,
    entryId: err.entryId ?? null,
    message: err.message,
  };
}

function failureText(err: KestVerificationError): string {
  const where = err.index >= 0 ? ` at entry ${err.index}${err.entryId ? ` (${err.entryId})` : ''}` : '';
  // The message and entry id may quote a forged entry: one escaped line each.
  return `INVALID: ${escapeTerminal(`${err.code} ${err.reason}${where}`)}\n${escapeTerminal(err.message)}\n`;
}
