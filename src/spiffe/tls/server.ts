/**
 * The server side of SPIFFE mutual TLS for any `tls.Server`: node:https, node:http2's secure
 * server, Express over https, Fastify's `https`, Hono's node server.
 *
 *   const mtls = new SpiffeTlsServer(source, { authorize: authorizeMemberOf('example.org') });
 *   const server = mtls.attach(https.createServer(mtls.tlsOptions(), handler));
 *
 * `tlsOptions()` carries no key: a server that was never attached cannot complete a handshake
 * (fail secure). `attach()` installs the current SVID and, on every new TCP connection, re-reads
 * the source and swaps the secure context (server.setSecureContext) when the SVID or a bundle
 * rotated — connections already open keep theirs, so in-flight requests complete. After each
 * handshake the peer is SPIFFE-verified and authorized; a refused peer's socket is destroyed
 * before the HTTP layer has read a byte, so no handler ever runs for it.
 */

import type { RequestListener } from 'node:http';
import {
  createServer as createHttpsServer,
  type Server as HttpsServer,
  type ServerOptions,
} from 'node:https';
import type { TLSSocket, TlsOptions, Server as TlsServer } from 'node:tls';
import { KestSpiffeError } from '../errors.js';
import type { SpiffeId } from '../spiffeid.js';
import type { ChainVerification } from '../x509svid.js';
import {
  MaterialCache,
  type MtlsOptions,
  type MtlsSource,
  NO_RESUMPTION,
  peerChain,
  verifyPeer,
} from './material.js';

const kPeer = Symbol('kest.spiffe.peer');
const NO_CERTIFICATE_CODES = new Set([
  'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
  'ERR_SSL_HTTP_REQUEST',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

export interface SpiffeTlsServerOptions extends MtlsOptions {
  /** Told about every refused connection (for logs/metrics); the refusal happens regardless. */
  onRefused?: (error: KestSpiffeError, socket: TLSSocket) => void;
}

export class SpiffeTlsServer {
  readonly #material: MaterialCache;
  readonly #options: SpiffeTlsServerOptions;
  readonly #attached = new WeakSet<TlsServer>();

  constructor(source: MtlsSource, options: SpiffeTlsServerOptions) {
    if (typeof options?.authorize !== 'function') {
      throw new KestSpiffeError(
        'unauthorized_peer',
        'SpiffeTlsServer needs an authorize function (e.g. authorizeMemberOf)',
      );
    }
    this.#material = new MaterialCache(source, options.federatedBundles);
    this.#options = options;
  }

  /**
   * Server options to create the server with: client certificate required and chain-checked by
   * OpenSSL, no session resumption. No key or certificate: attach() installs them.
   */
  tlsOptions(): TlsOptions {
    return { requestCert: true, rejectUnauthorized: true, secureOptions: NO_RESUMPTION };
  }

  /** Install the SVID, rotation and peer verification on a TLS server. Returns the server. */
  attach<S extends TlsServer>(server: S): S {
    if (this.#attached.has(server)) return server;
    this.#attached.add(server);
    let installed = '';
    const refresh = () => {
      const material = this.#material.current();
      if (material.generation !== installed) {
        server.setSecureContext({ ...material.pem, secureOptions: NO_RESUMPTION });
        installed = material.generation;
      }
    };
    refresh();
    // Before tls.Server's own listener wraps the socket with the then-current context.
    server.prependListener('connection', (socket: import('node:net').Socket) => {
      try {
        refresh();
      } catch (err) {
        // Source closed or own SVID expired: serve nothing rather than stale material.
        this.#refuse(err, socket as TLSSocket);
      }
    });
    // Before the HTTP layer's listener parses anything.
    server.prependListener('secureConnection', (socket: TLSSocket) => {
      try {
        const verified = verifyPeer(
          peerChain(socket.getPeerCertificate(true)),
          this.#material.current(),
          this.#options,
          'client',
        );
        Object.defineProperty(socket, kPeer, { value: verified });
      } catch (err) {
        this.#refuse(err, socket);
      }
    });
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      // No certificate, or not TLS at all (plain HTTP); anything else OpenSSL refused during the
      // handshake is, with our options, the peer's chain (Node does not tell which check failed).
      const reason = NO_CERTIFICATE_CODES.has(err.code ?? '')
        ? 'missing_peer_certificate'
        : 'chain_not_anchored';
      this.#options.onRefused?.(
        new KestSpiffeError(reason, `TLS handshake refused: ${err.message}`, { cause: err }),
        socket,
      );
    });
    return server;
  }

  /**
   * node:https createServer with the SPIFFE options, attached. Same shape as https.createServer,
   * so it also fits Hono's `serve({ createServer })`.
   */
  createServer(options?: ServerOptions | RequestListener, listener?: RequestListener): HttpsServer {
    const [opts, handler] = typeof options === 'function' ? [{}, options] : [options ?? {}, listener];
    return this.attach(createHttpsServer({ ...opts, ...this.tlsOptions() }, handler));
  }

  #refuse(err: unknown, socket: TLSSocket): void {
    const error =
      err instanceof KestSpiffeError
        ? err
        : new KestSpiffeError('invalid_svid', `peer refused: ${(err as Error).message}`, { cause: err });
    socket.destroy();
    try {
      this.#options.onRefused?.(error, socket);
    } catch {
      // A failing logger must not turn a refusal into a crash.
    }
  }
}

/** A TLS socket, or any request/stream/env object that leads to one (see peerSpiffeId). */
export type PeerCarrier = unknown;

function findVerification(x: PeerCarrier, depth = 0): ChainVerification | undefined {
  if (!x || typeof x !== 'object' || depth > 3) return undefined;
  const own = (x as { [kPeer]?: ChainVerification })[kPeer];
  if (own) return own;
  const o = x as {
    socket?: PeerCarrier;
    session?: { socket?: PeerCarrier };
    raw?: PeerCarrier;
    incoming?: PeerCarrier;
  };
  return (
    findVerification(o.socket, depth + 1) ??
    findVerification(o.session?.socket, depth + 1) ??
    findVerification(o.raw, depth + 1) ??
    findVerification(o.incoming, depth + 1)
  );
}

/**
 * The SPIFFE-verified peer of a connection that came through an attached SpiffeTlsServer: from the
 * TLS socket, a node/Express request (`req`), a Fastify request (`request` or `request.raw`), a
 * Hono node-server env (`c.env`, i.e. `{ incoming }`) or an http2 stream/request. Undefined when
 * the request did not arrive over SPIFFE mutual TLS.
 */
export function peerSpiffeId(carrier: PeerCarrier): SpiffeId | undefined {
  return findVerification(carrier)?.id;
}

/** The full verification of the peer (path, validity window), like peerSpiffeId. */
export function peerVerification(carrier: PeerCarrier): ChainVerification | undefined {
  return findVerification(carrier);
}
