/**
 * Issue 14 item 4: N forged children of one root (each raises its trust without a sanitizer, so the
 * whole DAG fails and every branch is verified on its own). Prints wall time per N; the audit must
 * stay near-linear. Run: npx tsx bench/audit-forged-children.ts [N ...]   (figures in docs/audit.md)
 */
import { auditSpans } from '../src/audit/index.js';
import { forgedChildren } from '../test/audit/forged.js';

const sizes = process.argv.slice(2).map(Number);
for (const n of sizes.length > 0 ? sizes : [1000, 8000]) {
  const { spans, trust } = await forgedChildren(n);
  const started = performance.now();
  const [report] = await auditSpans(spans, { trust, workers: 0 });
  const ms = performance.now() - started;
  console.log(
    `${n} forged children: ${ms.toFixed(0)} ms (${report?.status}, ${report?.entries.length} entries)`,
  );
}
