/** One chart: heading, one-line reading, notes, the figure (or why there is none), its data table folded. */
import type { ChartResult } from '../charts/chart-types.ts';
import { esc } from './escape.ts';
import { formatCell } from './format-cell.ts';

export function badges(c: { weights: string[]; fixture: boolean; setups: string[] }): string {
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
  return `<details class="data-table"><summary>Data table (${c.rows.length} rows)</summary><div class="table-wrap"><table class="data"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div></details>`;
}

/** The chart's mount point, or its "no data" note. */
function figureHtml(c: ChartResult): string {
  return c.spec
    ? `<div class="figure"><div class="vis" id="vis-${esc(c.id)}" data-chart="${esc(c.id)}"></div></div>`
    : `<div class="figure"><div class="empty" data-chart="${esc(c.id)}">No data for this chart. ${esc(c.emptyReason ?? '')}</div></div>`;
}

/** CSV and Vega-spec download links (filled by the client script), '' when there is nothing to download. */
function exportsHtml(c: ChartResult): string {
  return [
    c.rows.length ? `<a data-chart="${esc(c.id)}" data-export="csv" download="${esc(c.id)}.csv">CSV</a>` : '',
    c.spec ? `<a data-chart="${esc(c.id)}" data-export="spec" download="${esc(c.id)}.vg.json">Vega spec</a>` : '',
  ]
    .filter(Boolean)
    .join(' · ');
}

export function chartSection(c: ChartResult, label: string, level: 'h2' | 'h4' = 'h2'): string {
  const notes = c.notes.map((n) => `<li>${esc(n)}</li>`).join('');
  const figure = figureHtml(c);
  const exports = exportsHtml(c);
  return `<section class="chart${c.spec ? '' : ' is-empty'}" id="chart-${esc(c.id)}">
<div class="chart-head"><${level}>${esc(label)}</${level}><div class="badges">${badges(c)}</div></div>
<p class="reading">${esc(c.reading)}</p>
${notes ? `<ul class="notes">${notes}</ul>` : ''}
${figure}
${table(c)}
${exports ? `<p class="exports">Download: ${exports}</p>` : ''}
</section>`;
}

/** A chart split for side-by-side layouts: the figure (with its heading and downloads) and its text. */
export function compactChart(c: ChartResult): { figure: string; text: string } {
  const notes = c.notes.map((n) => `<li>${esc(n)}</li>`).join('');
  const body = figureHtml(c);
  const exports = exportsHtml(c);
  return {
    figure: `<section class="chart compact${c.spec ? '' : ' is-empty'}" id="chart-${esc(c.id)}"><h4>${esc(c.title)}</h4>${body}${exports ? `<p class="exports">Download: ${exports}</p>` : ''}</section>`,
    text: `<p class="reading">${esc(c.reading)}</p>${notes ? `<ul class="notes">${notes}</ul>` : ''}`,
  };
}
