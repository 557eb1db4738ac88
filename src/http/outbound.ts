/**
 * The outbound propagator shared by the fetch, undici and axios integrations (KEST-SPEC §5): the
 * headers that carry the current passport to the next hop.
 *
 *   baggage      the passport (inline / _z / claim check, via BaggageManager.store), kest.chain_tip,
 *                kest.user / kest.agent / kest.task of the current call, the request's own members;
 *                kest.jwt only when `forwardJwt` is set.
 *   traceparent  the active span context, unless the request already has one.
 *
 * Fail secure: when the passport cannot travel (too large and no claim-check cache, cache down,
 * header limits) the request is not sent and the error is thrown; nothing is dropped silently.
 */
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import {
  getCurrentAgent,
  getCurrentJwt,
  getCurrentPassport,
  getCurrentTask,
  getCurrentUser,
} from '../context/context.js';
import { getConfiguration } from '../hook/config.js';
import type { Passport } from '../passport/passport.js';
import { type BaggageLimits, parseBaggageMembers, serializeBaggage } from '../propagation/baggage.js';
import type { CacheProvider } from '../propagation/cache.js';
import { BaggageManager, type BaggageManagerOptions, type UpstreamIdentity } from '../propagation/manager.js';
import { BAGGAGE_KEY } from '../wire/constants.js';

export interface PropagatorOptions {
  /** Claim-check store for passports too large for baggage. Default: configure({ cache }) per call. */
  cache?: CacheProvider;
  /** Tier settings (minTier, TTL, limits), or a ready manager. */
  baggage?: BaggageManager | BaggageManagerOptions;
  /** Send kest.user / kest.agent / kest.task of the current call. Default true. */
  identity?: boolean;
  /** Forward the bearer token this service validated as kest.jwt. Default false (KEST-SPEC §5). */
  forwardJwt?: boolean;
  /** Set `traceparent` (and `tracestate`) from the active span. Default true. */
  traceContext?: boolean;
  /** Where the passport comes from. Default getCurrentPassport() (the ambient context). */
  passport?: () => Passport;
  /** Limits of the header that is sent (the receiver's). Default OpenTelemetry JS's. */
  limits?: BaggageLimits;
}

export interface OutboundHeaders {
  baggage?: string;
  traceparent?: string;
  tracestate?: string;
}

export class OutboundPropagator {
  readonly #options: PropagatorOptions;
  readonly #manager: BaggageManager;

  constructor(options: PropagatorOptions = {}) {
    this.#options = options;
    this.#manager =
      options.baggage instanceof BaggageManager ? options.baggage : new BaggageManager(options.baggage ?? {});
  }

  /**
   * Headers to set on an outgoing request. `existing` are the request's own header values (its
   * baggage members are kept, its Kest transport members replaced; its traceparent is kept).
   */
  async headers(
    existing: { baggage?: string | undefined; traceparent?: string | undefined } = {},
  ): Promise<OutboundHeaders> {
    const passport = (this.#options.passport ?? getCurrentPassport)();
    const own = existing.baggage ? parseBaggageMembers(existing.baggage, this.#options.limits) : undefined;
    const identity: UpstreamIdentity = {};
    if (this.#options.identity ?? true) {
      const user = getCurrentUser();
      const agent = getCurrentAgent();
      const task = getCurrentTask();
      if (user) identity.user = user;
      if (agent) identity.agent = agent;
      if (task) identity.task = task;
    }
    const members: Record<string, string> = {
      ...(await this.#manager.store(passport, this.#options.cache ?? getConfiguration().cache, {
        identity,
        ...(own ? { members: own } : {}),
      })),
    };
    if (this.#options.forwardJwt) {
      const jwt = getCurrentJwt();
      if (jwt) members[BAGGAGE_KEY.jwt] = jwt;
    }
    const out: OutboundHeaders = {};
    if (Object.keys(members).length > 0) out.baggage = serializeBaggage(members, this.#options.limits);
    if ((this.#options.traceContext ?? true) && !existing.traceparent) {
      const span = trace.getSpan(context.active())?.spanContext();
      if (span && isSpanContextValid(span)) {
        out.traceparent = `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
        const state = span.traceState?.serialize();
        if (state) out.tracestate = state;
      }
    }
    return out;
  }
}
