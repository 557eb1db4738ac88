/**
 * Closure (docs/spec.md §11): a hop that crashes between its call entry and its completion leaves
 * an `incomplete` call naming its principal; passports without completions (other runtimes, older
 * signers) are not required to have them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { auditFile, auditPassport, summarizeReports } from '../../src/audit/index.js';
import {
  JwksTrustSource,
  kestVerified,
  Passport,
  PassportVerifier,
  runWithPassport,
} from '../../src/index.js';
import { MockPolicyEngine } from '../../src/policy/mock.js';
import { KestTelemetry } from '../../src/telemetry/index.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { buildPassport, workloads } from '../support/chain.js';

const dir = mkdtempSync(join(tmpdir(), 'kest-closure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('closure', () => {
  it('a crash between call and completion is incomplete, naming the principal', async () => {
    const path = join(dir, 'crash.jsonl');
    const handle = KestTelemetry.setup({ serviceName: 'svc', exporter: 'file', path });
    const id = new MockIdentityProvider({ workloadId: 'spiffe://test.kest/crashy' });
    let signs = 0;
    const sign = id.sign.bind(id);
    // the process "dies" before it can sign the completion: the second signature fails
    id.sign = ((bytes: Uint8Array) => {
      if (++signs === 2) throw new Error('killed');
      return sign(bytes);
    }) as typeof id.sign;
    const f = kestVerified(async () => 1, {
      policy: 'p',
      operation: 'work',
      identity: id,
      engine: MockPolicyEngine.allowAll(),
    });
    await expect(runWithPassport(Passport.empty(), () => f())).rejects.toMatchObject({
      code: 'ERR_IDENTITY',
    });
    await handle.shutdown();
    trace.disable();
    const reports = await auditFile(path, { trust: new JwksTrustSource(id.getPublicJwks()) });
    expect(reports[0]?.status).toBe('incomplete');
    expect(reports[0]?.incomplete).toEqual([
      expect.objectContaining({ principal: 'spiffe://test.kest/crashy', operation: 'work' }),
    ]);
    expect(summarizeReports(reports).ok).toBe(false);
    // a trace in flight looks the same: --allow-incomplete tolerates it
    expect(summarizeReports(reports, { allowIncomplete: true }).ok).toBe(true);
  });

  it('passports without completion entries (other runtimes, older signers) audit and verify as before', async () => {
    const { ids, trust } = workloads(2);
    const passport = await buildPassport([{ identity: ids[0]! }, { identity: ids[1]! }]);
    const r = await auditPassport(passport, { trust });
    expect(r.status).toBe('verified');
    expect(r.incomplete).toEqual([]);
    expect(r.entries.map((e) => [e.kind, e.outcome, e.deniedFrom])).toEqual([
      ['call', undefined, 'span'],
      ['call', undefined, 'span'],
    ]);
    await expect(new PassportVerifier({ trust }).verify(passport)).resolves.toMatchObject({
      valid: true,
    });
  });
});
