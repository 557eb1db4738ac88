/**
 * An audit worker: audits the traces the main thread sends (the same Auditor, the same
 * PassportVerifier) and resolves keys through the main thread's trust source. A trace that
 * references an entry it does not carry is handed back (kind 'main'): only the main thread sees
 * every span, the carried passports and the claim-check cache. A worker serves one audit after
 * another ('begin' … 'end'), each with its own settings and keys; several may overlap.
 */

import type { KeyObject } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { KestVerificationError, type VerificationReason } from '../errors.js';
import type { KeyRequest, TrustSource } from '../keys/trust-source.js';
import { DefaultTrustEvaluator } from '../trust/evaluator.js';
import type { InteropProfile } from '../wire/constants.js';
import { Auditor } from './auditor.js';
import { type Group, lazyNode, matchesTrace, type Node } from './graph.js';
import type { FromWorker, RemoteError, SlimGroup, ToWorker, WireResult, WorkerSettings } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('kest audit worker: not in a worker thread');

const pending = new Map<number, { resolve: (k: KeyObject) => void; reject: (e: Error) => void }>();
let nextId = 0;
const post = (m: FromWorker) => port.postMessage(m);

function rebuildError(e: RemoteError): Error {
  if (!e.verification || e.reason === undefined) return new Error(e.message);
  const index = e.index ?? -1;
  // KestVerificationError prefixes "entry i (id): "; give it back the message without it.
  const where = index >= 0 ? `entry ${index}${e.entryId ? ` (${e.entryId})` : ''}: ` : '';
  const message = e.message.startsWith(where) ? e.message.slice(where.length) : e.message;
  return new KestVerificationError(e.reason as VerificationReason, message, { index, entryId: e.entryId });
}

function askMain(run: number, request: KeyRequest): Promise<KeyObject> {
  const id = nextId++;
  const { principal, header, entry, index, chains } = request;
  return new Promise<KeyObject>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    post({
      type: 'key',
      run,
      id,
      request: { principal, header, entry, index, ...(chains ? { chains } : {}) },
    });
  });
}

/** Keys come from the main thread; reused per (principal, kid) only when the source allows it. */
class RemoteTrust implements TrustSource {
  readonly #keys = new Map<string, KeyObject>();
  readonly #asked = new Map<string, Promise<KeyObject>>();

  constructor(
    readonly run: number,
    readonly reuse: boolean,
  ) {}

  resolveKey(request: KeyRequest): KeyObject | Promise<KeyObject> {
    if (!this.reuse) return askMain(this.run, request);
    const memo = `${request.principal}\n${request.header.kid ?? ''}`;
    const known = this.#keys.get(memo);
    if (known) return known;
    const asked = this.#asked.get(memo);
    // Another trace asked already: share its answer; if it was an error, ask again (the error
    // names that trace's entry, not this one).
    if (asked) return asked.catch(() => askMain(this.run, request));
    const p = askMain(this.run, request).then(
      (key) => {
        this.#keys.set(memo, key);
        this.#asked.delete(memo);
        return key;
      },
      (err: unknown) => {
        this.#asked.delete(memo);
        throw err;
      },
    );
    this.#asked.set(memo, p);
    return p;
  }
}

interface Run {
  auditor: Auditor;
  traceId: string | undefined;
  profile: InteropProfile | undefined;
}
const runs = new Map<number, Run>();

function begin(run: number, settings: WorkerSettings): void {
  runs.set(run, {
    traceId: settings.traceId,
    profile: settings.profile,
    auditor: new Auditor({
      trust: new RemoteTrust(run, settings.keysByPrincipalAndKid),
      ...(settings.sanitizers ? { sanitizers: settings.sanitizers } : {}),
      ...(settings.origins
        ? { trustEvaluator: new DefaultTrustEvaluator({ additionalOrigins: settings.origins }) }
        : {}),
      ...(settings.strictLineage !== undefined ? { strictLineage: settings.strictLineage } : {}),
      ...(settings.roots ? { roots: settings.roots } : {}),
      ...(settings.profile ? { profile: settings.profile } : {}),
    }),
  });
}

const NONE: ReadonlyMap<string, Node> = new Map();

async function auditOne(run: Run, slim: SlimGroup): Promise<WireResult> {
  const group: Group = { traceId: slim.traceId, spans: slim.spans, nodes: [], duplicates: slim.duplicates };
  for (const [jws, hash, span, order] of slim.nodes) {
    group.nodes.push(lazyNode(jws, hash, 'span', slim.spans[span], order));
  }
  if (run.traceId !== undefined && !matchesTrace(group, run.traceId, run.profile)) return { kind: 'skip' };
  const report = await run.auditor.auditGroup(group, NONE, true);
  if (!report) return { kind: 'main' };
  // The main thread holds every JWS: send indices, not a second copy of each string.
  const at = new Map(report.entries.map((e, i) => [e.jws, i]));
  const passport = report.passport.map((jws) => at.get(jws) as number);
  for (const e of report.entries) e.jws = '';
  report.passport = [];
  return { kind: 'report', report, passport };
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'key': {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if ('key' in m) p?.resolve(m.key);
      else p?.reject(rebuildError(m.error));
      return;
    }
    case 'begin':
      begin(m.run, m.settings);
      return;
    case 'end':
      runs.delete(m.run);
      return;
    case 'audit': {
      const run = runs.get(m.run);
      if (!run) throw new Error(`kest audit worker: no audit ${m.run}`);
      // Traces of a batch are audited concurrently: while one waits for a key, the others go on.
      // A rejection (not expected: the Auditor reports failures) ends the worker; the main thread
      // then audits the batch itself.
      void Promise.all(m.groups.map((g) => auditOne(run, g))).then((results) =>
        post({ type: 'done', run: m.run, id: m.id, results }),
      );
    }
  }
});
