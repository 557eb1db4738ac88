/**
 * Loud configuration (issue 14): configure() checks everything before it applies anything, unknown
 * keys name the nearest valid key, wrong values name their path, and the KEST_CONFIG file is
 * checked against the schema when it is read, at start-up.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getConfiguration, getDeployment } from '../../src/config/config.js';
import {
  configure,
  KestConfigurationError,
  type KestConfigureOptions,
  resetConfiguration,
  silentLogger,
} from '../../src/index.js';
import { CedarLocalEngine } from '../../src/policy/cedar.js';
import { MockPolicyEngine } from '../../src/policy/mock.js';
import { MockIdentityProvider } from '../../src/testing/index.js';

const svcA = new MockIdentityProvider({ workloadId: 'spiffe://test.kest/a' });
const svcB = new MockIdentityProvider({ workloadId: 'spiffe://test.kest/b' });
const cedar = CedarLocalEngine.library();
const dir = mkdtempSync(join(tmpdir(), 'kest-config-'));
const previous = process.env.KEST_CONFIG;

beforeEach(() => {
  resetConfiguration();
  delete process.env.KEST_CONFIG;
  configure({ identity: svcA, engine: MockPolicyEngine.allowAll(), logger: silentLogger });
});
afterEach(() => {
  if (previous === undefined) delete process.env.KEST_CONFIG;
  else process.env.KEST_CONFIG = previous;
  resetConfiguration();
});
afterAll(() => cedar.close());

/** The error configure() throws, and whether it left the configuration exactly as it was. */
function refused(options: unknown): { error: KestConfigurationError; unchanged: boolean } {
  const before = { ...getConfiguration(), tierEngines: { ...getConfiguration().tierEngines } };
  let error: unknown;
  try {
    configure(options as KestConfigureOptions);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(KestConfigurationError);
  const after = getConfiguration();
  const unchanged =
    Object.keys(after).length === Object.keys(before).length &&
    Object.entries(before).every(([k, v]) =>
      k === 'tierEngines'
        ? JSON.stringify(Object.keys(v as object)) === JSON.stringify(Object.keys(after.tierEngines))
        : (after as unknown as Record<string, unknown>)[k] === v,
    );
  return { error: error as KestConfigurationError, unchanged };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('configure(): everything is checked, then applied', () => {
  it('a rejected call changes nothing, not even the parts before the bad option', () => {
    // deployment comes first in the options and used to be applied before engineTimeoutMs threw
    const bad = refused({
      deployment: { enterprise_policies: ['corp'] },
      identity: svcB,
      engineTimeoutMs: 0,
    });
    expect(bad.unchanged).toBe(true);
    expect(bad.error).toMatchObject({ reason: 'invalid_value', path: 'engineTimeoutMs' });
    expect(bad.error.message).toBe('configure(): engineTimeoutMs: expected a number > 0, got 0');
    // so the deployment can still be given once, and a later call is not "already set"
    configure({ deployment: { enterprise_policies: ['corp'] }, identity: svcB });
    expect(getDeployment().enterprisePolicies).toEqual(['corp']);
    expect(getConfiguration().identity).toBe(svcB);
  });

  it('an unknown key is an error naming it and the nearest valid key; it is never copied', () => {
    const { error, unchanged } = refused({ identity: svcB, engin: MockPolicyEngine.denyAll() });
    expect(unchanged).toBe(true);
    expect(error).toMatchObject({
      code: 'ERR_CONFIGURATION',
      reason: 'unknown_key',
      path: 'engin',
      suggestion: 'engine',
      source: 'configure()',
    });
    expect(error.message).toMatch(/^configure\(\): unknown key "engin"; did you mean "engine"\?/);
    expect('engin' in getConfiguration()).toBe(false);
  });

  it('unknown keys in nested objects too', () => {
    const tier = refused({ tierEngines: { enterprize: MockPolicyEngine.allowAll() } });
    expect(tier.error).toMatchObject({ path: 'tierEngines.enterprize', suggestion: 'enterprise' });
    // configure() takes the TypeScript spelling; the file's snake_case would be silently ignored
    const root = refused({ roots: [{ principal: 'a' }, { principal: 'b', max_source_trust: 50 }] });
    expect(root.error).toMatchObject({ path: 'roots[1].max_source_trust', suggestion: 'maxSourceTrust' });
    const sanitizer = refused({ sanitizers: [{ principal: 'x', maxTrsut: 80 }] });
    expect(sanitizer.error).toMatchObject({ path: 'sanitizers[0].maxTrsut', suggestion: 'maxTrust' });
    expect(sanitizer.error.message).toMatch(
      /unknown key "maxTrsut" in sanitizers\[0\]; did you mean "maxTrust"/,
    );
    const deployment = refused({ deployment: { enterprise_policy: ['corp'] } });
    expect(deployment.error.message).toMatch(
      /^configure\(\{ deployment \}\): unknown key "enterprise_policy"; did you mean "enterprise_policies"\?/,
    );
    for (const r of [tier, root, sanitizer, deployment]) expect(r.unchanged).toBe(true);
  });

  it('a wrong type names its path and what was expected', () => {
    const roots = [{ principal: 'a' }, { principal: 'b' }, { principal: 'c', maxSourceTrust: 150 }];
    const { error, unchanged } = refused({ roots });
    expect(unchanged).toBe(true);
    expect(error).toMatchObject({ reason: 'invalid_value', path: 'roots[2].maxSourceTrust' });
    expect(error.message).toBe('configure(): roots[2].maxSourceTrust: expected an integer 0..100, got 150');
    expect(refused({ engine: { decide() {} } }).error.message).toBe(
      'configure(): engine: expected an object with evaluate(), got an object',
    );
    expect(refused({ passportInSpans: 'yes' }).error.message).toMatch(
      /passportInSpans: expected true or false/,
    );
    expect(refused({ sanitizers: [{ principal: 'x', mayRemove: 'pii' }] }).error.message).toMatch(
      /sanitizers\[0\]\.mayRemove: expected "\*" or a list/,
    );
    expect(refused('identity').error.path).toBe('');
  });

  it('a value that names a control character is shown escaped', () => {
    const { error } = refused({ '\u001b[32mVERIFIED': 1 });
    expect(error.message).toContain('"\\u001b[32mVERIFIED"');
    expect(error.message).not.toContain('\u001b');
  });

  it("the deployment's policy names are checked against the engine that answers them", () => {
    resetConfiguration();
    configure({ identity: svcA, engine: cedar, logger: silentLogger });
    const { error, unchanged } = refused({
      deployment: { enterprise_policies: ['no-pii-export'], platform_policies: ['min-trsut'] },
    });
    expect(unchanged).toBe(true);
    expect(error).toMatchObject({
      reason: 'unknown_policy',
      tier: 'platform',
      policies: ['min-trsut'],
      suggestion: 'min-trust',
    });
    // an engine configured later is checked against the deployment already in force
    resetConfiguration();
    configure({ deployment: { enterprise_policies: ['no-pii-exprot'] } });
    expect(refused({ engine: cedar }).error).toMatchObject({
      reason: 'unknown_policy',
      tier: 'enterprise',
      suggestion: 'no-pii-export',
    });
    expect(getConfiguration().engine).toBeUndefined();
  });
});

describe('the KEST_CONFIG file: checked against the schema when it is read, at start-up', () => {
  it('an unknown key (an enterprise policy that would be silently off) names the key, the file and the nearest key', () => {
    process.env.KEST_CONFIG = file('typo.yaml', 'enterprise_policy:\n  - corp-baseline\n');
    resetConfiguration();
    const error = (() => {
      try {
        configure({ identity: svcA });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toMatchObject({
      code: 'ERR_CONFIGURATION',
      reason: 'unknown_key',
      path: 'enterprise_policy',
      suggestion: 'enterprise_policies',
    });
    expect((error as Error).message).toContain(`KEST_CONFIG file ${process.env.KEST_CONFIG}: unknown key`);
    expect((error as Error).message).toContain('did you mean "enterprise_policies"?');
    expect(getConfiguration().identity).toBeUndefined();
  });

  it('a wrong value names its path in the file', () => {
    process.env.KEST_CONFIG = file(
      'roots.yaml',
      'roots:\n  - principal: a\n  - principal: b\n  - principal: c\n    max_source_trust: 150\n',
    );
    resetConfiguration();
    expect(() => configure({ identity: svcA })).toThrow(
      `KEST_CONFIG file ${process.env.KEST_CONFIG}: roots[2].max_source_trust: expected an integer 0..100, got 150`,
    );
    process.env.KEST_CONFIG = file(
      'camel.json',
      JSON.stringify({ sanitizers: [{ principal: 'x', mayRemove: ['pii'] }], trustUpstreamBaggage: true }),
    );
    resetConfiguration();
    configure({ identity: svcA });
    expect(getDeployment()).toMatchObject({
      sanitizers: [{ principal: 'x', mayRemove: ['pii'] }],
      trustUpstreamBaggage: true,
    });
    process.env.KEST_CONFIG = file(
      'both.json',
      JSON.stringify({ roots: [{ principal: 'a', max_source_trust: 1, maxSourceTrust: 99 }] }),
    );
    resetConfiguration();
    expect(() => configure({ identity: svcA })).toThrow(
      /roots\[0\]\.maxSourceTrust and roots\[0\]\.max_source_trust are given; keep one/,
    );
    process.env.KEST_CONFIG = file(
      'deviation.yaml',
      'enterprise_policies: [a]\ndeviations:\n  - policy: a\n    tier: enterprise\n    reason: r\n    approver: x\n    operation: [f]\n',
    );
    resetConfiguration();
    expect(() => configure({ identity: svcA })).toThrow(
      /unknown key "operation" in deviations\[0\]; did you mean "operations"/,
    );
  });
});

describe('KEST_PLATFORM_POLICIES adds to the platform tier wherever the deployment comes from', () => {
  afterEach(() => {
    delete process.env.KEST_PLATFORM_POLICIES;
  });

  it('configure({ deployment }) (an object or a file path) and the KEST_CONFIG file', () => {
    process.env.KEST_PLATFORM_POLICIES = 'ops-extra, min-trust';
    configure({ deployment: { platform_policies: ['min-trust'] } });
    expect(getDeployment().platformPolicies).toEqual(['min-trust', 'ops-extra']);

    resetConfiguration();
    const file = join(dir, 'platform.yaml');
    writeFileSync(file, 'platform_policies: [baseline]\n');
    configure({ logger: silentLogger, deployment: file });
    expect(getDeployment().platformPolicies).toEqual(['baseline', 'ops-extra', 'min-trust']);

    resetConfiguration();
    process.env.KEST_CONFIG = file;
    configure({ logger: silentLogger });
    expect(getDeployment().platformPolicies).toEqual(['baseline', 'ops-extra', 'min-trust']);
  });
});
