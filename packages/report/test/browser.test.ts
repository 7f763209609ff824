/**
 * Loads a report built from fixture results in Debian's Chromium (driven by playwright-core) from file://
 * with networking off, at 1,400 × 900, and checks every chart rendered without Vega warnings and the
 * layout a reader sees: every chart inside the page column, none taller than 2,000 px, the summary table
 * above the first chart, no horizontal scroll, no machine paths, headline numbers equal to the summary
 * table's. Writes a screenshot for review: $QB_REPORT_ARTIFACTS/report.png (default: <repo>/tmp/report-test/).
 * Also renders the real results under results/ (or $QB_REPORT_RESULTS_DIR) when any exist, and checks the
 * committed reports/sample-report.html (or $QB_REPORT_HTML) the same way.
 * Skips when /usr/bin/chromium is absent (CI installs it: apt-get install -y chromium).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildReport } from '../src/build-report.ts';
import { findRunDirs } from '../src/load/discover.ts';
import type { ClientState } from '../src/client/payload.ts';
import { writeFixtureResults } from './fixtures.ts';

/** Debian's Chromium (CI installs it); QB_CHROMIUM_PATH overrides for local setups. */
const CHROMIUM = process.env.QB_CHROMIUM_PATH ?? '/usr/bin/chromium';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const ARTIFACTS = process.env.QB_REPORT_ARTIFACTS ?? path.join(REPO_ROOT, 'tmp', 'report-test');
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const skip = fs.existsSync(CHROMIUM)
  ? false
  : `Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) to run the report browser test`;

interface PageRun {
  state: ClientState;
  consoleProblems: string[];
  pageErrors: string[];
  netRequests: string[];
  page: Page;
}

describe('report in a real browser (file://, offline)', { skip }, () => {
  let tmp: string;
  let context: BrowserContext;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-report-browser-'));
    context = await chromium.launchPersistentContext(path.join(tmp, 'user-data'), {
      executablePath: CHROMIUM,
      args: ARGS,
      headless: true,
      offline: true,
      viewport: { width: 1400, height: 900 },
      acceptDownloads: false,
    });
  });
  after(async () => {
    await context?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function load(htmlFile: string): Promise<PageRun> {
    const consoleProblems: string[] = [];
    const pageErrors: string[] = [];
    const netRequests: string[] = [];
    // Everything that is not the report file itself is refused and recorded.
    await context.route(
      (url) => url.protocol !== 'file:',
      async (route) => {
        netRequests.push(route.request().url());
        await route.abort('internetdisconnected');
      },
    );
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'warning' || m.type() === 'error') consoleProblems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith('file:') && !u.startsWith('data:') && !u.startsWith('blob:')) netRequests.push(u);
    });
    await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load' });
    await page.waitForFunction(() => document.documentElement.dataset.qbState === 'done', undefined, { timeout: 60_000 });
    const state = (await page.evaluate(() => window.__qbReport)) as ClientState;
    return { state, consoleProblems, pageErrors, netRequests, page };
  }

  /** Every chart with a spec rendered a non-empty SVG/canvas with data marks; nothing failed, warned or went out. */
  async function assertRendered(run: PageRun, withSpec: string[]): Promise<void> {
    assert.deepEqual(run.pageErrors, [], 'page errors');
    assert.deepEqual(run.netRequests, [], 'the report made network requests');
    assert.deepEqual(run.consoleProblems, [], 'console warnings/errors (Vega logs its warnings there)');
    assert.deepEqual(run.state.failed, [], 'charts that failed to render');
    assert.deepEqual([...run.state.rendered].sort(), [...withSpec].sort(), 'rendered charts');
    for (const id of withSpec) {
      const view = await run.page.evaluate((chartId) => {
        const el = document.getElementById(`vis-${chartId}`);
        const svg = el?.querySelector('svg');
        const canvas = el?.querySelector('canvas');
        const box = (svg ?? canvas)?.getBoundingClientRect();
        return {
          hasView: !!(svg || canvas),
          width: box?.width ?? 0,
          height: box?.height ?? 0,
          marks: svg ? svg.querySelectorAll('g.mark-symbol path, g.mark-line path, g.mark-rect path, g.mark-rule line, g.mark-area path').length : 0,
        };
      }, id);
      assert.ok(view.hasView, `chart ${id}: no SVG/canvas`);
      assert.ok(view.width > 50 && view.height > 50, `chart ${id}: view is ${view.width}x${view.height}`);
      assert.ok(view.marks > 0, `chart ${id}: SVG holds no data marks`);
    }
  }

  /** What a reader sees at 1,400 px: returns one line per problem (empty when the layout holds). */
  async function layoutProblems(page: Page, html: string): Promise<string[]> {
    const problems = await page.evaluate(() => {
      const out: string[] = [];
      const cs = getComputedStyle(document.body);
      const b = document.body.getBoundingClientRect();
      const left = b.left + parseFloat(cs.paddingLeft) - 1;
      const right = b.right - parseFloat(cs.paddingRight) + 1;
      const charts = [...document.querySelectorAll<HTMLElement>('.vis')];
      for (const el of charts) {
        const view = el.querySelector('svg, canvas') ?? el;
        const r = view.getBoundingClientRect();
        if (r.left < left || r.right > right)
          out.push(`chart ${el.id}: ${Math.round(r.left)}–${Math.round(r.right)} px is outside the column ${Math.round(left)}–${Math.round(right)} px`);
        if (r.height > 2000) out.push(`chart ${el.id}: ${Math.round(r.height)} px tall (limit 2,000)`);
      }
      const summary = document.querySelector('table.summary');
      if (!summary) out.push('no summary table (table.summary)');
      else if (charts.length && summary.getBoundingClientRect().top > charts[0].getBoundingClientRect().top)
        out.push('the summary table is below the first chart');
      const sw = document.documentElement.scrollWidth;
      if (sw > window.innerWidth) out.push(`horizontal scroll: page is ${sw} px wide in a ${window.innerWidth} px window`);
      const heads = [...document.querySelectorAll<HTMLElement>('[data-headline]')];
      if (summary && !heads.length) out.push('no headline numbers tied to the summary table (data-headline)');
      for (const h of heads) {
        const key = h.dataset.headline ?? '';
        const cell = [...document.querySelectorAll<HTMLElement>('[data-summary]')].find((c) => c.dataset.summary === key);
        if (!cell) out.push(`headline "${h.textContent}" has no summary cell ${key}`);
        else if (!(h.textContent ?? '').includes((cell.textContent ?? '').trim()))
          out.push(`headline "${h.textContent}" does not show the table's ${cell.textContent}`);
      }
      return out;
    });
    // Machine paths anywhere in the file outside the inlined libraries.
    const own = html.replace(/<script data-lib=[^>]*>[\s\S]*?<\/script>/g, '');
    const paths = own.match(/(?<![\w.~-])\/(?:work|home|root|tmp|Users|mnt|srv|var\/folders)\/[^\s"'<>)]*/g) ?? [];
    if (paths.length) problems.push(`absolute machine paths in the file: ${[...new Set(paths)].slice(0, 3).join(', ')}`);
    return problems;
  }

  test('every chart renders an SVG with marks, no Vega warnings, no network, screenshot written', async () => {
    const resultsDir = path.join(tmp, 'results');
    writeFixtureResults(resultsDir, { seed: 20250101 });
    const report = buildReport({ dirs: [resultsDir], generatedAt: '2025-01-01T00:00:00Z' });
    const htmlFile = path.join(tmp, 'report.html');
    fs.writeFileSync(htmlFile, report.html);
    const withSpec = report.charts.filter((c) => c.spec).map((c) => c.id);
    assert.ok(withSpec.length >= 10, `fixture data should fill the charts, got ${withSpec.join(', ')}`);

    const run = await load(htmlFile);
    try {
      await assertRendered(run, withSpec);
      // Every chart with data has working CSV and spec download links (Blob URLs, no network).
      const hrefs = await run.page.evaluate(() =>
        [...document.querySelectorAll<HTMLAnchorElement>('a[data-export]')].map((a) => a.href),
      );
      assert.equal(hrefs.length, withSpec.length * 2);
      assert.ok(hrefs.every((h) => h.startsWith('blob:')), 'export links should be blob: URLs');
      // The fixture banner and weights badges are visible.
      const text = await run.page.evaluate(() => document.body.innerText);
      assert.match(text, /FIXTURE DATA/);
      assert.match(text, /SYNTHETIC WEIGHTS/);
      assert.match(text, /REAL WEIGHTS/);

      fs.mkdirSync(ARTIFACTS, { recursive: true });
      const shot = path.join(ARTIFACTS, 'report.png');
      await run.page.screenshot({ path: shot, fullPage: true });
      fs.copyFileSync(htmlFile, path.join(ARTIFACTS, 'report.html'));
      assert.ok(fs.statSync(shot).size > 10_000, 'screenshot looks empty');
      assert.deepEqual(await layoutProblems(run.page, report.html), [], 'layout at 1,400 px');
      console.log(`# report screenshot: ${shot}`);
    } finally {
      await run.page.close();
      await context.unrouteAll();
    }
  });

  test('a report with only bench data shows "no data" for eval charts and still renders the rest', async () => {
    const resultsDir = path.join(tmp, 'bench-only');
    const { evalDir } = writeFixtureResults(resultsDir, { seed: 7 });
    fs.rmSync(evalDir, { recursive: true });
    // A broken line in the middle of points.jsonl must not stop the report.
    const pts = path.join(resultsDir, 'fixture-bench', 'points.jsonl');
    const lines = fs.readFileSync(pts, 'utf8').split('\n');
    lines.splice(3, 0, '{"schema":"quantbench.bench.point", truncated');
    fs.writeFileSync(pts, lines.join('\n'));
    const report = buildReport({ dirs: [resultsDir] });
    const htmlFile = path.join(tmp, 'bench-only.html');
    fs.writeFileSync(htmlFile, report.html);
    const empty = report.charts.filter((c) => !c.spec).map((c) => c.id);
    assert.deepEqual(empty.sort(), ['accuracy', 'fidelity', 'perplexity', 'recovery', 'speed-quality-1']);

    const run = await load(htmlFile);
    try {
      await assertRendered(run, report.charts.filter((c) => c.spec).map((c) => c.id));
      assert.deepEqual([...run.state.empty].sort(), empty.sort());
      for (const id of empty) {
        const t = await run.page.evaluate((chartId) => document.querySelector(`#chart-${chartId} .empty`)?.textContent ?? '', id);
        assert.match(t, /No data for this chart/);
        const views = await run.page.evaluate((chartId) => document.querySelectorAll(`#chart-${chartId} svg, #chart-${chartId} canvas`).length, id);
        assert.equal(views, 0, `empty chart ${id} should not draw an empty view`);
      }
      const skippedText = await run.page.evaluate(() => document.getElementById('skipped')?.textContent ?? '');
      assert.match(skippedText, /points\.jsonl:4/);
      assert.match(skippedText, /invalid JSON/);
    } finally {
      await run.page.close();
      await context.unrouteAll();
    }
  });
  test('the real results (results/ or $QB_REPORT_RESULTS_DIR) render too', async (t) => {
    const dir = process.env.QB_REPORT_RESULTS_DIR ?? path.join(REPO_ROOT, 'results');
    if (findRunDirs(dir).length === 0) {
      t.skip(`no result runs under ${dir} yet (run pnpm bench / pnpm eval, or set QB_REPORT_RESULTS_DIR)`);
      return;
    }
    const report = buildReport({ dirs: [dir] });
    const htmlFile = path.join(tmp, 'real.html');
    fs.writeFileSync(htmlFile, report.html);
    const run = await load(htmlFile);
    try {
      await assertRendered(run, report.charts.filter((c) => c.spec).map((c) => c.id));
      assert.deepEqual(await layoutProblems(run.page, report.html), [], 'layout at 1,400 px');
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await run.page.screenshot({ path: path.join(ARTIFACTS, 'report-results.png'), fullPage: true });
      console.log(`# real results: ${report.runs.length} run(s), ${report.charts.filter((c) => c.spec).length} chart(s) drawn, ${report.skipped.length} skipped; screenshot ${path.join(ARTIFACTS, 'report-results.png')}`);
    } finally {
      await run.page.close();
      await context.unrouteAll();
    }
  });

  test('the committed sample report (reports/sample-report.html or $QB_REPORT_HTML) passes the layout checks', async (t) => {
    const file = process.env.QB_REPORT_HTML ?? path.join(REPO_ROOT, 'reports', 'sample-report.html');
    if (!fs.existsSync(file)) {
      t.skip(`${file} is absent`);
      return;
    }
    const html = fs.readFileSync(file, 'utf8');
    const run = await load(file);
    try {
      assert.deepEqual(run.state.failed, [], 'charts that failed to render');
      const problems = await layoutProblems(run.page, html);
      if (html.length >= 1_500_000) problems.push(`${path.basename(file)} is ${(html.length / 1e6).toFixed(2)} MB (limit 1.5 MB)`);
      assert.deepEqual(problems, [], 'layout at 1,400 px');
    } finally {
      await run.page.close();
      await context.unrouteAll();
    }
  });
});
