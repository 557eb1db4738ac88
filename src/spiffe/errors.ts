import { KestError } from '../errors.js';

/**
 * Why a SPIFFE operation failed. Stable strings, so callers branch on `reason`, never on messages.
 */
export type SpiffeErrorReason =
  | 'invalid_spiffe_id'
  | 'invalid_trust_domain'
  | 'invalid_certificate'
  | 'invalid_svid'
  | 'chain_not_anchored'
  | 'certificate_expired'
  | 'invalid_bundle'
  | 'no_bundle'
  | 'invalid_endpoint'
  | 'workload_api'
  | 'missing_peer_certificate'
  | 'unauthorized_peer'
  | 'closed';

/** Errors of the SPIFFE layer (ids, SVIDs, bundles, the Workload API): code ERR_SPIFFE. */
export class KestSpiffeError extends KestError {
  readonly reason: SpiffeErrorReason;
  constructor(reason: SpiffeErrorReason, message: string, options?: { cause?: unknown }) {
    super('ERR_SPIFFE', message, options);
    this.reason = reason;
  }
}
