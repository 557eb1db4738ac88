import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KestConfigurationError, KestPolicyEngineError } from '../../src/errors.js';
import {
  CedarLocalEngine,
  KEST_POLICY_LIBRARY_DIR,
  KEST_POLICY_SCHEMA_PATH,
} from '../../src/policy/cedar.js';
import { KestUnknownPolicyError } from '../../src/policy/errors.js';
import { makeContext } from './fixtures.js';

const library = CedarLocalEngine.library();
const tmp = mkdtempSync(join(tmpdir(), 'kest-cedar-'));
afterAll(() => {
  library.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('CedarLocalEngine with the shipped policy library', () => {
  it('loads every policy name of policies/*.cedar, validated against the schema', () => {
    expect([...library.policyNames].sort()).toEqual([
      'allowed-workloads',
      'min-trust',
      'no-pii-export',
      'user-required',
    ]);
    expect(library.policyIds).toContain('no-pii-export.forbid');
  });

  it('min-trust: refuses an internet-origin lineage (10) and allows from 50 up', async () => {
    const low = await library.evaluate('e1', ['min-trust'], makeContext({ trust: 10 }));
    expect(low).toEqual({
      allow: false,
      policy: 'min-trust',
      reason: 'no permit policy matched (Cedar denies by default)',
    });
    expect((await library.evaluate('e1', ['min-trust'], makeContext({ trust: 49 }))).allow).toBe(false);
    expect(await library.evaluate('e1', ['min-trust'], makeContext({ trust: 50 }))).toEqual({ allow: true });
  });

  it('no-pii-export: a pii taint blocks the export, the forbid naming itself', async () => {
    const tainted = await library.evaluate('e2', ['no-pii-export'], makeContext({ taints: ['pii', 'web'] }));
    expect(tainted).toEqual({
      allow: false,
      policy: 'no-pii-export',
      reason: 'forbidden by no-pii-export.forbid',
    });
    const clean = await library.evaluate('e2', ['no-pii-export'], makeContext({ taints: ['web'] }));
    expect(clean.allow).toBe(true);
  });

  it('user-required: an anonymous call is denied, an authenticated one allowed', async () => {
    expect((await library.evaluate('e3', ['user-required'], makeContext({ user: null }))).allow).toBe(false);
    expect((await library.evaluate('e3', ['user-required'], makeContext({ user: '' }))).allow).toBe(false);
    expect((await library.evaluate('e3', ['user-required'], makeContext({ user: 'alice' }))).allow).toBe(
      true,
    );
  });

  it('allowed-workloads: only listed workloads may run the operation', async () => {
    const listed = makeContext({ workload: 'spiffe://kest.demo/gateway' });
    const other = makeContext({ workload: 'spiffe://kest.demo/intruder' });
    expect((await library.evaluate('e4', ['allowed-workloads'], listed)).allow).toBe(true);
    expect((await library.evaluate('e4', ['allowed-workloads'], other)).allow).toBe(false);
  });

  it('TC-08: several policies are ANDed, the first denial is reported', async () => {
    const names = ['min-trust', 'no-pii-export', 'user-required'];
    expect((await library.evaluate('e5', names, makeContext({ trust: 90 }))).allow).toBe(true);
    const decision = await library.evaluate(
      'e5',
      names,
      makeContext({ trust: 90, taints: ['pii'], user: null }),
    );
    expect(decision.policy).toBe('no-pii-export');
  });

  it('an unknown policy name is an error, never "evaluate everything loaded"', async () => {
    await expect(library.evaluate('e6', ['min-trsut'], makeContext())).rejects.toBeInstanceOf(
      KestUnknownPolicyError,
    );
    await expect(library.evaluate('e6', ['min-trust', 'nope'], makeContext())).rejects.toMatchObject({
      code: 'ERR_POLICY_ENGINE',
      policy: 'nope',
    });
    expect(() => library.assertPolicies(['min-trust', 'min-trsut'])).toThrow(KestConfigurationError);
    expect(() => library.assertPolicies(['min-trust', 'user-required'])).not.toThrow();
  });

  it('an empty policy list is refused rather than allowed vacuously', async () => {
    await expect(library.evaluate('e7', [], makeContext())).rejects.toBeInstanceOf(KestPolicyEngineError);
  });
});

describe('CedarLocalEngine semantics', () => {
  it('a forbid beats a permit, even an unscoped permit-all', async () => {
    const engine = new CedarLocalEngine({
      policies: `
        permit (principal, action, resource);
        permit (principal, action == Kest::Action::"export", resource);
        @id("no-internet") forbid (principal, action == Kest::Action::"export", resource)
          when { context.subject.taints.contains("internet") };`,
    });
    expect((await engine.evaluate('e', ['export'], makeContext())).allow).toBe(true);
    const denied = await engine.evaluate('e', ['export'], makeContext({ taints: ['internet'] }));
    expect(denied).toEqual({ allow: false, policy: 'export', reason: 'forbidden by no-internet' });
    // The permit-all applies to known names only: a typo is still an error.
    await expect(engine.evaluate('e', ['exprot'], makeContext())).rejects.toBeInstanceOf(
      KestUnknownPolicyError,
    );
    engine.close();
  });

  it('the dotted keys of docs/spec.md §6 are in the context alongside the structured record', async () => {
    const policies = `permit (principal, action == Kest::Action::"flat", resource)
      when { context["subject.trust_score"] >= 50 && context["subject.taints"].contains("ok")
             && context["environment.policy_tier"] == "function" && context["object.id"] == "report-42" };`;
    const engine = new CedarLocalEngine({ policies });
    expect((await engine.evaluate('e', ['flat'], makeContext({ trust: 60, taints: ['ok'] }))).allow).toBe(
      true,
    );
    expect((await engine.evaluate('e', ['flat'], makeContext({ trust: 40, taints: ['ok'] }))).allow).toBe(
      false,
    );
    engine.close();
    // With the structured shape only, the flat keys are absent: the policy errors, which denies.
    const structured = new CedarLocalEngine({ policies, contextShape: 'structured' });
    const decision = await structured.evaluate('e', ['flat'], makeContext({ trust: 60, taints: ['ok'] }));
    expect(decision.allow).toBe(false);
    expect(decision.reason).toMatch(/policy evaluation error/);
    structured.close();
  });

  it('a forbid whose condition errors denies by default (Cedar alone would skip it)', async () => {
    const policies = `
      permit (principal, action == Kest::Action::"limit", resource);
      forbid (principal, action == Kest::Action::"limit", resource)
        when { context.object.attributes.amount > 1000 };`;
    const strict = new CedarLocalEngine({ policies });
    const lax = new CedarLocalEngine({ policies, denyOnPolicyError: false });
    const missing = makeContext({ attributes: {} });
    expect((await strict.evaluate('e', ['limit'], missing)).allow).toBe(false);
    expect((await lax.evaluate('e', ['limit'], missing)).allow).toBe(true);
    expect((await strict.evaluate('e', ['limit'], makeContext({ attributes: { amount: 5 } }))).allow).toBe(
      true,
    );
    expect((await strict.evaluate('e', ['limit'], makeContext({ attributes: { amount: 5000 } }))).allow).toBe(
      false,
    );
    strict.close();
    lax.close();
  });

  it('null attributes are left out (test them with has); floats are refused, not dropped', async () => {
    const engine = new CedarLocalEngine({
      policies: `permit (principal, action == Kest::Action::"agent", resource) when { context.subject has agent };`,
    });
    expect((await engine.evaluate('e', ['agent'], makeContext())).allow).toBe(false);
    const withAgent = makeContext();
    withAgent.subject.agent = 'copilot';
    expect((await engine.evaluate('e', ['agent'], withAgent)).allow).toBe(true);
    engine.close();
    const scored = new CedarLocalEngine({
      policies: `permit (principal, action == Kest::Action::"s", resource) when { context.object.attributes.score > 1 };`,
    });
    await expect(
      scored.evaluate('e', ['s'], makeContext({ attributes: { score: 73.5 } })),
    ).rejects.toMatchObject({
      code: 'ERR_POLICY_ENGINE',
      reason: 'engine_error',
    });
    expect((await scored.evaluate('e', ['s'], makeContext({ attributes: { score: 73 } }))).allow).toBe(true);
    scored.close();
  });

  it('deviations are a set of records; resource and principal follow the documented mapping', async () => {
    const engine = new CedarLocalEngine({
      policies: `
        permit (principal == Kest::Workload::"svc-a", action == Kest::Action::"dev", resource == Kest::Resource::"default")
        when { context.environment.active_deviations.contains(
          { policy: "min-trust", tier: "platform", reason: "migration", approver: "bob" }) };`,
    });
    const deviation = { policy: 'min-trust', tier: 'platform', reason: 'migration', approver: 'bob' };
    const ctx = makeContext({ workload: 'svc-a', resourceId: '', deviations: [deviation] });
    expect((await engine.evaluate('e', ['dev'], ctx)).allow).toBe(true);
    expect(
      (await engine.evaluate('e', ['dev'], makeContext({ workload: 'svc-a', resourceId: '' }))).allow,
    ).toBe(false);
    const otherResource = makeContext({ workload: 'svc-a', resourceId: 'r', deviations: [deviation] });
    expect((await engine.evaluate('e', ['dev'], otherResource)).allow).toBe(false);
    engine.close();
  });

  it('static entities let policies use workload groups', async () => {
    const engine = new CedarLocalEngine({
      policies: `permit (principal in Kest::WorkloadGroup::"exporters", action == Kest::Action::"grp", resource);`,
      entities: [
        {
          uid: { type: 'Kest::Workload', id: 'svc-b' },
          attrs: {},
          parents: [{ type: 'Kest::WorkloadGroup', id: 'exporters' }],
        },
      ],
    });
    expect((await engine.evaluate('e', ['grp'], makeContext({ workload: 'svc-b' }))).allow).toBe(true);
    expect((await engine.evaluate('e', ['grp'], makeContext({ workload: 'svc-c' }))).allow).toBe(false);
    engine.close();
  });

  it('the optional decision cache is keyed on the whole context', async () => {
    const engine = new CedarLocalEngine({
      policies: `permit (principal, action == Kest::Action::"t", resource) when { context.subject.trust_score >= 50 };`,
      decisionCache: { maxEntries: 2 },
    });
    expect((await engine.evaluate('e', ['t'], makeContext({ trust: 60 }))).allow).toBe(true);
    expect((await engine.evaluate('e', ['t'], makeContext({ trust: 60 }))).allow).toBe(true);
    // Same principal, resource and policy; only the trust differs: must not reuse the allow.
    expect((await engine.evaluate('e', ['t'], makeContext({ trust: 10 }))).allow).toBe(false);
    expect((await engine.evaluate('e', ['t'], makeContext({ trust: 60, taints: ['x'] }))).allow).toBe(true);
    expect((await engine.evaluate('e', ['t'], makeContext({ trust: 10 }))).allow).toBe(false);
    engine.close();
  });

  it('an aborted signal or a closed engine is an error, not a decision', async () => {
    const engine = new CedarLocalEngine({
      policies: `permit (principal, action == Kest::Action::"a", resource);`,
    });
    const controller = new AbortController();
    controller.abort();
    await expect(
      engine.evaluate('e', ['a'], makeContext(), { signal: controller.signal }),
    ).rejects.toMatchObject({
      reason: 'timeout',
    });
    engine.close();
    await expect(engine.evaluate('e', ['a'], makeContext())).rejects.toBeInstanceOf(KestPolicyEngineError);
  });
});

describe('CedarLocalEngine start-up errors are configuration errors', () => {
  it('a syntax error names the file and the line', async () => {
    const dir = join(tmp, 'syntax');
    writeFileSync(join(tmp, 'ok.cedar'), 'permit (principal, action == Kest::Action::"ok", resource);\n');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.cedar'), 'permit (principal, action == Kest::Action::"a", resource);\n');
    writeFileSync(
      join(dir, 'broken.cedar'),
      '// broken\npermit (principal, action == Kest::Action::"b", resource)\n  when { context.x >= };\n',
    );
    const error = await CedarLocalEngine.fromPath(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KestConfigurationError);
    expect((error as Error).message).toMatch(/broken\.cedar: .*line 3/);
    expect(() => CedarLocalEngine.fromPathSync(dir)).toThrow(KestConfigurationError);
    const fine = await CedarLocalEngine.fromPath(join(tmp, 'ok.cedar'));
    expect([...fine.policyNames]).toEqual(['ok']);
    fine.close();
  });

  it('a policy that does not match the schema fails at start-up', () => {
    const file = join(tmp, 'typo.cedar');
    writeFileSync(
      file,
      'permit (principal, action == Kest::Action::"min-trust", resource) when { context.subject.trust_scor >= 50 };',
    );
    expect(() => CedarLocalEngine.fromPathSync(file, { schemaPath: KEST_POLICY_SCHEMA_PATH })).toThrow(
      /do not match the schema/,
    );
    // The same policy without a schema parses: the schema is what catches the typo.
    expect(() => CedarLocalEngine.fromPathSync(file).close()).not.toThrow();
  });

  it('scopes on types Kest never sends are refused (a forbid there would never fire)', () => {
    expect(
      () => new CedarLocalEngine({ policies: 'forbid (principal, action == Action::"export", resource);' }),
    ).toThrow(/action type Action/);
    expect(
      () =>
        new CedarLocalEngine({
          policies: 'forbid (principal == User::"x", action == Kest::Action::"export", resource);',
        }),
    ).toThrow(/principal type User/);
  });

  it('no policies, missing files, duplicate ids and templates are refused', () => {
    expect(() => new CedarLocalEngine({ policies: '// nothing\n' })).toThrow(KestConfigurationError);
    expect(() => CedarLocalEngine.fromPathSync(join(tmp, 'missing.cedar'))).toThrow(KestConfigurationError);
    const dup = '@id("x") permit (principal, action == Kest::Action::"a", resource);';
    expect(() => new CedarLocalEngine({ policies: `${dup}\n${dup}` })).toThrow(/duplicate policy id x/);
    expect(
      () =>
        new CedarLocalEngine({
          policies: 'permit (principal == ?principal, action == Kest::Action::"a", resource);',
        }),
    ).toThrow(/templates/);
  });

  it('the library directory is what the package ships', () => {
    expect(KEST_POLICY_LIBRARY_DIR.endsWith('/policies/')).toBe(true);
  });
});

describe('context pruning (only the keys the policies read go to Cedar)', () => {
  it('decides exactly as with the whole context', async () => {
    const fc = await import('fast-check');
    const extra = `
      permit (principal, action == Kest::Action::"mix", resource)
        when { context["subject.trust_score"] >= 30 && context.environment.is_root == false };
      forbid (principal, action, resource)
        when { context has "subject.user" && context["subject.user"] == "mallory" };
      forbid (principal, action == Kest::Action::"mix", resource)
        when { context != {} && context.object.attributes has level && context.object.attributes.level > 3 };`;
    const sources = [
      ...['min-trust', 'no-pii-export', 'user-required', 'allowed-workloads'].map((name) => ({
        name,
        text: readFileSync(join(KEST_POLICY_LIBRARY_DIR, `${name}.cedar`), 'utf8'),
      })),
      { name: 'extra', text: extra },
    ];
    const pruned = new CedarLocalEngine({ policies: sources });
    const whole = new CedarLocalEngine({ policies: sources, pruneContext: false });
    const names = ['min-trust', 'no-pii-export', 'user-required', 'allowed-workloads', 'mix'];
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          trust: fc.integer({ min: 0, max: 100 }),
          taints: fc.subarray(['pii', 'web', 'llm']),
          user: fc.constantFrom(null, '', 'alice', 'mallory'),
          level: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
          name: fc.constantFrom(...names),
        }),
        async ({ trust, taints, user, level, name }) => {
          const ctx = makeContext({ trust, taints, user, attributes: level === undefined ? {} : { level } });
          expect(await pruned.evaluate('e', [name], ctx)).toEqual(await whole.evaluate('e', [name], ctx));
        },
      ),
      { numRuns: 300 },
    );
    // The unscoped forbid applies to every name: mallory is refused everywhere.
    expect((await pruned.evaluate('e', ['min-trust'], makeContext({ user: 'mallory' }))).allow).toBe(false);
    pruned.close();
    whole.close();
  });
});
