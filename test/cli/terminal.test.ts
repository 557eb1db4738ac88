/**
 * Issue 14 item 3: text from a forged entry never reaches a terminal raw. An entry whose operation
 * prints a fake green "VERIFIED" line and then a conceal code (ESC[8m) must show as visible escapes
 * in `kest inspect`, `kest verify`, `kest audit` and `kest viz` output.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport } from '../../src/audit/index.js';
import { escapeJsonForTerminal, escapeTerminal } from '../../src/entry/index.js';
import { spansOfPassport, writeLines } from '../audit/run.js';
import { buildPassport, workloads } from '../support/chain.js';
import { kest } from './kest.js';

const FAKE = '\n\u001b[1;32mVERIFIED: all entries valid\u001b[0m\u001b[8m';
const PRINCIPAL_TAIL = '\u202egnp.exe\u009b2J';
/** Any C0 (except LF/TAB), DEL, C1 or bidi/invisible code point: none may be printed raw. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching controls is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

let dir: string;
let passportFile: string;
let spansFile: string;
let jwksFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kest-term-'));
  const { ids } = workloads(2, `spiffe://term.kest/svc${PRINCIPAL_TAIL}`);
  const passport = await buildPassport([
    { identity: ids[0]!, sourceType: 'user_input', operation: `ingest${FAKE}` },
    // Forged: trust raised without a sanitizer, so verification fails and quotes the entry.
    {
      identity: ids[1]!,
      operation: `answer${FAKE}`,
      mutate: (p) => {
        p.trust_score = 100;
      },
    },
  ]);
  passportFile = join(dir, 'passport.json');
  writeFileSync(passportFile, passport.serialize());
  spansFile = join(dir, 'spans.jsonl');
  writeLines(spansFile, spansOfPassport(passport.entries.map((e) => e.jws)));
  jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: ids.flatMap((id) => id.getPublicJwks().keys) }));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectClean(text: string): void {
  expect(text).not.toMatch(RAW_CONTROL);
  expect(text).not.toMatch(/^VERIFIED/m);
}

describe('escapeTerminal', () => {
  it('turns every control into a visible escape', () => {
    expect(escapeTerminal(FAKE)).toBe('\\n\\e[1;32mVERIFIED: all entries valid\\e[0m\\e[8m');
    expect(escapeTerminal(PRINCIPAL_TAIL)).toBe('\\u202egnp.exe\\u009b2J');
    expect(escapeTerminal('a\tb\r\u0000\u007f')).toBe('a\\tb\\r\\u0000\\u007f');
    expect(escapeTerminal('ok ünïcode ✓')).toBe('ok ünïcode ✓');
  });

  it('keepLines lets LF and TAB through, nothing else', () => {
    expect(escapeTerminal('a\n\tb\u001b[8m', { keepLines: true })).toBe('a\n\tb\\e[8m');
  });

  it('JSON stays the same value', () => {
    const value = { op: `x${FAKE}${PRINCIPAL_TAIL}\u2028` };
    const json = escapeJsonForTerminal(JSON.stringify(value, null, 2));
    expect(json).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(json)).toEqual(value);
  });
});

describe('hostile entry text on the terminal', () => {
  it('kest inspect (table and --json)', async () => {
    const table = await kest(['inspect', passportFile]);
    expect(table.code).toBe(0);
    expectClean(table.stdout);
    expect(table.stdout).toContain('\\e[1;32mVERIFIED');
    const json = await kest(['inspect', passportFile, '--json']);
    expectClean(json.stdout);
    expect(JSON.parse(json.stdout)[0].payload.operation).toBe(`ingest${FAKE}`);
  });

  it('kest verify (failure text and --json)', async () => {
    for (const extra of [[], ['--json']]) {
      const r = await kest(['verify', passportFile, '--jwks', jwksFile, ...extra]);
      expect(r.code).toBe(1);
      expectClean(r.stdout + r.stderr);
    }
  });

  it('kest audit (report text and --json)', async () => {
    for (const extra of [[], ['--json']]) {
      const r = await kest(['audit', spansFile, '--jwks', jwksFile, '--workers', '0', ...extra]);
      expect(r.code).toBe(1);
      expectClean(r.stdout + r.stderr);
    }
    const text = await kest(['audit', spansFile, '--jwks', jwksFile, '--workers', '0']);
    expect(text.stdout).toContain('answer\\n\\e[1;32mVERIFIED');
  });

  it('formatReport escapes what it quotes', async () => {
    const { auditFile } = await import('../../src/audit/index.js');
    const { JwksTrustSource } = await import('../../src/index.js');
    const reports = await auditFile(spansFile, { trust: JwksTrustSource.fromFile(jwksFile), workers: 0 });
    for (const r of reports) expectClean(formatReport(r));
  });

  it('kest viz to stdout (mermaid, dot)', async () => {
    for (const format of ['mermaid', 'dot']) {
      const r = await kest(['viz', spansFile, '--format', format, '--jwks', jwksFile]);
      expect(r.code).toBe(0);
      expectClean(r.stdout + r.stderr);
    }
  });
});
