import { readdirSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KestConfigurationError, KestPolicyEngineError } from '../../src/errors.js';
import { KEST_POLICY_LIBRARY_DIR } from '../../src/policy/cedar.js';
import { CedarAgentEngine, KestUnknownPolicyError } from '../../src/policy/index.js';
import { deadAddress, type LoopbackServer, makeContext, sendJson, startServer } from './fixtures.js';

/**
 * A loopback server implementing cedar-agent's contract: POST <base>/is_authorized with
 * {principal, action, resource, context}, entity uids in Cedar syntax (`Type::"id"`), answering
 * {"decision": "Allow"|"Deny", "diagnostics": {"reason": [...], "errors": [...]}}. It decides with
 * the real Cedar engine over the shipped policies. Other bases misbehave on purpose.
 */
const policies = readdirSync(KEST_POLICY_LIBRARY_DIR)
  .filter((f) => f.endsWith('.cedar'))
  .map((f) => readFileSync(join(KEST_POLICY_LIBRARY_DIR, f), 'utf8'))
  .join('\n');

function parseUid(text: unknown): cedar.TypeAndId {
  const match =
    typeof text === 'string'
      ? /^([A-Za-z_][\w]*(?:::[A-Za-z_][\w]*)*)::("(?:[^"\\]|\\.)*")$/.exec(text)
      : null;
  if (!match) throw new Error(`bad entity uid ${String(text)}`);
  return { type: match[1]!, id: JSON.parse(match[2]!) as string };
}

let agent: LoopbackServer;
const pending = new Set<NodeJS.Timeout>();

beforeAll(async () => {
  agent = await startServer((req, body, res) => {
    const url = req.url ?? '';
    if (req.method !== 'POST' || !url.endsWith('/is_authorized')) return sendJson(res, 404, {});
    switch (url) {
      case '/slow/is_authorized': {
        pending.add(setTimeout(() => sendJson(res, 200, { decision: 'Allow' }), 5_000));
        return;
      }
      case '/error/is_authorized':
        return sendJson(res, 500, { reason: 'boom' });
      case '/garbage/is_authorized':
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end('<html>');
      case '/nodecision/is_authorized':
        return sendJson(res, 200, { diagnostics: { reason: [], errors: [] } });
      case '/weird/is_authorized':
        return sendJson(res, 200, { decision: 'allow' });
      case '/close/is_authorized':
        return void (req.socket as Socket).destroy();
    }
    const call = body as { principal: unknown; action: unknown; resource: unknown; context: cedar.Context };
    let principal: cedar.TypeAndId;
    let action: cedar.TypeAndId;
    let resource: cedar.TypeAndId;
    try {
      principal = parseUid(call.principal);
      action = parseUid(call.action);
      resource = parseUid(call.resource);
    } catch (error) {
      return sendJson(res, 400, { reason: (error as Error).message });
    }
    const answer = cedar.isAuthorized({
      principal,
      action,
      resource,
      context: call.context ?? {},
      policies: { staticPolicies: policies },
      entities: [],
    });
    if (answer.type !== 'success') return sendJson(res, 400, { reason: answer.errors[0]?.message });
    const { decision, diagnostics } = answer.response;
    return sendJson(res, 200, {
      decision: decision === 'allow' ? 'Allow' : 'Deny',
      diagnostics: { reason: diagnostics.reason, errors: diagnostics.errors.map((e) => e.error.message) },
    });
  });
});

afterAll(async () => {
  for (const timer of pending) clearTimeout(timer);
  await agent.close();
});

function engine(base = '/v1', options: Partial<ConstructorParameters<typeof CedarAgentEngine>[0]> = {}) {
  return new CedarAgentEngine({ url: `${agent.url}${base}`, ...options });
}

async function failure(promise: Promise<unknown>): Promise<KestPolicyEngineError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KestPolicyEngineError);
  return error as KestPolicyEngineError;
}

describe('CedarAgentEngine against a Cedar Agent on loopback', () => {
  it('sends {principal, action: policy name, resource, context} with dotted keys', async () => {
    const before = agent.requests.length;
    const context = makeContext({ trust: 75, taints: ['web'], workload: 'spiffe://kest.demo/"quoted"' });
    expect(await engine().evaluate('e1', ['min-trust'], context)).toEqual({ allow: true });
    const request = agent.requests[before]!;
    expect(request.url).toBe('/v1/is_authorized');
    const body = request.body as Record<string, Record<string, unknown>>;
    expect(body.principal).toBe('Kest::Workload::"spiffe://kest.demo/\\"quoted\\""');
    expect(body.action).toBe('Kest::Action::"min-trust"');
    expect(body.resource).toBe('Kest::Resource::"report-42"');
    expect(body.context!['subject.trust_score']).toBe(75);
    expect(body.context!['subject.taints']).toEqual(['web']);
    expect(body.context!['environment.policy_tier']).toBe('function');
    // Cedar has no null: an absent agent is left out rather than sent as null.
    expect('subject.agent' in body.context!).toBe(false);
  });

  it('allows only on "Allow": trust threshold, pii taint, AND over policies', async () => {
    expect((await engine().evaluate('e2', ['min-trust'], makeContext({ trust: 10 }))).allow).toBe(false);
    const pii = await engine().evaluate(
      'e2',
      ['min-trust', 'no-pii-export'],
      makeContext({ taints: ['pii'] }),
    );
    expect(pii.allow).toBe(false);
    expect(pii.policy).toBe('no-pii-export');
    // The agent's policy ids (here Cedar's generated policyN) are passed through as the reason.
    expect(pii.reason).toMatch(/^denied by policy\d+$/);
    expect((await engine().evaluate('e2', ['min-trust', 'no-pii-export'], makeContext())).allow).toBe(true);
  });

  it('with a policy list, an unknown name never reaches the agent', async () => {
    const known = engine('/v1', { policies: ['min-trust'] });
    const before = agent.requests.length;
    await expect(known.evaluate('e3', ['min-trsut'], makeContext())).rejects.toBeInstanceOf(
      KestUnknownPolicyError,
    );
    expect(agent.requests.length).toBe(before);
    expect(() => known.assertPolicies(['min-trsut'])).toThrow(KestConfigurationError);
    // Without a list the agent decides, and Cedar denies a name no policy is scoped to.
    expect((await engine().evaluate('e3', ['min-trsut'], makeContext())).allow).toBe(false);
  });

  it('failure variants are typed errors: 500, malformed, missing decision, closed, timeout', async () => {
    expect((await failure(engine('/error').evaluate('e4', ['min-trust'], makeContext()))).reason).toBe(
      'http_status',
    );
    expect((await failure(engine('/garbage').evaluate('e4', ['min-trust'], makeContext()))).reason).toBe(
      'malformed',
    );
    expect((await failure(engine('/weird').evaluate('e4', ['min-trust'], makeContext()))).reason).toBe(
      'malformed',
    );
    expect((await failure(engine('/nodecision').evaluate('e4', ['min-trust'], makeContext()))).reason).toBe(
      'missing_decision',
    );
    expect((await failure(engine('/close').evaluate('e4', ['min-trust'], makeContext()))).reason).toBe(
      'unreachable',
    );
    const slow = engine('/slow', { timeoutMs: 100 });
    expect((await failure(slow.evaluate('e4', ['min-trust'], makeContext()))).reason).toBe('timeout');
  });

  it('an agent at a dead address is unreachable', async () => {
    const dead = new CedarAgentEngine({ url: await deadAddress() });
    expect((await failure(dead.evaluate('e5', ['min-trust'], makeContext()))).reason).toBe('unreachable');
  });
});
