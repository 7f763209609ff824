/** Assembles the single self-contained report HTML (scripts, styles and data all inline). */
import type { ChartResult } from '../charts/chart-types.ts';
import type { ClientPayload } from '../client/payload.ts';
import type { RunInfo, Skipped } from '../load/read-results.ts';
import type { ProvenanceSummary } from '../provenance-summary.ts';
import { shortCommit } from '../setup.ts';
import { clientScript, scriptSafe, vegaBundles } from './assets.ts';
import { esc, jsonForScript } from './escape.ts';
import { formatCell } from './format-cell.ts';
import { REPORT_CSS } from './styles.ts';

export interface PageInput {
  title: string;
  generatedAt: string;
  inputs: string[];
  runs: RunInfo[];
  provenance: ProvenanceSummary;
  charts: (ChartResult & { csv: string })[];
  skipped: Skipped[];
}

function badges(c: { weights: string[]; fixture: boolean; setups: string[] }): string {
  const out: string[] = [];
  if (c.fixture) out.push('<span class="badge fixture" title="provenance device is &quot;fixture&quot;: made-up numbers for tests">FIXTURE DATA</span>');
  for (const w of c.weights)
    out.push(
      w === 'synthetic'
        ? '<span class="badge synthetic" title="random weights with the real shapes: speed is meaningful, accuracy is not">SYNTHETIC WEIGHTS</span>'
        : w === 'real'
          ? '<span class="badge real" title="trained checkpoint weights">REAL WEIGHTS</span>'
          : `<span class="badge">${esc(w.toUpperCase())} WEIGHTS</span>`,
    );
  if (c.setups.length > 1) out.push(`<span class="badge split" title="panels are split by setup">${c.setups.length} SETUPS, SPLIT</span>`);
  return out.join(' ');
}

function table(c: ChartResult): string {
  if (c.rows.length === 0) return '';
  const single = new Set(c.rows.map((r) => r.setup)).size <= 1;
  // The setup column is only informative when it varies (the header names the setup otherwise).
  const cols = c.columns.filter((col) => !(single && col.field === 'setup'));
  const head = cols.map((col) => `<th>${esc(col.title)}</th>`).join('');
  const body = c.rows
    .map(
      (r) =>
        `<tr>${cols
          .map((col) => {
            const v = r[col.field] ?? null;
            return `<td${typeof v === 'number' ? ' class="num"' : ''}>${esc(formatCell(v, col.format))}</td>`;
          })
          .join('')}</tr>`,
    )
    .join('\n');
  return `<div class="table-wrap"><table class="data"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

function chartSection(c: ChartResult, index: number): string {
  const notes = c.notes.map((n) => `<li>${esc(n)}</li>`).join('');
  const figure = c.spec
    ? `<div class="figure"><div class="vis" id="vis-${esc(c.id)}" data-chart="${esc(c.id)}"></div></div>`
    : `<div class="figure"><div class="empty" data-chart="${esc(c.id)}">No data for this chart. ${esc(c.emptyReason ?? '')}</div></div>`;
  const exports = [
    c.rows.length ? `<a data-chart="${esc(c.id)}" data-export="csv" download="${esc(c.id)}.csv">CSV</a>` : '',
    c.spec ? `<a data-chart="${esc(c.id)}" data-export="spec" download="${esc(c.id)}.vl.json">Vega-Lite spec</a>` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  return `<section class="chart${c.spec ? '' : ' is-empty'}" id="chart-${esc(c.id)}">
<div class="chart-head"><h2>${index + 1}. ${esc(c.title)}</h2><div class="badges">${badges(c)}</div></div>
<p class="reading">${esc(c.reading)}</p>
${notes ? `<ul class="notes">${notes}</ul>` : ''}
<div class="chart-body">${figure}${table(c)}</div>
${exports ? `<p class="exports">Download: ${exports}</p>` : ''}
</section>`;
}

function provenanceBlock(p: ProvenanceSummary, runs: RunInfo[]): string {
  if (p.setups.length === 0) return '<p class="warn">No result records were loaded.</p>';
  const rows = p.setups
    .map(
      (s) => `<tr><td>${esc(s.device)}${s.fixture ? ' <span class="badge fixture">FIXTURE</span>' : ''}</td><td>${esc(s.deviceKind)}</td>
<td><code title="${esc(s.commit)}">${esc(shortCommit(s.commit))}</code></td><td>${esc(s.model)}</td>
<td>${badges({ weights: s.weights.split(', '), fixture: false, setups: [] })}</td>
<td>${esc(s.firstDate === s.lastDate ? s.firstDate : `${s.firstDate} … ${s.lastDate}`)}</td>
<td>${esc(s.precisions.join(', '))}</td><td>${esc(s.contents.join('; '))}</td><td>${esc(s.runs.join(', '))}</td></tr>`,
    )
    .join('\n');
  const recipes = p.recipes
    .map(
      (r) =>
        `<tr><td>${esc(r.precision)}</td><td>${esc(r.weights)}</td><td>${esc(r.activations)}</td><td>${esc(r.actDtype)}</td><td>${esc(r.source)}</td><td>${esc(r.extra)}</td>${p.setups.length > 1 ? `<td>${esc(r.setup)}</td>` : ''}</tr>`,
    )
    .join('\n');
  const commands = runs
    .filter((r) => r.command)
    .map((r) => `<li><code>${esc(r.name)}</code>: <code>${esc(r.command ?? '')}</code></li>`)
    .join('');
  const mixed =
    p.setups.length > 1
      ? `<p class="mixed"><strong>${p.setups.length} setups</strong> (device · commit · model) are present. Charts never combine them: each chart splits its panels by setup, and speedup / recovery are computed only against fp16 of the same setup.</p>`
      : '';
  return `<h2 class="sec">Provenance</h2>
${mixed}
<div class="table-wrap wide"><table class="data prov"><thead><tr><th>device</th><th>kind</th><th>commit</th><th>model</th><th>weights</th><th>dates</th><th>precisions</th><th>records</th><th>runs</th></tr></thead>
<tbody>${rows}</tbody></table></div>
<details><summary>Precision recipes (${p.recipes.length})</summary>
<div class="table-wrap wide"><table class="data"><thead><tr><th>precision</th><th>weights</th><th>activations</th><th>act dtype</th><th>source</th><th>details</th>${p.setups.length > 1 ? '<th>setup</th>' : ''}</tr></thead><tbody>${recipes}</tbody></table></div></details>
${commands ? `<details><summary>Commands (${runs.filter((r) => r.command).length})</summary><ul class="commands">${commands}</ul></details>` : ''}`;
}

function skippedBlock(skipped: Skipped[]): string {
  if (skipped.length === 0) return '<p class="ok" id="skipped">Every result file found was read; nothing was skipped.</p>';
  const items = skipped
    .map((s) => `<li><code>${esc(s.file)}${s.line != null ? `:${s.line}` : ''}</code> — ${esc(s.reason)}</li>`)
    .join('\n');
  return `<details class="skipped" id="skipped" open><summary>Skipped input: ${skipped.length} file(s) or line(s) were not used (the report was built from the rest)</summary><ul>${items}</ul></details>`;
}

export function renderPage(input: PageInput): string {
  const payload: ClientPayload = {
    charts: input.charts.map((c) => ({ id: c.id, title: c.title, spec: c.spec, csv: c.csv })),
  };
  const libs = vegaBundles();
  const p = input.provenance;
  const banner = p.fixture
    ? '<div class="banner fixture">FIXTURE DATA — these numbers were generated for tests (provenance device "fixture"). They measure nothing.</div>'
    : '';
  const weightsLine = `<div class="badges big">${badges({ weights: p.weights, fixture: p.fixture, setups: p.setups.map((s) => s.label) })}</div>`;
  const toc = input.charts
    .map((c) => `<li><a href="#chart-${esc(c.id)}">${esc(c.title)}</a>${c.spec ? '' : ' <em>(no data)</em>'}</li>`)
    .join('');
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
${banner}
<header class="top">
<h1>${esc(input.title)}</h1>
${weightsLine}
<p class="meta">Generated ${esc(input.generatedAt)} from ${esc(input.inputs.join(', '))} · ${input.runs.length} run(s) · ${libs.map((l) => `${esc(l.name)} ${esc(l.version)}`).join(', ')} inlined · works offline</p>
${provenanceBlock(p, input.runs)}
${skippedBlock(input.skipped)}
<nav class="toc"><h2 class="sec">Charts</h2><ol>${toc}</ol></nav>
</header>
<main>
${input.charts.map((c, i) => chartSection(c, i)).join('\n')}
</main>
<script id="qb-data" type="application/json">${jsonForScript(payload)}</script>
${libs.map((l) => `<script data-lib="${esc(l.name)}">${scriptSafe(l.code)}</script>`).join('\n')}
<script>${scriptSafe(clientScript())}</script>
</body>
</html>
`;
}
