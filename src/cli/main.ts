#!/usr/bin/env node
/**
 * The `kest` command line. Thin by design: each command parses its arguments, calls the public
 * library API and prints. Exit codes: 0 success / valid, 1 invalid input (e.g. a passport that fails
 * verification), 2 usage or configuration error.
 */
import { type Command, CommanderError, Command as CommanderProgram } from 'commander';
import { KestError } from '../errors.js';
import { PACKAGE_VERSION } from '../version.js';
import * as audit from './commands/audit.js';
import * as detect from './commands/detect.js';
import * as devAgent from './commands/dev-agent.js';
import * as inspect from './commands/inspect.js';
import * as keygen from './commands/keygen.js';
import * as verify from './commands/verify.js';
import { EXIT } from './commands/verify.js';
import * as viz from './commands/viz.js';

/**
 * COMMANDS: one module per file in src/cli/commands/, each exporting `register(program)`.
 * To add a command, import it above and append it here.
 */
const COMMANDS: { register(program: Command): void }[] = [
  keygen,
  verify,
  inspect,
  audit,
  viz,
  devAgent,
  detect,
];

function buildProgram(): Command {
  const program = new CommanderProgram('kest')
    .description(
      'Kest: signed, hash-linked lineage for every hop of a request — keys, verification, inspection',
    )
    .version(PACKAGE_VERSION)
    // Throw instead of exiting, so usage errors map to exit code 2 below. Subcommands inherit it.
    .exitOverride()
    .showHelpAfterError('(run kest --help for usage)');
  for (const command of COMMANDS) command.register(program);
  return program;
}

async function main(argv: readonly string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with exitCode 0; every other commander error is a usage error.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof KestError) {
      process.stderr.write(`kest: ${err.code}: ${err.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`kest: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.usage;
  }
}

process.exitCode = await main();
