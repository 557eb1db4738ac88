/**
 * The HTML viewer in real headless Chromium (Debian's /usr/bin/chromium via playwright-core): the
 * DAG's nodes render, the edited entry is marked failed, a click shows its details, and the page
 * makes no network request.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/audit/index.js';
import { launchChromium } from '../support/chromium.js';
import { viewerScenario } from './scenario.js';

const dir = mkdtempSync(join(tmpdir(), 'kest-viewer-'));
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('HTML viewer in headless Chromium', () => {
  it('draws every entry, colours by trust, marks the failed entry and sanitizer, shows details on click', async () => {
    const { reports, editedEntryId } = await viewerScenario();
    expect(reports.map((r) => r.status)).toEqual(['verified', 'failed']);
    const file = join(dir, 'viewer.html');
    writeFileSync(file, renderHtml(reports, { title: 'Kest lineage — test' }));

    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(file).href);

    const sections = page.locator('section.trace');
    expect(await sections.count()).toBe(2);
    expect(await sections.nth(0).getAttribute('data-status')).toBe('verified');
    expect(await sections.nth(1).getAttribute('data-status')).toBe('failed');

    const total = reports.reduce((n, r) => n + r.entries.length, 0);
    const nodes = page.locator('g.node:not(.missing)');
    expect(await nodes.count()).toBe(total);
    // the first trace: 4 verified nodes, one sanitizer, taint badges on the fetch
    const first = sections.nth(0);
    expect(await first.locator('g.node.verified').count()).toBe(4);
    expect(await first.locator('g.node.sanitizer').getAttribute('data-entry-id')).toBe(
      reports[0]?.entries[2]?.entryId,
    );
    expect(await first.locator('g.node[data-index="1"] .badge.taint').allTextContents()).toEqual([
      'unverified_source',
      'web',
    ]);
    // trust colours: red-ish at 10, green at 90+
    const fill = (i: number) =>
      first
        .locator(`g.node[data-index="${i}"] > rect`)
        .evaluate(
          (el) =>
            (
              globalThis as unknown as { getComputedStyle(e: unknown): { fill: string; stroke: string } }
            ).getComputedStyle(el).fill,
        );
    expect(await fill(1)).not.toBe(await fill(2));

    // the second trace: exactly the edited entry is failed
    const failed = page.locator('g.node.failed');
    expect(await failed.count()).toBe(1);
    expect(await failed.getAttribute('data-entry-id')).toBe(editedEntryId);
    expect(
      await failed
        .locator('> rect')
        .evaluate(
          (el) =>
            (
              globalThis as unknown as { getComputedStyle(e: unknown): { fill: string; stroke: string } }
            ).getComputedStyle(el).stroke,
        ),
    ).toBe('rgb(208, 0, 0)');
    expect(await sections.nth(1).locator('p.failure').textContent()).toContain('bad_signature');

    // the failed node is selected first; clicking another shows its details
    expect(await page.locator('#details').textContent()).toContain(editedEntryId);
    await first.locator('g.node[data-index="3"]').click();
    const details = (await page.locator('#details').textContent()) ?? '';
    expect(details).toContain('ledger.record');
    expect(details).toContain(reports[0]?.entries[3]?.entryId as string);
    expect(details).toContain('"trust_score": 90');

    expect(errors).toEqual([]);
    expect(requests).toEqual([pathToFileURL(file).href]);
    await page.close();
  });
});
