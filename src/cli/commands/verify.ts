/**
 * `kest verify <passport.json|-> --jwks FILE [--sanitizers FILE] [--expected-tip HASH] [--partial-lineage] [--json]`:
 * the offline audit. Runs every check of docs/spec.md §2 against keys anchored in the JWKS.
 * Exit 0 valid, 1 invalid (prints code, reason, entry index and id), 2 usage or configuration error.
 */
import { createReadStream, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { KestError, KestVerificationError } from '../../errors.js';
import { JwksTrustSource } from '../../keys/jwks.js';
import { PassportVerifier, type VerificationReport } from '../../passport/verifier.js';
import { SanitizerPolicy } from '../../trust/sanitizers.js';
import { LIMITS } from '../../wire/constants.js';
import { isSha256Hex } from '../../wire/hash.js';

export const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

/**
 * Read a passport from a file or stdin ('-'), stopping after maxBytes + 1 bytes: anything longer is
 * refused by Passport.deserialize's bound without reading a hostile input to its end.
 */
export async function readPassportInput(
  source: string,
  command: Command,
  maxBytes: number = LIMITS.maxPassportBytes,
): Promise<string> {
  const stream = source === '-' ? process.stdin : createReadStream(source);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      chunks.push(buf);
      total += buf.length;
      if (total > maxBytes) break;
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return command.error(`kest: cannot read ${source}: ${e.code ?? e.message}`, { exitCode: EXIT.usage });
  } finally {
    if (source !== '-') (stream as ReturnType<typeof createReadStream>).destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

function readJsonFile(path: string, what: string, command: Command): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return command.error(`kest verify: cannot read ${what} ${path}: ${e.code ?? e.message}`, {
      exitCode: EXIT.usage,
    });
  }
}

interface VerifyCliOptions {
  jwks: string[];
  sanitizers?: string;
  expectedTip?: string;
  partialLineage?: boolean;
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
    })),
    principals: report.principals,
    trustScore: report.trustScore,
    taints: report.taints,
    tipHash: report.tipHash ?? null,
    uncheckedTrust: report.uncheckedTrust,
  };
}

export function register(program: Command): void {
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
      '--expected-tip <hash>',
      'the chain tip the sender declared (kest.chain_tip): the last entry must hash to it',
    )
    .option(
      '--partial-lineage',
      'entries of other runtimes without kest.source_type (e.g. the Python reference): check signatures, links and taints, leave trust unchecked and list them',
    )
    .option('--json', 'print the result as JSON')
    .action(async (source: string, options: VerifyCliOptions, command: Command) => {
      let trust: JwksTrustSource;
      let sanitizers: SanitizerPolicy;
      try {
        trust = new JwksTrustSource(...options.jwks.map((f) => readJsonFile(f, 'JWKS', command)));
        sanitizers = options.sanitizers
          ? SanitizerPolicy.fromJSON(readJsonFile(options.sanitizers, 'sanitizers file', command))
          : new SanitizerPolicy();
      } catch (err) {
        if (err instanceof KestError) {
          return command.error(`kest verify: ${err.message}`, { exitCode: EXIT.usage });
        }
        throw err;
      }
      if (options.expectedTip !== undefined && !isSha256Hex(options.expectedTip)) {
        return command.error('kest verify: --expected-tip must be 64 lowercase hex characters', {
          exitCode: EXIT.usage,
        });
      }
      const text = await readPassportInput(source, command);
      const verifier = new PassportVerifier({
        trust,
        sanitizers,
        ...(options.partialLineage ? { strictLineage: false } : {}),
      });
      try {
        const report = await verifier.verify(
          text,
          options.expectedTip ? { expectedTip: options.expectedTip } : {},
        );
        if (options.json) {
          process.stdout.write(`${JSON.stringify(reportJson(report))}\n`);
        } else {
          const n = report.entries.length;
          process.stdout.write(
            `VALID: ${n} entr${n === 1 ? 'y' : 'ies'}, ${report.principals.length} principal(s), ` +
              `trust ${report.trustScore ?? '-'}, taints [${report.taints.join(', ')}]\n` +
              (report.tipHash ? `tip ${report.tipHash}\n` : '') +
              (report.uncheckedTrust.length > 0
                ? `note: trust not recomputed for entries ${report.uncheckedTrust.join(', ')} (other runtimes)\n`
                : ''),
          );
        }
        process.exitCode = EXIT.ok;
      } catch (err) {
        if (!(err instanceof KestVerificationError)) throw err;
        if (options.json) {
          process.stdout.write(
            `${JSON.stringify({
              valid: false,
              code: err.code,
              reason: err.reason,
              index: err.index,
              entryId: err.entryId ?? null,
              message: err.message,
            })}\n`,
          );
        } else {
          process.stdout.write(
            `INVALID: ${err.code} ${err.reason}` +
              (err.index >= 0 ? ` at entry ${err.index}${err.entryId ? ` (${err.entryId})` : ''}` : '') +
              `\n${err.message}\n`,
          );
        }
        process.exitCode = EXIT.invalid;
      }
    });
}
