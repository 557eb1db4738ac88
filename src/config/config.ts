/**
 * Process-wide configuration: which identity signs, which engine decides, which trust source
 * verifies. Configuration only — never request state (that lives in the ambient context).
 */
import { KestConfigurationError } from '../errors.js';
import type { IdentityProvider } from '../identity/provider.js';
import type { TrustSource } from '../keys/trust-source.js';
import { type KestLogger, stderrLogger } from '../logger.js';
import type { RootRule } from '../passport/report.js';
import type { PolicyEngine, PolicyTier } from '../policy/types.js';
import type { CacheProvider } from '../propagation/cache.js';
import { DefaultTrustEvaluator, type TrustEvaluator } from '../trust/evaluator.js';
import { SanitizerPolicy, type SanitizerRule } from '../trust/sanitizers.js';
import {
  type DeploymentConfig,
  deploymentTiers,
  loadDeploymentFile,
  loadDeploymentFromEnv,
  parseDeploymentConfig,
  parseRoots,
  withEnvPlatformPolicies,
} from './deployment.js';
import { assertKnownPolicies } from './policies.js';
import { assertSchema } from './schema.js';

export interface KestConfigureOptions {
  identity?: IdentityProvider;
  /** Default engine for every tier. */
  engine?: PolicyEngine;
  /** Per-tier engines (e.g. enterprise on OPA, function on local Cedar). */
  tierEngines?: Partial<Record<PolicyTier, PolicyEngine>>;
  /** Claim-check store for large passports. */
  cache?: CacheProvider;
  trustEvaluator?: TrustEvaluator;
  /** Key source the lineage interceptor verifies incoming passports against. */
  trust?: TrustSource;
  sanitizers?: readonly SanitizerRule[];
  /**
   * Who may start a lineage, up to which origin trust, in addition to the deployment file's
   * `roots`. None anywhere: ingress admits received roots only at unknown-origin trust (10).
   */
  roots?: readonly RootRule[];
  logger?: KestLogger;
  /** Policy engine call timeout (ms). Default 1000. */
  engineTimeoutMs?: number;
  serviceName?: string;
  /** Deployment policies: an object or a file path. Set once; the KEST_CONFIG file otherwise. */
  deployment?: DeploymentConfig | Record<string, unknown> | string;
  /**
   * Copy the passport so far into every span's `kest.passport` (up to 16 KB, then `tip:<hash>`).
   * Default false: the audit needs only `kest.signature`/`kest.completion`, the parent hash and ids;
   * the copy costs tracing-backend bytes (docs/audit.md, "Span volume").
   */
  passportInSpans?: boolean;
}

interface State {
  identity?: IdentityProvider | undefined;
  engine?: PolicyEngine | undefined;
  tierEngines: Partial<Record<PolicyTier, PolicyEngine>>;
  cache?: CacheProvider | undefined;
  trustEvaluator: TrustEvaluator;
  trust?: TrustSource | undefined;
  sanitizers: readonly SanitizerRule[];
  roots?: readonly RootRule[] | undefined;
  logger: KestLogger;
  engineTimeoutMs: number;
  serviceName?: string | undefined;
  deployment?: DeploymentConfig | undefined;
  passportInSpans?: boolean | undefined;
}

function initial(): State {
  return {
    tierEngines: {},
    trustEvaluator: new DefaultTrustEvaluator(),
    sanitizers: [],
    logger: stderrLogger,
    engineTimeoutMs: 1000,
  };
}

let state: State = initial();

/**
 * Set process-wide defaults. Later calls override the fields they name; deployment is set once.
 * Everything is checked before anything is applied: a call that throws changes nothing. Unknown
 * keys and mistyped values are KestConfigurationErrors naming their path (and, for a key, the
 * nearest valid one); a KEST_CONFIG file is read and checked here, at start-up; the deployment's
 * policy names are checked against the engines that will answer them, when those can tell.
 */
export function configure(options: KestConfigureOptions): void {
  const next = plan(options);
  state = next;
  sanitizerPolicy = undefined;
  rootRules = undefined;
}

/** The state configure() would set, fully checked; throws without touching the current one. */
function plan(options: KestConfigureOptions): State {
  assertSchema('configure', options, 'configure()');
  assertDeploymentEnginesKept(options);
  const deployment = nextDeployment(options);
  if (options.roots !== undefined) parseRoots(options.roots, 'configure()');
  if (options.sanitizers !== undefined) new SanitizerPolicy(options.sanitizers);
  const { deployment: _d, tierEngines, ...rest } = options;
  const next: State = {
    ...state,
    ...definedOnly(rest),
    tierEngines: { ...state.tierEngines, ...definedOnly(tierEngines ?? {}) },
  };
  if (deployment !== undefined) next.deployment = deployment;
  if (next.deployment)
    assertDeploymentPolicies(next.deployment, (tier) => next.tierEngines[tier] ?? next.engine);
  return next;
}

function definedOnly<T extends object>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The deployment after this call: given once in code, or the KEST_CONFIG file, read now. */
function nextDeployment(options: KestConfigureOptions): DeploymentConfig | undefined {
  if (options.deployment === undefined) {
    // Loud at start-up: the first configure() reads and checks the file, not the first call.
    return state.deployment === undefined && process.env.KEST_CONFIG ? loadDeploymentFromEnv() : undefined;
  }
  if (process.env.KEST_CONFIG) {
    throw new KestConfigurationError(
      `deployment policies come from KEST_CONFIG (${process.env.KEST_CONFIG}); code cannot replace them`,
    );
  }
  if (state.deployment !== undefined) {
    throw new KestConfigurationError(
      'deployment policies are already set; they cannot be replaced at run time',
    );
  }
  return withEnvPlatformPolicies(
    typeof options.deployment === 'string'
      ? loadDeploymentFile(options.deployment)
      : parseDeploymentConfig(options.deployment, 'configure({ deployment })'),
  );
}

/**
 * Once the deployment's policies are in force, the engines that answer its tiers cannot be swapped
 * from code: an allow-all `tierEngines.enterprise` (or a new default engine answering a tier that
 * has no engine of its own) would silently void the enterprise policies. Setting the first engine
 * of a tier is not a swap (a KEST_CONFIG file is read by the first configure()).
 */
function assertDeploymentEnginesKept(options: KestConfigureOptions): void {
  const d = state.deployment;
  if (!d) return;
  for (const [tier, names] of deploymentTiers(d)) {
    if (names.length === 0) continue;
    const current = state.tierEngines[tier] ?? state.engine;
    const next = options.tierEngines?.[tier] ?? state.tierEngines[tier] ?? options.engine ?? state.engine;
    if (current !== undefined && next !== current) {
      throw new KestConfigurationError(
        `the ${tier} policies are in force; the engine that answers them cannot be replaced at run time`,
      );
    }
  }
}

/** Each deployment tier's names, checked against the engine that will answer it. */
function assertDeploymentPolicies(
  deployment: DeploymentConfig,
  engineOf: (tier: PolicyTier) => PolicyEngine | undefined,
): void {
  for (const [tier, names] of deploymentTiers(deployment)) {
    const engine = engineOf(tier);
    if (engine && names.length > 0) assertKnownPolicies(engine, tier, names, 'configure()', 'defer');
  }
}

let sanitizerPolicy: SanitizerPolicy | undefined;

/** Sanitizers declared by the deployment (file) and by configure(), as one policy. */
export function getSanitizerPolicy(): SanitizerPolicy {
  sanitizerPolicy ??= new SanitizerPolicy([...getDeployment().sanitizers, ...state.sanitizers]);
  return sanitizerPolicy;
}

let rootRules: { rules: readonly RootRule[] | undefined } | undefined;

/**
 * Root rules of the deployment (file) and configure() together, or undefined when neither sets
 * any. Memoized until either changes, so an identity check tells whether they changed.
 */
export function getRootRules(): readonly RootRule[] | undefined {
  if (!rootRules) {
    const d = getDeployment().roots;
    const c = state.roots;
    rootRules = { rules: d && c ? [...d, ...c] : (d ?? c) };
  }
  return rootRules.rules;
}

/** Forget all configuration. For tests: production code configures once at start-up. */
export function resetConfiguration(): void {
  state = initial();
  sanitizerPolicy = undefined;
  rootRules = undefined;
}

export function getConfiguration(): Readonly<State> {
  return state;
}

export function getDeployment(): DeploymentConfig {
  if (!state.deployment) {
    state.deployment = loadDeploymentFromEnv();
    sanitizerPolicy = undefined;
    rootRules = undefined;
  }
  return state.deployment;
}

/**
 * The deployment when it is already fixed: set by configure(), or named by KEST_CONFIG (read now).
 * Undefined while code may still pass it to configure().
 */
export function peekDeployment(): DeploymentConfig | undefined {
  return state.deployment !== undefined || process.env.KEST_CONFIG ? getDeployment() : undefined;
}

export function getActiveIdentity(): IdentityProvider | undefined {
  return state.identity;
}
export function getActiveEngine(): PolicyEngine | undefined {
  return state.engine;
}
export function getActiveCache(): CacheProvider | undefined {
  return state.cache;
}
export function getActiveTrust(): TrustSource | undefined {
  return state.trust;
}
