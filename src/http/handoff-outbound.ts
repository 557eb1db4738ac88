/**
 * The caller side of the handoff (docs/spec.md §11 "Handoff"): which callee a request goes to (its
 * workload id when `propagateTo` maps the destination to one, else its origin) and the handoff the
 * tip's signer issues to it.
 */
import { getConfiguration } from '../config/config.js';
import { type CallSigner, getCurrentSigner } from '../context/context.js';
import { KestConfigurationError } from '../errors.js';
import { type HandoffSigner, signHandoff, tipPrincipal } from '../handoff/handoff.js';
import type { Passport } from '../passport/passport.js';

export interface HandoffSendOptions {
  /** Lifetime of each handoff. Default 60 000 ms (receivers accept at most 300 s). */
  ttlMs?: number;
  /** Who signs. Default the identity of the protected call now running, else configure({ identity }). */
  signer?: HandoffSigner;
}

/** The origin `scheme://host:port` of a URL, with the scheme's default port written out. */
export function originOf(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
  return `${url.protocol}//${url.hostname}:${port}`;
}

/**
 * The handoff for `passport` to `audience`, or undefined when there is nothing to hand off (empty
 * passport, handoffs off) or no signer is the tip's principal (a hop that forwards a passport
 * without its own entry cannot vouch for it: the callee then refuses with missing_handoff).
 */
export async function handoffFor(
  passport: Passport,
  audience: string | undefined,
  options: HandoffSendOptions | false | undefined,
): Promise<string | undefined> {
  if (options === false || passport.length === 0 || audience === undefined) return undefined;
  if (options?.ttlMs !== undefined && !(Number.isFinite(options.ttlMs) && options.ttlMs >= 1000))
    throw new KestConfigurationError('handoff.ttlMs must be at least 1000 ms');
  const signer: CallSigner | HandoffSigner | undefined =
    options?.signer ?? getCurrentSigner() ?? getConfiguration().identity;
  if (!signer) return undefined;
  const principal = tipPrincipal(passport);
  if (principal === undefined || signer.getWorkloadId() !== principal) return undefined;
  return signHandoff(
    signer,
    passport,
    audience,
    options?.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {},
  );
}
