/** Loads results, picks the newest setups, builds the summary and every chart, renders the single-file HTML. */
import fs from 'node:fs';
import path from 'node:path';
import type { ChartResult } from './charts/chart-types.ts';
import { CHARTS } from './charts/index.ts';
import { speedVsQuality } from './charts/speed-vs-quality.ts';
import { chartCsv } from './csv.ts';
import { renderPage } from './html/page.ts';
import { loadResults } from './load/discover.ts';
import type { LoadedResults, RunInfo, Skipped } from './load/read-results.ts';
import { readPeers, type Peers } from './peers.ts';
import { summarizeProvenance, type ProvenanceSummary } from './provenance-summary.ts';
import { filterResults, type FilterOptions } from './select/filters.ts';
import { scopeResults, type Scope } from './select/scope.ts';
import type { Slo } from './summary/cost.ts';
import { deviceSummaries, type DeviceSummary } from './summary/device-summary.ts';

export type BuiltChart = ChartResult & { csv: string };

export interface BuiltReport {
  html: string;
  /** Summary charts (speed vs quality) first, then the detail charts. */
  charts: BuiltChart[];
  summaries: DeviceSummary[];
  scope: Scope;
  skipped: Skipped[];
  runs: RunInfo[];
  provenance: ProvenanceSummary;
}

export const DEFAULT_SLO: Slo = { ttftMs: 2000, tpotMs: 100 };

export interface BuildOptions extends FilterOptions {
  /** Result directories (run dirs or folders holding them). */
  dirs: string[];
  title?: string;
  /** Fixed timestamp for reproducible output. */
  generatedAt?: string;
  /** $ per GPU-hour for every device (default: the dated price per card in the peers file). */
  gpuHourPrice?: number;
  slo?: Slo;
  /** Peers data file (default packages/bench/data/peers.json). */
  peersFile?: string;
  /** Device (case-insensitive substring) whose summary comes first (default: the newest setup's). */
  leadDevice?: string;
}

function asBuilt(c: ChartResult): BuiltChart {
  return { ...c, csv: chartCsv(c.columns, c.rows) };
}

/** Builds every detail chart; a chart whose builder throws becomes an empty chart that says so. */
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
    return asBuilt(c);
  });
}

/** Input folders as the page names them: relative to the working directory, never a machine path. */
export function displayInput(dir: string, cwd = process.cwd()): string {
  const rel = path.relative(cwd, dir);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : path.basename(dir);
}

/** Skipped files as the page names them: under the input folder they were found in. */
function relativeSkips(skipped: Skipped[], inputs: string[]): Skipped[] {
  return skipped.map((s) => {
    const abs = path.resolve(s.file);
    for (const d of inputs) {
      const r = path.relative(path.dirname(path.resolve(d)), abs);
      if (!r.startsWith('..') && !path.isAbsolute(r)) return { ...s, file: r };
    }
    return { ...s, file: path.basename(abs) };
  });
}

export function buildReportFromData(
  loaded: LoadedResults,
  opts: Omit<BuildOptions, 'dirs'> & { inputs: string[]; peers?: Peers },
): BuiltReport {
  const { data, notes } = filterResults(loaded, opts);
  const scope = scopeResults(data);
  if (opts.leadDevice) {
    const want = opts.leadDevice.toLowerCase();
    scope.currentBench.sort((a, b) => Number(b.device.toLowerCase().includes(want)) - Number(a.device.toLowerCase().includes(want)));
  }
  const peers = opts.peers ?? readPeers(opts.peersFile);
  const summaries = deviceSummaries(data, scope, peers, { slo: opts.slo ?? DEFAULT_SLO, gpuHourPrice: opts.gpuHourPrice });
  const summaryCharts = new Map(summaries.map((s) => [s.id, asBuilt(speedVsQuality(s, peers.accuracy))]));
  const charts = buildCharts(scope.current);
  const provenance = summarizeProvenance(data);
  const skipped = relativeSkips(data.skipped, opts.inputs);
  const html = renderPage({
    title: opts.title ?? 'quantbench report',
    generatedAt: opts.generatedAt ?? new Date().toISOString(),
    inputs: opts.inputs.map((d) => displayInput(d)),
    runs: data.runs,
    provenance,
    charts,
    summaryCharts,
    summaries,
    peers,
    scope,
    skipped,
    notes,
  });
  return { html, charts: [...summaryCharts.values(), ...charts], summaries, scope, skipped, runs: data.runs, provenance };
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
