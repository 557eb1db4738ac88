/**
 * The steps of a protected call before its span opens: resolve identity and engines, take the
 * passport, resolve user/agent/task and the resource, compute trust and taints, and refuse a hop
 * that sanitizes without being a declared sanitizer. Each throws a typed error; nothing has run.
 */

import { getConfiguration, getDeployment, getSanitizerPolicy } from '../config/config.js';
import {
  activeDeviations,
  type DeploymentConfig,
  type DeviationRule,
  deploymentTiers,
} from '../config/deployment.js';
import { assertKnownPolicies } from '../config/policies.js';
import {
  getCurrentScope,
  getUpstreamClaims,
  getValidatedIdentity,
  type IdentityClaims,
  isUnboundUpstreamEntry,
  type PassportScope,
} from '../context/context.js';
import type { SignedEntry } from '../entry/signed.js';
import { KestAuthorizationError, KestConfigurationError, KestError, KestIdentityError } from '../errors.js';
import type { IdentityProvider } from '../identity/provider.js';
import type { Passport } from '../passport/passport.js';
import type { PolicyEngine, PolicyTier } from '../policy/types.js';
import type { TrustEvaluator } from '../trust/evaluator.js';
import { hopTrust } from '../trust/lineage.js';
import { type SanitizerHop, taintRemovals, trustRaise } from '../trust/sanitizers.js';
import { computeTaints } from '../trust/taints.js';
import { LABEL, ROOT_PARENT } from '../wire/constants.js';
import type { Tiers } from './authorize.js';
import type { KestVerifiedOptions, Resolvable } from './options.js';
import { parentsOf } from './scope.js';

type Config = ReturnType<typeof getConfiguration>;

export function resolve<T, A extends unknown[]>(value: Resolvable<T, A> | undefined, args: A): T | undefined {
  return typeof value === 'function' ? (value as (...a: A) => T)(...args) : value;
}

/** Who signs, which policies apply (deviations removed) and which engine answers each tier. */
export interface CallSetup {
  config: Config;
  identity: IdentityProvider;
  deployment: DeploymentConfig;
  deviations: DeviationRule[];
  tiers: Tiers;
  engines: Map<PolicyTier, PolicyEngine>;
}

export function resolveSetup(
  options: KestVerifiedOptions<never>,
  functionPolicies: string[],
  operation: string,
): CallSetup {
  const config = getConfiguration();
  const identity = options.identity ?? config.identity;
  if (!identity) {
    throw new KestConfigurationError(
      `${operation}: no identity provider (pass \`identity\` or call configure())`,
    );
  }
  const deployment = getDeployment();
  const plan = planTiers(options, functionPolicies, operation, config, deployment);
  for (const [tier, names] of plan.tiers) {
    if (names.length === 0) continue;
    const engine = plan.engines.get(tier);
    if (!engine) throw new KestConfigurationError(`${operation}: no policy engine for the ${tier} tier`);
    // Names its engine does not know (or not yet: a catalogue still loading) never reach a decision.
    assertKnownPolicies(engine, tier, names, operation, 'throw');
  }
  return { config, identity, deployment, ...plan };
}

/**
 * resolveSetup for one wrapped function, remembered until the configuration changes. configure()
 * and resetConfiguration() replace the configuration object (and the deployment is fixed once
 * read), so the same object means the same identity, tiers and engines; the function's own
 * `identity`/`engine` options are compared too. Only a setup that resolved is kept: its policy
 * names were found known, which assertKnownPolicies remembers for good, so a hit skips nothing a
 * fresh resolve would still check. A miss resolves exactly as every call did before.
 */
export function setupResolver(
  options: KestVerifiedOptions<never>,
  functionPolicies: string[],
  operation: string,
): () => CallSetup {
  let last: CallSetup | undefined;
  let lastIdentity: IdentityProvider | undefined;
  let lastEngine: PolicyEngine | undefined;
  return () => {
    if (
      last !== undefined &&
      last.config === getConfiguration() &&
      last.deployment === last.config.deployment &&
      options.identity === lastIdentity &&
      options.engine === lastEngine
    ) {
      return last;
    }
    lastIdentity = options.identity;
    lastEngine = options.engine;
    last = undefined;
    const setup = resolveSetup(options, functionPolicies, operation);
    last = setup;
    return setup;
  };
}

/** The policies of each tier for `operation` (deviations removed) and the engines configured to answer them. */
export function planTiers(
  options: KestVerifiedOptions<never>,
  functionPolicies: string[],
  operation: string,
  config: Config,
  deployment: DeploymentConfig,
): Pick<CallSetup, 'deviations' | 'tiers' | 'engines'> {
  const deviations = activeDeviations(deployment, operation);
  const skip = (tier: PolicyTier, policy: string) =>
    deviations.some((d) => d.tier === tier && d.policy === policy);
  const tiers: Tiers = [
    ...deploymentTiers(deployment).map(([tier, names]): Tiers[number] => [
      tier,
      names.filter((p) => !skip(tier, p)),
    ]),
    ['function', functionPolicies],
  ];
  const engines = new Map<PolicyTier, PolicyEngine>();
  for (const [tier, names] of tiers) {
    if (names.length === 0) continue;
    // Deployment tiers are decided by the deployment's engines only: an `engine` option in code
    // applies to the function tier and can never answer for an enterprise/platform policy.
    const engine =
      tier === 'function'
        ? (options.engine ?? config.tierEngines.function ?? config.engine)
        : (config.tierEngines[tier] ?? config.engine);
    if (engine) engines.set(tier, engine);
  }
  return { deviations, tiers, engines };
}

/** The enclosing scope's passport as this call found it, and the parents of its entry. */
export interface Lineage {
  enclosing: PassportScope | undefined;
  start: Passport | undefined;
  startTips: string[] | undefined;
  parents: SignedEntry[];
  parent: SignedEntry | undefined;
  parentHash: string;
}

export function takePassport(): Lineage {
  const enclosing = getCurrentScope();
  const start = enclosing?.passport;
  const startTips = enclosing?.tips;
  const parents = parentsOf(start, startTips);
  const parent = parents[parents.length - 1];
  return { enclosing, start, startTips, parents, parent, parentHash: parent?.hash ?? ROOT_PARENT };
}

/** User/agent/task: explicit → validated here → last verified entry → upstream baggage (opt-in). */
export function resolveWho<A extends unknown[]>(
  options: KestVerifiedOptions<A>,
  args: A,
  parent: SignedEntry | undefined,
  deployment: DeploymentConfig,
): IdentityClaims {
  const validated = getValidatedIdentity();
  // A passport that arrived unbound (no valid handoff) may be a copy: its claims prove nothing.
  const fromEntry = parent && isUnboundUpstreamEntry(parent.hash) ? undefined : identityOfEntry(parent);
  const upstream = deployment.trustUpstreamBaggage ? getUpstreamClaims() : undefined;
  return {
    user: pick('user', resolve(options.user, args), validated, fromEntry, upstream),
    agent: pick('agent', resolve(options.agent, args), validated, fromEntry, upstream),
    task: pick('task', resolve(options.task, args), validated, fromEntry, upstream),
  };
}

/** Explicit → validated here → last verified entry → upstream baggage. */
function pick(
  field: keyof IdentityClaims,
  explicit: string | undefined,
  validated: IdentityClaims | undefined,
  fromEntry: IdentityClaims | undefined,
  upstream: IdentityClaims | undefined,
): string | undefined {
  return explicit ?? validated?.[field] ?? fromEntry?.[field] ?? upstream?.[field];
}

/**
 * Parsed kest.identity labels by their text: every call under the same parent (or the same caller)
 * reads the same label, and the claims are a function of the text. Read-only; bounded like the JWS
 * header cache.
 */
const identityLabels = new Map<string, IdentityClaims | undefined>();
const MAX_CACHED_IDENTITY_LABELS = 256;

function identityOfEntry(entry: SignedEntry | undefined): IdentityClaims | undefined {
  const raw = entry?.payload.labels[LABEL.identity];
  if (!raw) return undefined;
  if (identityLabels.has(raw)) return identityLabels.get(raw);
  const claims = parseIdentityLabel(raw);
  if (identityLabels.size >= MAX_CACHED_IDENTITY_LABELS) identityLabels.clear();
  identityLabels.set(raw, claims);
  return claims;
}

function nonEmpty(x: unknown): string | undefined {
  return typeof x === 'string' && x.length > 0 ? x : undefined;
}

function parseIdentityLabel(raw: string): IdentityClaims | undefined {
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    return { user: nonEmpty(v.user), agent: nonEmpty(v.agent), task: nonEmpty(v.task) };
  } catch {
    return undefined;
  }
}

/** This hop's trust, taints and resource, as the entry will state them. */
export interface HopState {
  sourceType: string | undefined;
  added: string[];
  removed: string[];
  override: number | undefined;
  trustScore: number;
  taints: string[];
  resourceId: string;
  resourceAttr: Record<string, unknown>;
  sanitizer: Omit<SanitizerHop, 'principal'>;
}

export function computeHop<A extends unknown[]>(
  options: KestVerifiedOptions<A>,
  args: A,
  parents: readonly SignedEntry[],
  evaluator: TrustEvaluator,
  operation: string,
): HopState {
  const sourceType = resolve(options.sourceType, args);
  const added = [...(resolve(options.addedTaints, args) ?? [])];
  const removed = [...(resolve(options.removedTaints, args) ?? [])];
  const override = resolve(options.trustOverride, args);
  const parentScores = parents.map((e) => e.payload.trust_score);
  const parentTaints = parents.map((e) => e.payload.taints);
  const trustScore = hopTrust(evaluator, { parentScores, sourceType, override, addedTaints: added });
  const taints = computeTaints(parentTaints, added, removed);
  const resourceId = resolve(options.resourceId, args) ?? operation;
  const resourceAttr = resolve(options.resourceAttr, args) ?? {};
  const sanitizer = { parentScores, parentTaints, sourceType, addedTaints: added, removedTaints: removed };
  return { sourceType, added, removed, override, trustScore, taints, resourceId, resourceAttr, sanitizer };
}

export function workloadIdOf(identity: IdentityProvider): string {
  try {
    return identity.getWorkloadId();
  } catch (err) {
    throw err instanceof KestError
      ? err
      : new KestIdentityError(`identity unavailable: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A hop may raise trust or clear taints only as a declared sanitizer. Verifiers downstream refuse
 * such an entry anyway; refusing here keeps the function from running on a lineage it merely claims.
 */
export function assertSanitizer(
  hop: HopState,
  workloadId: string,
  evaluator: TrustEvaluator,
  operation: string,
): void {
  if (hop.override === undefined && hop.removed.length === 0) return;
  const policy = getSanitizerPolicy();
  const facts: SanitizerHop = { principal: workloadId, ...hop.sanitizer };
  const { forbidden } = taintRemovals(policy, facts);
  const raise =
    forbidden.length > 0 ? undefined : trustRaise(policy, evaluator, facts, hop.override, hop.trustScore);
  if (forbidden.length === 0 && (raise === undefined || raise.allowed)) return;
  throw new KestAuthorizationError(
    `${operation}: ${workloadId} is not a declared sanitizer allowed to ${
      forbidden.length > 0
        ? `remove taints ${JSON.stringify(forbidden)}`
        : `raise trust from ${raise?.from} to ${hop.trustScore}`
    }`,
    { policy: 'kest:sanitizers', tier: 'enterprise' },
  );
}
