/**
 * L3 (HTTP part): the ingress verifier honours the sanitizers of the deployment file (KEST_CONFIG)
 * as well as configure({ sanitizers }), and picks up a configuration change without a restart.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KestHttpCore } from '../../src/http/core.js';
import { configure, resetConfiguration, silentLogger } from '../../src/index.js';
import { buildPassport, workloads } from '../support/chain.js';
import { isolateDeploymentEnv } from '../support/config-env.js';
import { baggageFor } from './helpers.js';

const { ids, trust } = workloads(3);
const dir = mkdtempSync(join(tmpdir(), 'kest-http-sanitizers-'));

/** internet (trust 10) → ids[1] overrides to 100: valid only if ids[1] is a declared sanitizer. */
async function raisedByIds1(): Promise<{ baggage: string }> {
  const passport = await buildPassport([
    { identity: ids[0]!, sourceType: 'internet' },
    { identity: ids[1]!, trustOverride: 100 },
  ]);
  return { baggage: await baggageFor(passport) };
}

function useDeploymentFile(content: unknown): void {
  const file = join(dir, `deployment-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(content));
  process.env.KEST_CONFIG = file;
  resetConfiguration();
  configure({ logger: silentLogger });
}

isolateDeploymentEnv();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sanitizers at ingress', () => {
  it('without a declaration the raised trust is refused (control)', async () => {
    const core = new KestHttpCore({ trust });
    await expect(core.admit(await raisedByIds1())).rejects.toMatchObject({
      reason: 'unauthorized_sanitizer',
    });
  });

  it('a sanitizer declared in the KEST_CONFIG deployment file is honoured', async () => {
    useDeploymentFile({ sanitizers: [{ principal: ids[1]!.getWorkloadId(), max_trust: 100 }] });
    const core = new KestHttpCore({ trust });
    const admission = await core.admit(await raisedByIds1());
    expect(admission.report?.trustScore).toBe(100);
  });

  it("the deployment's sanitizers also apply next to the adapter's own", async () => {
    useDeploymentFile({ sanitizers: [{ principal: ids[1]!.getWorkloadId(), max_trust: 100 }] });
    const core = new KestHttpCore({
      trust,
      sanitizers: [{ principal: ids[2]!.getWorkloadId(), maxTrust: 100 }],
    });
    const admission = await core.admit(await raisedByIds1());
    expect(admission.report?.trustScore).toBe(100);
  });

  it('configure({ sanitizers }) after the first request is picked up by the same core', async () => {
    const core = new KestHttpCore({ trust });
    const headers = await raisedByIds1();
    await expect(core.admit(headers)).rejects.toMatchObject({ reason: 'unauthorized_sanitizer' });
    configure({ sanitizers: [{ principal: ids[1]!.getWorkloadId(), maxTrust: 100 }] });
    const admission = await core.admit(headers);
    expect(admission.report?.trustScore).toBe(100);
    // And withdrawn again: refused again (the kept verdict belonged to the previous verifier).
    configure({ sanitizers: [] });
    await expect(core.admit(headers)).rejects.toMatchObject({ reason: 'unauthorized_sanitizer' });
  });
});
