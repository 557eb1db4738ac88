/** Reading a passport argument: a file path, or `-` for the command's stdin. */
import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { LIMITS } from '../entry/index.js';
import { type CliIo, EXIT } from './io.js';

/**
 * Read a passport from a file or stdin ('-'), stopping after maxBytes + 1 bytes: anything longer is
 * refused by Passport.deserialize's bound without reading a hostile input to its end.
 */
export async function readPassportInput(
  source: string,
  command: Command,
  io: CliIo,
  maxBytes: number = LIMITS.maxPassportBytes,
): Promise<string> {
  const file = source === '-' ? undefined : createReadStream(source);
  const stream: AsyncIterable<Buffer | string> = file ?? io.stdin ?? noInput();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      chunks.push(buf);
      total += buf.length;
      if (total > maxBytes) break;
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return command.error(`kest: cannot read ${source}: ${e.code ?? e.message}`, { exitCode: EXIT.usage });
  } finally {
    file?.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function* noInput(): AsyncIterable<Buffer> {}
