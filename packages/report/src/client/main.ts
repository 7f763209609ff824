/**
 * Runs in the report page: renders each precompiled Vega spec with the inlined vega runtime (SVG), wires the
 * CSV / spec download links (Blob URLs: nothing is fetched), and records the outcome on window.__qbReport
 * and <html data-qb-state="done">.
 */
import type { Spec as VegaSpec, View } from 'vega';
import type { ClientPayload, ClientState } from './payload.ts';

declare const vega: {
  Warn: number;
  parse: (spec: VegaSpec) => unknown;
  View: new (runtime: unknown, opts: { renderer: string; container: HTMLElement; hover: boolean; logLevel: number }) => View;
};

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
    if (!c.vega) {
      state.empty.push(c.id);
      return;
    }
    link(c.id, 'spec', JSON.stringify(c.vega, null, 2), 'application/json');
    const el = document.getElementById(`vis-${c.id}`);
    if (!el) {
      state.failed.push({ id: c.id, error: 'no element for the chart' });
      return;
    }
    try {
      const view = new vega.View(vega.parse(c.vega), { renderer: 'svg', container: el, hover: true, logLevel: vega.Warn });
      await view.runAsync();
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
