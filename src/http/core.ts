import { context, trace } from '@opentelemetry/api';
import { getConfiguration, getDeployment, getRootRules, getSanitizerPolicy } from '../config/config.js';
import { runWithIngress } from '../context/context.js';
import type { SignedEntry } from '../entry/signed.js';
import { KestConfigurationError, KestIngressRefusal, KestMissingPassportError } from '../errors.js';
import type { TrustSource } from '../keys/trust-source.js';
import { Passport } from '../passport/passport.js';
import { PassportVerifier, type VerificationReport } from '../passport/verifier.js';
import { BAGGAGE_HEADER, parseBaggageMembers } from '../propagation/baggage.js';
import { BaggageManager, readUpstreamIdentity } from '../propagation/manager.js';
import { parseReferenceBaggage, restoreReference } from '../propagation/reference.js';
import { SanitizerPolicy, type SanitizerRule } from '../trust/sanitizers.js';
import { BAGGAGE_KEY } from '../wire/constants.js';
import { HandoffGate } from './handoff-check.js';
import { BearerIdentityValidator } from './identity.js';
import { checkPeerBound, peerBindingOn } from './peer-binding.js';
import { announceReferenceSources, checkReferenceTipAge, isReferenceSource } from './reference.js';
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

export type { Admission, IncomingHeaders, IngressRequest, KestHttpOptions, RequestInfo } from './options.js';
/** refuse() answers with these (the adapters' and examples' import path). */
export type { Phase, Refusal } from './refusal.js';

import type { Admission, IncomingHeaders, IngressRequest, KestHttpOptions, RequestInfo } from './options.js';
import { DEFAULT_SKEW_MS, header, headerRaw } from './options.js';

/** The server core of one adapter instance. */
export class KestHttpCore {
  readonly #options: KestHttpOptions;
  readonly #manager: BaggageManager;
  readonly #bearer: BearerIdentityValidator | undefined;
  readonly #traceContext: boolean;
  readonly #restored: RestoredPassports | undefined;
  readonly #bindPeer: boolean;
  readonly #handoff: HandoffGate;
  /** Restorations under way, by restored-passport key: what a concurrent copy waits for. */
  readonly #inflight = new Map<string, Promise<void>>();
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
    const { passport, report } = await this.#lineage(members, chainTip, ref);
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

  /**
   * Restore and verify the passport, or take it from the restored-passport cache. Requests that
   * arrive together with the same passport bytes wait for the first one's verification and then
   * take the cache (a burst of N copies costs one verification, not N); a waiter whose leader
   * failed, or whose bytes differ, restores and verifies on its own: waiting never admits anything.
   */
  async #lineage(
    members: Readonly<Record<string, string>>,
    chainTip: string | undefined,
    ref: ReturnType<typeof parseReferenceBaggage> | undefined,
  ): Promise<{ passport: Passport; report: VerificationReport | undefined }> {
    const key = this.#restored && !ref ? RestoredPassports.key(members) : undefined;
    const pending = key && this.#inflight.get(key.id);
    if (pending) await pending;
    const slot = this.#restored?.get(key, chainTip);
    if (slot) {
      const verifier = this.verifier();
      // A fresh Passport per request: what this request appends stays its own.
      const passport = Passport.fromSignedEntries(slot.entries);
      if (keptUnder(slot, verifier, this.#stamp(verifier)))
        return { passport, report: { ...slot.report, passport } };
      // Kept under another verifier, epoch or generation: verify again (the keys may be gone).
      this.#restored?.delete((key as RestoredKey).id);
      return { passport, report: await this.#verify(verifier, passport, chainTip, key) };
    }
    const work = this.#restoreAndVerify(members, chainTip, ref, key);
    if (key && !this.#inflight.has(key.id)) {
      const settled = work.then(
        () => undefined,
        () => undefined,
      );
      this.#inflight.set(key.id, settled);
      void settled.then(() => {
        if (this.#inflight.get(key.id) === settled) this.#inflight.delete(key.id);
      });
    }
    return work;
  }

  async #restoreAndVerify(
    members: Readonly<Record<string, string>>,
    chainTip: string | undefined,
    ref: ReturnType<typeof parseReferenceBaggage> | undefined,
    key: RestoredKey | undefined,
  ): Promise<{ passport: Passport; report: VerificationReport | undefined }> {
    const cache = this.#options.cache ?? getConfiguration().cache;
    const passport = ref
      ? await restoreReference(ref, this.#manager, { ...(cache ? { cache } : {}) })
      : await this.#manager.restore(members, cache);
    const report =
      passport.length > 0 ? await this.#verify(this.verifier(), passport, chainTip, key) : undefined;
    return { passport, report };
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
