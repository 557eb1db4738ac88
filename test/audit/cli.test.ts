/**
 * `kest audit` and `kest viz` (docs/spec.md §7): exit codes 0 verified / 1 failure or gap / 2 usage,
 * text and JSON output, Mermaid and DOT renderings.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register as registerAudit, runAudit } from '../../src/cli/commands/audit.js';
import { register as registerViz, runViz } from '../../src/cli/commands/viz.js';
import { buildPassport, workloads } from '../support/chain.js';
import { spansOfPassport, writeLines } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'kest-cli-'));
const paths = {
  good: join(dir, 'good.jsonl'),
  gap: join(dir, 'gap.jsonl'),
  bad: join(dir, 'bad.jsonl'),
  jwks: join(dir, 'jwks.json'),
  passport: join(dir, 'passport.json'),
};

function io() {
  const o = { out: '', err: '' };
  return { o, io: { out: (t: string) => (o.out += t), err: (t: string) => (o.err += t) } };
}

beforeAll(async () => {
  const { ids } = workloads(3, 'spiffe://cli.test/svc');
  const passport = await buildPassport([
    { identity: ids[0]!, sourceType: 'user_input', operation: 'ingress' },
    { identity: ids[1]!, addedTaints: ['pii'], operation: 'lookup' },
    { identity: ids[2]!, operation: 'write' },
  ]);
  const spans = spansOfPassport(passport.toJSON());
  writeLines(paths.good, spans);
  writeLines(paths.gap, [spans[0]!, spans[2]!]);
  const tampered = structuredClone(spans);
  const [h, p, s] = (tampered[2]!.attributes['kest.signature'] as string).split('.') as [
    string,
    string,
    string,
  ];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  payload.taints = [];
  tampered[2]!.attributes['kest.signature'] =
    `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
  writeLines(paths.bad, tampered);
  writeFileSync(paths.jwks, JSON.stringify({ keys: ids.flatMap((id) => id.getPublicJwks().keys) }));
  writeFileSync(paths.passport, passport.serialize());
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kest audit', () => {
  it('exit 0 when every trace verifies', async () => {
    const { o, io: x } = io();
    expect(await runAudit(paths.good, { jwks: [paths.jwks] }, x)).toBe(0);
    expect(o.out).toMatch(/VERIFIED \(3 entries\)/);
    expect(o.out).toMatch(/1 trace\(s\): 1 verified, 0 failed/);
  });

  it('--workers: 0 audits in process with the same verdict; a bad value is a usage error', async () => {
    const a = io();
    expect(await runAudit(paths.good, { jwks: [paths.jwks], workers: '0' }, a.io)).toBe(0);
    expect(a.o.out).toMatch(/1 trace\(s\): 1 verified, 0 failed/);
    const b = io();
    expect(await runAudit(paths.good, { jwks: [paths.jwks], workers: '-1' }, b.io)).toBe(2);
    expect(b.o.err).toMatch(/--workers must be a whole number/);
  });

  it('exit 1 on a gap, naming it', async () => {
    const { o, io: x } = io();
    expect(await runAudit(paths.gap, { jwks: [paths.jwks] }, x)).toBe(1);
    expect(o.out).toMatch(/INCOMPLETE/);
    expect(o.out).toMatch(/gap: .* no span carries it \(entry lost\)/);
  });

  it('exit 1 on a failure, with the entry index and reason; --json is machine-readable', async () => {
    const { o, io: x } = io();
    expect(await runAudit(paths.bad, { jwks: [paths.jwks], json: true }, x)).toBe(1);
    const doc = JSON.parse(o.out);
    expect(doc.summary).toMatchObject({ traces: 1, failed: 1, ok: false });
    expect(doc.traces[0].failure).toMatchObject({ index: 2, reason: 'bad_signature' });
  });

  it('exit 2 on usage errors: no trust source, both sources, unreadable input, missing bundle', async () => {
    for (const opts of [{}, { jwks: [paths.jwks], bundle: paths.jwks }, { bundle: join(dir, 'nope.json') }]) {
      const { o, io: x } = io();
      expect(await runAudit(paths.good, opts, x)).toBe(2);
      expect(o.err).toMatch(/^kest audit: /);
    }
    const { o, io: x } = io();
    expect(await runAudit(join(dir, 'missing.jsonl'), { jwks: [paths.jwks] }, x)).toBe(2);
    expect(o.err).toMatch(/cannot open/);
  });

  it('exit 1 when the requested trace is absent', async () => {
    const { o, io: x } = io();
    expect(await runAudit(paths.good, { jwks: [paths.jwks], trace: 'ff'.repeat(16) }, x)).toBe(1);
    expect(o.err).toMatch(/no Kest spans for trace/);
  });

  it('registers on a commander program and sets the exit code', async () => {
    const program = new Command().exitOverride();
    registerAudit(program);
    registerViz(program);
    const saved = process.exitCode;
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      await program.parseAsync(['audit', paths.gap, '--jwks', paths.jwks], { from: 'user' });
      expect(process.exitCode).toBe(1);
      await program.parseAsync(['audit', paths.good, '--jwks', paths.jwks], { from: 'user' });
      expect(process.exitCode).toBe(0);
    } finally {
      process.stdout.write = write;
      process.exitCode = saved;
    }
  });
});

describe('kest viz', () => {
  it('mermaid and dot from a span file, failure marked', async () => {
    const m = io();
    expect(await runViz(paths.bad, { format: 'mermaid', jwks: [paths.jwks] }, m.io)).toBe(0);
    expect(m.o.out).toMatch(/^flowchart TD/);
    expect(m.o.out).toContain('n0 --> n1');
    expect(m.o.out).toMatch(/class n2 failed/);
    const d = io();
    expect(await runViz(paths.bad, { format: 'dot', jwks: [paths.jwks] }, d.io)).toBe(0);
    expect(d.o.out).toMatch(/^digraph kest \{/);
    expect(d.o.out).toContain('t0_n0 -> t0_n1;');
    expect(d.o.out).toMatch(/t0_n2 \[[^\]]*color="#cc0000"/);
  });

  it('html from a passport file, written with -o; no trust source → unverified', async () => {
    const out = join(dir, 'viewer.html');
    const { o, io: x } = io();
    expect(await runViz(paths.passport, { format: 'html', output: out }, x)).toBe(0);
    expect(o.err).toMatch(/wrote html/);
    const html = readFileSync(out, 'utf8');
    expect(html.match(/class="node /g)).toHaveLength(3);
    expect(html).toContain('data-status="unverified"');
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
  });

  it('exit 2 on an unknown format', async () => {
    const { o, io: x } = io();
    expect(await runViz(paths.passport, { format: 'png' }, x)).toBe(2);
    expect(o.err).toMatch(/--format must be one of html, mermaid, dot/);
  });
});
