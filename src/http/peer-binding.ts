/**
 * Binding a passport to the SPIFFE mutual TLS peer that presented it (issue 12, docs/http.md).
 *
 * A request that arrived through an attached SpiffeTlsServer carries a verified peer SPIFFE ID on
 * its socket. By default the passport's tip principal must be that ID, else 401 `unbound_passport`:
 * a passport captured from one workload is useless to another, even one the server's authorizer
 * lets in. The handoff's signer must equal the tip principal (kest.handoff), so binding the tip to
 * the peer binds the handoff signer too. Requests over plain HTTP or standard TLS have no SPIFFE
 * peer: nothing to bind to here (`bindTipPrincipal` covers other authenticated callers).
 *
 * Imports only src/spiffe/tls/server.ts (node:tls/https and the SVID checks): kest/http does not
 * pull in the Workload API client (@grpc).
 */
import type { SignedEntry } from '../entry/signed.js';
import { KestConfigurationError, KestIngressRefusal } from '../errors.js';
import type { KestLogger } from '../logger.js';
import type { Passport } from '../passport/passport.js';
import { peerSpiffeId } from '../spiffe/tls/server.js';

export interface PeerBindingOptions {
  /**
   * On a request that arrived over SPIFFE mutual TLS (an attached `SpiffeTlsServer`), the passport's
   * tip principal must equal the peer's SPIFFE ID, else 401 `unbound_passport` before the handler
   * runs. Default true. `false` turns it off and logs a warning when the adapter is created.
   */
  bindPeer?: boolean;
}

/** What of a request leads to its connection (the adapters fill both in). */
export interface PeerCarrierRequest {
  socket?: unknown;
  raw?: unknown;
}

/** Whether the binding is on; validates the option and warns once (per adapter) when it is off. */
export function peerBindingOn(options: PeerBindingOptions, logger: () => KestLogger): boolean {
  const bind = options.bindPeer;
  if (bind !== undefined && typeof bind !== 'boolean') {
    throw new KestConfigurationError('bindPeer must be true or false');
  }
  if (bind === false) {
    logger().warn(
      { option: 'bindPeer' },
      'kest: bindPeer is off: a passport arriving over SPIFFE mutual TLS is not bound to the peer, so a workload can present a passport captured from another',
    );
  }
  return bind !== false;
}

/**
 * Refuse (401 `unbound_passport`) a non-empty, verified passport whose tip principal is not the
 * SPIFFE mTLS peer of the request. No SPIFFE peer (plain HTTP, standard TLS): nothing to check.
 */
export function checkPeerBound(passport: Passport, request: PeerCarrierRequest | undefined): void {
  const peer = peerSpiffeId(request?.socket) ?? peerSpiffeId(request?.raw);
  if (peer === undefined) return;
  const tip = passport.tip as SignedEntry;
  const principal = tip.payload.labels.principal;
  if (principal === peer.toString()) return;
  throw new KestIngressRefusal(
    'unbound_passport',
    `the passport's tip principal ${String(principal)} is not the mutual TLS peer ${peer.toString()}`,
    { index: passport.length - 1, entryId: tip.payload.entry_id },
  );
}
