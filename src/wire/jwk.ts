import type { JwsAlg } from './constants.js';

/** A public JWK as Kest publishes it: the key, its kid, and the principal it is anchored to. */
export interface PublicJwk {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  kid: string;
  alg?: JwsAlg;
  use?: 'sig';
  /** The workload id (labels.principal) this key may sign for. Private-use JWK member. */
  principal?: string;
  [member: string]: unknown;
}
