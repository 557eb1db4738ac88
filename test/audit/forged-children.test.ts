/**
 * Issue 14 item 4: N forged children of one root cost near-linear work. Before, each branch's
 * ancestry re-indexed and filtered the whole trace (N² node visits: 8k children took 14 s and more);
 * the index is now built once and a branch costs its own size. Work counts, not wall time (that is
 * bench/audit-forged-children.ts).
 */
import { describe, expect, it } from 'vitest';
import { AncestryIndex, type Node, topologicalOrder } from '../../src/audit/graph.js';
import { auditSpans } from '../../src/audit/index.js';
import { forgedChildren } from './forged.js';

/** Just what the graph functions read: a hash and the entry's parent ids. */
function fakeNode(hash: string, parents: string[], order: number): Node {
  return { hash, order, entry: { payload: { parent_ids: parents } } } as unknown as Node;
}

describe('ancestry of many forged children', () => {
  it('visits each branch once: 8k children of one root cost 2 visits per leaf', () => {
    const n = 8000;
    const root = fakeNode('root', [], 0);
    const children = Array.from({ length: n }, (_, i) => fakeNode(`c${i}`, ['root'], i + 1));
    const all = [root, ...children];
    const ordered = topologicalOrder(all, new Map(all.map((x) => [x.hash, x])));
    expect(ordered).toHaveLength(n + 1);
    const index = new AncestryIndex(ordered);
    for (const leaf of children) {
      const branch = index.of(leaf);
      expect(branch).toEqual([root, leaf]);
    }
    expect(index.visits).toBe(2 * n);
  });

  it('keeps the topological order of a branch in a diamond', () => {
    const a = fakeNode('a', [], 0);
    const b = fakeNode('b', ['a'], 1);
    const c = fakeNode('c', ['a'], 2);
    const d = fakeNode('d', ['c', 'b'], 3);
    const ordered = [a, b, c, d];
    expect(new AncestryIndex(ordered).of(d)).toEqual([a, b, c, d]);
    expect(new AncestryIndex(ordered).of(c)).toEqual([a, c]);
  });

  it('audits 2k forged children of one root: every child fails, the root verifies', async () => {
    const n = 2000;
    const { spans, trust } = await forgedChildren(n);
    const [report] = await auditSpans(spans, { trust, workers: 0 });
    expect(report?.status).toBe('failed');
    expect(report?.entries).toHaveLength(n + 1);
    expect(report?.entries.filter((e) => e.status === 'failed')).toHaveLength(n);
    expect(report?.entries[0]?.status).toBe('verified');
  }, 60_000);
});
