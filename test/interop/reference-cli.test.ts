/**
 * Issue 15 items 1 and 4 through the CLI: `kest verify|inspect|audit --profile reference` and
 * `kest inspect --baggage`, on the generator's reference-shaped passports, headers and exports
 * (its SQLite table and JSON-array file). The exports audit to the verdicts the passports get.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kest } from '../cli/kest.js';

const SCRIPT = join(new URL('../..', import.meta.url).pathname, 'test/interop/kest_reference_shape.py');
let dir: string;
const at = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kest-refcli-'));
  const r = spawnSync('/usr/bin/python3', [SCRIPT, dir], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) throw new Error(`generator failed: ${r.error?.message ?? r.stderr}`);
  const bad = JSON.parse(readFileSync(at('bad.json'), 'utf8')) as Record<string, string[]>;
  writeFileSync(at('inflated.json'), JSON.stringify(bad.inflated));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kest verify / inspect --profile reference', () => {
  it('verify: valid under reference, invalid under the default; attacks stay invalid', async () => {
    const ok = await kest([
      'verify',
      at('ref6.json'),
      '--jwks',
      at('jwks.json'),
      '--profile',
      'reference',
      '--json',
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ valid: true, uncheckedTrust: [0, 1, 2, 3, 4, 5] });
    const strict = await kest(['verify', at('ref6.json'), '--jwks', at('jwks.json')]);
    expect(strict.code).toBe(1);
    const bad = await kest([
      'verify',
      at('inflated.json'),
      '--jwks',
      at('jwks.json'),
      '--profile',
      'reference',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/unauthorized_sanitizer/);
    const usage = await kest(['verify', at('ref6.json'), '--jwks', at('jwks.json'), '--profile', 'python']);
    expect(usage.code).toBe(2);
  });

  it('inspect --baggage decodes a raw inline header under reference; the default refuses it', async () => {
    const headers = JSON.parse(readFileSync(at('headers.json'), 'utf8'));
    const ok = await kest(['inspect', '--baggage', headers.ref3.inline, '--profile', 'reference']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^3 entries/);
    const z = await kest(['inspect', '--baggage', headers.ref6.z, '--profile', 'reference', '--json']);
    expect(JSON.parse(z.stdout)).toHaveLength(6);
    const strict = await kest(['inspect', '--baggage', headers.ref3.inline]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/ERR_BAGGAGE_INVALID/);
    const file = await kest(['inspect', at('ref3.json'), '--profile', 'reference']);
    expect(file.code).toBe(0);
  });
});

describe('kest audit of reference exports', () => {
  it.each(['spans.sqlite', 'spans.json'])(
    '%s: both traces verified under reference, failed under the default',
    async (f) => {
      const ref = await kest([
        'audit',
        at(f),
        '--jwks',
        at('jwks.json'),
        '--profile',
        'reference',
        '--json',
        '--workers',
        '0',
      ]);
      expect(ref.code).toBe(0);
      const out = JSON.parse(ref.stdout);
      expect(out.summary).toMatchObject({ traces: 2, verified: 2, failed: 0, entries: 9 });
      const strict = await kest(['audit', at(f), '--jwks', at('jwks.json'), '--json', '--workers', '0']);
      expect(strict.code).toBe(1);
      expect(JSON.parse(strict.stdout).summary.verified).toBe(0);
    },
  );
});
