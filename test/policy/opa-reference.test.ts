/**
 * Issue 15 item 5: with requestShape 'reference', OPAPolicyEngine asks OPA exactly as the Python
 * reference runtime does — POST /v1/data/kest/<policy> with its flat input — so one Rego set
 * (here a loopback server evaluating the same rule on the reference's fields) serves both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPAPolicyEngine } from '../../src/policy/index.js';
import { type LoopbackServer, makeContext, sendJson, startServer } from './fixtures.js';

let opa: LoopbackServer;
const seen: { url: string; input: Record<string, unknown> }[] = [];

beforeAll(async () => {
  opa = await startServer((req, body, res) => {
    const input = (body as { input: Record<string, unknown> }).input;
    seen.push({ url: req.url ?? '', input });
    if (req.url !== '/v1/data/kest/min_trust') return sendJson(res, 200, {});
    // The rule, written once against the reference's input fields.
    return sendJson(res, 200, {
      result: { allow: (input.trust_score as number) >= 50 && input.origin !== 'internet' },
    });
  });
});
afterAll(() => opa.close());

describe('OPA reference request shape', () => {
  it('path kest/<policy> and the reference input fields', async () => {
    const engine = new OPAPolicyEngine({ url: opa.url, requestShape: 'reference' });
    expect(engine.urlFor('min_trust')).toBe(`${opa.url}/v1/data/kest/min_trust`);
    const ctx = makeContext({ trust: 80 });
    ctx.object.attributes.scope = 'orders:read';
    await expect(engine.evaluate('e1', ['min_trust'], ctx)).resolves.toEqual({ allow: true });
    const input = seen.at(-1)!.input;
    expect(Object.keys(input).sort()).toEqual(
      [
        'agent',
        'chain_tip',
        'is_root',
        'jwt',
        'object',
        'origin',
        'principal',
        'scope',
        'task',
        'trust_score',
        'user',
      ].sort(),
    );
    expect(input).toMatchObject({
      principal: ctx.subject.workload,
      jwt: null,
      is_root: ctx.environment.is_root,
      origin: ctx.environment.source_type,
      trust_score: 80,
      user: ctx.subject.user,
      scope: 'orders:read',
      object: { id: ctx.object.id },
    });
    expect(input.chain_tip).toBe(ctx.environment.is_root ? null : ctx.environment.parent_hash);
  });

  it('the same rule denies low trust; the default shape is unchanged', async () => {
    const engine = new OPAPolicyEngine({ url: opa.url, requestShape: 'reference' });
    const denied = await engine.evaluate('e2', ['min_trust'], makeContext({ trust: 10 }));
    expect(denied.allow).toBe(false);
    const kest = new OPAPolicyEngine({ url: opa.url });
    expect(kest.urlFor('kest.min_trust')).toBe(`${opa.url}/v1/data/kest/min_trust`);
    expect(() => new OPAPolicyEngine({ url: opa.url, requestShape: 'python' as 'kest' })).toThrow(
      /requestShape/,
    );
  });
});
