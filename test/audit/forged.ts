/**
 * N forged children of one root, as spans of one trace: the root is user input (trust 40); every
 * child claims trust 100 without a sanitizer, so the DAG fails and each branch is verified alone.
 */
import { buildEntry, entryHash, signEntry } from '../../src/entry/index.js';
import type { SpanRecord } from '../../src/telemetry/record.js';
import { workloads } from '../support/chain.js';
import { spansOfPassport } from './run.js';

export async function forgedChildren(n: number) {
  const { ids, trust } = workloads(2, 'spiffe://forged.kest/svc');
  const [rootId, childId] = ids as [(typeof ids)[0], (typeof ids)[0]];
  const traceId = 'cd'.repeat(16);
  const common = { traceId, addedTaints: [], removedTaints: [], taints: [] };
  const root = await signEntry(
    rootId,
    buildEntry({
      ...common,
      operation: 'ingest',
      principal: rootId.getWorkloadId(),
      parentIds: [],
      trustScore: 40,
      labels: { 'kest.source_type': 'user_input' },
    }),
  );
  const jws = [root];
  for (let i = 0; i < n; i++) {
    const child = buildEntry({
      ...common,
      operation: `forged${i}`,
      principal: childId.getWorkloadId(),
      parentIds: [entryHash(root)],
      trustScore: 100,
      labels: {},
    });
    jws.push(await signEntry(childId, child));
  }
  const spans: SpanRecord[] = spansOfPassport(jws, traceId);
  return { spans, trust };
}
