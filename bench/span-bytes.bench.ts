/**
 * Span volume per trace (issue 13, docs/audit.md "Span volume"): bytes the file exporter writes for
 * one chain of nested protected calls at depth 3, 10 and 100, with the passport copy in spans
 * (`passportInSpans: true`, the former default) and without (the default). Deterministic sizes, so
 * one run: `npx tsx bench/span-bytes.bench.ts`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import {
  configure,
  kestVerified,
  Passport,
  resetConfiguration,
  runWithPassport,
  silentLogger,
} from '../src/index.js';
import { MockPolicyEngine } from '../src/policy/mock.js';
import { KestTelemetry } from '../src/telemetry/index.js';
import { MockIdentityProvider } from '../src/testing/index.js';

async function bytesAt(depth: number, passportInSpans: boolean, dir: string): Promise<number> {
  resetConfiguration();
  configure({ logger: silentLogger, passportInSpans });
  const path = join(dir, `d${depth}-${passportInSpans}.jsonl`);
  const handle = KestTelemetry.setup({ serviceName: 'bench', exporter: 'file', path });
  const engine = MockPolicyEngine.allowAll();
  const ids = Array.from(
    { length: depth },
    (_, i) => new MockIdentityProvider({ workloadId: `spiffe://bench/h${i}` }),
  );
  let call: () => Promise<unknown> = async () => 'leaf';
  for (let i = depth - 1; i >= 0; i--) {
    const next = call;
    call = kestVerified(async () => next(), { policy: 'p', operation: `hop${i}`, identity: ids[i]!, engine });
  }
  await runWithPassport(Passport.empty(), () => call());
  await handle.shutdown();
  trace.disable();
  return readFileSync(path).length;
}

const dir = mkdtempSync(join(tmpdir(), 'kest-span-bytes-'));
try {
  for (const depth of [3, 10, 100]) {
    const before = await bytesAt(depth, true, dir);
    const after = await bytesAt(depth, false, dir);
    console.log(
      `depth ${depth}: with passport copy ${before} B, without ${after} B (${(before / after).toFixed(2)}×)`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
