/** Mermaid and Graphviz DOT forms of an audit report, for docs and `dot -Tsvg`. */
import type { AuditReport } from '../report.js';
import { buildGraph, shortPrincipal, trustColorHex, type VizNode } from './graph.js';

function nodeLabel(n: VizNode): string[] {
  if (!n.entry) return ['missing entry', `${n.hash.slice(0, 12)}…`];
  const e = n.entry;
  const mark = e.status === 'verified' ? '✓' : e.status === 'failed' ? '✗' : '?';
  const lines = [
    `${mark} ${e.operation ?? '?'}`,
    `${shortPrincipal(e.principal)} · trust ${e.trustScore ?? '?'}`,
  ];
  if (e.taints.length > 0) lines.push(`taints: ${e.taints.join(', ')}`);
  if (e.sanitized) lines.push('sanitizer');
  if (e.origin) lines.push(`origin ${e.origin}`);
  if (e.status === 'failed') lines.push(`FAILED: ${e.reason ?? ''}`);
  return lines;
}

function mermaidText(s: string): string {
  return s.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

/** A Mermaid flowchart per trace (one `flowchart TD` block each, separated by blank lines). */
export function renderMermaid(reports: AuditReport | readonly AuditReport[]): string {
  const list: readonly AuditReport[] = Array.isArray(reports)
    ? (reports as readonly AuditReport[])
    : [reports as AuditReport];
  return list
    .map((report, t) => {
      const g = buildGraph(report);
      const p = list.length > 1 ? `t${t}_` : '';
      const out = ['flowchart TD', `  %% trace ${report.traceId}: ${report.status}`];
      for (const n of g.nodes) {
        const label = nodeLabel(n).map(mermaidText).join('<br/>');
        out.push(n.missing ? `  ${p}${n.id}[/"${label}"/]` : `  ${p}${n.id}["${label}"]`);
      }
      for (const e of g.edges) out.push(`  ${p}${e.from} --> ${p}${e.to}`);
      out.push('  classDef failed stroke:#c00,stroke-width:3px');
      out.push('  classDef missing stroke:#888,stroke-dasharray:4 3,fill:#fff');
      out.push('  classDef sanitizer stroke:#1a5fb4,stroke-width:3px');
      for (const n of g.nodes) {
        if (n.missing) out.push(`  class ${p}${n.id} missing`);
        else {
          out.push(`  style ${p}${n.id} fill:${trustColorHex(n.entry?.trustScore)}`);
          if (n.entry?.status === 'failed') out.push(`  class ${p}${n.id} failed`);
          else if (n.entry?.sanitized) out.push(`  class ${p}${n.id} sanitizer`);
        }
      }
      return out.join('\n');
    })
    .join('\n\n')
    .concat('\n');
}

function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** One Graphviz digraph, a cluster per trace. */
export function renderDot(reports: AuditReport | readonly AuditReport[]): string {
  const list: readonly AuditReport[] = Array.isArray(reports)
    ? (reports as readonly AuditReport[])
    : [reports as AuditReport];
  const out = [
    'digraph kest {',
    '  rankdir=TB;',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
    '  edge [color="#555555"];',
  ];
  list.forEach((report, t) => {
    const g = buildGraph(report);
    out.push(`  subgraph cluster_${t} {`);
    out.push(`    label=${dotString(`trace ${report.traceId}: ${report.status}`)};`);
    for (const n of g.nodes) {
      const id = `t${t}_${n.id}`;
      const label = dotString(nodeLabel(n).join('\n'));
      if (n.missing) {
        out.push(`    ${id} [label=${label}, style="dashed", color="#888888", fillcolor="#ffffff"];`);
        continue;
      }
      const e = n.entry;
      const attrs = [`label=${label}`, `fillcolor="${trustColorHex(e?.trustScore)}"`];
      if (e?.status === 'failed') attrs.push('color="#cc0000"', 'penwidth=3');
      else if (e?.sanitized) attrs.push('color="#1a5fb4"', 'penwidth=3', 'peripheries=2');
      if (e?.status === 'unverified') attrs.push('style="rounded,filled,dashed"');
      out.push(`    ${id} [${attrs.join(', ')}];`);
    }
    for (const e of g.edges) out.push(`    t${t}_${e.from} -> t${t}_${e.to};`);
    out.push('  }');
  });
  out.push('}');
  return `${out.join('\n')}\n`;
}
