/** The deployment file's keys as a Markdown table, rendered from the schema (src/config/schema.ts). */

import { DEPLOYMENT_FILE_KEYS, expected } from '../../src/config/schema.js';
import type { Schema } from '../../src/config/schema-check.js';

export const TABLE_START =
  '<!-- deployment-keys: generated from src/config/schema.ts by test/config/docs.test.ts -->';
export const TABLE_END = '<!-- /deployment-keys -->';

export function deploymentKeysTable(): string {
  const rows = ['| key | value | what it does |', '|---|---|---|'];
  walk(DEPLOYMENT_FILE_KEYS, '', rows);
  return rows.join('\n');
}

function walk(schema: Schema, prefix: string, rows: string[]): void {
  const required = new Set((schema.required ?? []) as string[]);
  for (const [key, sub] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
    const path = `${prefix}${key}`;
    const fallback = sub.default === undefined ? '' : `, default ${JSON.stringify(sub.default)}`;
    const value = `${expected(sub)}${required.has(key) ? ', required' : fallback}`;
    rows.push(`| \`${path}\` | ${value} | ${sub.description ?? ''} |`);
    const items = sub.items as Schema | undefined;
    if (items?.properties) walk(items, `${path}[].`, rows);
    else if (sub.properties) walk(sub, `${path}.`, rows);
  }
}
