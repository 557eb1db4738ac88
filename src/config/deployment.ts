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

function names(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.length > 0)) {
    throw new KestConfigurationError(`deployment config: ${field} must be a list of policy names`);
  }
  return [...new Set(value as string[])];
}

/** Validate the file form (snake_case or camelCase keys). */
export function parseDeploymentConfig(raw: unknown, source = 'deployment config'): DeploymentConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new KestConfigurationError(`${source}: expected an object`);
  }
  const r = raw as Record<string, unknown>;
  const pick = (snake: string, camel: string) => r[snake] ?? r[camel];
  const enterprisePolicies = names(pick('enterprise_policies', 'enterprisePolicies'), 'enterprise_policies');
  const platformPolicies = names(pick('platform_policies', 'platformPolicies'), 'platform_policies');
  const applicationPolicies = names(
    pick('application_policies', 'applicationPolicies'),
    'application_policies',
  );
  const byTier = {
    enterprise: enterprisePolicies,
    platform: platformPolicies,
    application: applicationPolicies,
  };

  const rawDevs = r.deviations ?? [];
  if (!Array.isArray(rawDevs)) throw new KestConfigurationError(`${source}: deviations must be a list`);
  const deviations: DeviationRule[] = rawDevs.map((d: Record<string, unknown>, i) => {
    const where = `${source}: deviations[${i}]`;
    for (const k of ['policy', 'tier', 'reason', 'approver']) {
      if (typeof d?.[k] !== 'string' || (d[k] as string).length === 0) {
        throw new KestConfigurationError(`${where}: "${k}" is required`);
      }
    }
    const tier = d.tier as string;
    if (!(tier in byTier)) {
      throw new KestConfigurationError(`${where}: tier must be enterprise, platform or application`);
    }
    if (!byTier[tier as keyof typeof byTier].includes(d.policy as string)) {
      throw new KestConfigurationError(`${where}: policy "${d.policy}" is not a ${tier} policy`);
    }
    const ops = d.operations ?? (d.scope as { operations?: unknown } | undefined)?.operations;
    if (!Array.isArray(ops) || ops.length === 0 || !ops.every((o) => typeof o === 'string' && o.length > 0)) {
      throw new KestConfigurationError(`${where}: "operations" (the scope) must list operation names or "*"`);
    }
    return {
      policy: d.policy as string,
      tier: tier as DeviationRule['tier'],
      reason: d.reason as string,
      approver: d.approver as string,
      operations: ops as string[],
    };
  });

  const trust = pick('trust_upstream_baggage', 'trustUpstreamBaggage');
  if (trust !== undefined && typeof trust !== 'boolean') {
    throw new KestConfigurationError(`${source}: trust_upstream_baggage must be a boolean`);
  }
  const rawSan = r.sanitizers ?? [];
  if (!Array.isArray(rawSan)) throw new KestConfigurationError(`${source}: sanitizers must be a list`);
  const sanitizers = rawSan.map((s: Record<string, unknown>) => ({
    principal: s.principal as string,
    mayRemove: (s.may_remove ?? s.mayRemove) as SanitizerRule['mayRemove'],
    maxTrust: (s.max_trust ?? s.maxTrust) as number | undefined,
  }));
  const roots = parseRoots(r.roots, source);
  return Object.freeze({
    enterprisePolicies,
    platformPolicies,
    applicationPolicies,
    deviations,
    trustUpstreamBaggage: trust ?? false,
    sanitizers,
    ...(roots ? { roots } : {}),
  });
}

/**
 * `roots: [{ principal, max_source_trust }]` (or maxSourceTrust), validated like the verifier does.
 * Also the shape of a `--roots FILE` of the CLI.
 */
export function parseRoots(raw: unknown, source: string): readonly RootRule[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw new KestConfigurationError(`${source}: roots must be a list`);
  const roots = raw.map((r: unknown, i): RootRule => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) {
      throw new KestConfigurationError(`${source}: roots[${i}] must be { principal, max_source_trust }`);
    }
    const o = r as Record<string, unknown>;
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

/** Read a deployment file (.json, .yaml, .yml). */
export function loadDeploymentFile(path: string): DeploymentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KestConfigurationError(`cannot read deployment config ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new KestConfigurationError(`deployment config ${path} is not valid: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseDeploymentConfig(raw, path);
}

/** KEST_CONFIG (file) plus KEST_PLATFORM_POLICIES (comma list, added to the platform tier). */
export function loadDeploymentFromEnv(env: NodeJS.ProcessEnv = process.env): DeploymentConfig {
  const base = env.KEST_CONFIG ? loadDeploymentFile(env.KEST_CONFIG) : EMPTY_DEPLOYMENT;
  const extra = (env.KEST_PLATFORM_POLICIES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (extra.length === 0) return base;
  return Object.freeze({ ...base, platformPolicies: [...new Set([...base.platformPolicies, ...extra])] });
}

/** Deviations that apply to `operation`, by tier and policy. */
export function activeDeviations(config: DeploymentConfig, operation: string): DeviationRule[] {
  return config.deviations.filter((d) => d.operations.includes('*') || d.operations.includes(operation));
}
