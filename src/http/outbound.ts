/**
 * The outbound propagator shared by the fetch, undici and axios integrations (docs/spec.md §5): the
 * headers that carry the current passport to the next hop.
 *
 *   baggage      the passport (inline / _z / claim check, via BaggageManager.store), kest.chain_tip,
 *                kest.user / kest.agent / kest.task of the current call, the request's own members;
 *                kest.jwt only when `forwardJwt` is set.
 *   traceparent  the active span context, unless the request already has one.
 *
 * Fail secure: when the passport cannot travel (too large and no claim-check cache, cache down,
 * header limits) the request is not sent and the error is thrown; nothing is dropped silently.
 *
 * Destinations: the passport and kest.user / agent / task describe who is calling and why; they
 * go only where `propagateTo` allows. A request to any other destination leaves with no kest.*
 * baggage member at all (its other members and headers untouched).
 */
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import { getConfiguration } from '../config/config.js';
import {
  getCurrentAgent,
  getCurrentJwt,
  getCurrentPassport,
  getCurrentTask,
  getCurrentUser,
} from '../context/context.js';
import { KestConfigurationError } from '../errors.js';
import type { Passport } from '../passport/passport.js';
import {
  type BaggageLimits,
  parseBaggage,
  parseBaggageMembers,
  serializeBaggage,
} from '../propagation/baggage.js';
import type { CacheProvider } from '../propagation/cache.js';
import { BaggageManager, type BaggageManagerOptions, type UpstreamIdentity } from '../propagation/manager.js';
import { BAGGAGE_KEY } from '../wire/constants.js';
import { type HandoffSendOptions, handoffFor, originOf } from './handoff-outbound.js';
import { referenceHopManager } from './reference.js';

/**
 * Where Kest members may be sent: `'*'` (everywhere), a list of rules, or a predicate on the
 * destination URL. Rules: an origin (`'https://orders.internal:8443'`, scheme + host + port must
 * match), a host (`'orders.internal'`, any scheme and port), a host and port (`'127.0.0.1:8080'`),
 * or a subdomain wildcard (`'*.svc.cluster.local'`: any host under it, not the domain itself).
 */
export type PropagateTo =
  | '*'
  | readonly string[]
  | ((destination: URL) => boolean)
  /** The same rules as keys, each naming the callee's workload id (the audience of its handoffs). */
  | Readonly<Record<string, string>>;

export interface PropagatorOptions {
  /**
   * Destinations that receive the passport and caller identity; any other request is sent with
   * no kest.* baggage members. Required for `kestInterceptor` (a dispatcher may reach any host);
   * for kestFetch / axios, unset means every destination (with one warning per process).
   */
  propagateTo?: PropagateTo;
  /** Claim-check store for passports too large for baggage. Default: configure({ cache }) per call. */
  cache?: CacheProvider;
  /** Tier settings (minTier, TTL, limits), or a ready manager. */
  baggage?: BaggageManager | BaggageManagerOptions;
  /** Send kest.user / kest.agent / kest.task of the current call. Default true. */
  identity?: boolean;
  /** Forward the bearer token this service validated as kest.jwt. Default false (docs/spec.md §5). */
  forwardJwt?: boolean;
  /** Set `traceparent` (and `tracestate`) from the active span. Default true. */
  traceContext?: boolean;
  /** Where the passport comes from. Default getCurrentPassport() (the ambient context). */
  passport?: () => Passport;
  /** Limits of the header that is sent (the receiver's). Default OpenTelemetry JS's. */
  limits?: BaggageLimits;
  /**
   * Destinations (same rules as propagateTo) that run the Python reference runtime: the passport
   * goes to them as `kest.passport_z` only — never inline, never a claim check (docs/interop.md).
   */
  referenceHops?: PropagateTo;
  /** The handoff sent with every passport (docs/spec.md §11). `false` sends none. Default on. */
  handoff?: HandoffSendOptions | false;
}

export interface OutboundHeaders {
  baggage?: string;
  traceparent?: string;
  tracestate?: string;
}

const WILDCARD = /^\*\.([a-z0-9-]+(\.[a-z0-9-]+)*)$/;
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9-]+(\.[a-z0-9-]+)*)(:(\d{1,5}))?$/;

/** The effective port of a URL (its scheme's default when none is written). */
function portOf(url: URL): string {
  if (url.port) return url.port;
  return url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '';
}

/**
 * Compile `propagateTo` into a test on the destination. An unknown destination (a URL that does not
 * parse) is never allowed. Malformed rules are configuration errors, so a typo cannot widen it.
 */
export function destinationMatcher(
  propagateTo: PropagateTo | undefined,
): (destination: URL | undefined) => boolean {
  if (propagateTo === undefined || propagateTo === '*') return () => true;
  if (typeof propagateTo === 'function') {
    return (url) => {
      if (!url) return false;
      try {
        return propagateTo(url) === true;
      } catch {
        return false; // a failing predicate keeps Kest members home
      }
    };
  }
  if (isAudienceMap(propagateTo)) return destinationMatcher(Object.keys(propagateTo));
  if (!Array.isArray(propagateTo)) {
    throw new KestConfigurationError(
      "propagateTo must be '*', a list of origins / host patterns, or a function",
    );
  }
  const tests: ((url: URL) => boolean)[] = [];
  for (const raw of propagateTo) {
    if (typeof raw !== 'string' || raw === '')
      throw new KestConfigurationError('propagateTo rules must be non-empty strings');
    const rule = raw.trim().toLowerCase();
    if (rule.includes('://')) {
      let origin: URL;
      try {
        origin = new URL(rule);
      } catch {
        throw new KestConfigurationError(`propagateTo: ${raw} is not a valid origin`);
      }
      if (
        (origin.pathname !== '/' && origin.pathname !== '') ||
        origin.search ||
        origin.hash ||
        origin.username
      ) {
        throw new KestConfigurationError(
          `propagateTo: ${raw} must be an origin (scheme://host[:port]) without path`,
        );
      }
      tests.push((url) => url.origin === origin.origin);
      continue;
    }
    const wild = WILDCARD.exec(rule);
    if (wild) {
      const suffix = `.${wild[1]}`;
      tests.push((url) => url.hostname.endsWith(suffix) && url.hostname.length > suffix.length);
      continue;
    }
    const host = HOST.exec(rule);
    if (!host)
      throw new KestConfigurationError(`propagateTo: ${raw} is not an origin, host, host:port or *.domain`);
    const name = host[1] as string;
    const port = host[4];
    tests.push((url) => url.hostname === name && (port === undefined || portOf(url) === port));
  }
  return (url) => url !== undefined && tests.some((t) => t(url));
}

function isAudienceMap(p: unknown): p is Readonly<Record<string, string>> {
  return typeof p === 'object' && p !== null && !Array.isArray(p);
}

/**
 * Who a destination is, as a handoff's `aud`: the workload id `propagateTo` maps it to (first rule
 * that matches), else its origin `scheme://host:port`.
 */
export function audienceOf(
  propagateTo: PropagateTo | undefined,
  destination: URL | undefined,
): string | undefined {
  if (!destination) return undefined;
  if (isAudienceMap(propagateTo)) {
    for (const [rule, id] of Object.entries(propagateTo)) {
      if (typeof id === 'string' && id !== '' && destinationMatcher([rule])(destination)) return id;
    }
  }
  return originOf(destination);
}

/** The destination as a URL, or undefined when it does not parse (then it is never allowed). */
export function destinationOf(url: string | URL | undefined, base?: string | URL): URL | undefined {
  if (url === undefined) return undefined;
  try {
    const fallback = (globalThis as { location?: { href?: string } }).location?.href;
    return new URL(url, base ?? fallback);
  } catch {
    return undefined;
  }
}

let warnedUnrestricted = false;

/** One warning per process for propagators without `propagateTo` (they send Kest members anywhere). */
export function warnUnrestrictedOnce(integration: string): void {
  if (warnedUnrestricted) return;
  warnedUnrestricted = true;
  getConfiguration().logger.warn(
    { integration },
    `kest: ${integration} sends the passport and caller identity to every destination; set propagateTo (origins or host patterns of your Kest services) so third-party hosts never receive them`,
  );
}

/** The request's own baggage without any kest.* member (for destinations outside propagateTo). */
function withoutKestMembers(
  baggage: string | undefined,
  limits: BaggageLimits | undefined,
): string | undefined {
  if (baggage === undefined || !/kest\./i.test(baggage)) return baggage;
  const kept = parseBaggage(baggage, limits).filter((m) => !m.key.toLowerCase().startsWith('kest.'));
  return kept.length > 0 ? serializeBaggage(kept, limits) : undefined;
}

export class OutboundPropagator {
  readonly #options: PropagatorOptions;
  readonly #manager: BaggageManager;
  readonly #allowed: (destination: URL | undefined) => boolean;
  readonly #reference: { is: (d: URL | undefined) => boolean; manager: BaggageManager } | undefined;

  constructor(options: PropagatorOptions = {}) {
    this.#options = options;
    this.#manager =
      options.baggage instanceof BaggageManager ? options.baggage : new BaggageManager(options.baggage ?? {});
    this.#allowed = destinationMatcher(options.propagateTo);
    this.#reference =
      options.referenceHops === undefined
        ? undefined
        : { is: destinationMatcher(options.referenceHops), manager: referenceHopManager(options.baggage) };
  }

  /** Whether Kest members go to this destination (always, when propagateTo is unset). */
  allows(destination: URL | undefined): boolean {
    return this.#allowed(destination);
  }

  /**
   * Headers to set on an outgoing request. `existing` are the request's own header values (its
   * baggage members are kept, its Kest transport members replaced; its traceparent is kept).
   * `destination`: where the request goes; outside `propagateTo`, Kest adds nothing and removes
   * every kest.* member from the request's own baggage.
   */
  async headers(
    existing: { baggage?: string | undefined; traceparent?: string | undefined } = {},
    destination?: URL,
  ): Promise<OutboundHeaders> {
    if (this.#options.propagateTo !== undefined && !this.#allowed(destination)) {
      const baggage = withoutKestMembers(existing.baggage, this.#options.limits);
      return baggage === undefined ? {} : { baggage };
    }
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
    const handoff = await handoffFor(
      passport,
      audienceOf(this.#options.propagateTo, destination),
      this.#options.handoff,
    );
    const ref = this.#reference?.is(destination) ? this.#reference.manager : undefined;
    const members: Record<string, string> = {
      ...(await (ref ?? this.#manager).store(
        passport,
        ref ? undefined : (this.#options.cache ?? getConfiguration().cache),
        {
          identity,
          handoff,
          ...(own ? { members: own } : {}),
        },
      )),
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
