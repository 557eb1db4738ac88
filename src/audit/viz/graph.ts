/**
 * The drawing model shared by the HTML, Mermaid and DOT renderers: one node per entry (plus a ghost
 * node per lost entry), edges parent → child, and a layered layout (layer = longest path from a
 * root, so every edge points down).
 */
import type { AuditEntry, AuditReport } from '../report.js';

export interface VizNode {
  id: string;
  entry: AuditEntry | undefined;
  /** A referenced entry no span or passport holds. */
  missing: boolean;
  hash: string;
  layer: number;
  slot: number;
  x: number;
  y: number;
}

export interface VizEdge {
  from: string;
  to: string;
}

export interface VizGraph {
  report: AuditReport;
  nodes: VizNode[];
  edges: VizEdge[];
  width: number;
  height: number;
}

export const NODE_W = 230;
export const NODE_H = 78;
const GAP_X = 36;
const GAP_Y = 54;
const PAD = 16;

export function buildGraph(report: AuditReport): VizGraph {
  const nodes: VizNode[] = [];
  const byHash = new Map<string, VizNode>();
  for (const e of report.entries) {
    const n: VizNode = {
      id: `n${e.index}`,
      entry: e,
      missing: false,
      hash: e.hash,
      layer: 0,
      slot: 0,
      x: 0,
      y: 0,
    };
    nodes.push(n);
    byHash.set(e.hash, n);
  }
  for (const [i, g] of report.gaps.entries()) {
    if (byHash.has(g.hash)) continue;
    const n: VizNode = {
      id: `g${i}`,
      entry: undefined,
      missing: true,
      hash: g.hash,
      layer: 0,
      slot: 0,
      x: 0,
      y: 0,
    };
    nodes.push(n);
    byHash.set(g.hash, n);
  }
  const edges: VizEdge[] = [];
  const parentsOf = new Map<VizNode, VizNode[]>();
  for (const n of nodes) {
    const ps: VizNode[] = [];
    for (const h of n.entry?.parents ?? []) {
      const p = byHash.get(h);
      if (p) {
        ps.push(p);
        edges.push({ from: p.id, to: n.id });
      }
    }
    parentsOf.set(n, ps);
  }
  // Longest path layering; ghosts sit right above their first child.
  const layer = (n: VizNode, seen = new Set<VizNode>()): number => {
    if (seen.has(n)) return 0;
    seen.add(n);
    const ps = parentsOf.get(n) ?? [];
    return ps.length === 0 ? 0 : Math.max(...ps.map((p) => layer(p, seen) + 1));
  };
  for (const n of nodes) if (!n.missing) n.layer = layer(n);
  for (const n of nodes) {
    if (!n.missing) continue;
    const kids = nodes.filter((c) => (parentsOf.get(c) ?? []).includes(n));
    n.layer = kids.length > 0 ? Math.max(0, Math.min(...kids.map((k) => k.layer)) - 1) : 0;
  }
  // Re-layer children of ghosts that ended up on the same layer.
  for (const e of edges) {
    const from = nodes.find((n) => n.id === e.from) as VizNode;
    const to = nodes.find((n) => n.id === e.to) as VizNode;
    if (to.layer <= from.layer) to.layer = from.layer + 1;
  }
  const layers = new Map<number, VizNode[]>();
  for (const n of nodes) layers.set(n.layer, [...(layers.get(n.layer) ?? []), n]);
  let maxSlots = 1;
  for (const list of layers.values()) {
    list.forEach((n, i) => {
      n.slot = i;
    });
    maxSlots = Math.max(maxSlots, list.length);
  }
  const depth = Math.max(0, ...nodes.map((n) => n.layer)) + 1;
  const width = PAD * 2 + maxSlots * NODE_W + (maxSlots - 1) * GAP_X;
  for (const list of layers.values()) {
    const rowWidth = list.length * NODE_W + (list.length - 1) * GAP_X;
    const offset = (width - rowWidth) / 2;
    for (const n of list) {
      n.x = offset + n.slot * (NODE_W + GAP_X);
      n.y = PAD + n.layer * (NODE_H + GAP_Y);
    }
  }
  return { report, nodes, edges, width, height: PAD * 2 + depth * NODE_H + (depth - 1) * GAP_Y };
}

/** Fill colour for a trust score: red (0) through amber to green (100); grey when unknown. */
export function trustColor(score: number | undefined): string {
  if (score === undefined) return '#d9d9d9';
  const hue = Math.round(Math.max(0, Math.min(100, score)) * 1.2);
  return `hsl(${hue}, 70%, 82%)`;
}

/** Same scale as a hex colour (Graphviz and Mermaid want hex). */
export function trustColorHex(score: number | undefined): string {
  if (score === undefined) return '#d9d9d9';
  const h = (Math.max(0, Math.min(100, score)) * 1.2) / 360;
  const s = 0.7;
  const l = 0.82;
  const q = l + s - l * s;
  const p = 2 * l - q;
  const ch = (t: number) => {
    let x = t;
    if (x < 0) x += 1;
    if (x > 1) x -= 1;
    const v = x < 1 / 6 ? p + (q - p) * 6 * x : x < 1 / 2 ? q : x < 2 / 3 ? p + (q - p) * (2 / 3 - x) * 6 : p;
    return Math.round(v * 255)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${ch(h + 1 / 3)}${ch(h)}${ch(h - 1 / 3)}`;
}

export function shortPrincipal(p: string | undefined): string {
  if (!p) return '?';
  const m = /^spiffe:\/\/[^/]+\/(.+)$/.exec(p);
  return m ? (m[1] as string) : p;
}
