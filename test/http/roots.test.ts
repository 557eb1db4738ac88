/**
 * Issue 11 item 8: origins are not self-asserted. An ingress checks who may start a lineage: with
 * no roots configured a received root may claim at most unknown-origin trust (10), and the adapter
 * warns once at start; configured roots (adapter, configure(), deployment file) list principals and
 * their origin-trust caps. `kest verify` / `kest audit` take --roots and otherwise mark root origins
 * self-asserted.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KestHttpCore } from '../../src/http/core.js';
import {
  configure,
  type KestLogger,
  parseDeploymentConfig,
  resetConfiguration,
  silentLogger,
  UNGUARDED_ROOTS,
} from '../../src/index.js';
import { spansOfPassport, writeLines } from '../audit/run.js';
import { kest } from '../cli/kest.js';
import { buildPassport, workloads } from '../support/chain.js';
import { isolateDeploymentEnv } from '../support/config-env.js';
import { baggageFor } from './helpers.js';

const { ids, trust } = workloads(3, 'spiffe://roots.kest/svc');
const dir = mkdtempSync(join(tmpdir(), 'kest-roots-'));
const id = (i: number) => ids[i]!.getWorkloadId();

/** A lineage rooted by ids[i] claiming `sourceType`, extended by ids[2]. */
async function rooted(i: number, sourceType?: string): Promise<{ baggage: string }> {
  const passport = await buildPassport([
    { identity: ids[i]!, ...(sourceType ? { sourceType } : {}) },
    { identity: ids[2]! },
  ]);
  return { baggage: await baggageFor(passport) };
}

function capture(): { logger: KestLogger; warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, logger: { ...silentLogger, warn: (_r, m) => void warnings.push(m) } };
}

isolateDeploymentEnv();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ingress without roots: received roots only at unknown-origin trust', () => {
  it('refuses a `system` root from an anchored principal with unauthorized_root', async () => {
    const core = new KestHttpCore({ trust });
    const err = await core.admit(await rooted(1, 'system')).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'unauthorized_root', index: 0 });
    expect((err as Error).message).toMatch(/trust ≤ 10 \(an unknown origin\), not 100/);
    expect(core.refuse(err, 'ingress', { headers: {} })?.status).toBe(401);
  });

  it('admits a root of unknown origin (10) and one below it (internet, llm)', async () => {
    const core = new KestHttpCore({ trust });
    for (const origin of [undefined, 'internet', 'llm']) {
      const admission = await core.admit(await rooted(1, origin));
      expect(admission.report?.entries[0]?.origin).toBe('checked');
      expect(admission.report?.trustScore).toBeLessThanOrEqual(10);
    }
  });

  it('warns once, at start, that origins are unguarded; not when roots are configured', () => {
    const bare = capture();
    const core = new KestHttpCore({ trust, logger: bare.logger });
    expect(bare.warnings).toHaveLength(1);
    expect(bare.warnings[0]).toMatch(/origins are unguarded/);
    core.verifier();
    core.verifier();
    expect(bare.warnings).toHaveLength(1);
    const guarded = capture();
    new KestHttpCore({ trust, roots: [{ principal: id(0) }], logger: guarded.logger });
    new KestHttpCore({ trust, roots: UNGUARDED_ROOTS, logger: guarded.logger });
    configure({ roots: [{ principal: id(0) }] });
    new KestHttpCore({ trust, logger: guarded.logger });
    expect(guarded.warnings).toEqual([]);
  });
});

describe('ingress with roots', () => {
  const roots = [{ principal: id(0), maxSourceTrust: 90 }];

  it('an unlisted principal is refused, a listed one above its cap is refused, within it admitted', async () => {
    const core = new KestHttpCore({ trust, roots });
    await expect(core.admit(await rooted(1, 'internet'))).rejects.toMatchObject({
      reason: 'unauthorized_root',
      message: expect.stringMatching(/may not start a lineage/),
    });
    await expect(core.admit(await rooted(0, 'system'))).rejects.toMatchObject({
      reason: 'unauthorized_root',
      message: expect.stringMatching(/trust ≤ 90, not 100/),
    });
    const ok = await core.admit(await rooted(0, 'verified_rag'));
    expect(ok.report?.entries.map((e) => e.origin)).toEqual(['checked', undefined]);
  });

  it('from configure({ roots }), picked up without a restart', async () => {
    const core = new KestHttpCore({ trust });
    await expect(core.admit(await rooted(0, 'system'))).rejects.toMatchObject({
      reason: 'unauthorized_root',
    });
    configure({ roots: [{ principal: id(0) }] });
    expect((await core.admit(await rooted(0, 'system'))).report?.trustScore).toBe(100);
    expect(() => configure({ roots: [{ principal: id(0), maxSourceTrust: 101 }] })).toThrow(/0\.\.100/);
  });

  it('from the deployment file (KEST_CONFIG), next to the adapter own roots', async () => {
    const file = join(dir, 'deployment.yaml');
    writeFileSync(file, `roots:\n  - principal: ${id(0)}\n    max_source_trust: 100\n`);
    process.env.KEST_CONFIG = file;
    resetConfiguration();
    configure({ logger: silentLogger });
    const core = new KestHttpCore({ trust, roots: [{ principal: id(1), maxSourceTrust: 40 }] });
    expect((await core.admit(await rooted(0, 'system'))).report?.trustScore).toBe(100);
    expect((await core.admit(await rooted(1, 'user_input'))).report?.trustScore).toBe(40);
    await expect(core.admit(await rooted(1, 'system'))).rejects.toMatchObject({
      reason: 'unauthorized_root',
    });
  });

  it('the deployment file schema: roots absent, empty, or invalid', () => {
    expect(parseDeploymentConfig({}).roots).toBeUndefined();
    expect(parseDeploymentConfig({ roots: [] }).roots).toEqual([]);
    expect(parseDeploymentConfig({ roots: [{ principal: 'a', maxSourceTrust: 5 }] }).roots).toEqual([
      { principal: 'a', maxSourceTrust: 5 },
    ]);
    expect(() => parseDeploymentConfig({ roots: {} })).toThrow(/roots: expected a list/);
    expect(() => parseDeploymentConfig({ roots: [{ max_source_trust: 5 }] })).toThrow(/principal/);
    expect(() => parseDeploymentConfig({ roots: [{ principal: 'a', max_source_trust: -1 }] })).toThrow(
      /0\.\.100/,
    );
  });
});

describe('kest verify / kest audit --roots', () => {
  const files = { jwks: join(dir, 'jwks.json'), roots: join(dir, 'roots.yaml'), passport: '', spans: '' };

  beforeAll(async () => {
    const passport = await buildPassport([
      { identity: ids[0]!, sourceType: 'system' },
      { identity: ids[1]! },
    ]);
    files.passport = join(dir, 'passport.json');
    files.spans = join(dir, 'spans.jsonl');
    writeFileSync(files.passport, passport.serialize());
    writeLines(files.spans, spansOfPassport(passport.toJSON()));
    writeFileSync(files.jwks, JSON.stringify({ keys: ids.flatMap((i) => i.getPublicJwks().keys) }));
    writeFileSync(files.roots, `roots:\n  - principal: ${id(0)}\n`);
  });

  it('verify without --roots: valid, every root origin marked self-asserted (text and JSON)', async () => {
    const t = await kest(['verify', files.passport, '--jwks', files.jwks]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain(`origin of entry 0 (root by ${id(0)}): system, trust 100, self-asserted`);
    expect(t.stdout).toMatch(/note: origins self-asserted: no --roots given/);
    const j = JSON.parse((await kest(['verify', files.passport, '--jwks', files.jwks, '--json'])).stdout);
    expect(j.origins).toBe('self-asserted');
    expect(j.entries.map((e: { origin?: string }) => e.origin)).toEqual(['self-asserted', undefined]);
  });

  it('verify --roots: checked when listed, exit 1 unauthorized_root when not', async () => {
    const t = await kest(['verify', files.passport, '--jwks', files.jwks, '--roots', files.roots]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain('system, trust 100, checked');
    expect(t.stdout).not.toContain('self-asserted');
    const j = JSON.parse(
      (await kest(['verify', files.passport, '--jwks', files.jwks, '--roots', files.roots, '--json'])).stdout,
    );
    expect(j).toMatchObject({ origins: 'checked', entries: [{ origin: 'checked' }, {}] });
    const other = join(dir, 'other-roots.json');
    writeFileSync(other, JSON.stringify({ roots: [{ principal: id(1), max_source_trust: 100 }] }));
    const bad = await kest(['verify', files.passport, '--jwks', files.jwks, '--roots', other]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^INVALID: ERR_VERIFICATION_FAILED unauthorized_root at entry 0/);
    const none = join(dir, 'no-roots.json');
    writeFileSync(none, '{}');
    expect((await kest(['verify', files.passport, '--jwks', files.jwks, '--roots', none])).code).toBe(2);
  });

  it('audit without --roots marks origins self-asserted; with them, checked or failed', async () => {
    const t = await kest(['audit', files.spans, '--jwks', files.jwks]);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/ 0 verified +\S+ by \S+ trust=100 \[origin self-asserted\]/);
    expect(t.stdout).toMatch(/note: origins self-asserted/);
    const j = JSON.parse((await kest(['audit', files.spans, '--jwks', files.jwks, '--json'])).stdout);
    expect(j.origins).toBe('self-asserted');
    expect(j.traces[0].entries.map((e: { origin?: string }) => e.origin)).toEqual([
      'self-asserted',
      undefined,
    ]);

    const c = await kest(['audit', files.spans, '--jwks', files.jwks, '--roots', files.roots, '--json']);
    expect(c.code).toBe(0);
    const checked = JSON.parse(c.stdout);
    expect(checked.origins).toBe('checked');
    expect(checked.traces[0].entries[0].origin).toBe('checked');
    const other = join(dir, 'other-roots.json');
    const bad = await kest(['audit', files.spans, '--jwks', files.jwks, '--roots', other]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/first failure: entry 0 .*unauthorized_root/);
  });
});
