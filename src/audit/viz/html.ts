/**
 * The lineage viewer: one self-contained HTML page (inline CSS, SVG and script; a CSP that forbids
 * every fetch) drawing each trace's DAG — nodes coloured by trust score, taint badges, sanitizers
 * marked, verification status per node, the failed entry outlined — with an entry's details on click.
 * The SVG is drawn here, so the page reads without script; the script only adds the details panel.
 */
import type { AuditEntry, AuditReport } from '../report.js';
import {
  buildGraph,
  NODE_H,
  NODE_W,
  shortPrincipal,
  trustColor,
  type VizGraph,
  type VizNode,
} from './graph.js';

export interface HtmlOptions {
  title?: string;
}

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that cannot close the <script> element it sits in. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function payloadOf(e: AuditEntry): unknown {
  const part = e.jws.split('.')[1];
  if (!part) return null;
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

const STATUS_MARK: Record<string, string> = { verified: '✓', failed: '✗', unverified: '?' };

function nodeSvg(n: VizNode, t: number): string {
  const key = `${t}:${n.id}`;
  if (!n.entry) {
    return `<g class="node missing" data-key="${esc(key)}" data-hash="${esc(n.hash)}" tabindex="0" transform="translate(${n.x},${n.y})">
<rect width="${NODE_W}" height="${NODE_H}" rx="8"/>
<text x="10" y="22" class="op">missing entry</text>
<text x="10" y="42" class="sub">${esc(n.hash.slice(0, 24))}…</text>
<text x="10" y="62" class="sub">no span carries it</text></g>`;
  }
  const e = n.entry;
  const classes = ['node', e.status];
  if (e.sanitized) classes.push('sanitizer');
  if (e.denied) classes.push('denied');
  if (e.failedExecution) classes.push('failed-execution');
  if (e.source !== 'span') classes.push('recovered');
  let badges = '';
  let bx = 10;
  const tags = [...e.taints.map((t) => ({ text: t, cls: 'taint' }))];
  if (e.sanitized) tags.unshift({ text: 'sanitizer', cls: 'sanitizer-badge' });
  if (e.denied) tags.unshift({ text: 'denied', cls: 'denied-badge' });
  if (e.origin === 'self-asserted') tags.unshift({ text: 'origin self-asserted', cls: 'origin-badge' });
  for (const tag of tags) {
    const label = clip(tag.text, 20);
    const w = 10 + label.length * 6.2;
    if (bx + w > NODE_W - 6) break;
    badges += `<g class="badge ${tag.cls}" transform="translate(${bx},56)"><rect width="${w.toFixed(1)}" height="15" rx="7"/><text x="5" y="11">${esc(label)}</text></g>`;
    bx += w + 4;
  }
  const title = `${e.operation ?? '?'} — ${e.status}${e.reason ? ` (${e.reason})` : ''}`;
  return `<g class="${classes.join(' ')}" data-key="${esc(key)}" data-index="${e.index}" data-entry-id="${esc(e.entryId ?? '')}" data-status="${e.status}" data-trust="${e.trustScore ?? ''}" tabindex="0" transform="translate(${n.x},${n.y})">
<title>${esc(title)}</title>
<rect width="${NODE_W}" height="${NODE_H}" rx="8" style="fill:${trustColor(e.trustScore)}"/>
<text x="10" y="19" class="op">${esc(clip(e.operation ?? '?', 28))}</text>
<text x="${NODE_W - 10}" y="19" class="mark" text-anchor="end">${STATUS_MARK[e.status] ?? '?'}</text>
<text x="10" y="37" class="sub">${esc(clip(shortPrincipal(e.principal), 24))} · trust ${e.trustScore ?? '?'}</text>
<text x="10" y="50" class="sub dim">#${e.index} ${esc((e.entryId ?? '').slice(-12))}${e.source !== 'span' ? ` · from ${e.source}` : ''}</text>
${badges}</g>`;
}

function edgeSvg(g: VizGraph, from: string, to: string): string {
  const a = g.nodes.find((n) => n.id === from) as VizNode;
  const b = g.nodes.find((n) => n.id === to) as VizNode;
  const x1 = a.x + NODE_W / 2;
  const y1 = a.y + NODE_H;
  const x2 = b.x + NODE_W / 2;
  const y2 = b.y;
  const my = (y1 + y2) / 2;
  return `<path class="edge${a.missing ? ' from-missing' : ''}" d="M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2 - 6}" marker-end="url(#arrow)"/>`;
}

function traceSection(report: AuditReport, t: number): string {
  const g = buildGraph(report);
  const parts: string[] = [];
  parts.push(
    `<section class="trace" data-trace-id="${esc(report.traceId)}" data-status="${report.status}">`,
    `<h2>trace <code>${esc(report.traceId || '(none)')}</code> <span class="status status-${report.status}">${report.status.toUpperCase()}</span></h2>`,
  );
  const facts: string[] = [`${report.entries.length} entries`];
  if (report.serviceNames.length > 0) facts.push(`services: ${report.serviceNames.map(esc).join(', ')}`);
  if (report.forks.length > 0) facts.push(`${report.forks.length} fork(s)`);
  parts.push(`<p class="facts">${facts.join(' · ')}</p>`);
  if (report.failure) {
    const f = report.failure;
    parts.push(
      `<p class="failure">First failure at entry ${f.index} (<code>${esc(f.entryId ?? f.hash.slice(0, 16))}</code>): <b>${esc(f.reason)}</b> — ${esc(f.message)}</p>`,
    );
  }
  for (const gap of report.gaps) {
    parts.push(
      `<p class="gap">Gap: no span carries <code>${esc(gap.hash.slice(0, 16))}…</code>${gap.entryId ? ` (entry ${esc(gap.entryId)})` : ''}, referenced by ${esc(gap.referencedBy.join(', '))}; ${gap.recovered ? `recovered from ${gap.recovered}` : 'entry lost'}.</p>`,
    );
  }
  parts.push(
    `<svg class="dag" width="${g.width}" height="${g.height}" viewBox="0 0 ${g.width} ${g.height}" role="img" aria-label="lineage of trace ${esc(report.traceId)}">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>',
    `<g class="edges">${g.edges.map((e) => edgeSvg(g, e.from, e.to)).join('')}</g>`,
    `<g class="nodes">${g.nodes.map((n) => nodeSvg(n, t)).join('\n')}</g>`,
    '</svg></section>',
  );
  return parts.join('\n');
}

const CSS = `
:root { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1d1f; }
body { margin: 0; background: #f6f7f9; }
header { padding: 14px 20px; background: #1f2933; color: #fff; }
header h1 { margin: 0; font-size: 18px; }
header p { margin: 4px 0 0; font-size: 13px; opacity: .85; }
.layout { display: flex; gap: 16px; padding: 16px 20px; align-items: flex-start; }
main { flex: 1; min-width: 0; }
.trace { background: #fff; border: 1px solid #dde1e6; border-radius: 10px; padding: 12px 16px; margin-bottom: 16px; overflow-x: auto; }
.trace h2 { font-size: 15px; margin: 0 0 4px; }
.facts { font-size: 12px; color: #555; margin: 0 0 6px; }
.status { font-size: 11px; padding: 2px 8px; border-radius: 10px; color: #fff; vertical-align: middle; }
.status-verified { background: #2b8a3e; } .status-failed { background: #c92a2a; }
.status-incomplete { background: #e67700; } .status-unverified { background: #868e96; }
.failure { color: #a61e1e; font-size: 13px; margin: 4px 0; }
.gap { color: #9c5700; font-size: 13px; margin: 4px 0; }
.edge { fill: none; stroke: #777; stroke-width: 1.6; }
.edge.from-missing { stroke-dasharray: 5 4; }
.node { cursor: pointer; }
.node > rect { stroke: #5c6670; stroke-width: 1.2; }
.node:focus { outline: none; }
.node:focus > rect, .node.selected > rect { stroke: #1f2933; stroke-width: 3; }
.node.failed > rect { stroke: #d00000 !important; stroke-width: 3.5 !important; }
.node.unverified > rect { stroke-dasharray: 6 4; }
.node.sanitizer > rect { stroke: #1a5fb4; stroke-width: 3; }
.node.missing rect { fill: #fff; stroke: #999; stroke-dasharray: 5 4; }
.node text { font-size: 11px; fill: #1d1d1f; pointer-events: none; }
.node .op { font-weight: 600; font-size: 12px; }
.node .dim { fill: #555; font-size: 10px; }
.node .mark { font-size: 15px; font-weight: 700; }
.node.verified .mark { fill: #2b8a3e; } .node.failed .mark { fill: #d00000; } .node.unverified .mark { fill: #868e96; }
.badge rect { fill: #fff3bf; stroke: #e0a800; }
.badge text { font-size: 9.5px; }
.badge.sanitizer-badge rect { fill: #d0ebff; stroke: #1a5fb4; }
.badge.origin-badge rect { fill: #fff3bf; stroke: #e67700; }
.badge.denied-badge rect { fill: #ffe3e3; stroke: #c92a2a; }
aside { width: 380px; flex: none; position: sticky; top: 16px; background: #fff; border: 1px solid #dde1e6; border-radius: 10px; padding: 12px 16px; font-size: 12px; max-height: calc(100vh - 48px); overflow: auto; }
aside h3 { margin: 0 0 8px; font-size: 14px; }
aside dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 10px; margin: 0 0 8px; }
aside dt { color: #555; } aside dd { margin: 0; word-break: break-all; }
aside pre { background: #f1f3f5; padding: 8px; border-radius: 6px; white-space: pre-wrap; word-break: break-all; font-size: 11px; }
.legend { display: flex; gap: 12px; flex-wrap: wrap; font-size: 12px; color: #fff; }
.legend span { display: inline-flex; align-items: center; gap: 4px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; }
`;

const SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById('kest-data').textContent);
  var panel = document.getElementById('details');
  function row(k, v) { return '<dt>' + esc(k) + '</dt><dd>' + esc(v) + '</dd>'; }
  function esc(s) { return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }
  function show(el) {
    var prev = document.querySelector('.node.selected');
    if (prev) prev.classList.remove('selected');
    el.classList.add('selected');
    var d = data[el.getAttribute('data-key')];
    if (!d) return;
    var h = '';
    if (d.missing) {
      h = '<h3>Missing entry</h3><dl>' + row('hash', d.hash) + row('referenced by', d.referencedBy.join(', ')) + '</dl><p>No exported span carries this entry.</p>';
    } else {
      h = '<h3>' + esc(d.operation) + ' <small>(' + esc(d.status) + ')</small></h3><dl>' +
        row('index', d.index) + row('entry id', d.entryId) + row('principal', d.principal) +
        row('trust score', d.trustScore) + row('taints', (d.taints || []).join(', ') || '—') +
        row('added / removed', (d.addedTaints || []).join(', ') + ' / ' + (d.removedTaints || []).join(', ')) +
        row('classification', d.classification) + row('source type', d.sourceType || '—') +
        (d.trustOverride ? row('trust override', d.trustOverride) : '') +
        (d.origin ? row('origin', d.origin === 'checked' ? 'checked against root rules' : 'self-asserted (no root rules given)') : '') +
        row('sanitizer', d.sanitized ? 'yes' : 'no') +
        (d.reason ? row('reason', d.reason) : '') + (d.message ? row('message', d.message) : '') +
        row('hash', d.hash) + row('parents', (d.parents || []).join(', ') || 'root') +
        row('from', d.source + (d.crossTrace ? ' (other trace)' : '')) +
        (d.span ? row('span', d.span.name + ' ' + d.span.spanId) + row('service', d.span.serviceName || '—') + row('span status', d.span.status.code + (d.span.status.message ? ': ' + d.span.status.message : '')) : '') +
        '</dl><h3>Signed payload</h3><pre>' + esc(JSON.stringify(d.payload, null, 2)) + '</pre>';
    }
    panel.innerHTML = h;
  }
  document.querySelectorAll('.node').forEach(function (el) {
    el.addEventListener('click', function () { show(el); });
    el.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); show(el); } });
  });
  var first = document.querySelector('.node.failed') || document.querySelector('.node');
  if (first) show(first);
})();
`;

/** The whole page for one or more traces. */
export function renderHtml(reports: AuditReport | readonly AuditReport[], options: HtmlOptions = {}): string {
  const list: readonly AuditReport[] = Array.isArray(reports)
    ? (reports as readonly AuditReport[])
    : [reports as AuditReport];
  const data: Record<string, unknown> = {};
  list.forEach((report, t) => {
    for (const n of buildGraph(report).nodes) {
      const key = `${t}:${n.id}`;
      if (!n.entry) {
        const gap = report.gaps.find((g) => g.hash === n.hash);
        data[key] = { missing: true, hash: n.hash, referencedBy: gap?.referencedBy ?? [] };
      } else {
        const { jws: _jws, ...rest } = n.entry;
        data[key] = { ...rest, payload: payloadOf(n.entry) };
      }
    }
  });
  const counts = {
    verified: list.filter((r) => r.status === 'verified').length,
    failed: list.filter((r) => r.status === 'failed').length,
    other: list.filter((r) => r.status !== 'verified' && r.status !== 'failed').length,
  };
  const title = options.title ?? 'Kest lineage';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style></head>
<body>
<header><h1>${esc(title)}</h1>
<p>${list.length} trace(s): ${counts.verified} verified, ${counts.failed} failed, ${counts.other} incomplete or unverified. Node colour = trust score (red 0 → green 100); ✓ verified, ✗ failed, ? not verified.</p>
<div class="legend"><span><i style="background:${trustColor(0)}"></i>0</span><span><i style="background:${trustColor(50)}"></i>50</span><span><i style="background:${trustColor(100)}"></i>100</span><span><i style="background:#fff;border:2px solid #1a5fb4"></i>sanitizer</span><span><i style="background:#fff;border:2px solid #d00000"></i>failed</span><span><i style="background:#fff;border:2px dashed #999"></i>missing / unverified</span></div>
</header>
<div class="layout"><main>
${list.map(traceSection).join('\n')}
</main>
<aside id="details"><h3>Details</h3><p>Click an entry.</p></aside></div>
<script type="application/json" id="kest-data">${scriptJson(data)}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
