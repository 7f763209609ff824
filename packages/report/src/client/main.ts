/**
 * Runs in the report page: renders each chart with the inlined vega-embed, wires the CSV / spec download
 * links (Blob URLs: nothing is fetched), and records the outcome on window.__qbReport and
 * <html data-qb-state="done">.
 */
import type { EmbedOptions, Result } from 'vega-embed';
import type { TopLevelSpec } from 'vega-lite';
import type { ClientPayload, ClientState } from './payload.ts';

declare const vegaEmbed: (el: HTMLElement, spec: TopLevelSpec, opts?: EmbedOptions) => Promise<Result>;
declare const vega: { Warn: number };

declare global {
  interface Window {
    __qbReport?: ClientState;
  }
}

function link(chartId: string, kind: string, text: string, type: string): void {
  const a = document.querySelector<HTMLAnchorElement>(`a[data-chart="${chartId}"][data-export="${kind}"]`);
  if (!a) return;
  a.href = URL.createObjectURL(new Blob([text], { type }));
}

async function main(): Promise<void> {
  const dataEl = document.getElementById('qb-data');
  const payload = JSON.parse(dataEl?.textContent ?? '{"charts":[]}') as ClientPayload;
  const state: ClientState = { rendered: [], failed: [], empty: [] };
  const jobs = payload.charts.map(async (c) => {
    link(c.id, 'csv', c.csv, 'text/csv');
    if (!c.spec) {
      state.empty.push(c.id);
      return;
    }
    link(c.id, 'spec', JSON.stringify(c.spec, null, 2), 'application/json');
    const el = document.getElementById(`vis-${c.id}`);
    if (!el) {
      state.failed.push({ id: c.id, error: 'no element for the chart' });
      return;
    }
    try {
      await vegaEmbed(el, c.spec, {
        renderer: 'svg',
        actions: { export: true, source: false, compiled: false, editor: false },
        logLevel: vega.Warn,
        downloadFileName: c.id,
      });
      el.dataset.state = 'rendered';
      state.rendered.push(c.id);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      el.dataset.state = 'failed';
      el.textContent = `This chart failed to render: ${msg}`;
      el.classList.add('failed');
      state.failed.push({ id: c.id, error: msg });
      console.error(`chart ${c.id} failed: ${msg}`);
    }
  });
  await Promise.all(jobs);
  window.__qbReport = state;
  document.documentElement.dataset.qbState = 'done';
}

void main();
