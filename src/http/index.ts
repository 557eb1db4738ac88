/**
 * `kest/http`: the server core shared by the adapters (kest/express, kest/fastify, kest/hono,
 * kest/node), for custom integrations — KestHttpCore, the refusal mapping (refusalFor, statusFor),
 * Bearer validation, the outbound propagator behind kest/fetch and kest/axios, and the errors they
 * throw. Framework adapters are separate entry points so an application loads only the framework
 * it uses.
 */
export {
  type IngressReason,
  KestIngressRefusal,
  KestMissingPassportError,
} from '../errors.js';
export {
  checkHandoffWindow,
  DEFAULT_HANDOFF_TTL_MS,
  type HandoffClaims,
  type HandoffSigner,
  signHandoff,
  verifyHandoff,
} from '../handoff/handoff.js';
export {
  MemoryReplayStore,
  type MemoryReplayStoreOptions,
  type ReplayStore,
} from '../handoff/replay-store.js';
export {
  type Admission,
  type IncomingHeaders,
  type IngressRequest,
  KestHttpCore,
  type KestHttpOptions,
  type RequestInfo,
} from './core.js';
export type { HandoffIngressOptions } from './handoff-check.js';
export type { HandoffSendOptions } from './handoff-outbound.js';
export {
  type BearerFailure,
  type BearerIdentityOptions,
  BearerIdentityValidator,
  KestBearerTokenError,
} from './identity.js';
export {
  destinationMatcher,
  type OutboundHeaders,
  OutboundPropagator,
  type PropagateTo,
  type PropagatorOptions,
} from './outbound.js';
export type { PeerBindingOptions } from './peer-binding.js';
export {
  checkReferenceTipAge,
  DEFAULT_REFERENCE_MAX_TIP_AGE_MS,
  isReferenceSource,
  type ReferenceIngressOptions,
  type ReferenceRequest,
  type ReferenceSources,
} from './reference.js';
export { type Phase, type Refusal, type RefusalBody, refusalFor, statusFor } from './refusal.js';
export { parseTraceparent } from './traceparent.js';
