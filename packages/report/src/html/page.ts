/**
 * Assembles the single self-contained report HTML (scripts, styles and data all inline), in reading order:
 * the answer (per device: summary table, headline, speed-vs-quality chart, peers), the detail charts of
 * the newest setups, the history of older setups, and the appendix (provenance, recipes, skipped input).
 */
import type { ChartResult } from '../charts/chart-types.ts';
import type { ClientPayload } from '../client/payload.ts';
import type { RunInfo, Skipped } from '../load/read-results.ts';
import type { Peers } from '../peers.ts';
import type { ProvenanceSummary } from '../provenance-summary.ts';
import type { Scope } from '../select/scope.ts';
import type { DeviceSummary } from '../summary/device-summary.ts';
import { appendix } from './appendix.ts';
import { clientScript, scriptSafe, vegaBundles } from './assets.ts';
import { badges, chartSection, compactChart } from './chart-section.ts';
import { toVega } from './compile.ts';
import { esc, jsonForScript } from './escape.ts';
import { historySection } from './history-section.ts';
import { REPORT_CSS } from './styles.ts';
import { summarySection } from './summary-section.ts';

export type PageChart = ChartResult & { csv: string };

export interface PageInput {
  title: string;
  generatedAt: string;
  /** Input names as shown (relative, never machine paths). */
  inputs: string[];
  runs: RunInfo[];
  provenance: ProvenanceSummary;
  /** Detail charts (newest setups). */
  charts: PageChart[];
  /** Speed-vs-quality chart per device summary, keyed by summary id. */
  summaryCharts: Map<string, PageChart>;
  summaries: DeviceSummary[];
  peers: Peers;
  scope: Scope;
  skipped: Skipped[];
  notes: string[];
}

export function renderPage(input: PageInput): string {
  const all = [...input.summaryCharts.values(), ...input.charts];
  const payload: ClientPayload = {
    charts: all.map((c) => ({ id: c.id, title: c.title, vega: c.spec ? toVega(c.spec) : null, csv: c.csv })),
  };
  const libs = vegaBundles();
  const p = input.provenance;
  const banner = p.fixture
    ? '<div class="banner fixture">FIXTURE DATA — these numbers were generated for tests (provenance device "fixture"). They measure nothing.</div>'
    : '';
  const weightsLine = `<div class="badges big">${badges({ weights: p.weights, fixture: p.fixture, setups: [] })}</div>`;
  const summaryChartHtml = new Map([...input.summaryCharts.entries()].map(([k, c]) => [k, compactChart(c)]));
  const toc = input.charts
    .map((c) => `<li><a href="#chart-${esc(c.id)}">${esc(c.title)}</a>${c.spec ? '' : ' <em>(no data)</em>'}</li>`)
    .join('');
  const notes = input.notes.map((n) => `<li>${esc(n)}</li>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'none'">
<title>${esc(input.title)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<div class="page">
${banner}
<header class="top">
<h1>${esc(input.title)} ${weightsLine}</h1>
<p class="meta">Generated ${esc(input.generatedAt)} from ${esc(input.inputs.join(', '))} · ${input.runs.length} run(s) · ${libs.map((l) => `${esc(l.name)} ${esc(l.version)}`).join(', ')} inlined, specs precompiled · works offline · <a href="#details">details</a> · <a href="#history">history</a> · <a href="#appendix">provenance and skipped input</a></p>
${notes ? `<ul class="notes">${notes}</ul>` : ''}
</header>
${summarySection(input.summaries, input.peers, summaryChartHtml)}
<main id="details">
<h2 class="sec">Details of the newest setups</h2>
<nav class="toc"><ol>${toc}</ol></nav>
${input.charts.map((c, i) => chartSection(c, `${i + 1}. ${c.title}`)).join('\n')}
</main>
${historySection(input.scope)}
${appendix(p, input.runs, input.skipped)}
</div>
<script id="qb-data" type="application/json">${jsonForScript(payload)}</script>
${libs.map((l) => `<script data-lib="${esc(l.name)}">${scriptSafe(l.code)}</script>`).join('\n')}
<script>${scriptSafe(clientScript())}</script>
</body>
</html>
`;
}
