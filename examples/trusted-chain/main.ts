/**
 * `npm run demo` — the trusted chain: hop1 (Express) → hop2 (Fastify) → hop3 (Hono) on 127.0.0.1,
 * each with its own identity, each handler protected by kestVerified under the shipped Cedar
 * policies, each calling the next with the Kest propagator. Prints the nested result; the hops'
 * spans go to a JSON-lines file (kest/telemetry, file exporter) and the `kest audit` logic
 * (kest/audit auditFile) rebuilds the passport from that file and verifies it offline.
 *
 *   npm run demo                         the honest chain, ends with "verified"
 *   npm run demo -- --tamper[=edit]      hop2 edits hop1's entry: hop3 refuses (401), audit names entry 0
 *   npm run demo -- --tamper=inflate     hop2 inflates its own trust: refused, audit names entry 1
 *   npm run demo -- --attack=reroot      hop2 drops hop1's entry, re-roots as `system`: unauthorized_root
 *   npm run demo -- --attack=drop        hop3 deletes its own spans: the audit names the missing record
 *   npm run demo -- --viz[=FILE]         also write the HTML lineage viewer (default .kest-demo/lineage.html)
 *   npm run demo -- --spiffe             SVIDs from the in-repo dev Workload API, SPIFFE mutual TLS
 *                                        between the hops (mtls.ts); audit with its bundle only
 *   npm run demo -- --frameworks=node,node,node   any adapter per hop (express, fastify, hono, node)
 *   npm run demo -- --out=DIR            where spans, trust file and viewer go (default .kest-demo)
 *
 * Exit code 0 when the chain behaved as the mode expects (verified, or the tampering was caught).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { AuditEntry, AuditFailure, AuditReport } from '../../src/audit/index.js';
import { renderHtml } from '../../src/audit/index.js';
import { configure } from '../../src/config/config.js';
import { parseSignedEntry, type SignedEntry } from '../../src/entry/signed.js';
import { KestError } from '../../src/errors.js';
import type { Refusal } from '../../src/http/core.js';
import { silentLogger } from '../../src/logger.js';
import type { Passport } from '../../src/passport/passport.js';
import {
  CedarLocalEngine,
  KEST_POLICY_LIBRARY_DIR,
  KEST_POLICY_SCHEMA_PATH,
} from '../../src/policy/cedar-local.js';
import { parseBaggageMembers } from '../../src/propagation/baggage.js';
import { MemoryCacheProvider } from '../../src/propagation/cache.js';
import { BaggageManager } from '../../src/propagation/manager.js';
import { auditEvidence, auditSpanFile, startSpanFile } from './audit.js';
import { type HopConfig, startChain } from './chain.js';
import { dropOwnSpans, dropVerdict } from './drop.js';
import { createIdentities, type IdentityMode } from './identity.js';
import type { DemoMtls } from './mtls.js';
import { type RecordedRequest, replayAttack } from './replay.js';
import { rerootAsSystem } from './reroot.js';
import { serveUntilSignal } from './serve.js';
import { FRAMEWORKS, type Framework } from './servers.js';
import { editUpstreamEntry, inflateOwnEntry, type TamperMode } from './tamper.js';

interface Args {
  tamper: TamperMode | 'reroot' | undefined;
  identity: IdentityMode;
  frameworks: Framework[];
  /** Where the viewer goes, when asked for. */
  viz: string | undefined;
  out: string;
  /**
   * --attack=replay: re-send hop1 → hop2's recorded request to hop2 and hop3 (replay.ts);
   * --attack=drop: hop3 deletes its own spans before export (drop.ts).
   */
  attack: 'replay' | 'drop' | undefined;
  /** --serve: keep the hops serving, make no call (serve.ts). */
  serve: boolean;
}

const USAGE =
  'usage: npm run demo -- [--tamper[=edit|inflate]] [--attack=replay|reroot|drop] [--serve] [--viz[=FILE]] [--spiffe] [--frameworks=a,b,c] [--out=DIR]\n';

/** A command line the demo does not take: reported with the usage text, exit 1, nothing run. */
class UsageError extends Error {}

/**
 * Everything a run may write into --out. Each run removes them all first, so no file of an earlier
 * run (another mode's trust file, evidence, viewer) sits beside this run's as if it were its own.
 */
const RUN_FILES = [
  'spans.jsonl',
  'trust.jwks.json',
  'bundle.json',
  'roots.json',
  'evidence.passport.json',
  'lineage.html',
];

function parseArgs(argv: string[]): Args | undefined {
  const args: Args = {
    tamper: undefined,
    identity: 'local',
    frameworks: ['express', 'fastify', 'hono'],
    viz: undefined,
    out: '.kest-demo',
    attack: undefined,
    serve: false,
  };
  let viz: string | true | undefined;
  for (const a of argv) {
    if (a === '--tamper' || a === '--tamper=edit') args.tamper = 'edit';
    else if (a === '--tamper=inflate') args.tamper = 'inflate';
    else if (a === '--attack=reroot') args.tamper = 'reroot';
    else if (a === '--attack=drop') args.attack = 'drop';
    else if (a === '--spiffe') args.identity = 'spiffe';
    else if (a === '--attack=replay') args.attack = 'replay';
    else if (a === '--serve') args.serve = true;
    else if (a === '--viz') viz = true;
    else if (a.startsWith('--viz=') && a.length > 6) viz = a.slice(6);
    else if (a.startsWith('--out=') && a.length > 6) args.out = a.slice(6);
    else if (a.startsWith('--frameworks=')) {
      const list = a.slice('--frameworks='.length).split(',');
      if (list.length !== 3 || !list.every((f) => (FRAMEWORKS as readonly string[]).includes(f))) {
        throw new UsageError(`--frameworks takes three of ${FRAMEWORKS.join(', ')}`);
      }
      args.frameworks = list as Framework[];
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      return undefined; // let stdout drain: no process.exit
    } else throw new UsageError(`unknown argument ${a}`);
  }
  if (viz !== undefined) args.viz = viz === true ? join(args.out, 'lineage.html') : viz;
  return args;
}

const HOPS = [
  { name: 'hop1', workload: 'spiffe://kest.demo/gateway', sourceType: 'internal' },
  { name: 'hop2', workload: 'spiffe://kest.demo/enricher', sourceType: 'third_party_api' },
  { name: 'hop3', workload: 'spiffe://kest.demo/exporter', sourceType: 'system' },
] as const;
const POLICIES = ['allowed-workloads', 'min-trust'];
const ISSUER = 'https://idp.kest.demo';

const out = (line = '') => process.stdout.write(`${line}\n`);
const short = (s: string | undefined, n = 8) => (s ? `${s.slice(0, n)}…` : '-');
/** Paths as the user would type them: relative below the working directory, else absolute. */
const rel = (p: string) => {
  const r = relative(process.cwd(), resolve(p));
  return r === '' ? '.' : r.startsWith('..') ? resolve(p) : r;
};

/**
 * The shipped policy library. allowed-workloads lists the local demo's workload ids; with other
 * ids (--spiffe) its list is replaced by the hops' ids, as the policy's own comment asks.
 */
function demoEngine(workloadIds: readonly string[]): CedarLocalEngine {
  if (HOPS.every((h, i) => h.workload === workloadIds[i])) return CedarLocalEngine.library();
  const list = workloadIds.map((id) => `    Kest::Workload::${JSON.stringify(id)}`).join(',\n');
  const policies = readdirSync(KEST_POLICY_LIBRARY_DIR)
    .filter((f) => f.endsWith('.cedar'))
    .sort()
    .map((name) => {
      const text = readFileSync(join(KEST_POLICY_LIBRARY_DIR, name), 'utf8');
      if (name !== 'allowed-workloads.cedar') return { name, text };
      const replaced = text.replace(/\[[^\]]*\]/, `[\n${list}\n  ]`);
      if (replaced === text) throw new Error('allowed-workloads.cedar: no workload list to replace');
      return { name, text: replaced };
    });
  return new CedarLocalEngine({ policies, schema: readFileSync(KEST_POLICY_SCHEMA_PATH, 'utf8') });
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => `  ${r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')}`.trimEnd()).join('\n');
}

/** How an entry's key is named in its protected header. */
function keyRef(e: SignedEntry): string {
  const h = e.header as Record<string, unknown>;
  const refs = [h['x5t#S256'] ? 'x5t#S256' : '', Array.isArray(h.x5c) ? 'x5c' : '', h.kid ? 'kid' : ''];
  return `${String(h.alg)} ${refs.filter(Boolean).join('+') || '-'}`;
}

function lineageTable(entries: readonly AuditEntry[], serviceOf: Map<string, string>): string {
  const rows = [
    [
      '#',
      'service',
      'principal',
      'operation',
      'source',
      'trust',
      'taints',
      'user',
      'entry_id',
      'hash',
      'signed',
      'audit',
    ],
  ];
  for (const e of entries) {
    const signed = parseSignedEntry(e.jws);
    const who = JSON.parse(signed.payload.labels['kest.identity'] ?? '{}') as { user?: string | null };
    rows.push([
      String(e.index),
      serviceOf.get(e.principal ?? '') ?? '?',
      e.principal ?? '?',
      e.operation ?? '?',
      e.sourceType ?? '-',
      String(e.trustScore ?? '?') + (e.trustOverride ? ' (override)' : ''),
      e.taints.length ? e.taints.join(',') : '-',
      who.user ?? '-',
      short(e.entryId, 13),
      short(e.hash, 12),
      keyRef(signed),
      e.status === 'verified' ? '✓' : e.status === 'failed' ? `✗ ${e.reason ?? ''}` : `? ${e.reason ?? ''}`,
    ]);
  }
  return table(rows);
}

function describeFailure(f: AuditFailure, report: AuditReport, serviceOf: Map<string, string>): string {
  const entry = report.entries[f.index];
  const by = entry ? ` (${serviceOf.get(entry.principal ?? '') ?? '?'}, ${entry.operation ?? '?'})` : '';
  const detail = f.message.replace(/^entry \d+ \([^)]*\): /, '');
  return `entry ${f.index}${by}: ${f.reason} — ${detail}`;
}

/** Gaps and forks the audit found, one line each. */
function auditNotes(report: AuditReport): string[] {
  return [
    ...report.gaps.map(
      (g) =>
        `gap: ${short(g.hash, 12)} referenced by ${g.referencedBy.join(', ')}; ${g.recovered ? `recovered from ${g.recovered}` : 'entry lost'}`,
    ),
    ...report.missingRecords.map(
      (m) =>
        `missing_record: ${short(m.hash, 12)} (${m.via} of ${m.referencedBy}); ${m.expectedFrom ?? 'an unknown workload'} should have exported it`,
    ),
    ...report.incomplete.map((i) => `incomplete: ${i.operation} by ${i.principal} has no completion`),
    ...report.forks.map(
      (f) =>
        `fork (${f.kind}) at entry ${f.parentIndex}: ${f.children.map((c) => `${c.index}:${c.status}`).join(', ')}`,
    ),
  ];
}

/** Fields of a received entry that differ from the entry with the same id that its signer recorded. */
function diffAgainstRecord(received: Passport, recorded: readonly SignedEntry[]): string[] {
  const byId = new Map(recorded.map((e) => [e.payload.entry_id, e]));
  const notes: string[] = [];
  for (const [i, e] of received.entries.entries()) {
    const orig = byId.get(e.payload.entry_id);
    if (!orig || orig.jws === e.jws) continue;
    const changed: string[] = [];
    const a = orig.payload as unknown as Record<string, unknown>;
    const b = e.payload as unknown as Record<string, unknown>;
    for (const k of Object.keys(b)) {
      if (k === 'labels') {
        const la = orig.payload.labels;
        const lb = e.payload.labels;
        for (const l of new Set([...Object.keys(la), ...Object.keys(lb)])) {
          if (la[l] !== lb[l]) changed.push(`labels.${l}: ${la[l] ?? '∅'} → ${lb[l] ?? '∅'}`);
        }
      } else if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) {
        changed.push(
          k === 'parent_ids'
            ? 'parent_ids (re-linked)'
            : `${k}: ${JSON.stringify(a[k])} → ${JSON.stringify(b[k])}`,
        );
      }
    }
    if (changed.length === 0) changed.push('signature bytes');
    notes.push(`entry ${i} differs from what its signer recorded: ${changed.join('; ')}`);
  }
  return notes;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (!args) return 0;
  configure({ logger: silentLogger });
  mkdirSync(args.out, { recursive: true });
  for (const f of RUN_FILES) rmSync(join(args.out, f), { force: true });
  const spansPath = join(args.out, 'spans.jsonl');

  const telemetry = startSpanFile(spansPath);
  const cache = new MemoryCacheProvider();
  let identities: Awaited<ReturnType<typeof createIdentities>> | undefined;
  let chain: Awaited<ReturnType<typeof startChain>> | undefined;
  let mtls: DemoMtls | undefined;
  try {
    identities = await createIdentities(HOPS, args.identity, args.out);
    const ids = identities.workloadIds;
    if (identities.sources) {
      const { demoMtls } = await import('./mtls.js'); // undici and the TLS parts: --spiffe only
      mtls = demoMtls(
        HOPS.map((h) => h.name),
        identities.sources,
        ids,
      );
    }
    const engine = demoEngine(ids);
    engine.assertPolicies(POLICIES);

    // The demo's identity provider: alice's Bearer token, validated by hop1's identity interceptor.
    const idp = await generateKeyPair('ES256');
    const idpJwks = { keys: [{ ...(await exportJWK(idp.publicKey)), kid: 'demo-idp', alg: 'ES256' }] };
    const token = await new SignJWT({ client_id: 'demo-cli', scope: 'report:read' })
      .setProtectedHeader({ alg: 'ES256', kid: 'demo-idp' })
      .setSubject('alice')
      .setIssuer(ISSUER)
      .setAudience('hop1')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(idp.privateKey);

    const refusals: { hop: string; refusal: Refusal; baggage: string | undefined }[] = [];
    const serviceOf = new Map<string, string>(HOPS.map((h, i) => [ids[i]!, h.name]));
    const { providers, trustFor } = identities;
    // Who may start a lineage: hop1 alone, up to the trust of its origin (internal, 100).
    const roots = [{ principal: ids[0]!, maxSourceTrust: 100 }];
    const rootsFile = join(args.out, 'roots.json'); // the same rules for `kest audit --roots`
    writeFileSync(
      rootsFile,
      `${JSON.stringify({ roots: [{ principal: ids[0], max_source_trust: 100 }] })}\n`,
    );
    let recorded: RecordedRequest | undefined;

    const hops: HopConfig[] = HOPS.map((h, i) => {
      const identity = providers[i]!;
      const hop: HopConfig = {
        name: h.name,
        framework: args.frameworks[i]!,
        identity,
        ...mtls?.hops[i],
        sourceType: h.sourceType,
        kest: {
          trust: trustFor(i),
          roots,
          cache,
          handoff: { audience: [ids[i]!] }, // each hop checks the handoffs addressed to it
          onRefusal: (refusal, _err, req) => {
            const b = req.headers instanceof Headers ? req.headers.get('baggage') : req.headers.baggage;
            refusals.push({
              hop: h.name,
              refusal,
              baggage: Array.isArray(b) ? b.join(',') : (b ?? undefined),
            });
          },
          ...(i === 0
            ? { identity: { jwks: idpJwks, issuer: ISSUER, audience: 'hop1', required: true } }
            : {}),
        },
      };
      if (h.name === 'hop2') {
        hop.onRequest = (headers) => {
          recorded ??= headers;
        };
      }
      if (h.name === 'hop2' && args.tamper === 'edit') hop.tamper = (p) => editUpstreamEntry(p, identity);
      if (h.name === 'hop2' && args.tamper === 'inflate') hop.tamper = (p) => inflateOwnEntry(p, identity);
      if (h.name === 'hop2' && args.tamper === 'reroot') hop.tamper = (p) => rerootAsSystem(p, identity);
      return hop;
    });

    chain = await startChain({ hops, engine, policies: POLICIES, propagation: { cache } });
    if (args.serve) {
      const files = { spans: spansPath, jwks: identities.trustFile, agent: identities.agentSocket };
      return await serveUntilSignal(
        chain,
        HOPS.map((h) => h.name),
        files,
        out,
      );
    }
    const modes = [
      args.tamper ? (args.tamper === 'reroot' ? '--attack=reroot' : `--tamper=${args.tamper}`) : '',
      args.identity === 'spiffe' ? '--spiffe' : '',
      args.viz ? '--viz' : '',
    ].filter(Boolean);
    out(`Kest demo: the trusted chain${modes.length ? ` (${modes.join(' ')})` : ''}`);
    for (const [i, h] of HOPS.entries()) {
      out(`  ${h.name}  ${args.frameworks[i]!.padEnd(7)}  ${ids[i]!.padEnd(28)}  ${chain.services[i]!.url}`);
    }
    out(`  identities: ${identities.description}`);
    if (mtls) out(`  transport:  ${mtls.description}`);
    out(
      `  policies:   ${POLICIES.join(', ')} (CedarLocalEngine, policies/*.cedar${args.identity === 'spiffe' ? `; allowed-workloads lists the ${ids.length} SPIFFE ids` : ''})`,
    );
    out('  caller:     alice, Bearer JWT validated by hop1 (issuer https://idp.kest.demo)');
    out(`  spans:      ${rel(spansPath)} (KestTelemetry, file exporter, one span per line)`);
    if (args.tamper === 'edit')
      out('  tampering:  hop2 rewrites hop1\'s entry (user → "admin") and re-signs its own entry over it');
    if (args.tamper === 'inflate')
      out(
        '  tampering:  hop2 re-signs its own entry claiming kest.trust_override=100; it is no declared sanitizer',
      );
    if (args.tamper === 'reroot')
      out("  attack:     hop2 drops hop1's entry and sends a fresh root of its own claiming origin `system`");
    out();

    const res = await fetch(chain.url, { headers: { authorization: `Bearer ${token}` } });
    const result = await res.json();
    out(`GET ${chain.url} → ${res.status}`);
    out(JSON.stringify(result));
    out();

    for (const r of refusals) {
      out(
        `${r.hop} refused the request: ${r.refusal.status} ${r.refusal.body.error}` +
          (r.refusal.body.reason ? ` (${r.refusal.body.reason}, entry ${r.refusal.body.index})` : ''),
      );
      out(`  ${r.refusal.body.message.replace(/^entry \d+ \([^)]*\): /, '')}`);
    }
    for (const r of mtls?.refused ?? [])
      out(`${r.hop} refused a connection at the TLS handshake: ${r.error.reason}`);
    if (refusals.length || mtls?.refused.length) out();

    // Offline: an auditor with the span file and nothing but the trust file (keys or bundle).
    await telemetry.forceFlush();
    const dropped = args.attack === 'drop' ? HOPS[2].workload : undefined;
    if (dropped)
      out(`hop3 (compromised) deleted its ${dropOwnSpans(spansPath, dropped)} span(s) before export`);
    const anchors = args.identity === 'spiffe' ? "the dev agent's bundle only" : 'the 3 public keys';
    const reports = await auditSpanFile(spansPath, identities.auditTrust(), roots);
    const report = reports[0];
    out(
      `Offline audit: kest audit ${rel(spansPath)} ${identities.auditArgs.replace(identities.trustFile, rel(identities.trustFile))} --roots ${rel(rootsFile)}`,
    );
    if (reports.length !== 1 || !report) {
      out(`NOT verified: expected one trace in ${rel(spansPath)}, found ${reports.length}`);
      return 1;
    }
    out(
      `  trace ${report.traceId}: ${report.entries.length} entries rebuilt from the hops' spans (kest.signature), ordered by hash links, verified with ${anchors}`,
    );
    out(lineageTable(report.entries, serviceOf));
    for (const note of auditNotes(report)) out(`  ${note}`);

    const vizReports: AuditReport[] = [...reports];
    let ok = false;
    let verdict: string;
    const caughtDrop = dropped ? dropVerdict(report, dropped) : undefined;
    if (dropped) {
      ok = caughtDrop !== undefined && res.ok;
      verdict = caughtDrop ?? `FAILED to detect the dropped record: ${report.status}`;
    } else if (!args.tamper) {
      // every hop signs its call entry and its completion
      if (report.status === 'verified' && report.entries.length === HOPS.length * 2 && res.ok) {
        verdict = 'verified';
        ok = true;
      } else {
        verdict = `NOT verified: ${report.failure ? describeFailure(report.failure, report, serviceOf) : `${report.status}, ${report.entries.length} of ${HOPS.length * 2} entries`}`;
      }
    } else {
      // Tampered run: what the records say, and the evidence hop3 refused.
      out(
        report.status === 'verified'
          ? `  recorded entries: verified (${report.entries.length} entries: hops 1–2 called and closed; the chain stopped before hop3)`
          : `  recorded entries: NOT verified — ${report.failure ? describeFailure(report.failure, report, serviceOf) : report.status}`,
      );
      const refusal = refusals.find((r) => r.hop === 'hop3');
      let caught = false;
      if (refusal?.baggage) {
        const received = await new BaggageManager().restore(parseBaggageMembers(refusal.baggage), cache);
        const evidencePath = join(args.out, 'evidence.passport.json');
        writeFileSync(evidencePath, `${received.serialize()}\n`);
        const evidence = await auditEvidence(received, identities.auditTrust(), roots);
        vizReports.push(evidence);
        out();
        out(
          `Evidence: the passport hop2 sent to hop3 (${received.length} entries, captured by hop3's onRefusal; ${rel(evidencePath)})`,
        );
        out(lineageTable(evidence.entries, serviceOf));
        if (evidence.failure) {
          out(`NOT verified: ${describeFailure(evidence.failure, evidence, serviceOf)}`);
          const recorded = report.passport.map((jws) => parseSignedEntry(jws));
          for (const note of diffAgainstRecord(received, recorded)) out(`  ${note}`);
          caught = refusal.refusal.status === 401;
        } else {
          out(`${evidence.status} (the tampering was NOT detected)`);
        }
      } else {
        out('hop3 did not refuse: the tampering was NOT detected');
      }
      ok = caught;
      out();
      verdict = ok
        ? 'tampering detected: hop3 refused with 401 and the offline audit names the entry'
        : 'FAILED to detect tampering';
    }

    if (args.viz) {
      mkdirSync(dirname(args.viz), { recursive: true });
      writeFileSync(
        args.viz,
        renderHtml(vizReports, {
          title: `Kest demo — the trusted chain${modes.length ? ` (${modes.join(' ')})` : ''}${vizReports.length > 1 ? ': recorded spans, then the passport hop3 refused' : ''}`,
        }),
      );
      out(`lineage viewer: ${rel(args.viz)} (self-contained HTML, open it in a browser)`);
    }
    out(verdict);
    if (args.attack === 'replay') {
      out();
      ok = (await replayAttack(recorded, chain, out)) && ok;
    }
    return ok ? 0 : 1;
  } finally {
    await chain?.close();
    await mtls?.close();
    await cache.close();
    await identities?.close();
    await telemetry.shutdown();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`demo: ${err.message}\n${USAGE}`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(
      `demo failed: ${err instanceof KestError ? `${err.code}: ` : ''}${(err as Error)?.stack ?? err}\n`,
    );
    process.exitCode = 1;
  },
);
