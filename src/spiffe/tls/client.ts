/**
 * The client side of SPIFFE mutual TLS: present our SVID, verify the server's SVID SPIFFE-style
 * (no hostname check) and authorize its SPIFFE ID, all before a request byte is sent — Node calls
 * `checkServerIdentity` at the end of the handshake and destroys the socket when it returns an
 * error. Each new connection re-reads the source, so a rotated SVID or bundle is used at once;
 * kept-alive connections finish with the material they were opened with.
 *
 *   const dispatcher = spiffeUndiciAgent(source, { authorize: authorizeID('spiffe://example.org/orders') });
 *   await fetch('https://127.0.0.1:8443/', { dispatcher });          // undici / Node's fetch
 *   const httpsAgent = new SpiffeHttpsAgent(source, { authorize });   // axios, node:https
 */

import type { RequestOptions } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { type ConnectionOptions, type PeerCertificate, connect as tlsConnect } from 'node:tls';
import type { Agent, buildConnector } from 'undici';
import { missingPeerError } from '../../peers.js';
import { KestSpiffeError } from '../errors.js';
import {
  MaterialCache,
  type MtlsOptions,
  type MtlsSource,
  peerChain,
  type TlsMaterial,
  verifyPeer,
} from './material.js';

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

/** tls.connect options that present the current SVID and SPIFFE-verify the server. */
function connectOptions(material: TlsMaterial, options: MtlsOptions): ConnectionOptions {
  return {
    secureContext: material.secureContext,
    rejectUnauthorized: true,
    // Called by Node after OpenSSL accepted the chain; an Error return destroys the socket.
    checkServerIdentity: (_hostname: string, cert: PeerCertificate) => {
      try {
        verifyPeer(peerChain(cert as Parameters<typeof peerChain>[0]), material, options, 'server');
        return undefined;
      } catch (err) {
        return err as Error;
      }
    },
  };
}

function checkedOptions(options: MtlsOptions, who: string): MtlsOptions {
  if (typeof options?.authorize !== 'function') {
    throw new KestSpiffeError('unauthorized_peer', `${who} needs an authorize function (e.g. authorizeID)`);
  }
  return options;
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

/** An https.Agent (node:https, axios `httpsAgent`) over SPIFFE mTLS. */
export class SpiffeHttpsAgent extends HttpsAgent {
  readonly #cache: MaterialCache;
  readonly #mtls: MtlsOptions;

  constructor(source: MtlsSource, options: MtlsOptions & { agent?: HttpsAgentOptions }) {
    super({ keepAlive: true, ...options.agent, maxCachedSessions: 0 });
    this.#mtls = checkedOptions(options, 'SpiffeHttpsAgent');
    this.#cache = new MaterialCache(source, options.federatedBundles);
  }

  // Node's Agent calls createConnection(options, callback) for every new socket.
  override createConnection(
    options: RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    let material: TlsMaterial;
    try {
      material = this.#cache.current();
    } catch (err) {
      if (!callback) throw err;
      callback(err as Error, undefined as unknown as Duplex);
      return undefined;
    }
    // Material from the agent's own options (key/cert/ca) or a cached session must not leak in.
    const { session: _s, key: _k, cert: _c, ca: _ca, pfx: _p, ...rest } = options as ConnectionOptions;
    return tlsConnect({ ...(rest as ConnectionOptions), ...connectOptions(material, this.#mtls) });
  }
}
