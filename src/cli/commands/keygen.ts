/**
 * `kest keygen --out-dir DIR --principal SPIFFE_ID [--force]`: a fresh Ed25519 key pair for a
 * workload. Writes the private JWK (mode 0600, loaded by FileIdentityProvider.fromFile) and a public
 * JWKS whose key names its principal — the form `kest verify --jwks` and JwksTrustSource anchor.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { Ed25519Key } from '../../index.js';
import { SpiffeId } from '../../spiffe/spiffeid.js';
import type { CommandContext } from '../io.js';

export const PRIVATE_FILE = 'kest-private.jwk.json';
export const JWKS_FILE = 'kest-jwks.json';

interface KeygenOptions {
  outDir: string;
  principal: string;
  force?: boolean;
  json?: boolean;
}

function write(path: string, data: string, mode: number, force: boolean): void {
  // 'wx' fails if the file exists: a key is never overwritten by accident.
  writeFileSync(path, data, { mode, flag: force ? 'w' : 'wx' });
  chmodSync(path, mode); // the mode option only applies when the file is created
}

export function register(program: Command, { io }: CommandContext): void {
  program
    .command('keygen')
    .description('generate an Ed25519 key: private JWK (0600) and public JWKS anchored to a principal')
    .requiredOption('--out-dir <dir>', 'directory to write the key files to (created if missing)')
    .requiredOption('--principal <spiffe-id>', 'SPIFFE ID the key signs for (labels.principal)')
    .option('--force', 'overwrite existing key files')
    .option('--json', 'print the result as JSON')
    .action((options: KeygenOptions, command: Command) => {
      const principal = options.principal;
      try {
        SpiffeId.parse(principal);
      } catch (err) {
        command.error(`kest keygen: --principal ${JSON.stringify(principal)}: ${(err as Error).message}`, {
          exitCode: 2,
        });
      }
      const dir = resolve(options.outDir);
      const privatePath = join(dir, PRIVATE_FILE);
      const jwksPath = join(dir, JWKS_FILE);
      if (!options.force) {
        // Check both first: never leave a new private key beside a stale JWKS (or the reverse).
        for (const path of [privatePath, jwksPath]) {
          if (existsSync(path)) {
            command.error(`kest keygen: ${path} exists (use --force to overwrite)`, { exitCode: 2 });
          }
        }
      }
      const key = Ed25519Key.generate();
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        write(privatePath, `${JSON.stringify(key.privateJwk(principal), null, 2)}\n`, 0o600, !!options.force);
        write(
          jwksPath,
          `${JSON.stringify({ keys: [key.publicJwk(principal)] }, null, 2)}\n`,
          0o644,
          !!options.force,
        );
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const hint = e.code === 'EEXIST' ? ' (use --force to overwrite)' : '';
        command.error(`kest keygen: cannot write ${e.path ?? dir}: ${e.code ?? e.message}${hint}`, {
          exitCode: 2,
        });
      }
      const result = { principal, kid: key.kid, alg: key.alg, private: privatePath, jwks: jwksPath };
      if (options.json) {
        io.stdout.write(`${JSON.stringify(result)}\n`);
      } else {
        io.stdout.write(
          `principal ${principal}\nkid       ${key.kid}\nprivate   ${privatePath} (mode 0600: keep it secret; FileIdentityProvider.fromFile loads it)\n` +
            `jwks      ${jwksPath} (give this to verifiers: kest verify --jwks ${jwksPath})\n`,
        );
      }
    });
}
