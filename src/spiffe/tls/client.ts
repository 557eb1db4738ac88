/**
 * The client side of SPIFFE mutual TLS: present our SVID, verify the server's SVID SPIFFE-style
 * (no hostname check) and authorize its SPIFFE ID, all before a request byte is sent — Node calls
 * `checkServerIdentity` at the end of the handshake and destroys the socket when it returns an
 * error. Each new connection re-reads the source, so a rotated SVID or bundle is used at once;
 * kept-alive connections finish with the material they were opened with.
 *
 *   const httpsAgent = new SpiffeHttpsAgent(source, { authorize });   // axios, node:https
 *
 * The undici side (spiffeUndiciAgent, spiffeConnector) is in ./undici.ts, exported as
 * `kest/spiffe/undici`: its declarations name undici's types, which `kest/spiffe` must not need.
 */

import type { RequestOptions } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { type ConnectionOptions, type PeerCertificate, connect as tlsConnect } from 'node:tls';
import { KestSpiffeError } from '../errors.js';
import {
  MaterialCache,
  type MtlsOptions,
  type MtlsSource,
  peerChain,
  type TlsMaterial,
  verifyPeer,
} from './material.js';

/** tls.connect options that present the current SVID and SPIFFE-verify the server. */
export function connectOptions(material: TlsMaterial, options: MtlsOptions): ConnectionOptions {
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

export function checkedOptions(options: MtlsOptions, who: string): MtlsOptions {
  if (typeof options?.authorize !== 'function') {
    throw new KestSpiffeError('unauthorized_peer', `${who} needs an authorize function (e.g. authorizeID)`);
  }
  return options;
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
