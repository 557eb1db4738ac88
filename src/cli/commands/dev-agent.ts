/**
 * `kest dev-agent --socket PATH --trust-domain example.org [--workload ID ...] [--ttl SECONDS]
 * [--bundle-out FILE]`: a development SPIFFE Workload API server. Production uses a SPIRE agent.
 * Runs until SIGINT/SIGTERM, then removes its socket.
 */
import type { Command } from 'commander';
import type { DevAgent } from '../../spiffe/index.js';
import type { CommandContext } from '../io.js';
import { importSpiffe } from '../optional.js';

interface DevAgentCliOptions {
  socket: string;
  trustDomain: string;
  workload?: string[];
  ttl?: string;
  bundleOut?: string;
  keyType?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function register(program: Command, { io }: CommandContext): void {
  program
    .command('dev-agent')
    .description(
      'run a development SPIFFE Workload API (issues short-lived X.509-SVIDs); production uses SPIRE',
    )
    .requiredOption(
      '--socket <path>',
      'Unix socket path (or unix:///path, tcp://127.0.0.1:PORT) to listen on',
    )
    .requiredOption('--trust-domain <name>', 'trust domain, e.g. example.org')
    .option(
      '--workload <id>',
      'workload SPIFFE ID or path (/svc/a) to issue an SVID for; repeatable',
      collect,
    )
    .option('--ttl <seconds>', 'SVID lifetime; rotated at half of it', '300')
    .option('--bundle-out <file>', 'write the trust bundle (SPIFFE JSON bundle format) to this file')
    .option('--key-type <type>', 'SVID key type: ec-p256 (default) or ed25519', 'ec-p256')
    .option('--json', 'print the startup summary as JSON')
    .action(async (options: DevAgentCliOptions, command: Command) => {
      const ttl = Number(options.ttl ?? '300');
      if (!Number.isInteger(ttl) || ttl < 2 || ttl > 7 * 24 * 3600) {
        command.error('kest dev-agent: --ttl must be an integer number of seconds between 2 and 604800', {
          exitCode: 2,
        });
      }
      if (options.keyType !== 'ec-p256' && options.keyType !== 'ed25519') {
        command.error('kest dev-agent: --key-type must be ec-p256 or ed25519', { exitCode: 2 });
      }
      let agent: DevAgent;
      try {
        const { DevAgent } = await importSpiffe('The development agent needs');
        agent = await DevAgent.start({
          socket: options.socket,
          trustDomain: options.trustDomain,
          ttlSeconds: ttl,
          keyType: options.keyType as 'ec-p256' | 'ed25519',
          ...(options.workload ? { workloads: options.workload } : {}),
          ...(options.bundleOut ? { bundleOut: options.bundleOut } : {}),
        });
      } catch (err) {
        command.error(`kest dev-agent: ${(err as Error).message}`, { exitCode: 2 });
        return;
      }
      const summary = {
        address: agent.address,
        trust_domain: agent.trustDomain.name,
        workloads: agent.workloads,
        ttl_seconds: ttl,
        bundle: options.bundleOut ?? null,
      };
      if (options.json) {
        io.stdout.write(`${JSON.stringify(summary)}\n`);
      } else {
        io.stdout.write(
          `kest dev-agent (development only: production uses SPIRE)\n` +
            `listening    ${agent.address}\ntrust domain ${summary.trust_domain}\n` +
            `workloads    ${agent.workloads.join(', ')}\nSVID ttl     ${ttl}s (rotated at half-life)\n` +
            (options.bundleOut ? `bundle       ${options.bundleOut}\n` : '') +
            `export SPIFFE_ENDPOINT_SOCKET=${agent.address}\n`,
        );
      }
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await agent.stop();
    });
}
