/**
 * The audit's graph of entries (docs/spec.md §7): one node per entry hash, spans grouped by trace, the
 * hashes spans name (a passport's tip, a claim check), and the order that hash links give — parent_ids
 * name the SHA-256 of each parent's compact JWS, so the order comes from the signatures themselves,
 * never from timestamps.
 */
import { parseSignedEntry, type SignedEntry } from '../entry/signed.js';
import { KestError } from '../errors.js';
import { parseFailureReason } from '../passport/verifier.js';
import type { SpanRecord } from '../telemetry/record.js';
import { type InteropProfile, ROOT_PARENT, SPAN } from '../wire/constants.js';
import { entryHash } from '../wire/hash.js';
import { isUuid } from '../wire/uuid.js';
import type { EntrySource, EntryStatus } from './report.js';

/** Span attribute that names a claim check holding the span's passport (docs/spec.md §10). */
export const CLAIM_CHECK_ATTRIBUTE = 'kest.claim_check';

/** @internal One entry while auditing (one per hash; a trace that borrows it gets a fresh copy). */
export interface Node {
  hash: string;
  jws: string;
  /** Set by parseNode (entries of spans are parsed when their trace is audited, not when read). */
  parsed: boolean;
  /** The profile its entry was parsed under (a node parsed under another is parsed again). */
  parsedAs?: InteropProfile;
  entry: SignedEntry | undefined;
  parseError: { reason: string; message: string } | undefined;
  span: SpanRecord | undefined;
  source: EntrySource;
  crossTrace: boolean;
  order: number;
  // filled while auditing
  index: number;
  status: EntryStatus;
  reason: string | undefined;
  message: string | undefined;
  sanitized: boolean;
  supersededBy: string | undefined;
}

/** @internal */
export interface Group {
  traceId: string;
  nodes: Node[];
  spans: SpanRecord[];
  duplicates: number;
}

/** @internal A node whose entry is parsed later (parseNode): `hash` must be entryHash(jws). */
export function lazyNode(
  jws: string,
  hash: string,
  source: EntrySource,
  span: SpanRecord | undefined,
  order: number,
): Node {
  return {
    hash,
    jws,
    parsed: false,
    entry: undefined,
    parseError: undefined,
    span,
    source,
    crossTrace: false,
    order,
    ...freshAuditState(),
  };
}

/** @internal The per-audit state of a node before any trace has audited it (also for cross-trace copies). */
export function freshAuditState() {
  return {
    index: -1,
    status: 'unverified' as const,
    reason: undefined,
    message: undefined,
    sanitized: false,
    supersededBy: undefined,
  };
}

/** @internal Parse a node's entry once (strict JWS + payload; no signature check). */
export function parseNode(n: Node, profile: InteropProfile = 'spec'): Node {
  if (n.parsed && (n.parsedAs ?? 'spec') === profile) return n;
  n.parsed = true;
  n.parsedAs = profile;
  n.entry = undefined;
  n.parseError = undefined;
  try {
    n.entry = parseSignedEntry(n.jws, undefined, n.hash, profile);
  } catch (err) {
    const code = err instanceof KestError ? err.code : '';
    n.parseError = { reason: parseFailureReason(code), message: (err as Error).message };
  }
  return n;
}

/** @internal A node parsed now (entries found while auditing: recovered, or of a passport). */
export function makeNode(
  jws: string,
  source: EntrySource,
  span: SpanRecord | undefined,
  order: number,
  profile: InteropProfile = 'spec',
): Node {
  return parseNode(lazyNode(jws, entryHash(jws), source, span, order), profile);
}

/** The last JWS of a passport attribute (a JSON array of JWS strings) without parsing the rest. */
export function passportTipJws(value: string): string | undefined {
  const end = value.length - 2;
  if (value.charCodeAt(end + 1) !== 93 /* ] */ || value.charCodeAt(end) !== 34 /* " */) return undefined;
  const start = value.lastIndexOf('"', end - 1);
  if (start < 1) return undefined;
  const jws = value.slice(start + 1, end);
  // Compact JWS is base64url and dots only: anything else means escapes, so parse properly.
  return /^[A-Za-z0-9_.-]+$/.test(jws) ? jws : undefined;
}

/**
 * @internal The hash a span's kest.passport attribute names as its tip, if any. `own` is the span's
 * own entry (JWS and hash): the usual tip, whose hash is then not computed again.
 */
export function passportTipHash(value: unknown, own?: { jws: string; hash: string }): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (value.startsWith('tip:')) return value.slice(4);
  let tip = passportTipJws(value);
  if (own !== undefined && tip === own.jws) return own.hash;
  if (tip === undefined) {
    try {
      const arr = JSON.parse(value) as unknown;
      if (Array.isArray(arr) && typeof arr[arr.length - 1] === 'string') tip = arr[arr.length - 1] as string;
    } catch {
      return undefined;
    }
  }
  return tip === undefined ? undefined : entryHash(tip);
}

/** @internal The claim check a span names for its passport, if any (a UUID). */
export function claimCheckOf(span: SpanRecord): string | undefined {
  const direct = span.attributes[CLAIM_CHECK_ATTRIBUTE];
  if (typeof direct === 'string' && isUuid(direct)) return direct;
  const p = span.attributes[SPAN.passport];
  if (typeof p === 'string' && p.startsWith('claim_check:') && isUuid(p.slice(12))) return p.slice(12);
  return undefined;
}

/**
 * @internal Group spans into traces: every Kest entry under its span's trace id. Entries are hashed
 * here (a hash seen before, in any trace, is a duplicate) and parsed when their trace is audited.
 */
export function groupSpans(spans: readonly SpanRecord[]): {
  groups: Map<string, Group>;
  byHash: Map<string, Node>;
} {
  const groups = new Map<string, Group>();
  const byHash = new Map<string, Node>();
  let order = 0;
  for (const span of spans) {
    let g = groups.get(span.traceId);
    if (!g) {
      g = { traceId: span.traceId, nodes: [], spans: [], duplicates: 0 };
      groups.set(span.traceId, g);
    }
    g.spans.push(span);
    // A call's span carries its entry and, once the call closed, its completion (§11).
    for (const attribute of ENTRY_ATTRIBUTES) {
      const jws = span.attributes[attribute];
      if (typeof jws !== 'string') continue;
      const node = lazyNode(jws, entryHash(jws), 'span', span, order++);
      if (byHash.has(node.hash)) {
        g.duplicates++;
        continue;
      }
      byHash.set(node.hash, node);
      g.nodes.push(node);
    }
  }
  return { groups, byHash };
}

const ENTRY_ATTRIBUTES = [SPAN.signature, SPAN.completion] as const;

/** @internal The parent hashes an entry names (none for a root). */
export function parentsOf(n: Node): string[] {
  const ids = n.entry?.payload.parent_ids ?? [];
  return ids.length === 1 && ids[0] === ROOT_PARENT ? [] : ids.filter((p) => p !== ROOT_PARENT);
}

/**
 * @internal Whether a group is the trace asked for: by OpenTelemetry trace id or by the entries'
 * labels.trace_id (parses the group's entries).
 */
export function matchesTrace(group: Group, traceId: string, profile: InteropProfile = 'spec'): boolean {
  for (const n of group.nodes) parseNode(n, profile);
  const want = traceId.toLowerCase();
  return group.traceId === want || group.nodes.some((n) => n.entry?.payload.labels.trace_id === traceId);
}

/** @internal Kahn's algorithm over hash links; ties by the order entries were read (stable, not by time). */
export function topologicalOrder(all: Node[], nodes: Map<string, Node>): Node[] {
  const sorted = [...all].sort((a, b) => a.order - b.order);
  const pending = new Map<Node, number>();
  const kids = new Map<string, Node[]>();
  for (const n of sorted) {
    const present = [...new Set(parentsOf(n))].filter((p) => nodes.has(p) && p !== n.hash);
    pending.set(n, present.length);
    for (const p of present) pushTo(kids, p, n);
  }
  const ready = sorted.filter((n) => pending.get(n) === 0);
  const out: Node[] = [];
  // A read cursor, not shift(): shift is O(n) per call on a long queue (N children of one root).
  for (let head = 0; head < ready.length; head++) {
    const n = ready[head] as Node;
    out.push(n);
    for (const c of kids.get(n.hash) ?? []) {
      const left = (pending.get(c) as number) - 1;
      pending.set(c, left);
      if (left === 0) {
        // keep `ready` sorted by read order
        let i = ready.length;
        while (i > head + 1 && (ready[i - 1] as Node).order > c.order) i--;
        ready.splice(i, 0, c);
      }
    }
  }
  if (out.length < sorted.length) {
    // Only possible with a hash collision or self-reference: keep them, they will fail verification.
    const seen = new Set(out);
    for (const n of sorted) if (!seen.has(n)) out.push(n);
  }
  // Unparseable entries last: nothing can link to them.
  return [...out.filter((n) => n.entry), ...out.filter((n) => !n.entry)];
}

/**
 * @internal Each leaf's ancestry over one ordered list, indexed once: a branch costs its own size
 * (times log of it, to keep the list's order), not the whole trace's. N forged children of one root
 * are N branches of two entries, near-linear in N (issue 14 item 4); `visits` counts the work.
 */
export class AncestryIndex {
  readonly #byHash: Map<string, Node>;
  readonly #position: Map<Node, number>;
  /** Nodes visited by every `of` call so far (for tests asserting the work stays near-linear). */
  visits = 0;

  constructor(ordered: readonly Node[]) {
    this.#byHash = new Map(ordered.map((n) => [n.hash, n]));
    this.#position = new Map(ordered.map((n, i) => [n, i]));
  }

  /** The leaf and its ancestors present in the list, in the list's (topological) order. */
  of(leaf: Node): Node[] {
    const keep = new Set<Node>([leaf]);
    const stack = [leaf];
    while (stack.length > 0) {
      const n = stack.pop() as Node;
      this.visits++;
      for (const p of parentsOf(n)) {
        const parent = this.#byHash.get(p);
        if (parent && !keep.has(parent)) {
          keep.add(parent);
          stack.push(parent);
        }
      }
    }
    const at = (n: Node) => this.#position.get(n) ?? -1;
    return [...keep].sort((a, b) => at(a) - at(b));
  }
}

/** @internal The leaf and its ancestors, in the given (topological) order. */
export function ancestry(leaf: Node, ordered: Node[]): Node[] {
  return new AncestryIndex(ordered).of(leaf);
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** @internal Each node's children present in the trace (by parent hash), in the given order. */
export function childrenOf(ordered: readonly Node[], nodes: ReadonlyMap<string, Node>): Map<string, Node[]> {
  const children = new Map<string, Node[]>();
  for (const n of ordered) {
    for (const p of parentsOf(n)) {
      if (nodes.has(p)) pushTo(children, p, n);
    }
  }
  return children;
}
