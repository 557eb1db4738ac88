/**
 * The table of deployment-file keys in docs/configuration.md is rendered from the schema that
 * validates the file, so the docs list exactly the keys Kest accepts. `UPDATE_DOCS=1 npx vitest run
 * test/config/docs.test.ts` rewrites it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { deploymentKeysTable, TABLE_END, TABLE_START } from '../support/deployment-keys.js';

const DOC = new URL('../../docs/configuration.md', import.meta.url);

describe('docs/configuration.md', () => {
  it('lists the deployment-file keys of the schema', () => {
    const text = readFileSync(DOC, 'utf8');
    const start = text.indexOf(TABLE_START);
    const end = text.indexOf(TABLE_END);
    expect(start).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    const current = text.slice(start + TABLE_START.length, end).trim();
    const table = deploymentKeysTable();
    if (process.env.UPDATE_DOCS && current !== table) {
      writeFileSync(DOC, `${text.slice(0, start + TABLE_START.length)}\n${table}\n${text.slice(end)}`);
      return;
    }
    expect(current).toBe(table);
  });
});
