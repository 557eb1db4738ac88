import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KestConfigurationError, KestPolicyEngineError } from '../../src/errors.js';
import { KestUnknownPolicyError, OPAPolicyEngine } from '../../src/policy/index.js';
import type { EvaluationContext } from '../../src/policy/types.js';
import { deadAddress, type LoopbackServer, makeContext, sendJson, startServer } from './fixtures.js';

/**
 * A loopback server implementing OPA's Data API contract: POST /v1/data/<path> with {"input": ...}
 * answers 200 {"result": <document>}, or 200 {} when the document is undefined (no such policy).
 * A few paths misbehave on purpose.
 */
let opa: LoopbackServer;
const pending = new Set<NodeJS.Timeout>();

const documents: Record<string, (input: EvaluationContext) => unknown> = {
  'kest/min_trust': (input) => ({ allow: input.subject.trust_score >= 50 }),
  'kest/no_pii': (input) => ({ allow: !input.subject.taints.includes('pii') }),
  'kest/nested': () => ({ decision: { ok: true } }),
  'kest/stringly': () => ({ allow: 'true' }),
  'kest/empty': () => ({}),
};

beforeAll(async () => {
  opa = await startServer((req, body, res) => {
    const path = (req.url ?? '').replace(/^\/v1\/data\//, '');
    if (req.method !== 'POST' || !(req.url ?? '').startsWith('/v1/data/')) return sendJson(res, 404, {});
    if (body === null || typeof body !== 'object' || !('input' in body)) {
      return sendJson(res, 400, { code: 'invalid_parameter', message: 'missing input' });
    }
    switch (path) {
      case 'fail/slow': {
        const timer = setTimeout(() => sendJson(res, 200, { result: { allow: true } }), 5_000);
        pending.add(timer);
        return;
      }
      case 'fail/error':
        return sendJson(res, 500, { code: 'internal_error', message: 'boom' });
      case 'fail/garbage':
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end('{"result": {"allow": tru');
      case 'fail/close':
        return void (req.socket as Socket).destroy();
      case 'fail/big':
        return sendJson(res, 200, { result: { allow: true }, pad: 'x'.repeat(4096) });
      case 'fail/array':
        return sendJson(res, 200, [true]);
    }
    const document = documents[decodeURIComponent(path)];
    if (document === undefined) return sendJson(res, 200, {});
    return sendJson(res, 200, { result: document((body as { input: EvaluationContext }).input) });
  });
});

afterAll(async () => {
  for (const timer of pending) clearTimeout(timer);
  await opa.close();
});

function engine(options: Partial<ConstructorParameters<typeof OPAPolicyEngine>[0]> = {}) {
  return new OPAPolicyEngine({ url: opa.url, timeoutMs: 1000, ...options });
}

async function failure(promise: Promise<unknown>): Promise<KestPolicyEngineError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KestPolicyEngineError);
  return error as KestPolicyEngineError;
}

describe('OPAPolicyEngine against an OPA Data API on loopback', () => {
  it('POSTs {"input": context} to /v1/data/<path> and allows only on result.allow === true', async () => {
    const before = opa.requests.length;
    const context = makeContext({ trust: 60 });
    expect(await engine().evaluate('e1', ['kest.min_trust'], context)).toEqual({ allow: true });
    const request = opa.requests[before]!;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v1/data/kest/min_trust');
    expect(request.body).toEqual({ input: context });

    const denied = await engine().evaluate('e1', ['kest.min_trust'], makeContext({ trust: 10 }));
    expect(denied).toEqual({ allow: false, policy: 'kest.min_trust', reason: 'OPA result.allow is false' });
  });

  it('TC-08: ANDs policies in order and stops at the first denial', async () => {
    const before = opa.requests.length;
    const decision = await engine().evaluate(
      'e2',
      ['kest.no_pii', 'kest.min_trust'],
      makeContext({ trust: 90, taints: ['pii'] }),
    );
    expect(decision.policy).toBe('kest.no_pii');
    expect(opa.requests.length - before).toBe(1);
    expect((await engine().evaluate('e2', ['kest.no_pii', 'kest.min_trust'], makeContext())).allow).toBe(
      true,
    );
  });

  it('maps names to paths and reads a configured decision path', async () => {
    const mapped = engine({ paths: { export: 'kest/nested' }, decisionPath: 'result.decision.ok' });
    expect((await mapped.evaluate('e3', ['export'], makeContext())).allow).toBe(true);
    expect(mapped.urlFor('export')).toBe(`${opa.url}/v1/data/kest/nested`);
    expect(() => mapped.assertPolicies(['export', 'import'])).toThrow(KestConfigurationError);
    await expect(mapped.evaluate('e3', ['import'], makeContext())).rejects.toBeInstanceOf(
      KestUnknownPolicyError,
    );
    const fn = engine({ paths: (name) => `kest/${name}` });
    expect((await fn.evaluate('e3', ['min_trust'], makeContext({ trust: 70 }))).allow).toBe(true);
    expect(() => engine({ paths: { bad: 'kest/../secret' } })).toThrow(KestConfigurationError);
  });

  it('reuses keep-alive connections across calls', async () => {
    const own = await startServer((_req, _body, res) => sendJson(res, 200, { result: { allow: true } }));
    try {
      const client = new OPAPolicyEngine({ url: own.url });
      for (let i = 0; i < 20; i++)
        expect((await client.evaluate('e4', ['p'], makeContext())).allow).toBe(true);
      expect(own.requests.length).toBe(20);
      // Without keep-alive this would be 20; undici may open a second socket while the first is
      // being released, so allow two.
      expect(own.connections).toBeLessThanOrEqual(2);
    } finally {
      await own.close();
    }
  });

  it('a missing decision (undefined document, e.g. a mistyped policy path) is an error', async () => {
    expect((await failure(engine().evaluate('e5', ['kest.does_not_exist'], makeContext()))).reason).toBe(
      'missing_decision',
    );
    expect((await failure(engine().evaluate('e5', ['kest.empty'], makeContext()))).reason).toBe(
      'missing_decision',
    );
  });

  it('a decision that is not exactly true or false is malformed, never an allow', async () => {
    expect((await failure(engine().evaluate('e6', ['kest.stringly'], makeContext()))).reason).toBe(
      'malformed',
    );
    expect((await failure(engine().evaluate('e6', ['fail.array'], makeContext()))).reason).toBe('malformed');
  });

  it('HTTP 500 is http_status, and is not retried', async () => {
    const before = opa.requests.length;
    const error = await failure(engine().evaluate('e7', ['fail.error'], makeContext()));
    expect(error.reason).toBe('http_status');
    expect(error.code).toBe('ERR_POLICY_ENGINE');
    expect(opa.requests.length - before).toBe(1);
  });

  it('malformed JSON and oversized answers are malformed', async () => {
    expect((await failure(engine().evaluate('e8', ['fail.garbage'], makeContext()))).reason).toBe(
      'malformed',
    );
    const small = engine({ maxResponseBytes: 1024 });
    expect((await failure(small.evaluate('e8', ['fail.big'], makeContext()))).reason).toBe('malformed');
  });

  it('a slow engine times out (own deadline or the caller signal)', async () => {
    const slow = engine({ timeoutMs: 150 });
    const timedOut = await failure(slow.evaluate('e9', ['fail.slow'], makeContext()));
    expect(timedOut.reason).toBe('timeout');
    expect(timedOut.message).toMatch(/timed out/);

    const controller = new AbortController();
    const pendingCall = engine({ timeoutMs: 10_000 }).evaluate('e9', ['fail.slow'], makeContext(), {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    const aborted = await failure(pendingCall);
    expect(aborted.reason).toBe('timeout');
    expect(aborted.message).toMatch(/aborted by the caller/);
  });

  it('a connection closed without an answer is unreachable', async () => {
    expect((await failure(engine().evaluate('e10', ['fail.close'], makeContext()))).reason).toBe(
      'unreachable',
    );
  });

  it('TC-09: OPA at a dead address denies with an error', async () => {
    const dead = new OPAPolicyEngine({ url: await deadAddress() });
    const error = await failure(dead.evaluate('e11', ['kest.min_trust'], makeContext()));
    expect(error.reason).toBe('unreachable');
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it('configuration is validated up front', () => {
    expect(() => new OPAPolicyEngine({ url: 'not a url' })).toThrow(KestPolicyEngineError);
    expect(() => new OPAPolicyEngine({ url: 'ftp://x' })).toThrow(/http/);
    expect(() => new OPAPolicyEngine({ url: opa.url, timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => new OPAPolicyEngine({ url: opa.url, decisionPath: 'result..allow' })).toThrow(
      KestConfigurationError,
    );
  });
});
