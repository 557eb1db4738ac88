/**
 * Deployment-level policy configuration (docs/spec.md §3): enterprise, platform and application
 * policies and deviations. It comes from a file (KEST_CONFIG, JSON or YAML) or is passed once at
 * start-up; application code cannot remove an enterprise policy or declare a deviation.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { KestConfigurationError } from '../errors.js';
import { type RootRule, rootCaps } from '../passport/report.js';
import type { Deviation, PolicyTier } from '../policy/types.js';
import type { SanitizerRule } from '../trust/sanitizers.js';
import { assertSchema } from './schema.js';

export interface DeviationRule extends Deviation {
  tier: Exclude<PolicyTier, 'function'>;
  /** Operations the deviation applies to; ["*"] for all. */
  operations: string[];
}

export interface DeploymentConfig {
  enterprisePolicies: readonly string[];
  platformPolicies: readonly string[];
  applicationPolicies: readonly string[];
  deviations: readonly DeviationRule[];
  /** Use raw kest.user/agent/task baggage when nothing better is known. Default false. */
  trustUpstreamBaggage: boolean;
  sanitizers: readonly SanitizerRule[];
  /**
   * Who may start a lineage, up to which origin trust (file: `roots: [{principal,
   * max_source_trust}]`). Absent: none configured (an ingress then admits received roots only at
   * the trust of an unknown origin); `[]`: no one may.
   */
  roots?: readonly RootRule[];
}

export const EMPTY_DEPLOYMENT: DeploymentConfig = Object.freeze({
  enterprisePolicies: [],
  platformPolicies: [],
  applicationPolicies: [],
  deviations: [],
  trustUpstreamBaggage: false,
  sanitizers: [],
});

const unique = (value: unknown): string[] => [...new Set((value ?? []) as string[])];

/**
 * Validate the file form (snake_case or camelCase keys) against DEPLOYMENT_SCHEMA (schema.ts):
 * an unknown key or a mistyped value is a KestConfigurationError naming it, its path and `source`.
 */
export function parseDeploymentConfig(raw: unknown, source = 'deployment config'): DeploymentConfig {
  assertSchema('deployment', raw, source);
  const r = raw as Record<string, unknown>;
  const pick = (snake: string, camel: string) => r[snake] ?? r[camel];
  const byTier = {
    enterprise: unique(pick('enterprise_policies', 'enterprisePolicies')),
    platform: unique(pick('platform_policies', 'platformPolicies')),
    application: unique(pick('application_policies', 'applicationPolicies')),
  };
  const rawDevs = (r.deviations ?? []) as Record<string, unknown>[];
  const deviations: DeviationRule[] = rawDevs.map((d, i) => {
    const where = `${source}: deviations[${i}]`;
    const tier = d.tier as DeviationRule['tier'];
    if (!byTier[tier].includes(d.policy as string)) {
      throw new KestConfigurationError(`${where}: policy "${d.policy}" is not a ${tier} policy`, {
        reason: 'invalid_value',
        path: `deviations[${i}].policy`,
        source,
      });
    }
    const ops = (d.operations ?? (d.scope as { operations?: unknown } | undefined)?.operations) as
      | string[]
      | undefined;
    if (ops === undefined) {
      throw new KestConfigurationError(
        `${where}: "operations" (the scope) must list operation names or "*"`,
        {
          reason: 'invalid_value',
          path: `deviations[${i}].operations`,
          source,
        },
      );
    }
    return {
      policy: d.policy as string,
      tier,
      reason: d.reason as string,
      approver: d.approver as string,
      operations: [...ops],
    };
  });
  const rawSan = (r.sanitizers ?? []) as Record<string, unknown>[];
  const sanitizers = rawSan.map((s) => ({
    principal: s.principal as string,
    mayRemove: (s.may_remove ?? s.mayRemove) as SanitizerRule['mayRemove'],
    maxTrust: (s.max_trust ?? s.maxTrust) as number | undefined,
  }));
  const roots = parseRoots(r.roots, source);
  return Object.freeze({
    enterprisePolicies: byTier.enterprise,
    platformPolicies: byTier.platform,
    applicationPolicies: byTier.application,
    deviations,
    trustUpstreamBaggage: (pick('trust_upstream_baggage', 'trustUpstreamBaggage') as boolean) ?? false,
    sanitizers,
    ...(roots ? { roots } : {}),
  });
}

/**
 * `roots: [{ principal, max_source_trust }]` (or maxSourceTrust), validated like the verifier does.
 * Also the shape of a `--roots FILE` of the CLI.
 */
export function parseRoots(raw: unknown, source: string, prefix = 'roots'): readonly RootRule[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  assertSchema('roots', raw, source, prefix);
  const roots = (raw as Record<string, unknown>[]).map((o): RootRule => {
    const cap = o.max_source_trust ?? o.maxSourceTrust;
    return {
      principal: o.principal as string,
      ...(cap === undefined ? {} : { maxSourceTrust: cap as number }),
    };
  });
  try {
    rootCaps(roots);
  } catch (err) {
    throw new KestConfigurationError(`${source}: ${(err as Error).message}`, { cause: err });
  }
  return Object.freeze(roots);
}

/** Read a deployment file (.json, .yaml, .yml); errors name `label` and the path. */
export function loadDeploymentFile(path: string, label = 'deployment file'): DeploymentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KestConfigurationError(`cannot read ${label} ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new KestConfigurationError(`${label} ${path} is not valid: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseDeploymentConfig(raw, `${label} ${path}`);
}

/** KEST_CONFIG (file) plus KEST_PLATFORM_POLICIES (comma list, added to the platform tier). */
export function loadDeploymentFromEnv(env: NodeJS.ProcessEnv = process.env): DeploymentConfig {
  const base = env.KEST_CONFIG ? loadDeploymentFile(env.KEST_CONFIG, 'KEST_CONFIG file') : EMPTY_DEPLOYMENT;
  return withEnvPlatformPolicies(base, env);
}

/**
 * KEST_PLATFORM_POLICIES added to a deployment's platform tier, wherever the deployment came from
 * (the KEST_CONFIG file or configure({ deployment })): an operator's policy is never dropped silently.
 */
export function withEnvPlatformPolicies(
  base: DeploymentConfig,
  env: NodeJS.ProcessEnv = process.env,
): DeploymentConfig {
  const extra = (env.KEST_PLATFORM_POLICIES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (extra.length === 0) return base;
  return Object.freeze({ ...base, platformPolicies: [...new Set([...base.platformPolicies, ...extra])] });
}

/** The deployment's tiers and their policy names, in evaluation order. */
export function deploymentTiers(
  config: DeploymentConfig,
): [Exclude<PolicyTier, 'function'>, readonly string[]][] {
  return [
    ['enterprise', config.enterprisePolicies],
    ['platform', config.platformPolicies],
    ['application', config.applicationPolicies],
  ];
}

/** Deviations that apply to `operation`, by tier and policy. */
export function activeDeviations(config: DeploymentConfig, operation: string): DeviationRule[] {
  return config.deviations.filter((d) => d.operations.includes('*') || d.operations.includes(operation));
}
