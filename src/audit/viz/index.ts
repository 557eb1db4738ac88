export { buildGraph, trustColor, trustColorHex, type VizEdge, type VizGraph, type VizNode } from './graph.js';
export { type HtmlOptions, renderHtml } from './html.js';
export { renderDot, renderMermaid } from './text.js';
