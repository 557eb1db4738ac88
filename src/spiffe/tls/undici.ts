/**
 * SPIFFE mutual TLS for undici and Node's fetch (`kest/spiffe/undici`): a connector and an Agent that
 * present our SVID and SPIFFE-verify the server before a request byte is sent (see ./client.ts).
 * A subpath of its own because its declarations name undici's types: `kest/spiffe` compiles in a
 * project without undici (skipLibCheck false), this one needs it.
 *
 *   const dispatcher = spiffeUndiciAgent(source, { authorize: authorizeID('spiffe://example.org/orders') });
 *   await fetch('https://127.0.0.1:8443/', { dispatcher });
 */
import { createRequire } from 'node:module';
import type { Agent, buildConnector } from 'undici';
import { missingPeerError } from '../../peers.js';
import { checkedOptions, connectOptions } from './client.js';
import { MaterialCache, type MtlsOptions, type MtlsSource, type TlsMaterial } from './material.js';

// undici is an optional peer dependency: loaded on first use, so `kest/spiffe` works without it.
type Undici = typeof import('undici');
let undici: Undici | undefined;
function loadUndici(): Undici {
  try {
    undici ??= createRequire(import.meta.url)('undici') as Undici;
  } catch (err) {
    throw missingPeerError(err, 'spiffeUndiciAgent and spiffeConnector need', ['undici']) ?? err;
  }
  return undici;
}

export interface SpiffeConnectorOptions extends MtlsOptions {
  /** TCP + TLS connect timeout (ms). Default 10000 (undici's). */
  timeout?: number;
}

/** An undici connector (`new Agent({ connect })`, `new Client(url, { connect })`). */
export function spiffeConnector(
  source: MtlsSource,
  options: SpiffeConnectorOptions,
): buildConnector.connector {
  checkedOptions(options, 'spiffeConnector');
  const build = loadUndici().buildConnector; // now, not at the first connection: a missing peer is a setup error
  const cache = new MaterialCache(source, options.federatedBundles);
  let built: { generation: string; connector: buildConnector.connector } | undefined;
  return (opts, callback) => {
    let material: TlsMaterial;
    try {
      material = cache.current();
    } catch (err) {
      callback(err as Error, null);
      return;
    }
    if (built?.generation !== material.generation) {
      built = {
        generation: material.generation,
        connector: build({
          ...connectOptions(material, options),
          maxCachedSessions: 0,
          ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
          // node:tls option types mark absent members `| undefined`; undici's BuildOptions does not.
        } as Parameters<ReturnType<typeof loadUndici>['buildConnector']>[0]),
      };
    }
    built.connector(opts, callback);
  };
}

/** An undici Agent (a fetch/undici dispatcher; compose Kest's interceptor onto it) over SPIFFE mTLS. */
export function spiffeUndiciAgent(
  source: MtlsSource,
  options: SpiffeConnectorOptions & { agent?: Omit<Agent.Options, 'connect'> },
): Agent {
  const { Agent: UndiciAgent } = loadUndici();
  return new UndiciAgent({ ...options.agent, connect: spiffeConnector(source, options) });
}
