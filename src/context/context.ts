/**
 * The ambient Kest context, carried by the OpenTelemetry context API on AsyncLocalStorage — never
 * in a module-level variable, so concurrent requests cannot see each other's passports.
 *
 * A protected call runs its function in a new *scope*: a small mutable cell holding the passport of
 * that scope. Nested protected calls append to their own scope and, when they finish, advance the
 * enclosing scope (so a later call or an outgoing request carries their entries). Concurrent
 * branches each start from the last shared entry and never see each other's entries; when they
 * finish, the enclosing scope holds all their entries and remembers every branch tip, and the next
 * protected call joins them (its entry lists every tip as a parent: min trust, union of taints).
 */

import { type Context, context, createContextKey, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { Passport } from '../passport/passport.js';
import { BAGGAGE_KEY } from '../wire/constants.js';

export interface PassportScope {
  passport: Passport;
  /**
   * Tips of concurrent branches that finished in this scope and are not joined yet. The next
   * protected call lists all of them as parents (fan-in), so no branch's taints or trust are lost.
   * Undefined: the passport's last entry is the only tip.
   */
  tips?: string[] | undefined;
  /** Downstream tips received back in this call (e.g. `kest-tip` responses): signed into its completion. */
  received?: { tip: string; by?: string | undefined }[] | undefined;
}

/** User/agent/task claims, and where they came from. */
export interface IdentityClaims {
  user?: string | undefined;
  agent?: string | undefined;
  task?: string | undefined;
}

export interface ValidatedIdentity extends IdentityClaims {
  /** The raw bearer token; never forwarded downstream or to a policy engine unless configured. */
  jwt?: string | undefined;
  /** Who validated it, e.g. the issuer. */
  issuer?: string | undefined;
}

const SCOPE = createContextKey('kest.scope');
const VALIDATED = createContextKey('kest.identity.validated');
const UPSTREAM = createContextKey('kest.identity.upstream');
const CALL = createContextKey('kest.identity.call');
const UNBOUND = createContextKey('kest.passport.unbound');
const SIGNER = createContextKey('kest.identity.signer');

let managerChecked = false;

/**
 * Make sure an AsyncLocalStorage context manager is registered with the OpenTelemetry API. If the
 * application already registered one (its own SDK), that one is used; Kest never replaces it.
 */
export function ensureContextManager(): void {
  if (managerChecked) return;
  managerChecked = true;
  const probe = createContextKey('kest.probe');
  const works = context.with(
    context.active().setValue(probe, true),
    () => context.active().getValue(probe) === true,
  );
  if (!works) context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

function scope(ctx: Context = context.active()): PassportScope | undefined {
  return ctx.getValue(SCOPE) as PassportScope | undefined;
}

/** The passport of the current scope; an empty passport outside any scope. */
export function getCurrentPassport(): Passport {
  ensureContextManager();
  return scope()?.passport ?? Passport.empty();
}

/** @internal used by the hook to advance the enclosing scope. */
export function getCurrentScope(): PassportScope | undefined {
  ensureContextManager();
  return scope();
}

/** @internal run fn in a context whose scope is `s`. */
export function runInScope<T>(s: PassportScope, fn: () => T, ctx: Context = context.active()): T {
  return context.with(ctx.setValue(SCOPE, s), fn);
}

/**
 * Run `fn` with `passport` as the current passport. The caller vouches for it: Kest's lineage
 * interceptor calls this only after verifying an incoming passport. Returns what fn returns.
 */
export function runWithPassport<T>(passport: Passport, fn: () => T): T {
  ensureContextManager();
  return runInScope({ passport }, fn);
}

/**
 * What an ingress interceptor establishes for a request, set in one context switch: the verified
 * passport, the raw upstream claims and (when a token was validated) the validated identity.
 */
export function runWithIngress<T>(
  ingress: {
    passport: Passport;
    upstream?: IdentityClaims | undefined;
    validated?: ValidatedIdentity | undefined;
    /** false: the passport did not arrive bound to this hop (no valid handoff, no bindTipPrincipal). */
    bound?: boolean | undefined;
  },
  fn: () => T,
  ctx: Context = context.active(),
): T {
  ensureContextManager();
  let next = ctx.setValue(SCOPE, { passport: ingress.passport } satisfies PassportScope);
  if (ingress.upstream) next = next.setValue(UPSTREAM, Object.freeze({ ...ingress.upstream }));
  if (ingress.validated) next = next.setValue(VALIDATED, Object.freeze({ ...ingress.validated }));
  if (ingress.bound === false && ingress.passport.length > 0) next = next.setValue(UNBOUND, ingress.passport);
  return context.with(next, fn);
}

/**
 * Whether `hash` names an entry of a passport that arrived unbound (no valid handoff): its
 * kest.identity claims are then not evidence of who the caller is (the passport may be a copy).
 */
export function isUnboundUpstreamEntry(hash: string): boolean {
  const received = context.active().getValue(UNBOUND) as Passport | undefined;
  return received !== undefined && received.indexOfHash(hash) !== undefined;
}

/** @internal the identity that signs the protected call now running (it signs outbound handoffs). */
export function withCallSigner(ctx: Context, signer: CallSigner): Context {
  return ctx.setValue(SIGNER, signer);
}

/** What signed the current call's entry, inside a protected call; undefined outside one. */
export function getCurrentSigner(): CallSigner | undefined {
  return context.active().getValue(SIGNER) as CallSigner | undefined;
}

/** The signer of a call: its workload id and its sign() (an IdentityProvider is one). */
export interface CallSigner {
  getWorkloadId(): string;
  sign(payload: Uint8Array, options?: { knownChains?: ReadonlySet<string> }): string | Promise<string>;
}

/** Run fn with identity claims validated by this service (e.g. a Bearer JWT checked by the identity interceptor). */
export function runWithValidatedIdentity<T>(identity: ValidatedIdentity, fn: () => T): T {
  ensureContextManager();
  return context.with(context.active().setValue(VALIDATED, Object.freeze({ ...identity })), fn);
}

/** Run fn with raw upstream claims (kest.user/agent/task baggage): untrusted, any caller can write them. */
export function runWithUpstreamClaims<T>(claims: IdentityClaims, fn: () => T): T {
  ensureContextManager();
  return context.with(context.active().setValue(UPSTREAM, Object.freeze({ ...claims })), fn);
}

/** @internal the identity the hook resolved for the protected call now running. */
export function withCallIdentity(ctx: Context, identity: IdentityClaims): Context {
  return ctx.setValue(CALL, identity);
}

export function getValidatedIdentity(): ValidatedIdentity | undefined {
  return context.active().getValue(VALIDATED) as ValidatedIdentity | undefined;
}

/**
 * The raw kest.user / kest.agent / kest.task claims of the caller: from Kest's own interceptor, else
 * from OpenTelemetry baggage. UNTRUSTED: any caller can write them. The hook records them only when
 * the deployment sets `trust_upstream_baggage`; getCurrentUser() inside a protected call returns
 * what the hook resolved, never these directly.
 */
export function getUntrustedBaggageClaims(): IdentityClaims | undefined {
  const ctx = context.active();
  const own = ctx.getValue(UPSTREAM) as IdentityClaims | undefined;
  if (own) return own;
  const bag = propagation.getBaggage(ctx);
  if (!bag) return undefined;
  const user = bag.getEntry(BAGGAGE_KEY.user)?.value;
  const agent = bag.getEntry(BAGGAGE_KEY.agent)?.value;
  const task = bag.getEntry(BAGGAGE_KEY.task)?.value;
  return user || agent || task ? { user, agent, task } : undefined;
}

/** @deprecated the same untrusted claims as getUntrustedBaggageClaims(), under its older name. */
export const getUpstreamClaims = getUntrustedBaggageClaims;

function current(field: keyof IdentityClaims): string | undefined {
  const ctx = context.active();
  // Inside a protected call: only what the hook resolved (explicit, validated, the last verified
  // entry, or baggage when the deployment trusts it). Never a raw claim the hook did not accept.
  const call = ctx.getValue(CALL) as IdentityClaims | undefined;
  if (call) return call[field];
  return (
    (ctx.getValue(VALIDATED) as IdentityClaims | undefined)?.[field] ?? getUntrustedBaggageClaims()?.[field]
  );
}

/**
 * The user of the current call. Inside a protected function: what the hook resolved (TC-12: the
 * upstream baggage claim when the deployment sets `trust_upstream_baggage`, else undefined unless
 * validated, explicit or recorded by the last verified entry). Outside one (e.g. an outbound client
 * deciding what to forward): what this service validated, else the untrusted upstream claim.
 */
export function getCurrentUser(): string | undefined {
  return current('user');
}
export function getCurrentAgent(): string | undefined {
  return current('agent');
}
export function getCurrentTask(): string | undefined {
  return current('task');
}
/** The bearer token validated by this service's identity interceptor, if any. */
export function getCurrentJwt(): string | undefined {
  return getValidatedIdentity()?.jwt;
}
