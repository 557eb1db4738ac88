/**
 * Regenerates docs/img/demo-lineage.png, the screenshot of the demo's lineage viewer:
 *
 *   npm run demo -- --viz && npx tsx examples/trusted-chain/screenshot.ts [HTML] [PNG]
 *
 * Opens the page the demo wrote (default .kest-demo/lineage.html) in headless Chromium
 * (Debian's /usr/bin/chromium, or CHROMIUM_PATH), clicks the last entry so its details show, and
 * saves a full-page PNG. Not part of the demo: it writes into docs/.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchChromium } from '../../test/support/chromium.js';

const html = resolve(process.argv[2] ?? '.kest-demo/lineage.html');
const png = resolve(process.argv[3] ?? 'docs/img/demo-lineage.png');
if (!existsSync(html)) {
  process.stderr.write(`${html} does not exist: run \`npm run demo -- --viz\` first\n`);
  process.exit(2);
}
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(pathToFileURL(html).href);
  const nodes = page.locator('section.trace').first().locator('g.node[data-index]');
  await nodes.last().click();
  await page.screenshot({ path: png, fullPage: true });
} finally {
  await browser.close();
}
process.stdout.write(`wrote ${png}\n`);
