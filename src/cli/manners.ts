/**
 * CLI manners shared by every command: the exit codes in each command's --help, and a quiet exit
 * when stdout's reader goes away (`kest audit … | head`).
 */
import type { Command } from 'commander';

/** Exit codes per command, printed at the end of its --help. */
const EXIT_CODES: Record<string, string> = {
  verify: '0 valid, 1 invalid passport, 2 usage or configuration error (unreadable or oversized file)',
  inspect: '0 printed, 1 malformed passport, 2 usage error',
  audit:
    '0 every trace verified, 1 a failure, gap or unverifiable entry (or nothing to audit, or an export --otlp-grpc or --otlp-http refused), 2 usage or input error (oversized line or file, bad trust source)',
  viz: '0 written, 2 usage or input error',
  keygen: '0 written, 2 usage error or the files exist',
  detect: '0 detected, 2 no usable provider (or --spiffe-id not issued)',
  'dev-agent': '0 stopped cleanly, 2 usage or start-up error',
};

/** Append "Exit codes: …" to every command's help. */
export function documentExitCodes(program: Command): void {
  program.addHelpText('after', '\nExit codes: 0 success, 1 invalid input, 2 usage or configuration error.');
  for (const command of program.commands) {
    const codes = EXIT_CODES[command.name()] ?? '0 success, 1 invalid input, 2 usage or configuration error';
    command.addHelpText('after', `\nExit codes: ${codes}.`);
  }
}

/**
 * When the reader of stdout exits early (`| head`), further writes fail with EPIPE: that is the
 * reader's choice, not an error, so exit 0 quietly instead of dying with a stack trace and exit 1.
 */
export function exitQuietlyOnEpipe(stream: NodeJS.WriteStream, exit: (code: number) => void): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') exit(0);
    else throw err;
  });
}
