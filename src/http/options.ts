/**
 * What KestHttpCore is configured with and what it hands the adapters: options, the admission of
 * one request, and the request shapes the adapters pass in.
 */
import type { Socket } from 'node:net';
import type { SpanContext } from '@opentelemetry/api';
import type { ValidatedIdentity } from '../context/context.js';
import type { TrustSource } from '../keys/trust-source.js';
import type { KestLogger } from '../logger.js';
import type { Passport, PassportLimits } from '../passport/passport.js';
import type { PassportVerifier, RootRule, VerificationReport } from '../passport/verifier.js';
import type { BaggageLimits } from '../propagation/baggage.js';
import type { CacheProvider } from '../propagation/cache.js';
import type { BaggageManager, BaggageManagerOptions, UpstreamIdentity } from '../propagation/manager.js';
import type { TrustEvaluator } from '../trust/evaluator.js';
import type { SanitizerPolicy, SanitizerRule } from '../trust/sanitizers.js';
import type { InteropProfile } from '../wire/constants.js';
import type { HandoffIngressOptions } from './handoff-check.js';
import type { BearerIdentityOptions, BearerIdentityValidator } from './identity.js';
import type { PeerBindingOptions } from './peer-binding.js';
import type { ReferenceIngressOptions } from './reference.js';
import type { Refusal } from './refusal.js';

export interface KestHttpOptions extends PeerBindingOptions, ReferenceIngressOptions {
  /**
   * Keys incoming passports are verified against. Default: configure({ trust }) at request time.
   * A request that carries a passport when neither is set is refused (500): never accepted unverified.
   */
  trust?: TrustSource;
  /**
   * Declared sanitizers (who may raise trust / clear taints), in addition to the deployment file's
   * (KEST_CONFIG), which always apply. Default: configure({ sanitizers }) plus the deployment's,
   * read when the verifier is built (it is rebuilt when either changes).
   */
  sanitizers?: SanitizerPolicy | readonly SanitizerRule[];
  /** Must match the signers' evaluator. Default: configure({ trustEvaluator }). */
  trustEvaluator?: TrustEvaluator;
  /**
   * Who may start a lineage, up to which origin trust, in addition to the deployment file's `roots`.
   * Default: configure({ roots }) plus the deployment's. None anywhere: a received root is admitted
   * only at unknown-origin trust (10), else refused `unauthorized_root`; logged once at start.
   */
  roots?: readonly RootRule[];
  /**
   * A verifier to use as is (shares its tip cache). Overrides trust / sanitizers / trustEvaluator /
   * roots: give it `roots` (or UNGUARDED_ROOTS) yourself, or origins go unchecked.
   */
  verifier?: PassportVerifier;
  /** Claim-check store. Default: configure({ cache }) at request time. */
  cache?: CacheProvider;
  /** Tier and inflate settings for restoring passports. */
  baggage?: BaggageManager | BaggageManagerOptions;
  /** Limits on the incoming `baggage` header. Default OpenTelemetry JS's (180 / 4096 / 8192). */
  baggageLimits?: BaggageLimits;
  /** Bounds on the restored passport. */
  passportLimits?: PassportLimits;
  /**
   * Restored passports kept by their exact inline / compressed member value with the verdict of
   * this instance's verifier, so a lineage that arrives again is neither re-parsed nor re-verified
   * (clearCaches() drops both caches). Claim checks are never cached (each must resolve, and may
   * expire). Only verified passports are kept, each verdict under the trust source's epoch (a
   * revoked key or rotated bundle forces a new verification). Default 512; 0 = off.
   */
  restoreCacheSize?: number;
  /**
   * Bound on the estimated memory the restored-passport cache retains (parsed entries, verdicts
   * and the member bytes that key them). Default 64 MiB. A passport larger than this is not kept.
   */
  restoreCacheBytes?: number;
  /**
   * Freshness (replay window, opt-in): refuse (401 `stale_passport`) a passport whose tip entry was
   * signed more than `maxTipAgeMs` ago, or more than `maxClockSkewMs` in the future. Bounds how long
   * a captured passport can be replayed; pick it above the longest legitimate hop-to-hop delay
   * (queues, retries). Default: off.
   */
  maxTipAgeMs?: number;
  /** Future skew tolerated on the tip's timestamp_ms when maxTipAgeMs is set. Default 30 000 ms. */
  maxClockSkewMs?: number;
  /**
   * Binding (opt-in): the tip entry's principal must be the authenticated caller, e.g. the mTLS
   * peer's SPIFFE ID or the validated Bearer token's client_id. Called after verification and the
   * identity interceptor; false (or a throw) refuses with 401 `unbound_passport`. Stops a passport
   * captured from one caller being replayed by another. Over SPIFFE mutual TLS the peer binding is
   * already on by default (`bindPeer`); this is for other callers (Bearer tokens, other TLS).
   */
  bindTipPrincipal?: (tipPrincipal: string, request: IngressRequest) => boolean | Promise<boolean>;
  /**
   * The handoff check (docs/spec.md §11 "Handoff"): on by default for a service that knows who it is
   * (configure({ identity }) or `handoff.audience`). `{ required: false }` turns it off (one warning).
   */
  handoff?: HandoffIngressOptions;
  /** Refuse requests that carry no passport (a service that is never the first hop). Default false. */
  requirePassport?: boolean;
  /** Bearer JWT validation (the identity interceptor). Default: off. */
  identity?: BearerIdentityOptions | BearerIdentityValidator;
  /** Use an incoming `traceparent` as the parent span context when no span is active. Default true. */
  traceContext?: boolean;
  /** Called for every refusal (after logging), e.g. to count or record it. Must not throw. */
  onRefusal?: (refusal: Refusal, error: unknown, request: RequestInfo) => void;
  /** Default: configure({ logger }) — stderr JSON lines. */
  logger?: KestLogger;
  /**
   * Interop profile (docs/interop.md). 'reference' also reads what the Python reference runtime
   * sends (raw inline / padded `_z` / both members; its entries); crypto checks are unchanged.
   * Default 'spec'. Reference sources (`referenceSources`, http/reference.ts) may omit the handoff.
   */
  profile?: InteropProfile;
}

/** What the interceptors proved about a request; the adapters hand it to run(). */
export interface Admission {
  passport: Passport;
  /** Undefined for an empty passport (nothing to verify). */
  report: VerificationReport | undefined;
  /** kest.user / kest.agent / kest.task as sent: untrusted claims. */
  upstream: UpstreamIdentity;
  /** Set when the identity interceptor validated a Bearer token. */
  validated: ValidatedIdentity | undefined;
  /** The caller's span context from `traceparent`, when present and no span is active. */
  remoteSpan: SpanContext | undefined;
  /**
   * The passport arrived bound to this hop (a valid handoff, or `bindTipPrincipal`): only then does
   * the hook take user/agent/task from its entries.
   */
  bound: boolean;
}

/** Headers as Node (IncomingMessage.headers) or the Fetch API (Headers) give them. */
export type IncomingHeaders = Headers | Readonly<Record<string, string | string[] | undefined>>;

/** The request as a refusal hook sees it. */
export interface RequestInfo {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHeaders;
}

/** The request as `bindTipPrincipal` sees it (the adapters fill it in). */
export interface IngressRequest extends RequestInfo {
  /** The connection (a `TLSSocket` on HTTPS: `getPeerCertificate()` names the mTLS peer). */
  socket?: Socket | undefined;
  /** The framework's own request object (Express/Fastify request, IncomingMessage, Hono Context). */
  raw?: unknown;
  /** The Bearer token's claims, when the identity interceptor validated one. */
  identity?: ValidatedIdentity | undefined;
}

/** A request header as one string (repeated headers joined with ','). */
export function header(headers: IncomingHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const v = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** A request header as sent (a list when repeated). */
export function headerRaw(headers: IncomingHeaders, name: string): string | readonly string[] | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  return (headers as Record<string, string | string[] | undefined>)[name];
}

/** Clock skew tolerated for maxTipAgeMs when none is configured. */
export const DEFAULT_SKEW_MS = 30_000;
