/**
 * Kest over HTTP: the server core shared by the adapters (kest/express, kest/fastify, kest/hono,
 * kest/node) and the outbound propagators (kest/fetch, kest/axios). Framework adapters are
 * separate entry points so an application loads only the framework it uses.
 */
export {
  type Admission,
  type IncomingHeaders,
  type IngressReason,
  type IngressRequest,
  KestHttpCore,
  type KestHttpOptions,
  KestIngressRefusal,
  KestMissingPassportError,
  type Phase,
  parseTraceparent,
  type Refusal,
  type RefusalBody,
  type RequestInfo,
  refusalFor,
  statusFor,
} from './core.js';
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
