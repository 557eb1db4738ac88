/**
 * Authorizers for SPIFFE mutual TLS, as in go-spiffe's `tlsconfig`: run after the peer's SVID has
 * been verified, they decide whether that SPIFFE ID may talk to us. A refusal is a thrown
 * KestSpiffeError('unauthorized_peer'); a custom authorizer returns false (or throws) to refuse.
 */
import { KestSpiffeError } from '../errors.js';
import { SpiffeId, TrustDomain } from '../spiffeid.js';
import type { ChainVerification } from '../x509svid.js';

/** Decide about a verified peer: true allows, false (or a throw) refuses. */
export type PeerAuthorizer = (id: SpiffeId, verified: ChainVerification) => boolean;

/** Any peer with a valid SVID of a trusted trust domain (own or federated). */
export function authorizeAny(): PeerAuthorizer {
  return () => true;
}

/** Exactly this SPIFFE ID. */
export function authorizeID(id: SpiffeId | string): PeerAuthorizer {
  return authorizeOneOf(id);
}

/** One of these SPIFFE IDs. */
export function authorizeOneOf(...ids: (SpiffeId | string)[]): PeerAuthorizer {
  if (ids.length === 0)
    throw new KestSpiffeError('invalid_spiffe_id', 'authorizeOneOf needs at least one ID');
  const allowed = new Set(ids.map((i) => (typeof i === 'string' ? SpiffeId.parse(i) : i).toString()));
  return (peer) => allowed.has(peer.toString());
}

/** Any workload of this trust domain. */
export function authorizeMemberOf(trustDomain: TrustDomain | string): PeerAuthorizer {
  const td = typeof trustDomain === 'string' ? TrustDomain.parse(trustDomain) : trustDomain;
  return (peer) => peer.memberOf(td);
}

/** Run an authorizer; throw KestSpiffeError('unauthorized_peer') unless it returns exactly true. */
export function checkAuthorized(
  authorize: PeerAuthorizer,
  verified: ChainVerification,
  side: 'client' | 'server',
): void {
  let allowed: unknown;
  try {
    allowed = authorize(verified.id, verified);
  } catch (err) {
    throw new KestSpiffeError(
      'unauthorized_peer',
      `${side} ${verified.id} refused by the authorizer: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (allowed !== true) {
    throw new KestSpiffeError('unauthorized_peer', `${side} ${verified.id} is not authorized`);
  }
}
