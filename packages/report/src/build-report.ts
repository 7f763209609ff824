/** Loads results, builds every chart and renders the single-file HTML report. */
import fs from 'node:fs';
import path from 'node:path';
import type { ChartResult } from './charts/chart-types.ts';
import { CHARTS } from './charts/index.ts';
import { chartCsv } from './csv.ts';
import { renderPage } from './html/page.ts';
import { loadResults } from './load/discover.ts';
import type { LoadedResults, RunInfo, Skipped } from './load/read-results.ts';
import { summarizeProvenance, type ProvenanceSummary } from './provenance-summary.ts';

export type BuiltChart = ChartResult & { csv: string };

export interface BuiltReport {
  html: string;
  charts: BuiltChart[];
  skipped: Skipped[];
  runs: RunInfo[];
  provenance: ProvenanceSummary;
}

export interface BuildOptions {
  /** Result directories (run dirs or folders holding them). */
  dirs: string[];
  title?: string;
  /** Fixed timestamp for reproducible output. */
  generatedAt?: string;
}

/** Builds every chart; a chart whose builder throws becomes an empty chart that says so. */
export function buildCharts(data: LoadedResults): BuiltChart[] {
  return CHARTS.map((build, i) => {
    let c: ChartResult;
    try {
      c = build(data);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      c = {
        id: `chart-${i + 1}`,
        title: `Chart ${i + 1} (${build.name})`,
        reading: `This chart could not be built: ${msg}. Please report it with the result files.`,
        notes: [],
        spec: null,
        emptyReason: `internal error: ${msg}`,
        columns: [],
        rows: [],
        weights: [],
        fixture: false,
        setups: [],
      };
    }
    return { ...c, csv: chartCsv(c.columns, c.rows) };
  });
}

export function buildReportFromData(data: LoadedResults, opts: Omit<BuildOptions, 'dirs'> & { inputs: string[] }): BuiltReport {
  const charts = buildCharts(data);
  const provenance = summarizeProvenance(data);
  const html = renderPage({
    title: opts.title ?? 'quantbench report',
    generatedAt: opts.generatedAt ?? new Date().toISOString(),
    inputs: opts.inputs,
    runs: data.runs,
    provenance,
    charts,
    skipped: data.skipped,
  });
  return { html, charts, skipped: data.skipped, runs: data.runs, provenance };
}

export function buildReport(opts: BuildOptions): BuiltReport {
  const data = loadResults(opts.dirs);
  return buildReportFromData(data, { ...opts, inputs: opts.dirs });
}

/** Writes <id>.csv and <id>.vl.json (specs carry their data inline) for every chart with data. */
export function writeExports(report: BuiltReport, dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const c of report.charts) {
    if (c.rows.length) {
      const f = path.join(dir, `${c.id}.csv`);
      fs.writeFileSync(f, c.csv);
      written.push(f);
    }
    if (c.spec) {
      const f = path.join(dir, `${c.id}.vl.json`);
      fs.writeFileSync(f, JSON.stringify(c.spec, null, 2) + '\n');
      written.push(f);
    }
  }
  return written;
}
