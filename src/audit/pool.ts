/**
 * Audit traces on worker threads. The main thread has read and grouped the spans and hashed every
 * entry (the global hash index gap recovery needs); workers parse and verify whole traces with the
 * same Auditor and send back reports. Keys come from the caller's trust source on the main thread
 * (so any TrustSource works); a JwksTrustSource's keys are reused per (principal, kid).
 *
 * What a worker cannot see — a parent carried by another trace, a passport another span carried,
 * a claim check — makes it hand the trace back, and the main thread audits it in-process. If
 * workers cannot start or die, their traces are audited in-process too: the reports are the same
 * either way (test/audit/parallel.test.ts), only slower.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KestVerificationError } from '../errors.js';
import { JwksTrustSource } from '../keys/jwks.js';
import type { TrustSource } from '../keys/trust-source.js';
import type { AttributeValue, SpanRecord } from '../telemetry/record.js';
import { DefaultTrustEvaluator } from '../trust/evaluator.js';
import { SanitizerPolicy, type SanitizerRule } from '../trust/sanitizers.js';
import { SPAN } from '../wire/constants.js';
import { type Group, type Node, passportTipHash } from './graph.js';
import type {
  FromWorker,
  GroupResult,
  RemoteError,
  SlimGroup,
  ToWorker,
  WireResult,
  WorkerSettings,
} from './protocol.js';
import type { AuditOptions } from './report.js';

/** Below this many entries an audit stays on the calling thread (starting workers costs more). */
export const DEFAULT_WORKER_MIN_SPANS = 500;
const MAX_WORKERS = 3;

/**
 * Workers an audit may use besides the calling thread, which audits too (0: in-process). Default:
 * one per core but the caller's, at most 3.
 */
export function workerBudget(options: Partial<AuditOptions>): number {
  if (options.workers !== undefined) return Math.max(0, Math.floor(options.workers));
  return Math.max(0, Math.min(availableParallelism() - 1, MAX_WORKERS));
}

/** How many workers to use for an audit of this size (0: in-process). */
export function plannedWorkers(options: Partial<AuditOptions>, entries: number, traces: number): number {
  if (traces < 2 || entries < (options.workerMinSpans ?? DEFAULT_WORKER_MIN_SPANS)) return 0;
  return Math.min(workerBudget(options), traces - 1);
}

/** What workers need to audit as the caller asked, or undefined when that cannot cross a thread. */
export function workerSettings(options: Partial<AuditOptions>): WorkerSettings | undefined {
  if (!options.trust) return undefined; // drawing without verification: nothing worth a thread
  let sanitizers: SanitizerRule[] | undefined;
  const s = options.sanitizers;
  if (s instanceof SanitizerPolicy) {
    if (Object.getPrototypeOf(s) !== SanitizerPolicy.prototype) return undefined; // custom logic
    sanitizers = s.rules;
  } else if (s) sanitizers = [...s];
  let origins: Record<string, number> | undefined;
  const ev = options.trustEvaluator;
  if (ev !== undefined) {
    // A custom evaluator is code: it cannot be sent to a worker.
    if (Object.getPrototypeOf(ev) !== DefaultTrustEvaluator.prototype) return undefined;
    origins = { ...(ev as DefaultTrustEvaluator).origins };
  }
  return {
    sanitizers,
    origins,
    strictLineage: options.strictLineage,
    roots: options.roots ? options.roots.map((r) => ({ ...r })) : undefined,
    profile: options.profile,
    traceId: options.traceId,
    keysByPrincipalAndKid: Object.getPrototypeOf(options.trust) === JwksTrustSource.prototype,
  };
}

/** A span as much as an audit reads of it; kest.passport becomes `tip:<hash>` (same tip, no copy). */
function slimSpan(s: SpanRecord, own: Node | undefined): SpanRecord {
  const a = s.attributes;
  const attributes: Record<string, AttributeValue> = {};
  if (a[SPAN.signature] !== undefined) attributes[SPAN.signature] = a[SPAN.signature] as AttributeValue;
  if (a[SPAN.completion] !== undefined) attributes[SPAN.completion] = a[SPAN.completion] as AttributeValue;
  if (a[SPAN.operation] !== undefined) attributes[SPAN.operation] = a[SPAN.operation] as AttributeValue;
  const tip = passportTipHash(a[SPAN.passport], own);
  if (tip !== undefined) attributes[SPAN.passport] = `tip:${tip}`;
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: s.startTimeUnixNano,
    endTimeUnixNano: s.endTimeUnixNano,
    status: s.status,
    attributes,
    resource: { 'service.name': s.resource['service.name'] as AttributeValue },
    scope: s.scope,
  };
}

function slimGroup(g: Group): SlimGroup {
  const own = new Map<SpanRecord, Node>();
  for (const n of g.nodes) if (n.span) own.set(n.span, n);
  const index = new Map<SpanRecord, number>();
  const spans = g.spans.map((s, i) => {
    index.set(s, i);
    return slimSpan(s, own.get(s));
  });
  return {
    traceId: g.traceId,
    duplicates: g.duplicates,
    spans,
    nodes: g.nodes.map((n) => [n.jws, n.hash, index.get(n.span as SpanRecord) as number, n.order]),
  };
}

/** The worker entry: compiled JavaScript, or (from source: tsx, vitest) TypeScript through tsx. */
function spawnWorker(): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./worker.js', here));
  // tsx's ESM API (its package exports resolve to the CommonJS build under require()).
  const tsx = new URL(
    'dist/esm/api/index.mjs',
    pathToFileURL(createRequire(here).resolve('tsx/package.json')),
  ).href;
  const entry = new URL('./worker.ts', here).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { eval: true });
}

function remoteError(err: unknown): RemoteError {
  const e = err as Error;
  return err instanceof KestVerificationError
    ? { verification: true, reason: err.reason, message: err.message, index: err.index, entryId: err.entryId }
    : {
        verification: false,
        reason: undefined,
        message: typeof e?.message === 'string' ? e.message : String(err),
        index: undefined,
        entryId: undefined,
      };
}

/** Resolve a worker's key request with the caller's trust source and send the key (or error) back. */
function answerKey(w: Worker, m: Extract<FromWorker, { type: 'key' }>, trust: TrustSource): void {
  Promise.resolve()
    .then(() => trust.resolveKey(m.request))
    .then(
      (key) => w.postMessage({ type: 'key', id: m.id, key } satisfies ToWorker),
      (err: unknown) => w.postMessage({ type: 'key', id: m.id, error: remoteError(err) } satisfies ToWorker),
    )
    .catch(() => void w.terminate()); // a key that cannot be sent: the caller audits
}

/**
 * Group indices in batches of about 1/8 of a thread's share of the entries: small enough to balance
 * on a busy machine.
 */
function batchesOf(groups: readonly Group[], threads: number): number[][] {
  const entries = groups.reduce((n, g) => n + g.nodes.length, 0);
  const perBatch = Math.max(50, Math.ceil(entries / (threads * 8)));
  const batches: number[][] = [];
  let current: number[] = [];
  let size = 0;
  groups.forEach((g, i) => {
    current.push(i);
    size += g.nodes.length;
    if (size >= perBatch) {
      batches.push(current);
      current = [];
      size = 0;
    }
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

/** A worker's result with its JWS strings put back (undefined: the caller audits the trace). */
function completeResult(r: WireResult, jwsOf: (hash: string) => string | undefined): GroupResult | undefined {
  if (r.kind !== 'report') return r;
  for (const e of r.report.entries) {
    const jws = jwsOf(e.hash);
    if (jws === undefined) return undefined; // cannot happen: then the caller audits it
    e.jws = jws;
  }
  r.report.passport = r.passport.map((i) => r.report.entries[i]?.jws as string);
  return { kind: 'report', report: r.report };
}

/** Idle workers of the shared pool stop after this long. */
const IDLE_MS = 10_000;
let shared: AuditPool | undefined;

/**
 * The process's pool of audit workers, grown to `count`. Workers start now (so that their start-up
 * overlaps whatever the caller does next, e.g. reading the spans), serve audit after audit, do not
 * keep the process alive while idle, and stop after 10 s without work.
 */
export function sharedPool(count: number): AuditPool {
  if (!shared || shared.closed) shared = new AuditPool();
  shared.grow(count);
  return shared;
}

/** Stop the shared audit workers now (they also stop by themselves when idle). */
export async function closeAuditWorkers(): Promise<void> {
  const pool = shared;
  shared = undefined;
  await pool?.close();
}

/** Audit workers. Each audit (run) sends its settings first; runs may overlap. */
export class AuditPool {
  readonly #workers: Worker[] = [];
  readonly #handlers = new Map<number, (w: Worker, m: FromWorker) => void>();
  #nextRun = 1;
  #active = 0;
  #idle: NodeJS.Timeout | undefined;
  #closed = false;

  /** A pool of its own (closed by the caller). */
  static start(count: number): AuditPool {
    const pool = new AuditPool();
    pool.grow(count);
    return pool;
  }

  get size(): number {
    return this.#workers.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  grow(count: number): void {
    while (!this.#closed && this.#workers.length < count) {
      let w: Worker;
      try {
        w = spawnWorker();
      } catch {
        return; // no worker: its share stays with the calling thread
      }
      w.on('message', (m: FromWorker) => this.#handlers.get(m.run)?.(w, m));
      const gone = () => {
        const i = this.#workers.indexOf(w);
        if (i >= 0) this.#workers.splice(i, 1);
      };
      w.on('error', gone);
      w.on('exit', gone);
      if (this.#active === 0) w.unref();
      this.#workers.push(w);
    }
  }

  /**
   * Audit `groups`. One result per group; undefined where the caller must audit the group itself
   * (a worker died or could not start, or a report could not be completed). `jwsOf` gives back the
   * JWS of a hash (reports travel without them). With `local`, the calling thread takes batches
   * too, between handling the workers' messages.
   */
  async run(
    groups: readonly Group[],
    trust: TrustSource,
    settings: WorkerSettings,
    jwsOf: (hash: string) => string | undefined,
    local?: (group: Group) => Promise<GroupResult>,
  ): Promise<(GroupResult | undefined)[]> {
    const results: (GroupResult | undefined)[] = new Array(groups.length).fill(undefined);
    const run = this.#nextRun++;
    const live: Worker[] = [];
    for (const w of this.#workers) {
      try {
        w.postMessage({ type: 'begin', run, settings } satisfies ToWorker);
        live.push(w);
      } catch {
        // settings that cannot be cloned: this audit stays on the calling thread
      }
    }
    if (live.length === 0 && !local) return results;
    const perWorker = new Map<Worker, (m: FromWorker) => void>();
    this.#handlers.set(run, (w, m) => perWorker.get(w)?.(m));
    this.#enter();
    try {
      await this.#run(run, live, perWorker, groups, results, trust, jwsOf, local);
    } finally {
      this.#handlers.delete(run);
      for (const w of live) {
        try {
          w.postMessage({ type: 'end', run } satisfies ToWorker);
        } catch {
          // gone
        }
      }
      this.#leave();
    }
    return results;
  }

  #enter(): void {
    this.#active++;
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = undefined;
    for (const w of this.#workers) w.ref();
  }

  #leave(): void {
    this.#active--;
    if (this.#active > 0) return;
    for (const w of this.#workers) w.unref();
    if (this === shared) {
      this.#idle = setTimeout(() => {
        if (shared === this) shared = undefined;
        void this.close();
      }, IDLE_MS);
      this.#idle.unref();
    }
  }

  async #run(
    run: number,
    live: Worker[],
    perWorker: Map<Worker, (m: FromWorker) => void>,
    groups: readonly Group[],
    results: (GroupResult | undefined)[],
    trust: TrustSource,
    jwsOf: (hash: string) => string | undefined,
    local: ((group: Group) => Promise<GroupResult>) | undefined,
  ): Promise<void> {
    const batches = batchesOf(groups, live.length + (local ? 1 : 0));

    let next = 0;
    let batchId = 0;
    const onWorker = (w: Worker) =>
      new Promise<void>((resolve) => {
        const inFlight = new Map<number, number[]>();
        let closed = false;
        const finish = () => {
          if (closed) return;
          closed = true;
          perWorker.delete(w);
          w.off('error', finish);
          w.off('exit', finish);
          resolve(); // batches still in flight stay undefined: audited by the caller
        };
        const feed = () => {
          const batch = batches[next++];
          if (!batch) {
            if (inFlight.size === 0) finish();
            return;
          }
          const id = batchId++;
          inFlight.set(id, batch);
          w.postMessage({
            type: 'audit',
            run,
            id,
            groups: batch.map((i) => slimGroup(groups[i] as Group)),
          } satisfies ToWorker);
        };
        const onMessage = (m: FromWorker) => {
          if (m.type === 'key') {
            answerKey(w, m, trust);
            return;
          }
          const batch = inFlight.get(m.id);
          if (!batch) return;
          inFlight.delete(m.id);
          batch.forEach((g, k) => {
            results[g] = completeResult(m.results[k] as WireResult, jwsOf);
          });
          feed();
        };
        perWorker.set(w, onMessage);
        w.on('error', finish);
        w.on('exit', finish);
        // Two batches ahead: a worker never waits for the main thread to notice it is done.
        feed();
        feed();
      });
    const onMain = async () => {
      if (!local) return;
      for (let batch = batches[next++]; batch; batch = batches[next++]) {
        for (const i of batch) {
          results[i] = await local(groups[i] as Group);
          // Let the workers' messages in (keys, finished batches) between traces.
          await new Promise<void>((r) => setImmediate(r));
        }
      }
    };
    await Promise.all([...live.map(onWorker), onMain()]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#idle) clearTimeout(this.#idle);
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
