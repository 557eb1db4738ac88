/**
 * AutoDetector: pick the strongest identity the environment offers, in order —
 * 1. a reachable SPIFFE Workload API (SPIFFE_ENDPOINT_SOCKET, or SPIRE's default socket if it
 *    exists) → SPIREProvider;
 * 2. an OIDC token (KEST_OIDC_TOKEN_FILE / KEST_OIDC_TOKEN) → OIDCIdentity;
 * 3. otherwise LocalEd25519Provider, which logs its development-only warning.
 * `reasons` records why each stronger option was skipped; `require` makes a missing option an error
 * instead of a fallback.
 */
import { existsSync } from 'node:fs';
import { KestIdentityError } from '../errors.js';
import { LocalEd25519Provider } from '../identity/local.js';
import { OIDC_TOKEN_ENV, OIDC_TOKEN_FILE_ENV, OIDCIdentity } from '../identity/oidc.js';
import type { IdentityProvider } from '../identity/provider.js';
import type { KestLogger } from '../logger.js';
import { DEFAULT_SPIRE_SOCKET, ENDPOINT_ENV, parseEndpoint } from './endpoint.js';
import { SPIREProvider } from './spire.js';

export type IdentityKind = 'spire' | 'oidc' | 'local';

export interface DetectOptions {
  /** Workload API address; default $SPIFFE_ENDPOINT_SOCKET, then SPIRE's default socket if present. */
  spiffeSocket?: string;
  /** Pick this SPIFFE ID when the agent issues several. */
  spiffeId?: string;
  /** How long to wait for the first SVID (ms). Default 2000. */
  spiffeTimeoutMs?: number;
  oidcTokenFile?: string;
  /** Workload id of the local fallback; default $KEST_WORKLOAD_ID. */
  workloadId?: string;
  /** Fail unless this kind (or a stronger one) is found. */
  require?: Exclude<IdentityKind, 'local'>;
  logger?: KestLogger;
  env?: NodeJS.ProcessEnv;
}

export interface Detection {
  kind: IdentityKind;
  provider: IdentityProvider;
  workloadId: string;
  /** Where the identity came from (socket address, token file, "in-memory key"). */
  source: string;
  /** Why stronger options were not used. */
  reasons: string[];
}

export class AutoDetector {
  readonly #options: DetectOptions;

  constructor(options: DetectOptions = {}) {
    this.#options = options;
  }

  static detect(options: DetectOptions = {}): Promise<Detection> {
    return new AutoDetector(options).detect();
  }

  async detect(): Promise<Detection> {
    const o = this.#options;
    const env = o.env ?? process.env;
    const reasons: string[] = [];

    const spiffe = o.spiffeSocket ?? (env[ENDPOINT_ENV] || undefined) ?? defaultSocket();
    if (spiffe) {
      try {
        const provider = await SPIREProvider.connect({
          address: spiffe,
          startTimeoutMs: o.spiffeTimeoutMs ?? 2000,
          ...(o.spiffeId ? { spiffeId: o.spiffeId } : {}),
        });
        return { kind: 'spire', provider, workloadId: provider.getWorkloadId(), source: spiffe, reasons };
      } catch (err) {
        reasons.push(`SPIFFE Workload API at ${spiffe}: ${(err as Error).message}`);
      }
    } else {
      reasons.push(`no SPIFFE Workload API configured (${ENDPOINT_ENV} unset, no ${DEFAULT_SPIRE_SOCKET})`);
    }
    if (o.require === 'spire') throw new KestIdentityError(`SPIFFE identity required: ${reasons.join('; ')}`);

    const tokenFile = o.oidcTokenFile ?? (env[OIDC_TOKEN_FILE_ENV] || undefined);
    if (tokenFile || env[OIDC_TOKEN_ENV]) {
      // A configured but unusable token is an error, not a reason to fall back silently.
      const provider = new OIDCIdentity({ ...(tokenFile ? { tokenFile } : {}), env });
      return {
        kind: 'oidc',
        provider,
        workloadId: provider.getWorkloadId(),
        source: tokenFile ?? `$${OIDC_TOKEN_ENV}`,
        reasons,
      };
    }
    reasons.push(`no OIDC token (${OIDC_TOKEN_FILE_ENV} / ${OIDC_TOKEN_ENV} unset)`);
    if (o.require === 'oidc')
      throw new KestIdentityError(`OIDC or SPIFFE identity required: ${reasons.join('; ')}`);

    const workloadId = o.workloadId ?? (env.KEST_WORKLOAD_ID || undefined);
    const provider = new LocalEd25519Provider({
      ...(workloadId ? { workloadId } : {}),
      ...(o.logger ? { logger: o.logger } : {}),
    });
    return {
      kind: 'local',
      provider,
      workloadId: provider.getWorkloadId(),
      source: 'in-memory key',
      reasons,
    };
  }
}

function defaultSocket(): string | undefined {
  const path = parseEndpoint(DEFAULT_SPIRE_SOCKET).path;
  return path && existsSync(path) ? DEFAULT_SPIRE_SOCKET : undefined;
}
