/**
 * `run(argv, io)`: the whole `kest` command line as a function returning its exit code. Each command
 * parses its arguments, calls the public library API and prints. Exit codes: 0 success / valid,
 * 1 invalid input (e.g. a passport that fails verification), 2 usage or configuration error.
 */
import { type Command, CommanderError, Command as CommanderProgram } from 'commander';
import { escapeTerminal } from '../entry/index.js';
import { KestError, PACKAGE_VERSION } from '../index.js';
import * as audit from './commands/audit.js';
import * as detect from './commands/detect.js';
import * as devAgent from './commands/dev-agent.js';
import * as inspect from './commands/inspect.js';
import * as keygen from './commands/keygen.js';
import * as verify from './commands/verify.js';
import * as viz from './commands/viz.js';
import { type CliIo, type CommandContext, EXIT, processIo } from './io.js';
import { documentExitCodes } from './manners.js';

/**
 * COMMANDS: one module per file in src/cli/commands/, each exporting `register(program, context)`.
 * To add a command, import it above and append it here.
 */
const COMMANDS: { register(program: Command, context: CommandContext): void }[] = [
  keygen,
  verify,
  inspect,
  audit,
  viz,
  devAgent,
  detect,
];

function buildProgram(context: CommandContext): Command {
  const { io } = context;
  const program = new CommanderProgram('kest')
    .description(
      'Kest: signed, hash-linked lineage for every hop of a request — keys, verification, inspection',
    )
    // Before the commands are added: subcommands copy the output configuration when created.
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
    })
    .version(PACKAGE_VERSION)
    // Throw instead of exiting, so usage errors map to exit code 2 below. Subcommands inherit it.
    .exitOverride()
    .showHelpAfterError('(run kest --help for usage)');
  for (const command of COMMANDS) command.register(program, context);
  documentExitCodes(program);
  return program;
}

/** Run `kest` with these arguments (without node and script), e.g. `run(['verify', 'p.json', ...])`. */
export async function run(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const context: CommandContext = { io, exitCode: EXIT.ok };
  const program = buildProgram(context);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return context.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with exitCode 0; every other commander error is a usage error.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof KestError) {
      io.stderr.write(`kest: ${err.code}: ${escapeTerminal(err.message)}\n`);
      return EXIT.usage;
    }
    io.stderr.write(
      `kest: unexpected error: ${escapeTerminal((err as Error)?.stack ?? String(err), { keepLines: true })}\n`,
    );
    return EXIT.usage;
  }
}
