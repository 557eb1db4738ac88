/**
 * The one server core every HTTP adapter runs (docs/spec.md §5). Per request, before any handler:
 *
 *   1. lineage interceptor (outermost): parse `baggage` strictly → restore the passport
 *      (inline / _z / claim check through the cache) → check `kest.chain_tip` → verify the passport
 *      against the trust source. The verifier lives as long as the adapter instance, so its
 *      verified-tip cache makes a hop pay only for entries it has not verified before.
 *   2. identity interceptor (optional): validate a Bearer JWT; its claims override upstream ones.
 *
 * The handler then runs inside the ambient context (runWithIngress: the passport, the upstream
 * claims, the validated identity; and the remote `traceparent` as parent span context). Any failure is a
 * refusal: JSON `{"error": code, "message": ...}` with 400 / 401 / 403 / 5xx, and the handler never
 * runs. Errors are mapped by their stable `code`, never by message (refusal.ts). Verified passports
 * are kept by their exact bytes (restore-cache.ts).
 */
import type { Socket } from 'node:net';
import { context, type SpanContext, trace } from '@opentelemetry/api';
import { getConfiguration, getDeployment, getRootRules, getSanitizerPolicy } from '../config/config.js';
import { runWithIngress, type ValidatedIdentity } from '../context/context.js';
import type { SignedEntry } from '../entry/signed.js';
import { KestConfigurationError, KestIngressRefusal, KestMissingPassportError } from '../errors.js';
import type { TrustSource } from '../keys/trust-source.js';
import type { KestLogger } from '../logger.js';
import { Passport, type PassportLimits } from '../passport/passport.js';
import { PassportVerifier, type RootRule, type VerificationReport } from '../passport/verifier.js';
import { BAGGAGE_HEADER, type BaggageLimits, parseBaggageMembers } from '../propagation/baggage.js';
import type { CacheProvider } from '../propagation/cache.js';
import {
  BaggageManager,
  type BaggageManagerOptions,
  readUpstreamIdentity,
  type UpstreamIdentity,
} from '../propagation/manager.js';
import { parseReferenceBaggage, restoreReference } from '../propagation/reference.js';
import type { TrustEvaluator } from '../trust/evaluator.js';
import { SanitizerPolicy, type SanitizerRule } from '../trust/sanitizers.js';
import type { InteropProfile } from '../wire/constants.js';
import { BAGGAGE_KEY } from '../wire/constants.js';
import { HandoffGate, type HandoffIngressOptions } from './handoff-check.js';
import { type BearerIdentityOptions, BearerIdentityValidator } from './identity.js';
import { checkPeerBound, type PeerBindingOptions, peerBindingOn } from './peer-binding.js';
import {
  announceReferenceSources,
  checkReferenceTipAge,
  isReferenceSource,
  type ReferenceIngressOptions,
} from './reference.js';
import { type Phase, type Refusal, refusalFor } from './refusal.js';
import {
  keptUnder,
  type RestoredKey,
  RestoredPassports,
  type VerdictStamp,
  verdictStamp,
} from './restore-cache.js';
import { ingressRoots, warnIfOriginsUnguarded } from './roots.js';
import { parseTraceparent } from './traceparent.js';

/** refuse() answers with these (the adapters' and examples' import path). */
export type { Phase, Refusal } from './refusal.js';

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

function header(headers: IncomingHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const v = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function headerRaw(headers: IncomingHeaders, name: string): string | readonly string[] | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  return (headers as Record<string, string | string[] | undefined>)[name];
}

const DEFAULT_SKEW_MS = 30_000;

/** The server core of one adapter instance. */
export class KestHttpCore {
  readonly #options: KestHttpOptions;
  readonly #manager: BaggageManager;
  readonly #bearer: BearerIdentityValidator | undefined;
  readonly #traceContext: boolean;
  readonly #restored: RestoredPassports | undefined;
  readonly #bindPeer: boolean;
  readonly #handoff: HandoffGate;
  #verifier: PassportVerifier | undefined;
  /** What the current verifier was built from (configure() / the deployment may change them). */
  #built: { trust: TrustSource; sanitizers: unknown; evaluator: unknown; roots: unknown } | undefined;

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
    this.#handoff = new HandoffGate(options.handoff, options.logger);
    const size = options.restoreCacheSize ?? 512;
    const bytes = options.restoreCacheBytes ?? 64 * 1024 * 1024;
    this.#restored = size > 0 && bytes > 0 ? new RestoredPassports(size, bytes) : undefined;
    for (const [name, v] of [
      ['maxTipAgeMs', options.maxTipAgeMs],
      ['maxClockSkewMs', options.maxClockSkewMs],
    ] as const) {
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
        throw new KestConfigurationError(`${name} must be a non-negative number of milliseconds`);
      }
    }
    announceReferenceSources(options, options.logger ?? getConfiguration().logger);
    if (options.bindTipPrincipal !== undefined && typeof options.bindTipPrincipal !== 'function') {
      throw new KestConfigurationError(
        'bindTipPrincipal must be a function (tipPrincipal, request) => boolean',
      );
    }
    if (!options.verifier) warnIfOriginsUnguarded(options.roots, options.logger);
    this.#bindPeer = peerBindingOn(options, () => options.logger ?? getConfiguration().logger);
  }

  /** Forget verified tips and restored passports (e.g. after a trust source without epoch() changed). */
  clearCaches(): void {
    this.#verifier?.clearCache();
    this.#options.verifier?.clearCache();
    this.#restored?.clear();
  }

  /** Slots and estimated bytes held by the restored-passport cache. */
  get restoreCacheStats(): { size: number; bytes: number } {
    return this.#restored?.stats ?? { size: 0, bytes: 0 };
  }

  /**
   * The verifier of this instance. Built on first use, and rebuilt when what it was built from
   * changed: the trust source (configure({ trust })), the sanitizers (configure({ sanitizers }) or
   * the deployment file's) or the trust evaluator.
   */
  verifier(): PassportVerifier {
    if (this.#options.verifier) return this.#options.verifier;
    const trust = this.#options.trust ?? getConfiguration().trust;
    if (!trust) {
      throw new KestConfigurationError(
        'no trust source to verify incoming passports: pass `trust` to the adapter or call configure({ trust })',
      );
    }
    // getSanitizerPolicy() is memoized until configure() or the deployment changes: an identity check.
    const sanitizers = this.#options.sanitizers ?? getSanitizerPolicy();
    const evaluator = this.#options.trustEvaluator ?? getConfiguration().trustEvaluator;
    const roots = getRootRules(); // memoized like the sanitizers: changes with configure() / the deployment
    const b = this.#built;
    if (
      !this.#verifier ||
      b?.trust !== trust ||
      b.sanitizers !== sanitizers ||
      b.evaluator !== evaluator ||
      b.roots !== roots
    ) {
      this.#verifier = new PassportVerifier({
        trust,
        sanitizers: this.#sanitizerRules(sanitizers),
        trustEvaluator: evaluator,
        roots: ingressRoots(this.#options.roots),
        ...(this.#options.passportLimits ? { limits: this.#options.passportLimits } : {}),
        ...(this.#options.profile === 'reference' ? { profile: 'reference' as const } : {}),
      });
      this.#built = { trust, sanitizers, evaluator, roots };
    }
    return this.#verifier;
  }

  /** The adapter's own sanitizers plus the deployment's (which always apply), or the configured union. */
  #sanitizerRules(
    sanitizers: SanitizerPolicy | readonly SanitizerRule[],
  ): SanitizerPolicy | readonly SanitizerRule[] {
    if (this.#options.sanitizers === undefined) return sanitizers; // getSanitizerPolicy(): already the union
    const deployment = getDeployment().sanitizers;
    if (deployment.length === 0) return sanitizers;
    const own = sanitizers instanceof SanitizerPolicy ? sanitizers.rules : sanitizers;
    return [...deployment, ...own];
  }

  /** The stamp a verdict of `verifier` is valid under right now. */
  #stamp(verifier: PassportVerifier): VerdictStamp {
    const trust = this.#options.verifier ? undefined : this.#built?.trust;
    return verdictStamp(trust, verifier);
  }

  /**
   * Run both interceptors over a request's headers. Resolves with the admission, or throws the
   * KestError that refuses the request (see refusalFor). `request` (socket, framework request) is
   * what `bindTipPrincipal` sees.
   */
  async admit(
    headers: IncomingHeaders,
    request?: Omit<IngressRequest, 'headers' | 'identity'>,
  ): Promise<Admission> {
    // 1. Lineage: strict parse, restore (tier, claim check, chain tip), verify.
    const ref =
      this.#options.profile === 'reference'
        ? parseReferenceBaggage(headerRaw(headers, BAGGAGE_HEADER), this.#options.baggageLimits)
        : undefined;
    const members =
      ref?.members ?? parseBaggageMembers(headerRaw(headers, BAGGAGE_HEADER), this.#options.baggageLimits);
    const chainTip = members[BAGGAGE_KEY.chainTip];
    const key = this.#restored && !ref ? RestoredPassports.key(members) : undefined;
    const slot = this.#restored?.get(key, chainTip);
    let passport: Passport;
    let report: VerificationReport | undefined;
    if (slot) {
      const verifier = this.verifier();
      if (keptUnder(slot, verifier, this.#stamp(verifier))) {
        // A fresh Passport per request: what this request appends stays its own.
        passport = Passport.fromSignedEntries(slot.entries);
        report = { ...slot.report, passport };
      } else {
        // Kept under another verifier, epoch or generation: verify again (the keys may be gone).
        this.#restored?.delete((key as RestoredKey).id);
        passport = Passport.fromSignedEntries(slot.entries);
        report = await this.#verify(verifier, passport, chainTip, key);
      }
    } else {
      const cache = this.#options.cache ?? getConfiguration().cache;
      passport = ref
        ? await restoreReference(ref, this.#manager, { ...(cache ? { cache } : {}) })
        : await this.#manager.restore(members, cache);
      if (passport.length > 0) report = await this.#verify(this.verifier(), passport, chainTip, key);
    }
    if (passport.length === 0 && this.#options.requirePassport) throw new KestMissingPassportError();
    let bound = false;
    if (passport.length > 0) {
      this.#checkFresh(passport);
      // A named Python-reference caller sends no handoff: a tip-age window instead (docs/interop.md).
      if (request && isReferenceSource(request, this.#options)) checkReferenceTipAge(passport, this.#options);
      else bound = await this.#handoff.check(members, passport, this.verifier().trust);
    }
    // 2. Identity (inside the lineage interceptor).
    const validated = this.#bearer
      ? await this.#bearer.validate(header(headers, 'authorization'))
      : undefined;
    // 3. Binding of the tip to the authenticated caller (opt-in).
    if (passport.length > 0 && this.#options.bindTipPrincipal) {
      await this.#checkBound(passport, { ...request, headers, identity: validated });
      bound = true;
    }
    // 4. Binding of the tip to the SPIFFE mutual TLS peer (default on; peer-binding.ts).
    if (passport.length > 0 && this.#bindPeer) checkPeerBound(passport, request);
    const remoteSpan =
      this.#traceContext && !trace.getSpan(context.active())
        ? parseTraceparent(header(headers, 'traceparent'))
        : undefined;
    return { passport, report, upstream: readUpstreamIdentity(members), validated, remoteSpan, bound };
  }

  async #verify(
    verifier: PassportVerifier,
    passport: Passport,
    chainTip: string | undefined,
    key: RestoredKey | undefined,
  ): Promise<VerificationReport> {
    // Stamp before verifying: a revocation during verification makes the kept verdict stale.
    const stamp = this.#stamp(verifier);
    const report = await verifier.verify(passport, chainTip === undefined ? {} : { expectedTip: chainTip });
    // Kept only once verified, and before the handler can touch this request's passport.
    this.#restored?.put(key, passport, report, verifier, stamp);
    return report;
  }

  #checkFresh(passport: Passport): void {
    const maxAge = this.#options.maxTipAgeMs;
    if (maxAge === undefined) return;
    const tip = passport.tip as SignedEntry;
    const now = Date.now();
    const ts = tip.payload.timestamp_ms;
    const skew = this.#options.maxClockSkewMs ?? DEFAULT_SKEW_MS;
    const details = { index: passport.length - 1, entryId: tip.payload.entry_id };
    if (ts < now - maxAge) {
      throw new KestIngressRefusal(
        'stale_passport',
        `the passport's tip was signed ${now - ts} ms ago (this service accepts at most ${maxAge} ms)`,
        details,
      );
    }
    if (ts > now + skew) {
      throw new KestIngressRefusal(
        'stale_passport',
        `the passport's tip is dated ${ts - now} ms in the future (clock skew tolerated: ${skew} ms)`,
        details,
      );
    }
  }

  async #checkBound(passport: Passport, request: IngressRequest): Promise<void> {
    const tip = passport.tip as SignedEntry;
    const principal = tip.payload.labels.principal;
    let bound = false;
    try {
      bound =
        typeof principal === 'string' &&
        (await this.#options.bindTipPrincipal?.(principal, request)) === true;
    } catch {
      bound = false; // a failing check refuses, never admits
    }
    if (!bound) {
      throw new KestIngressRefusal(
        'unbound_passport',
        `the passport's tip principal ${String(principal)} is not the authenticated caller`,
        { index: passport.length - 1, entryId: tip.payload.entry_id },
      );
    }
  }

  /** Run fn (the rest of the request) inside the ambient context of an admission. */
  run<T>(admission: Admission, fn: () => T): T {
    // One context switch for the passport, the upstream claims and the validated identity.
    const base = admission.remoteSpan
      ? trace.setSpanContext(context.active(), admission.remoteSpan)
      : context.active();
    return runWithIngress(admission, fn, base);
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
