/**
 * The ingress side of the handoff (docs/spec.md §11 "Handoff"), run by KestHttpCore after the
 * passport verified and before the handler: signature anchored to the tip's principal, `tip` is the
 * restored tip, `aud` names this service, the window holds, and the `jti` is claimed once in the
 * replay store. Each failure is its own 401 reason; a store that cannot answer is a 503.
 */
import { getConfiguration } from '../config/config.js';
import { KestError, KestIngressRefusal } from '../errors.js';
import {
  checkHandoffWindow,
  type HandoffClaims,
  MAX_HANDOFF_LIFETIME_S,
  verifyHandoff,
} from '../handoff/handoff.js';
import { claimWithin, MemoryReplayStore, type ReplayStore } from '../handoff/replay-store.js';
import type { TrustSource } from '../keys/trust-source.js';
import type { KestLogger } from '../logger.js';
import type { Passport } from '../passport/passport.js';
import { BAGGAGE_KEY } from '../wire/constants.js';

export interface HandoffIngressOptions {
  /**
   * Require a valid handoff on every request that carries a passport. Default true whenever this
   * service knows who it is (configure({ identity }) or `audience`). `false` is an explicit opt-out:
   * one warning at start, and upstream user/agent/task are then not taken from the passport.
   */
  required?: boolean;
  /**
   * Who this service is to its callers, in addition to configure({ identity })'s workload id:
   * workload ids and/or origins (`https://orders.internal:8443`) a handoff's `aud` may name.
   */
  audience?: readonly string[];
  /** Where admitted jtis are held. Default an in-memory store per adapter (one process). */
  store?: ReplayStore;
  /** Clock skew tolerated on iat / exp. Default 5000 ms. */
  maxSkewMs?: number;
  /** A replay store that does not answer within this is down (503). Default 1000 ms. */
  storeTimeoutMs?: number;
}

const DEFAULT_SKEW_MS = 5000;

function normalizeAudience(value: string): string {
  if (!value.includes('://') || value.startsWith('spiffe://')) return value;
  try {
    const url = new URL(value);
    const port = url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
    return `${url.protocol}//${url.hostname}:${port}`;
  } catch {
    return value;
  }
}

export class HandoffGate {
  readonly #options: HandoffIngressOptions;
  readonly #store: ReplayStore;
  readonly #audience: ReadonlySet<string>;
  readonly #skewMs: number;

  constructor(options: HandoffIngressOptions = {}, logger?: KestLogger) {
    this.#options = options;
    this.#store = options.store ?? new MemoryReplayStore();
    this.#audience = new Set((options.audience ?? []).map(normalizeAudience));
    this.#skewMs = options.maxSkewMs ?? DEFAULT_SKEW_MS;
    if (options.required === false) {
      (logger ?? getConfiguration().logger).warn(
        { option: 'handoff.required' },
        'kest: handoffs are not required: a passport copied from a log, proxy or span can be replayed to this service, and upstream user/agent/task are not taken from it',
      );
    }
  }

  /** This service's audiences right now (the configured identity may change). */
  #audiences(): { ids: ReadonlySet<string>; own: string | undefined } {
    let own: string | undefined;
    try {
      own = getConfiguration().identity?.getWorkloadId();
    } catch {
      own = undefined;
    }
    return { ids: this.#audience, own };
  }

  /**
   * Check the request's handoff. Resolves true when the passport arrived bound to this hop (a valid
   * handoff), false when handoffs are not required here and none was checked. Throws the refusal.
   */
  async check(
    members: Readonly<Record<string, string>>,
    passport: Passport,
    trust: TrustSource,
  ): Promise<boolean> {
    const { ids, own } = this.#audiences();
    const knowsItself = own !== undefined || ids.size > 0;
    const required = this.#options.required ?? knowsItself;
    const jws = members[BAGGAGE_KEY.handoff];
    const tip = passport.tip;
    const details = { index: passport.length - 1, entryId: tip?.payload.entry_id };
    if (jws === undefined) {
      if (!required) return false;
      throw new KestIngressRefusal(
        'missing_handoff',
        'the passport arrived without a handoff (kest.handoff)',
        details,
      );
    }
    if (!required && !knowsItself) return false; // cannot tell whom it was meant for
    const claims = await verifyHandoff(jws, passport, trust);
    if (!(claims.aud === own || ids.has(normalizeAudience(claims.aud)))) {
      throw new KestIngressRefusal(
        'wrong_audience',
        `the handoff is addressed to ${claims.aud}, not this service`,
        details,
      );
    }
    checkHandoffWindow(claims, passport, this.#skewMs);
    await this.#claim(claims, details);
    return true;
  }

  async #claim(
    claims: HandoffClaims,
    details: { index: number; entryId: string | undefined },
  ): Promise<void> {
    // Held until the handoff can no longer pass the window check (exp + skew), at most the cap.
    const ttlMs = Math.min(
      claims.exp * 1000 + this.#skewMs - Date.now(),
      (MAX_HANDOFF_LIFETIME_S + 60) * 1000,
    );
    let first: boolean;
    try {
      first = await claimWithin(
        this.#store,
        claims.jti,
        Math.max(1, ttlMs),
        this.#options.storeTimeoutMs ?? 1000,
      );
    } catch (err) {
      throw new KestIngressRefusal(
        'replay_store_unavailable',
        `the replay store could not record the handoff: ${err instanceof KestError || err instanceof Error ? err.message : String(err)}`,
        details,
        { cause: err },
      );
    }
    if (!first) throw new KestIngressRefusal('replayed', 'this handoff was already used', details);
  }
}
