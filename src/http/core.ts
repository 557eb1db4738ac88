/**
 * The one server core every HTTP adapter runs (KEST-SPEC §5). Per request, before any handler:
 *
 *   1. lineage interceptor (outermost): parse `baggage` strictly → restore the passport
 *      (inline / _z / claim check through the cache) → check `kest.chain_tip` → verify the passport
 *      against the trust source. The verifier lives as long as the adapter instance, so its
 *      verified-tip cache makes a hop pay only for entries it has not verified before.
 *   2. identity interceptor (optional): validate a Bearer JWT; its claims override upstream ones.
 *
 * The handler then runs inside the ambient context (runWithPassport, runWithUpstreamClaims,
 * runWithValidatedIdentity, and the remote `traceparent` as parent span context). Any failure is a
 * refusal: JSON `{"error": code, "message": ...}` with 400 / 401 / 403 / 5xx, and the handler never
 * runs. Errors are mapped by their stable `code`, never by message.
 */
import { context, type SpanContext, TraceFlags, trace } from '@opentelemetry/api';
import {
  runWithPassport,
  runWithUpstreamClaims,
  runWithValidatedIdentity,
  type ValidatedIdentity,
} from '../context/context.js';
import {
  KestAuthorizationError,
  KestConfigurationError,
  KestError,
  type KestErrorCode,
  KestVerificationError,
} from '../errors.js';
import { getConfiguration } from '../hook/config.js';
import type { TrustSource } from '../keys/trust-source.js';
import type { KestLogger } from '../logger.js';
import type { Passport, PassportLimits } from '../passport/passport.js';
import { PassportVerifier, type VerificationReport } from '../passport/verifier.js';
import { BAGGAGE_HEADER, type BaggageLimits, parseBaggageMembers } from '../propagation/baggage.js';
import type { CacheProvider } from '../propagation/cache.js';
import {
  BaggageManager,
  type BaggageManagerOptions,
  readUpstreamIdentity,
  type UpstreamIdentity,
} from '../propagation/manager.js';
import type { TrustEvaluator } from '../trust/evaluator.js';
import type { SanitizerPolicy, SanitizerRule } from '../trust/sanitizers.js';
import { BAGGAGE_KEY } from '../wire/constants.js';
import { type BearerIdentityOptions, BearerIdentityValidator, KestBearerTokenError } from './identity.js';

export interface KestHttpOptions {
  /**
   * Keys incoming passports are verified against. Default: configure({ trust }) at request time.
   * A request that carries a passport when neither is set is refused (500): never accepted unverified.
   */
  trust?: TrustSource;
  /** Declared sanitizers (who may raise trust / clear taints). Default: configure({ sanitizers }). */
  sanitizers?: SanitizerPolicy | readonly SanitizerRule[];
  /** Must match the signers' evaluator. Default: configure({ trustEvaluator }). */
  trustEvaluator?: TrustEvaluator;
  /** A verifier to use as is (shares its tip cache). Overrides trust / sanitizers / trustEvaluator. */
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
   * expire). Default 512; 0 = off.
   */
  restoreCacheSize?: number;
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
}

/** What a refusal sends. `body.error` is the stable KestError code. */
export interface Refusal {
  status: number;
  body: RefusalBody;
  headers: Record<string, string>;
}

export interface RefusalBody {
  error: KestErrorCode | 'ERR_INTERNAL';
  message: string;
  /** KestVerificationError: the finer reason, and the failing entry. */
  reason?: string;
  index?: number;
  entry_id?: string;
  /** KestAuthorizationError: the denying policy and tier. */
  policy?: string;
  tier?: string;
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
}

/** Headers as Node (IncomingMessage.headers) or the Fetch API (Headers) give them. */
export type IncomingHeaders = Headers | Readonly<Record<string, string | string[] | undefined>>;

/** The request as a refusal hook sees it. */
export interface RequestInfo {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHeaders;
}

/**
 * Where an error came from: `ingress` (the interceptors, before the handler) or `handler` (the
 * protected handler or code it called).
 */
export type Phase = 'ingress' | 'handler';

/** A service refusing a request that has no passport. Code ERR_VERIFICATION_FAILED (401). */
export class KestMissingPassportError extends KestError {
  constructor() {
    super('ERR_VERIFICATION_FAILED', 'this service requires an incoming passport and the request has none');
  }
}

function header(headers: IncomingHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const v = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function headerRaw(headers: IncomingHeaders, name: string): string | readonly string[] | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  return (headers as Record<string, string | string[] | undefined>)[name];
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A W3C traceparent (version 00) as a remote span context; undefined when absent or invalid. */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  if (!value) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return undefined;
  const [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true };
}

/** HTTP status of a Kest error, by its stable code and the phase it happened in. */
export function statusFor(err: unknown, phase: Phase): number {
  if (!(err instanceof KestError)) return 500;
  const code = err.code;
  // Infrastructure we depend on is down: the request may succeed later.
  if (code === 'ERR_CACHE') return 503;
  if (code === 'ERR_CLAIM_CHECK' && err.cause instanceof KestError && err.cause.code === 'ERR_CACHE')
    return 503;
  if (err instanceof KestBearerTokenError && err.failure === 'jwks_unavailable') return 503;
  // A policy said no (an engine failure is a denial too).
  if (code === 'ERR_AUTHORIZATION' || code === 'ERR_POLICY_ENGINE') return 403;
  if (code === 'ERR_CONFIGURATION') return 500;
  if (phase === 'handler') {
    // The handler's own Kest failures (cannot sign, outbound passport too large, ...) are ours.
    return code === 'ERR_CLAIM_CHECK' ? 503 : 500;
  }
  switch (code) {
    // Malformed input: the request itself is broken.
    case 'ERR_BAGGAGE_INVALID':
    case 'ERR_PASSPORT_INVALID':
    case 'ERR_PASSPORT_TOO_LARGE':
    case 'ERR_JWS_INVALID':
    case 'ERR_JWS_TOO_LARGE':
    case 'ERR_ENTRY_INVALID':
    case 'ERR_CANONICALIZE':
      return 400;
    // The request claims a lineage or identity it cannot prove: forged, re-signed, truncated,
    // unanchored key, inflated trust, expired/missing claim check, invalid bearer token.
    case 'ERR_VERIFICATION_FAILED':
    case 'ERR_CLAIM_CHECK':
    case 'ERR_IDENTITY':
    case 'ERR_JWS_ALG_NOT_ALLOWED':
    case 'ERR_JWS_ALG_KEY_MISMATCH':
    case 'ERR_JWS_SIGNATURE_INVALID':
    case 'ERR_KEY_NOT_FOUND':
    case 'ERR_SPIFFE':
      return 401;
    default:
      return 500;
  }
}

/**
 * The refusal for an error, or undefined when it is not a Kest error and happened in the handler
 * (the framework's own error handling applies). Ingress errors of any kind are refused (500 when
 * they are not Kest errors): nothing unverified ever reaches the handler.
 */
export function refusalFor(err: unknown, phase: Phase): Refusal | undefined {
  if (!(err instanceof KestError)) {
    if (phase === 'handler') return undefined;
    return {
      status: 500,
      body: { error: 'ERR_INTERNAL', message: 'the request could not be checked' },
      headers: {},
    };
  }
  const status = statusFor(err, phase);
  // 5xx: say what failed (the code), not how (details go to the log).
  const message = status >= 500 ? internalMessage(err.code) : err.message;
  const body: RefusalBody = { error: err.code, message };
  if (err instanceof KestVerificationError) {
    body.reason = err.reason;
    body.index = err.index;
    if (err.entryId) body.entry_id = err.entryId;
  }
  if (err instanceof KestAuthorizationError) {
    body.policy = err.policy;
    body.tier = err.tier;
    if (err.entryId) body.entry_id = err.entryId;
  }
  const headers: Record<string, string> = {};
  if (err instanceof KestBearerTokenError && status === 401) {
    headers['www-authenticate'] =
      err.failure === 'missing'
        ? 'Bearer'
        : 'Bearer error="invalid_token", error_description="invalid token"';
  }
  if (status === 503) headers['retry-after'] = '1';
  return { status, body, headers };
}

function internalMessage(code: KestErrorCode): string {
  switch (code) {
    case 'ERR_CONFIGURATION':
      return 'the service is not configured to check this request';
    case 'ERR_CACHE':
    case 'ERR_CLAIM_CHECK':
      return 'the claim-check store is unavailable';
    case 'ERR_IDENTITY':
      return 'the service could not authenticate or sign';
    default:
      return 'internal error';
  }
}

/**
 * A small LRU of restored passports keyed by the exact bytes that carried them (inline JSON or
 * compressed value). Parsing is deterministic and Passport is immutable, so equal bytes give an
 * equal passport; the chain tip is re-checked on every hit. A slot also keeps the verdict of the
 * verifier that accepted it — no weaker than that verifier's own verified-tip cache (equal bytes,
 * equal hashes) and dropped with it by clearCaches(). Failures are never kept.
 */
interface RestoredSlot {
  passport: Passport;
  /** The verdict of `verifier` on this passport (set only after it verified). */
  report?: VerificationReport;
  verifier?: PassportVerifier;
}

class RestoredPassports {
  readonly #map = new Map<string, RestoredSlot>();
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }

  static key(members: Readonly<Record<string, string>>): string | undefined {
    if (Object.hasOwn(members, BAGGAGE_KEY.claimCheck)) return undefined;
    const inline = Object.hasOwn(members, BAGGAGE_KEY.passport) ? members[BAGGAGE_KEY.passport] : undefined;
    const z = Object.hasOwn(members, BAGGAGE_KEY.passportCompressed)
      ? members[BAGGAGE_KEY.passportCompressed]
      : undefined;
    if ((inline === undefined) === (z === undefined)) return undefined; // none, or ambiguous: let restore() decide
    return inline !== undefined ? `i${inline}` : `z${z}`;
  }

  get(members: Readonly<Record<string, string>>): RestoredSlot | undefined {
    const key = RestoredPassports.key(members);
    if (key === undefined) return undefined;
    const hit = this.#map.get(key);
    if (!hit || hit.passport.tipHash !== members[BAGGAGE_KEY.chainTip]) return undefined;
    this.#map.delete(key);
    this.#map.set(key, hit);
    return hit;
  }

  /** Remember `passport` when it came inline or compressed; returns its slot. */
  put(members: Readonly<Record<string, string>>, passport: Passport): RestoredSlot | undefined {
    const key = RestoredPassports.key(members);
    if (key === undefined || passport.length === 0) return undefined;
    const slot: RestoredSlot = { passport };
    this.#map.set(key, slot);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as string);
    return slot;
  }

  clear(): void {
    this.#map.clear();
  }
}

/** The server core of one adapter instance. */
export class KestHttpCore {
  readonly #options: KestHttpOptions;
  readonly #manager: BaggageManager;
  readonly #bearer: BearerIdentityValidator | undefined;
  readonly #traceContext: boolean;
  readonly #restored: RestoredPassports | undefined;
  #verifier: PassportVerifier | undefined;
  /** The trust source the current verifier was built for (configure() may change it). */
  #verifierTrust: TrustSource | undefined;

  constructor(options: KestHttpOptions = {}) {
    this.#options = options;
    const baggage = options.baggage;
    this.#manager =
      baggage instanceof BaggageManager
        ? baggage
        : new BaggageManager({
            ...(baggage ?? {}),
            ...(options.passportLimits ? { passportLimits: options.passportLimits } : {}),
          });
    const id = options.identity;
    this.#bearer =
      id === undefined
        ? undefined
        : id instanceof BearerIdentityValidator
          ? id
          : new BearerIdentityValidator(id);
    this.#traceContext = options.traceContext ?? true;
    const size = options.restoreCacheSize ?? 512;
    this.#restored = size > 0 ? new RestoredPassports(size) : undefined;
    if (options.verifier) this.#verifier = options.verifier;
    else if (options.trust) this.#verifier = this.#build(options.trust);
  }

  /** Forget verified tips and restored passports (e.g. after the trust source changed). */
  clearCaches(): void {
    this.#verifier?.clearCache();
    this.#options.verifier?.clearCache();
    this.#restored?.clear();
  }

  /** The verifier of this instance (built on first use when trust comes from configure()). */
  verifier(): PassportVerifier {
    if (this.#options.verifier) return this.#options.verifier;
    const trust = this.#options.trust ?? getConfiguration().trust;
    if (!trust) {
      throw new KestConfigurationError(
        'no trust source to verify incoming passports: pass `trust` to the adapter or call configure({ trust })',
      );
    }
    if (!this.#verifier || this.#verifierTrust !== trust) this.#verifier = this.#build(trust);
    return this.#verifier;
  }

  #build(trust: TrustSource): PassportVerifier {
    const config = getConfiguration();
    this.#verifierTrust = trust;
    return new PassportVerifier({
      trust,
      sanitizers: this.#options.sanitizers ?? config.sanitizers,
      trustEvaluator: this.#options.trustEvaluator ?? config.trustEvaluator,
      ...(this.#options.passportLimits ? { limits: this.#options.passportLimits } : {}),
    });
  }

  /**
   * Run both interceptors over a request's headers. Resolves with the admission, or throws the
   * KestError that refuses the request (see refusalFor).
   */
  async admit(headers: IncomingHeaders): Promise<Admission> {
    // 1. Lineage: strict parse, restore (tier, claim check, chain tip), verify.
    const members = parseBaggageMembers(headerRaw(headers, BAGGAGE_HEADER), this.#options.baggageLimits);
    const slot = this.#restored?.get(members);
    let passport: Passport;
    let report: VerificationReport | undefined;
    let fresh: RestoredSlot | undefined;
    if (slot) passport = slot.passport;
    else {
      passport = await this.#manager.restore(members, this.#options.cache ?? getConfiguration().cache);
      fresh = this.#restored?.put(members, passport);
    }
    if (passport.length > 0) {
      const verifier = this.verifier();
      if (slot?.verifier === verifier) report = slot.report;
      else {
        const tip = members[BAGGAGE_KEY.chainTip];
        report = await verifier.verify(passport, tip === undefined ? {} : { expectedTip: tip });
        const target = slot ?? fresh;
        if (target) {
          target.report = report;
          target.verifier = verifier;
        }
      }
    } else if (this.#options.requirePassport) {
      throw new KestMissingPassportError();
    }
    // 2. Identity (inside the lineage interceptor).
    const validated = this.#bearer
      ? await this.#bearer.validate(header(headers, 'authorization'))
      : undefined;
    const remoteSpan =
      this.#traceContext && !trace.getSpan(context.active())
        ? parseTraceparent(header(headers, 'traceparent'))
        : undefined;
    return { passport, report, upstream: readUpstreamIdentity(members), validated, remoteSpan };
  }

  /** Run fn (the rest of the request) inside the ambient context of an admission. */
  run<T>(admission: Admission, fn: () => T): T {
    const inner = () =>
      runWithPassport(admission.passport, () =>
        runWithUpstreamClaims(admission.upstream, () =>
          admission.validated ? runWithValidatedIdentity(admission.validated, fn) : fn(),
        ),
      );
    return admission.remoteSpan
      ? context.with(trace.setSpanContext(context.active(), admission.remoteSpan), inner)
      : inner();
  }

  /**
   * The refusal for an error (logged, reported to onRefusal), or undefined when the adapter should
   * leave it to the framework (a non-Kest error thrown by the handler).
   */
  refuse(err: unknown, phase: Phase, request: RequestInfo): Refusal | undefined {
    const refusal = refusalFor(err, phase);
    if (!refusal) return undefined;
    const logger = this.#options.logger ?? getConfiguration().logger;
    const record: Record<string, unknown> = {
      status: refusal.status,
      code: refusal.body.error,
      phase,
      method: request.method,
      url: request.url,
      reason: refusal.body.reason,
      entry_id: refusal.body.entry_id,
      detail: (err as Error)?.message,
    };
    if (refusal.status >= 500) logger.error(record, 'kest: request refused');
    else if (refusal.status !== 403) logger.warn(record, 'kest: request refused');
    try {
      this.#options.onRefusal?.(refusal, err, request);
    } catch {
      // A faulty hook must not turn a refusal into an acceptance or a crash.
    }
    return refusal;
  }
}
