/**
 * Mixed fleets (docs/interop.md): the HTTP side of the `reference` interop profile.
 *
 * Ingress — reference sources. The Python reference runtime sends no per-request `kest.handoff`,
 * so the handoff check (replay defence and caller binding) cannot hold for its requests. An
 * operator may name the callers that run it; `isReferenceSource` is the predicate the handoff
 * check consults before refusing a missing handoff, and `checkReferenceTipAge` the window still
 * enforced for such a caller. Matching uses only what the caller cannot choose: the connection's
 * remote address, the SPIFFE ID its mutual TLS proved, and this server's own route — never a
 * header. Exempt sources are logged once when the ingress is built: never silent.
 *
 * Outbound — reference hops: the passport always travels as `kest.passport_z` (the one tier the
 * reference reads as we write it), never inline (it does not percent-decode) and never as a claim
 * check (its claim checks are a different, unsafe format).
 */
import { KestConfigurationError, KestIngressRefusal } from '../errors.js';
import type { KestLogger } from '../logger.js';
import type { Passport } from '../passport/passport.js';
import { BaggageManager, type BaggageManagerOptions } from '../propagation/manager.js';
import { peerSpiffeId } from '../spiffe/tls/server.js';

/** Callers admitted without a `kest.handoff` (docs/interop.md "Reference sources"). */
export interface ReferenceSources {
  /** Remote addresses of the connection (IP literals as Node reports them, e.g. `10.0.0.7`, `::1`). */
  origins?: readonly string[];
  /** SPIFFE IDs proven by mutual TLS (SpiffeTlsServer). */
  spiffeIds?: readonly string[];
  /** This server's paths (exact, or a prefix ending in `/*`). */
  routes?: readonly string[];
}

export interface ReferenceIngressOptions {
  referenceSources?: ReferenceSources;
  /** Tip-age window for reference sources, in ms. Default 60 000. */
  referenceMaxTipAgeMs?: number;
  /** Future skew tolerated on the tip's timestamp. Default 30 000 ms. */
  maxClockSkewMs?: number;
}

/** The request facts a match reads (IngressRequest has them). */
export interface ReferenceRequest {
  url?: string | undefined;
  socket?: { remoteAddress?: string | undefined } | undefined;
  raw?: unknown;
}

export const DEFAULT_REFERENCE_MAX_TIP_AGE_MS = 60_000;
const DEFAULT_SKEW_MS = 30_000;

function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url, 'http://local').pathname;
  } catch {
    return undefined;
  }
}

function routeMatches(rule: string, path: string): boolean {
  return rule.endsWith('/*') ? path.startsWith(rule.slice(0, -1)) : path === rule;
}

/** Whether the request comes from a caller the operator named as a reference source. */
export function isReferenceSource(request: ReferenceRequest, options: ReferenceIngressOptions): boolean {
  const s = options.referenceSources;
  if (!s) return false;
  const address = request.socket?.remoteAddress;
  if (address !== undefined && s.origins?.includes(address)) return true;
  if (s.spiffeIds && s.spiffeIds.length > 0) {
    const peer = peerSpiffeId(request.socket ?? request.raw)?.toString();
    if (peer !== undefined && s.spiffeIds.includes(peer)) return true;
  }
  const path = pathOf(request.url);
  return path !== undefined && (s.routes ?? []).some((r) => routeMatches(r, path));
}

/**
 * The tip-age window of a reference source: its tip must be at most `referenceMaxTipAgeMs` old
 * (and not dated past the skew). Refuses with 401 `stale_passport`.
 */
export function checkReferenceTipAge(
  passport: Passport,
  options: ReferenceIngressOptions,
  now: number = Date.now(),
): void {
  const tip = passport.tip;
  if (tip === undefined) return;
  const maxAge = options.referenceMaxTipAgeMs ?? DEFAULT_REFERENCE_MAX_TIP_AGE_MS;
  const skew = options.maxClockSkewMs ?? DEFAULT_SKEW_MS;
  const ts = tip.payload.timestamp_ms;
  const details = { index: passport.length - 1, entryId: tip.payload.entry_id };
  if (ts < now - maxAge) {
    throw new KestIngressRefusal(
      'stale_passport',
      `reference source: the tip was signed ${now - ts} ms ago (window ${maxAge} ms)`,
      details,
    );
  }
  if (ts > now + skew) {
    throw new KestIngressRefusal(
      'stale_passport',
      `reference source: the tip is dated ${ts - now} ms in the future (skew tolerated ${skew} ms)`,
      details,
    );
  }
}

/** Checks the options and logs (warn) which sources are exempt from the handoff. */
export function announceReferenceSources(options: ReferenceIngressOptions, logger: KestLogger): void {
  const s = options.referenceSources;
  const age = options.referenceMaxTipAgeMs;
  if (age !== undefined && !(Number.isFinite(age) && age > 0)) {
    throw new KestConfigurationError('referenceMaxTipAgeMs must be a positive number of milliseconds');
  }
  if (!s) return;
  for (const [name, list] of Object.entries(s)) {
    if (
      list !== undefined &&
      (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x !== ''))
    ) {
      throw new KestConfigurationError(`referenceSources.${name} must be a list of non-empty strings`);
    }
  }
  logger.warn(
    {
      origins: s.origins ?? [],
      spiffeIds: s.spiffeIds ?? [],
      routes: s.routes ?? [],
      maxTipAgeMs: age ?? DEFAULT_REFERENCE_MAX_TIP_AGE_MS,
    },
    'kest: reference sources are admitted without kest.handoff (no replay defence within the tip-age window, no caller binding)',
  );
}

/** The manager for reference hops: `_z` or nothing (no inline tier, no claim-check cache). */
export function referenceHopManager(
  options: BaggageManager | BaggageManagerOptions | undefined,
): BaggageManager {
  const base = options instanceof BaggageManager || options === undefined ? {} : options;
  const { cache: _cache, ...rest } = base;
  return new BaggageManager({ ...rest, minTier: 'compressed' });
}
