/**
 * `kest audit` and `kest viz` (docs/spec.md §7): exit codes 0 verified / 1 failure or gap / 2 usage,
 * text and JSON output, Mermaid and DOT renderings; run in-process through run(argv, io).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kest } from '../cli/kest.js';
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
    const r = await kest(['audit', paths.good, '--jwks', paths.jwks]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/VERIFIED \(3 entries\)/);
    expect(r.stdout).toMatch(/1 trace\(s\): 1 verified, 0 failed/);
  });

  it('--workers: 0 audits in process with the same verdict; a bad value is a usage error', async () => {
    const a = await kest(['audit', paths.good, '--jwks', paths.jwks, '--workers', '0']);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/1 trace\(s\): 1 verified, 0 failed/);
    const b = await kest(['audit', paths.good, '--jwks', paths.jwks, '--workers', '-1']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--workers must be a whole number/);
  });

  it('exit 1 on a gap, naming it', async () => {
    const r = await kest(['audit', paths.gap, '--jwks', paths.jwks]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/INCOMPLETE/);
    expect(r.stdout).toMatch(/gap: .* no span carries it \(entry lost\)/);
  });

  it('exit 1 on a failure, with the entry index and reason; --json is machine-readable', async () => {
    const r = await kest(['audit', paths.bad, '--jwks', paths.jwks, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.summary).toMatchObject({ traces: 1, failed: 1, ok: false });
    expect(doc.traces[0].failure).toMatchObject({ index: 2, reason: 'bad_signature' });
  });

  it('exit 2 on usage errors: no trust source, both sources, unreadable input, missing bundle', async () => {
    for (const flags of [
      [],
      ['--jwks', paths.jwks, '--bundle', paths.jwks],
      ['--bundle', join(dir, 'nope.json')],
    ]) {
      const r = await kest(['audit', paths.good, ...flags]);
      expect({ flags, code: r.code }).toEqual({ flags, code: 2 });
      expect(r.stderr).toMatch(/^kest audit: /);
    }
    const r = await kest(['audit', join(dir, 'missing.jsonl'), '--jwks', paths.jwks]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot open/);
  });

  it('exit 1 when the requested trace is absent', async () => {
    const r = await kest(['audit', paths.good, '--jwks', paths.jwks, '--trace', 'ff'.repeat(16)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no Kest spans for trace/);
  });
});

describe('kest viz', () => {
  it('mermaid and dot from a span file, failure marked', async () => {
    const m = await kest(['viz', paths.bad, '--format', 'mermaid', '--jwks', paths.jwks]);
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/^flowchart TD/);
    expect(m.stdout).toContain('n0 --> n1');
    expect(m.stdout).toMatch(/class n2 failed/);
    const d = await kest(['viz', paths.bad, '--format', 'dot', '--jwks', paths.jwks]);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/^digraph kest \{/);
    expect(d.stdout).toContain('t0_n0 -> t0_n1;');
    expect(d.stdout).toMatch(/t0_n2 \[[^\]]*color="#cc0000"/);
  });

  it('html from a passport file, written with -o; no trust source → unverified', async () => {
    const out = join(dir, 'viewer.html');
    const r = await kest(['viz', paths.passport, '--format', 'html', '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/wrote html/);
    const html = readFileSync(out, 'utf8');
    expect(html.match(/class="node /g)).toHaveLength(3);
    expect(html).toContain('data-status="unverified"');
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
  });

  it('exit 2 on an unknown format', async () => {
    const r = await kest(['viz', paths.passport, '--format', 'png']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--format must be one of html, mermaid, dot/);
  });
});
