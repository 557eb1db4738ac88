/**
 * Regenerates docs/img/viewer.png (the README's screenshot of the lineage viewer):
 *   npx tsx test/audit/screenshot.ts
 * Not a test: it writes into docs/. Uses the same headless Chromium as the viewer test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderHtml } from '../../src/audit/index.js';
import { launchChromium } from '../support/chromium.js';
import { viewerScenario } from './scenario.js';

const { reports } = await viewerScenario();
const dir = mkdtempSync(join(tmpdir(), 'kest-shot-'));
const file = join(dir, 'viewer.html');
writeFileSync(file, renderHtml(reports, { title: 'Kest lineage — kest viz' }));
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  await page.goto(pathToFileURL(file).href);
  await page.locator('section.trace').nth(0).locator('g.node[data-index="2"]').click();
  await page.screenshot({ path: 'docs/img/viewer.png', fullPage: true });
} finally {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
}
console.log('wrote docs/img/viewer.png');
