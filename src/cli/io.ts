/**
 * What a `kest` command talks to: output streams, stdin and the exit code it sets. The bin passes
 * the process's own; tests pass string sinks and call `run` in-process.
 */

/** Anything with `write(text)`: process.stdout, a stream, or a test's string collector. */
export interface TextSink {
  write(text: string): unknown;
}

export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
  /** Read for the `-` input of verify and inspect; none means empty input. */
  stdin?: AsyncIterable<Buffer | string>;
}

export const processIo: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
};

export const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

/** Handed to each command's `register`: where it prints, and the exit code its action sets. */
export interface CommandContext {
  readonly io: CliIo;
  exitCode: number;
}
