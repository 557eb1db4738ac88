/** `kest` in-process: src/cli/run.ts with string sinks for stdout/stderr and an optional stdin. */
import { Readable } from 'node:stream';
import { run } from '../../src/cli/run.js';

export interface KestRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function kest(args: readonly string[], stdin?: string): Promise<KestRun> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    stdin: Readable.from(stdin === undefined ? [] : [Buffer.from(stdin)]),
  });
  return { code, stdout, stderr };
}
