/**
 * Integration: `npm run demo` as a user runs it (a child process running the command package.json
 * gives it: the bundled demo, scripts/run-ts.mjs), in each mode. It must print the nested result,
 * write its spans with the file exporter, audit them offline, end by itself and exit 0 when it
 * behaves as the mode expects. Each run writes into its own temp --out directory and serves on free
 * ports, so the cases run concurrently (one shared bundle, built before them); the test re-audits
 * what the demo wrote, independently of what it printed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBundle } from '../../scripts/run-ts.mjs';
import { auditFile, auditPassport } from '../../src/audit/index.js';
import { parseSignedEntry } from '../../src/entry/signed.js';
import { JwksTrustSource } from '../../src/keys/jwks.js';
import { SpiffeTrustSource } from '../../src/spiffe/trust-source.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** `npm run demo` as package.json defines it (node, its flags, the runner, the entry), minus npm. */
const DEMO = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.demo as string).split(' ');
const NESTED_OK =
  '{"service":"hop1","next":{"service":"hop2","next":{"service":"hop3","status":"end_of_chain"}}}';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  dir: string;
}

// Cases run concurrently: directories are removed once all of them are done.
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
// The first run after a source change builds the bundle; build it once, before the cases.
beforeAll(async () => {
  expect(DEMO.slice(0, 1)).toEqual(['node']);
  await ensureBundle(DEMO.at(-1)!);
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kest-demo-test-'));
  dirs.push(dir);
  return dir;
}

function spawnDemo(dir: string, args: string[]) {
  return spawn(process.execPath, [...DEMO.slice(1), `--out=${dir}`, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Run the demo with --out=<fresh temp dir>; `args` may be computed from that directory. */
function runDemo(...argv: (string | ((dir: string) => string))[]): Promise<Run> {
  return runDemoIn(tempDir(), ...argv);
}

function runDemoIn(dir: string, ...argv: (string | ((dir: string) => string))[]): Promise<Run> {
  const args = argv.map((a) => (typeof a === 'string' ? a : a(dir)));
  return new Promise((resolve, reject) => {
    const child = spawnDemo(dir, args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    // The demo must end by itself; this only keeps a hung demo from hanging the suite (code null).
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, dir });
    });
  });
}

/** The line after "GET … → status": the nested result hop1 answered. */
function nestedResult(stdout: string): { status: number; body: Record<string, unknown> } {
  const lines = stdout.split('\n');
  const i = lines.findIndex((l) => /^GET http:\/\/127\.0\.0\.1:\d+\/chain → \d{3}$/.test(l));
  expect(i).toBeGreaterThanOrEqual(0);
  return {
    status: Number(lines[i]!.slice(-3)),
    body: JSON.parse(lines[i + 1]!) as Record<string, unknown>,
  };
}

/** What hop2 reports about its call to hop3. */
function hop3Answer(body: Record<string, unknown>): Record<string, unknown> {
  expect(body.service).toBe('hop1');
  const hop2 = body.next as Record<string, unknown>;
  expect(hop2.service).toBe('hop2');
  return hop2.next as Record<string, unknown>;
}

function spanLines(dir: string): Record<string, unknown>[] {
  return readFileSync(join(dir, 'spans.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe.concurrent('npm run demo', { timeout: 60_000 }, () => {
  it('the trusted chain: nested result, spans in a JSON-lines file, kest audit verifies them', async () => {
    const { code, stdout, stderr, dir } = await runDemo();
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(NESTED_OK);
    expect(nestedResult(stdout).status).toBe(200);
    expect(stdout).toContain(`Offline audit: kest audit ${dir}/spans.jsonl --jwks ${dir}/trust.jwks.json`);
    expect(stdout).toMatch(
      /0 +hop1 +spiffe:\/\/kest\.demo\/gateway +hop1\.handle +internal +100 .*EdDSA kid +✓/,
    );
    expect(stdout).toMatch(/1 +hop2 +spiffe:\/\/kest\.demo\/enricher +hop2\.handle +third_party_api +60 /);
    expect(stdout).toMatch(/2 +hop3 +spiffe:\/\/kest\.demo\/exporter +hop3\.handle +system +60 /);
    expect(stdout.trimEnd().endsWith('\nverified')).toBe(true);

    // What the demo wrote is what an auditor gets: three Kest spans, one trace, and the keys.
    const spans = spanLines(dir);
    expect(spans.map((s) => s.name).sort()).toEqual([
      'kest.verified.hop1.handle',
      'kest.verified.hop2.handle',
      'kest.verified.hop3.handle',
    ]);
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
    const reports = await auditFile(join(dir, 'spans.jsonl'), {
      trust: JwksTrustSource.fromFile(join(dir, 'trust.jwks.json')),
    });
    expect(reports).toHaveLength(1);
    expect(reports[0]!.status).toBe('verified');
    // each hop's call entry, then the completions (hop3 closes first)
    expect(reports[0]!.entries.map((e) => `${e.operation}:${e.kind}`)).toEqual([
      'hop1.handle:call',
      'hop2.handle:call',
      'hop3.handle:call',
      'hop3.handle:completion',
      'hop2.handle:completion',
      'hop1.handle:completion',
    ]);
    expect(reports[0]!.gaps).toEqual([]);
    expect(reports[0]!.missingRecords).toEqual([]);
    expect(reports[0]!.incomplete).toEqual([]);
    expect(existsSync(join(dir, 'lineage.html'))).toBe(false); // only with --viz
  });

  it('--tamper --viz: hop3 refuses with 401 at entry 0, the offline audit names it, the viewer marks it', async () => {
    const { code, stdout, stderr, dir } = await runDemo('--tamper', '--viz');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const refusal = hop3Answer(nestedResult(stdout).body);
    expect(refusal).toMatchObject({
      status: 401,
      error: 'ERR_VERIFICATION_FAILED',
      reason: 'bad_signature',
      index: 0,
    });
    expect(stdout).not.toContain('"status":"end_of_chain"');
    expect(stdout).toContain(
      'hop3 refused the request: 401 ERR_VERIFICATION_FAILED (bad_signature, entry 0)',
    );
    // The records are intact (hop3 never ran), the evidence is not.
    expect(stdout).toContain('recorded entries: verified (4 entries: hops 1–2 called and closed');
    expect(stdout).toMatch(/NOT verified: entry 0 \(hop1, hop1\.handle\): bad_signature/);
    expect(stdout).toMatch(/0 +hop1 .* admin .*✗ bad_signature/);
    expect(stdout).toContain('labels.kest.identity: {"user":"alice"');
    expect(stdout).toContain('entry 1 differs from what its signer recorded: parent_ids (re-linked)');
    expect(
      stdout
        .trimEnd()
        .endsWith('tampering detected: hop3 refused with 401 and the offline audit names the entry'),
    ).toBe(true);

    expect(spanLines(dir).map((s) => s.name)).not.toContain('kest.verified.hop3.handle');
    const evidence = await auditPassport(readFileSync(join(dir, 'evidence.passport.json'), 'utf8'), {
      trust: JwksTrustSource.fromFile(join(dir, 'trust.jwks.json')),
    });
    expect(evidence.status).toBe('failed');
    expect(evidence.failure).toMatchObject({ index: 0, reason: 'bad_signature' });

    const html = readFileSync(join(dir, 'lineage.html'), 'utf8');
    expect(stdout).toContain(`lineage viewer: ${dir}/lineage.html`);
    expect(html).toMatch(/<g class="node[^"]*" [^>]*data-index="0"[^>]*data-status="failed"/);
    expect(html).toMatch(/data-status="verified"/);
    expect(html).toContain('<p class="failure">First failure at entry 0');
  });

  it('--attack=reroot: hop2 drops the lineage and re-roots as system; hop3 refuses unauthorized_root', async () => {
    const { code, stdout, dir } = await runDemo('--attack=reroot');
    expect(code).toBe(0);
    expect(hop3Answer(nestedResult(stdout).body)).toMatchObject({
      status: 401,
      reason: 'unauthorized_root',
      index: 0,
    });
    expect(stdout).toContain(
      'hop3 refused the request: 401 ERR_VERIFICATION_FAILED (unauthorized_root, entry 0)',
    );
    expect(stdout).toContain('labels.kest.source_type: third_party_api → system');
    const trust = JwksTrustSource.fromFile(join(dir, 'trust.jwks.json'));
    const evidence = readFileSync(join(dir, 'evidence.passport.json'), 'utf8');
    // Without root rules the re-rooted passport verifies: its origin is only self-asserted.
    const unchecked = await auditPassport(evidence, { trust });
    // The evidence is the passport as sent to hop3: its calls were still open (no completions).
    expect(unchecked.status).toBe('incomplete');
    expect(unchecked.entries[0]!.origin).toBe('self-asserted');
    const roots = JSON.parse(readFileSync(join(dir, 'roots.json'), 'utf8')).roots as { principal: string }[];
    const checked = await auditPassport(evidence, { trust, roots });
    expect(checked.failure).toMatchObject({ index: 0, reason: 'unauthorized_root' });
    expect(
      stdout
        .trimEnd()
        .endsWith('tampering detected: hop3 refused with 401 and the offline audit names the entry'),
    ).toBe(true);
  });

  it('--tamper=inflate: hop2 re-signs its own entry with inflated trust; refused at entry 1, live and in the evidence', async () => {
    const { code, stdout, dir } = await runDemo('--tamper=inflate');
    expect(code).toBe(0);
    expect(hop3Answer(nestedResult(stdout).body)).toMatchObject({
      status: 401,
      reason: 'unauthorized_sanitizer',
      index: 1,
    });
    expect(stdout).toContain('(unauthorized_sanitizer, entry 1)');
    // hop2's own record is honest (trust 60); what it sent claims 100 under its real key
    expect(stdout).toContain('recorded entries: verified (4 entries: hops 1–2 called and closed');
    expect(stdout).toMatch(/1 +hop2 .* 100 \(override\) .*✗ unauthorized_sanitizer/);
    expect(stdout).toContain('trust_score: 60 → 100');
    const evidence = await auditPassport(readFileSync(join(dir, 'evidence.passport.json'), 'utf8'), {
      trust: JwksTrustSource.fromFile(join(dir, 'trust.jwks.json')),
    });
    expect(evidence.failure).toMatchObject({ index: 1, reason: 'unauthorized_sanitizer' });
    const reports = await auditFile(join(dir, 'spans.jsonl'), {
      trust: JwksTrustSource.fromFile(join(dir, 'trust.jwks.json')),
    });
    expect(reports[0]!.status).toBe('verified');
  });

  it('--viz=FILE: a self-contained lineage page with the three verified nodes', async () => {
    const { code, stdout, dir } = await runDemo((d) => `--viz=${join(d, 'pages', 'chain.html')}`);
    expect(code).toBe(0);
    const file = join(dir, 'pages', 'chain.html');
    expect(existsSync(join(dir, 'lineage.html'))).toBe(false);
    expect(stdout).toContain(`lineage viewer: ${file} (self-contained HTML`);
    expect(stdout.trimEnd().endsWith('\nverified')).toBe(true);
    const html = readFileSync(file, 'utf8');
    for (const [i, op] of ['hop1.handle', 'hop2.handle', 'hop3.handle'].entries()) {
      expect(html).toMatch(
        new RegExp(`<g class="node[^"]*" [^>]*data-index="${i}"[^>]*data-status="verified"`),
      );
      expect(html).toContain(`class="op">${op}</text>`);
    }
    expect(html).not.toContain('data-status="failed"');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="https?:/);
  });

  it('--spiffe: SVIDs from the dev Workload API, mutual TLS between hops, audited with the bundle only; the agent is closed', async () => {
    // A previous run's files in --out: this run removes them (and only them).
    const out = tempDir();
    for (const f of [
      'trust.jwks.json',
      'evidence.passport.json',
      'lineage.html',
      'spans.jsonl',
      'notes.txt',
    ]) {
      writeFileSync(join(out, f), 'from an earlier run\n');
    }
    const { code, stdout, stderr, dir } = await runDemoIn(out, '--spiffe');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(NESTED_OK);
    // hop1 is the plain-HTTP edge; hop2 and hop3 serve SPIFFE mutual TLS only, and the chain went through.
    expect(stdout).toMatch(
      /hop1 +express +spiffe:\/\/example\.org\/hop1 +http:\/\/127\.0\.0\.1:\d+\/chain\n/,
    );
    expect(stdout).toMatch(
      /hop2 +fastify +spiffe:\/\/example\.org\/hop2 +https:\/\/127\.0\.0\.1:\d+\/chain\n/,
    );
    expect(stdout).toMatch(/hop3 +hono +spiffe:\/\/example\.org\/hop3 +https:\/\/127\.0\.0\.1:\d+\/chain\n/);
    expect(stdout).toContain('transport:  SPIFFE mutual TLS between hops');
    expect(stdout).not.toContain('refused a connection');
    expect(stdout).toContain(
      `Offline audit: kest audit ${dir}/spans.jsonl --bundle ${dir}/bundle.json --trust-domain example.org`,
    );
    expect(stdout).toContain("verified with the dev agent's bundle only");
    for (const hop of ['hop1', 'hop2', 'hop3']) {
      expect(stdout).toMatch(
        new RegExp(`\\d +${hop} +spiffe://example\\.org/${hop} +${hop}\\.handle .*ES256 x5t#S256\\+x5c +✓`),
      );
    }
    expect(stdout.trimEnd().endsWith('\nverified')).toBe(true);
    // No JWKS anywhere: the auditor got the bundle file. The user's own file stays.
    expect(readdirSync(dir).sort()).toEqual(['bundle.json', 'notes.txt', 'roots.json', 'spans.jsonl']);

    const entries = spanLines(dir).map((s) =>
      parseSignedEntry((s.attributes as Record<string, unknown>)['kest.signature']),
    );
    for (const e of entries) {
      expect(e.header.alg).toBe('ES256');
      expect(typeof (e.header as Record<string, unknown>)['x5t#S256']).toBe('string');
      expect((e.header as Record<string, unknown>).kid).toBeUndefined();
    }
    const reports = await auditFile(join(dir, 'spans.jsonl'), {
      trust: SpiffeTrustSource.fromBundleFile('example.org', join(dir, 'bundle.json')),
    });
    expect(reports[0]!.status).toBe('verified');
    expect(reports[0]!.entries.map((e) => e.principal)).toEqual([
      'spiffe://example.org/hop1',
      'spiffe://example.org/hop2',
      'spiffe://example.org/hop3',
      'spiffe://example.org/hop3',
      'spiffe://example.org/hop2',
      'spiffe://example.org/hop1',
    ]);
    // The agent's socket (and its temp directory) is gone.
    const socket = /unix:\/\/(\/\S+\/agent\.sock)/.exec(stdout)?.[1];
    expect(socket).toBeDefined();
    expect(existsSync(socket!)).toBe(false);
  });

  it('--spiffe --tamper: the forged SVID-signed entry fails at entry 0, live and offline', async () => {
    const { code, stdout } = await runDemo('--spiffe', '--tamper');
    expect(code).toBe(0);
    expect(hop3Answer(nestedResult(stdout).body)).toMatchObject({
      status: 401,
      reason: 'bad_signature',
      index: 0,
    });
    expect(stdout).toMatch(/NOT verified: entry 0 \(hop1, hop1\.handle\): bad_signature/);
  });

  it('--attack=drop: hop3 deletes its spans; the audit names the missing record and who dropped it', async () => {
    const { code, stdout, dir } = await runDemo('--attack=drop');
    expect(code).toBe(0);
    expect(stdout).toContain(NESTED_OK);
    expect(stdout).toContain('hop3 (compromised) deleted its 1 span(s) before export');
    expect(spanLines(dir).some((s) => String(s.name).includes('hop3'))).toBe(false);
    expect(stdout).toMatch(
      /missing_record: [0-9a-f]{12}… \(downstream of [0-9a-f-]+\); spiffe:\/\/kest\.demo\/exporter should have exported it/,
    );
    expect(stdout.trimEnd()).toMatch(
      /\ndropped record detected: spiffe:\/\/kest\.demo\/exporter returned tip /,
    );
  });

  it('any adapter per hop (node:http only)', async () => {
    const { code, stdout } = await runDemo('--frameworks=node,node,node');
    expect(code).toBe(0);
    expect(stdout).toContain(NESTED_OK);
    expect(stdout.trimEnd().endsWith('\nverified')).toBe(true);
  });

  it('--help prints the usage and runs nothing', async () => {
    const { code, stdout, dir } = await runDemo('--help');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: npm run demo -- .*--spiffe.*\n$/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an unknown argument is a usage error, not a run: the usage text, no stack trace', async () => {
    const { code, stdout, stderr, dir } = await runDemo('--nope');
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^demo: unknown argument --nope\nusage: npm run demo -- .*--spiffe.*\n$/);
    expect(readdirSync(dir)).toEqual([]);
    const frameworks = await runDemo('--frameworks=express,koa,hono');
    expect(frameworks.code).toBe(1);
    expect(frameworks.stderr).toMatch(
      /^demo: --frameworks takes three of express, fastify, hono, node\nusage: /,
    );
  });
  it("--attack=replay: hop1 → hop2's recorded request, re-sent, is refused by hop2 (replayed) and hop3 (wrong_audience)", async () => {
    const { code, stdout, stderr } = await runDemo('--attack=replay');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(NESTED_OK);
    expect(stdout).toMatch(/\n {2}→ hop2: 401 ERR_VERIFICATION_FAILED \(replayed\)/);
    expect(stdout).toMatch(/\n {2}→ hop3: 401 ERR_VERIFICATION_FAILED \(wrong_audience\)/);
    expect(stdout.match(/handler ran 0 time\(s\)/g)).toHaveLength(2);
    expect(stdout.trimEnd().endsWith('replay refused: hop2 → replayed, hop3 → wrong_audience')).toBe(true);
  });

  it('--serve: one line per hop, spans and jwks; serves until SIGTERM, then exits 0 with spans flushed', async () => {
    const dir = tempDir();
    const child = spawnDemo(dir, ['--serve']);
    const killer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        if (stdout.split('\n').length > 5) resolve();
      });
      void exited.then(() => resolve());
    });
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    for (const [i, name] of ['hop1', 'hop2', 'hop3'].entries()) {
      expect(lines[i]).toMatch(new RegExp(`^${name} http://127\\.0\\.0\\.1:\\d+/chain$`));
    }
    expect(lines[3]).toBe(`spans ${dir}/spans.jsonl`);
    expect(lines[4]).toBe(`jwks ${dir}/trust.jwks.json`);
    // It serves: hop3 as a first hop (no passport) answers the end of the chain.
    const hop3 = await fetch(lines[2]!.split(' ')[1]!);
    expect(await hop3.json()).toEqual({ service: 'hop3', status: 'end_of_chain' });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    clearTimeout(killer);
    expect(stderr).toBe('');
    expect(spanLines(dir).map((s) => s.name)).toEqual(['kest.verified.hop3.handle']);
  });
});
