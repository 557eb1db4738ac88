/**
 * The optional peer dependencies and the error for a missing one. A subpath that imports a peer at
 * its top fails on import with Node's own error, which names the package (README lists the peers
 * per subpath); a peer loaded on first use is turned into a KestConfigurationError that says what
 * to install. The ranges are package.json's peerDependencies (a test keeps them equal).
 */
import { KestConfigurationError } from './errors.js';

export const OPTIONAL_PEERS = {
  '@grpc/grpc-js': '1.14',
  '@grpc/proto-loader': '^0.8.1',
  express: '^5.3.0',
  fastify: '^5.12.8',
  hono: '^4.13.19',
  ioredis: '^6.0.0',
  '@cedar-policy/cedar-wasm': '4.13',
  'better-sqlite3': '12.11',
  undici: '^7.30.2',
  axios: '^1.21.1',
  '@opentelemetry/sdk-trace-base': '^2.12.1',
  '@opentelemetry/exporter-trace-otlp-http': '^0.223.1',
  '@opentelemetry/resources': '^2.12.1',
  '@opentelemetry/core': '^2.12.1',
} as const;

export type OptionalPeer = keyof typeof OPTIONAL_PEERS;

/** `npm install a@range b@range`, a spec quoted when the shell would split or redirect it. */
export function installCommand(peers: readonly OptionalPeer[]): string {
  const specs = peers.map((p) => {
    const spec = `${p}@${OPTIONAL_PEERS[p]}`;
    return /[\s<>|&]/.test(spec) ? `'${spec}'` : spec;
  });
  return `npm install ${specs.join(' ')}`;
}

/** The package a module specifier belongs to: `@scope/name/x` → `@scope/name`, `name/x` → `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * When `err` is Node's "cannot find" error (require or import) for one of `peers` itself — not for
 * a module that peer imports — the KestConfigurationError that names them: "`needs` the optional
 * peer(s) …: npm install …". Otherwise undefined: the caller rethrows or wraps `err`.
 */
export function missingPeerError(
  err: unknown,
  needs: string,
  peers: readonly OptionalPeer[],
): KestConfigurationError | undefined {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') return undefined;
  const missing = /Cannot find (?:module|package) '([^']+)'/.exec(String(message))?.[1];
  if (missing === undefined || !peers.some((p) => p === packageOf(missing))) return undefined;
  const list = new Intl.ListFormat('en', { type: 'conjunction' }).format(peers);
  const names = peers.length === 1 ? `peer ${list}` : `peers ${list}`;
  return new KestConfigurationError(`${needs} the optional ${names}: ${installCommand(peers)}`, {
    cause: err,
  });
}
