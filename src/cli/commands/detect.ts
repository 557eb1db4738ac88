/**
 * `kest detect`: which identity Kest would use here (SPIFFE → OIDC → local) and its workload id.
 */
import type { Command } from 'commander';
import { silentLogger } from '../../index.js';
import type { AutoDetector } from '../../spiffe/index.js';
import type { CommandContext } from '../io.js';
import { importSpiffe } from '../optional.js';

interface DetectCliOptions {
  socket?: string;
  spiffeId?: string;
  oidcTokenFile?: string;
  timeout?: string;
  json?: boolean;
}

export function register(program: Command, { io }: CommandContext): void {
  program
    .command('detect')
    .description(
      'detect the workload identity provider (SPIFFE Workload API, OIDC token, or local key) and print it',
    )
    .option('--socket <address>', 'Workload API address (default $SPIFFE_ENDPOINT_SOCKET)')
    .option('--spiffe-id <id>', 'SPIFFE ID to pick when the agent issues several')
    .option('--oidc-token-file <path>', 'OIDC token file (default $KEST_OIDC_TOKEN_FILE)')
    .option('--timeout <ms>', 'how long to wait for the Workload API', '2000')
    .option('--json', 'print the result as JSON')
    .action(async (options: DetectCliOptions, command: Command) => {
      const timeout = Number(options.timeout ?? '2000');
      if (!Number.isFinite(timeout) || timeout <= 0)
        command.error('kest detect: --timeout must be positive', { exitCode: 2 });
      let detection: Awaited<ReturnType<AutoDetector['detect']>>;
      try {
        const { AutoDetector } = await importSpiffe('SPIFFE detection needs');
        detection = await new AutoDetector({
          spiffeTimeoutMs: timeout,
          logger: silentLogger,
          ...(options.socket ? { spiffeSocket: options.socket } : {}),
          ...(options.spiffeId ? { spiffeId: options.spiffeId } : {}),
          ...(options.oidcTokenFile ? { oidcTokenFile: options.oidcTokenFile } : {}),
        }).detect();
      } catch (err) {
        command.error(`kest detect: ${(err as Error).message}`, { exitCode: 2 });
        return;
      }
      const { kind, workloadId, source, reasons, provider } = detection;
      if (options.spiffeId && kind !== 'spire') {
        // The operator asked for one SPIFFE ID: another identity is not an answer to that.
        await (provider as { close?: () => Promise<void> }).close?.();
        command.error(
          `kest detect: SPIFFE ID ${options.spiffeId} was not issued here (${reasons.join('; ') || `found ${kind} instead`})`,
          { exitCode: 2 },
        );
      }
      const providerName = provider.constructor.name;
      if (options.json) {
        io.stdout.write(
          `${JSON.stringify({ kind, provider: providerName, workload_id: workloadId, source, reasons })}\n`,
        );
      } else {
        io.stdout.write(
          `provider    ${providerName} (${kind})\nworkload id ${workloadId}\nsource      ${source}\n`,
        );
        for (const r of reasons) io.stdout.write(`skipped     ${r}\n`);
        if (kind === 'local') {
          io.stdout.write(
            'warning     development identity: an ephemeral key no verifier trusts unless published\n',
          );
        }
      }
      await (provider as { close?: () => Promise<void> }).close?.();
    });
}
