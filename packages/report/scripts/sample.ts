/**
 * Rebuilds the committed sample report from the newest runs in results/ and its screenshots:
 *   node --import tsx packages/report/scripts/sample.ts
 * writes reports/sample-report.html, reports/sample-report-first-screen.png (1,400 × 900) and
 * reports/sample-report-full.jpg (full page; JPEG at quality 60 keeps the 11,000-px page under 1.5 MB, text still sharp), in Debian's Chromium
 * (QB_CHROMIUM_PATH overrides).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { buildReport } from '../src/build-report.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const OUT = path.join(REPO_ROOT, 'reports');
const CHROMIUM = process.env.QB_CHROMIUM_PATH ?? '/usr/bin/chromium';

async function main(): Promise<void> {
  process.chdir(REPO_ROOT);
  const report = buildReport({ dirs: [path.join(REPO_ROOT, 'results')], leadDevice: 'h200', title: 'quantbench sample report' });
  const html = path.join(OUT, 'sample-report.html');
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(html, report.html);
  console.log(`${path.relative(REPO_ROOT, html)}: ${(report.html.length / 1e6).toFixed(2)} MB`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'], headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(pathToFileURL(html).href);
    await page.waitForFunction(() => document.documentElement.dataset.qbState === 'done', undefined, { timeout: 60_000 });
    await page.screenshot({ path: path.join(OUT, 'sample-report-first-screen.png') });
    await page.screenshot({ path: path.join(OUT, 'sample-report-full.jpg'), fullPage: true, type: 'jpeg', quality: 60 });
    const h = await page.evaluate(() => document.documentElement.scrollHeight);
    console.log(`screenshots written (page ${h} px tall)`);
  } finally {
    await browser.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
