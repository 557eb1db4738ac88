/**
 * `npm run demo` — the trusted chain: hop1 (Express) → hop2 (Fastify) → hop3 (Hono) on 127.0.0.1,
 * each with its own identity, each handler protected by kestVerified under the shipped Cedar
 * policies, each calling the next with the Kest propagator. Prints the nested result, then rebuilds
 * the passport from the entries the hops recorded and verifies it offline.
 *
 *   npm run demo                         the honest chain, ends with "verified"
 *   npm run demo -- --tamper[=edit]      hop2 edits hop1's entry: hop3 refuses (401), audit names entry 0
 *   npm run demo -- --tamper=inflate     hop2 inflates its own trust: refused, audit names entry 1
 *   npm run demo -- --frameworks node,node,node   any adapter per hop (express, fastify, hono, node)
 *
 * Exit code 0 when the chain behaved as the mode expects (verified, or the tampering was caught).
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { KestError, KestVerificationError } from '../../src/errors.js';
import { configure } from '../../src/hook/config.js';
import type { Refusal } from '../../src/http/core.js';
import { silentLogger } from '../../src/logger.js';
import type { Passport } from '../../src/passport/passport.js';
import { PassportVerifier, type VerificationReport } from '../../src/passport/verifier.js';
import { CedarLocalEngine } from '../../src/policy/cedar-local.js';
import { parseBaggageMembers } from '../../src/propagation/baggage.js';
import { MemoryCacheProvider } from '../../src/propagation/cache.js';
import { BaggageManager } from '../../src/propagation/manager.js';
import { rebuildPassport, startSpanRecorder } from './audit.js';
import { type HopConfig, startChain } from './chain.js';
import { createIdentities, type IdentityMode } from './identity.js';
import { FRAMEWORKS, type Framework } from './servers.js';
import { editUpstreamEntry, type TamperMode } from './tamper.js';

interface Args {
  tamper: TamperMode | undefined;
  identity: IdentityMode;
  frameworks: Framework[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { tamper: undefined, identity: 'local', frameworks: ['express', 'fastify', 'hono'] };
  for (const a of argv) {
    if (a === '--tamper' || a === '--tamper=edit') args.tamper = 'edit';
    else if (a === '--tamper=inflate') args.tamper = 'inflate';
    else if (a === '--spiffe') args.identity = 'spiffe';
    else if (a.startsWith('--frameworks=')) {
      const list = a.slice('--frameworks='.length).split(',');
      if (list.length !== 3 || !list.every((f) => (FRAMEWORKS as readonly string[]).includes(f))) {
        throw new Error(`--frameworks takes three of ${FRAMEWORKS.join(', ')}`);
      }
      args.frameworks = list as Framework[];
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run demo -- [--tamper[=edit|inflate]] [--frameworks=a,b,c] [--spiffe]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
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

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => `  ${r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')}`.trimEnd()).join('\n');
}

function lineageTable(passport: Passport, serviceOf: Map<string, string>): string {
  const rows = [
    ['#', 'service', 'principal', 'operation', 'source', 'trust', 'taints', 'user', 'entry_id', 'hash'],
  ];
  for (const [i, e] of passport.entries.entries()) {
    const p = e.payload;
    const who = JSON.parse(p.labels['kest.identity'] ?? '{}') as { user?: string | null };
    rows.push([
      String(i),
      serviceOf.get(p.labels.principal ?? '') ?? '?',
      p.labels.principal ?? '?',
      p.operation,
      p.labels['kest.source_type'] ?? '-',
      String(p.trust_score) + (p.labels['kest.trust_override'] ? ' (override)' : ''),
      p.taints.length ? p.taints.join(',') : '-',
      who.user ?? '-',
      short(p.entry_id, 13),
      short(e.hash, 12),
    ]);
  }
  return table(rows);
}

async function verifyOffline(
  verifier: PassportVerifier,
  passport: Passport,
): Promise<{ report?: VerificationReport; error?: KestVerificationError }> {
  try {
    return { report: await verifier.verify(passport) };
  } catch (err) {
    if (err instanceof KestVerificationError) return { error: err };
    throw err;
  }
}

function describeFailure(
  err: KestVerificationError,
  passport: Passport,
  serviceOf: Map<string, string>,
): string {
  const entry = err.index >= 0 ? passport.entries[err.index] : undefined;
  const by = entry
    ? ` (${serviceOf.get(entry.payload.labels.principal ?? '') ?? '?'}, ${entry.payload.operation})`
    : '';
  const detail = err.message.replace(/^entry \d+ \([^)]*\): /, '');
  return `entry ${err.index}${by}: ${err.reason} — ${detail}`;
}

/** Fields of a received entry that differ from the entry with the same id that its signer recorded. */
function diffAgainstRecord(received: Passport, recorded: Passport): string[] {
  const byId = new Map(recorded.entries.map((e) => [e.payload.entry_id, e]));
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
  configure({ logger: silentLogger });

  const recorder = startSpanRecorder();
  const identities = await createIdentities(
    HOPS.map((h) => h.workload),
    args.identity,
  );
  const cache = new MemoryCacheProvider();
  const engine = CedarLocalEngine.library();
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
  const serviceOf = new Map<string, string>(HOPS.map((h) => [h.workload, h.name]));

  const hops: HopConfig[] = HOPS.map((h, i) => {
    const identity = identities.providers[i]!;
    const hop: HopConfig = {
      name: h.name,
      framework: args.frameworks[i]!,
      identity,
      sourceType: h.sourceType,
      kest: {
        trust: identities.trust(),
        cache,
        onRefusal: (refusal, _err, req) => {
          const b = req.headers instanceof Headers ? req.headers.get('baggage') : req.headers.baggage;
          refusals.push({ hop: h.name, refusal, baggage: Array.isArray(b) ? b.join(',') : (b ?? undefined) });
        },
        ...(i === 0 ? { identity: { jwks: idpJwks, issuer: ISSUER, audience: 'hop1', required: true } } : {}),
      },
    };
    if (h.name === 'hop2' && args.tamper === 'edit') hop.tamper = (p) => editUpstreamEntry(p, identity);
    if (h.name === 'hop2' && args.tamper === 'inflate') hop.trustOverride = 100;
    return hop;
  });

  const chain = await startChain({ hops, engine, policies: POLICIES, propagation: { cache } });
  let ok = false;
  try {
    out(`Kest demo: the trusted chain${args.tamper ? ` (--tamper=${args.tamper})` : ''}`);
    for (const [i, h] of HOPS.entries()) {
      out(
        `  ${h.name}  ${args.frameworks[i]!.padEnd(7)}  ${h.workload.padEnd(28)}  ${chain.services[i]!.url}`,
      );
    }
    out(`  identities: ${identities.description}`);
    out(`  policies:   ${POLICIES.join(', ')} (CedarLocalEngine, policies/*.cedar)`);
    out('  caller:     alice, Bearer JWT validated by hop1 (issuer https://idp.kest.demo)');
    if (args.tamper === 'edit')
      out('  tampering:  hop2 rewrites hop1\'s entry (user → "admin") and re-signs its own entry over it');
    if (args.tamper === 'inflate')
      out('  tampering:  hop2 claims kest.trust_override=100 without being a declared sanitizer');
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
    if (refusals.length) out();

    // Offline: an auditor with nothing but the three public keys.
    const auditor = new PassportVerifier({ trust: identities.trust() });
    const { passport: recorded, unplaced } = rebuildPassport(recorder.entries());
    out(
      `Offline audit: ${recorded.length} entries rebuilt from the hops' spans (kest.signature), verified with the 3 public keys`,
    );
    out(lineageTable(recorded, serviceOf));
    if (unplaced.length) out(`  ${unplaced.length} recorded entries could not be linked (gap)`);
    const recordedCheck = await verifyOffline(auditor, recorded);

    if (!args.tamper) {
      if (recordedCheck.report && recorded.length === HOPS.length && res.ok) {
        out('verified');
        ok = true;
      } else {
        out(
          `NOT verified: ${recordedCheck.error ? describeFailure(recordedCheck.error, recorded, serviceOf) : `expected ${HOPS.length} entries`}`,
        );
      }
      return ok ? 0 : 1;
    }

    // Tampered run: what the records say, and the evidence hop3 refused.
    out(
      recordedCheck.report
        ? `  recorded entries: verified (${recorded.length} of ${HOPS.length} hops signed; the chain stopped before hop3)`
        : `  recorded entries: NOT verified — ${describeFailure(recordedCheck.error!, recorded, serviceOf)}`,
    );
    const refusal = refusals.find((r) => r.hop === 'hop3');
    let caught = false;
    if (refusal?.baggage) {
      const received = await new BaggageManager().restore(parseBaggageMembers(refusal.baggage), cache);
      out();
      out(`Evidence: the passport hop2 sent to hop3 (${received.length} entries)`);
      out(lineageTable(received, serviceOf));
      const check = await verifyOffline(auditor, received);
      if (check.error) {
        out(`NOT verified: ${describeFailure(check.error, received, serviceOf)}`);
        for (const note of diffAgainstRecord(received, recorded)) out(`  ${note}`);
        caught = refusal.refusal.status === 401;
      } else {
        out('verified (the tampering was NOT detected)');
      }
    } else {
      out('hop3 did not refuse: the tampering was NOT detected');
    }
    ok = caught;
    out();
    out(
      ok
        ? 'tampering detected: hop3 refused with 401 and the offline check names the entry'
        : 'FAILED to detect tampering',
    );
    return ok ? 0 : 1;
  } finally {
    await chain.close();
    await cache.close();
    await identities.close();
    await recorder.shutdown();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `demo failed: ${err instanceof KestError ? `${err.code}: ` : ''}${(err as Error)?.stack ?? err}\n`,
    );
    process.exitCode = 1;
  },
);
