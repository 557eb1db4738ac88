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
  loadDeploymentFile,
  loadDeploymentFromEnv,
  parseDeploymentConfig,
  parseRoots,
} from './deployment.js';

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

/** Set process-wide defaults. Later calls override the fields they name; deployment is set once. */
export function configure(options: KestConfigureOptions): void {
  assertDeploymentEnginesKept(options);
  if (options.deployment !== undefined) {
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
    state.deployment =
      typeof options.deployment === 'string'
        ? loadDeploymentFile(options.deployment)
        : parseDeploymentConfig(options.deployment);
  }
  if (options.engineTimeoutMs !== undefined && !(options.engineTimeoutMs > 0)) {
    throw new KestConfigurationError('engineTimeoutMs must be > 0');
  }
  if (options.roots !== undefined) parseRoots(options.roots, 'configure({ roots })');
  sanitizerPolicy = undefined;
  rootRules = undefined;
  const { deployment: _d, tierEngines, ...rest } = options;
  for (const [k, v] of Object.entries(rest))
    if (v !== undefined) (state as unknown as Record<string, unknown>)[k] = v;
  if (tierEngines) state.tierEngines = { ...state.tierEngines, ...tierEngines };
}

/**
 * Once the deployment's policies are in force, the engines that answer its tiers cannot be swapped
 * from code: an allow-all `tierEngines.enterprise` (or a new default engine answering a tier that
 * has no engine of its own) would silently void the enterprise policies.
 */
function assertDeploymentEnginesKept(options: KestConfigureOptions): void {
  const d = state.deployment;
  if (!d) return;
  const tiers: [PolicyTier, readonly string[]][] = [
    ['enterprise', d.enterprisePolicies],
    ['platform', d.platformPolicies],
    ['application', d.applicationPolicies],
  ];
  for (const [tier, names] of tiers) {
    if (names.length === 0) continue;
    const replacesTier = options.tierEngines?.[tier] !== undefined;
    const replacesDefault = options.engine !== undefined && state.tierEngines[tier] === undefined;
    if (replacesTier || replacesDefault) {
      throw new KestConfigurationError(
        `the ${tier} policies are in force; the engine that answers them cannot be replaced at run time`,
      );
    }
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
