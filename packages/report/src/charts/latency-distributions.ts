/**
 * TTFT and TPOT distributions at one fixed request rate, per precision: a quantile plot drawn from the
 * Distribution summaries every point carries (min–max line, median–p90 bar, p99 tick, mean dot).
 */
import type { Tagged } from '../load/read-results.ts';
import type { LoadedResults } from '../load/read-results.ts';
import type { BenchPoint, Distribution } from '../results-types.ts';
import { comparePrecision, precisionScale, setupOf } from '../setup.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';
import { columnBy, compareWorkloads, emptyChart, facetSpec, fmtNum, latestBy, sortWorkloads, sourcesOf } from './common.ts';
import { rateLabel } from './serving-select.ts';

const id = 'latency-distributions';
const title = 'TTFT and TPOT distributions at a fixed request rate';
const columns: ChartColumn[] = [
  { field: 'workload', title: 'workload' },
  { field: 'metric', title: 'metric' },
  { field: 'precision', title: 'precision' },
  { field: 'min', title: 'min', format: 'num2' },
  { field: 'median', title: 'median', format: 'num2' },
  { field: 'p90', title: 'p90', format: 'num2' },
  { field: 'p99', title: 'p99', format: 'num2' },
  { field: 'max', title: 'max', format: 'num2' },
  { field: 'mean', title: 'mean', format: 'num2' },
  { field: 'requestRate', title: 'rate' },
  { field: 'maxBatch', title: 'max batch', format: 'int' },
  { field: 'setup', title: 'setup' },
];

const METRICS = ['TTFT (ms)', 'TPOT (ms)'];

function mostCommon<T>(xs: T[], tieBreak: (a: T, b: T) => number): T | undefined {
  const counts = new Map<T, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || tieBreak(a[0], b[0]))[0]?.[0];
}

/** The fixed rate: the finite rate measured for the most (workload, precision) pairs; inf only as a fallback. */
function chooseRate(points: Tagged<BenchPoint>[]): { rate: number | 'inf'; fallback: boolean } | undefined {
  const finite = points.filter((t) => t.record.requestRate !== 'inf');
  const pool = finite.length ? finite : points;
  const pairsAt = new Map<string, Set<string>>();
  for (const { record: p } of pool) {
    const k = String(p.requestRate);
    if (!pairsAt.has(k)) pairsAt.set(k, new Set());
    pairsAt.get(k)?.add(`${p.workload.name}|${p.precision}`);
  }
  const best = [...pairsAt.entries()].sort((a, b) => b[1].size - a[1].size || Number(a[0]) - Number(b[0]))[0];
  if (!best) return undefined;
  return { rate: best[0] === 'inf' ? 'inf' : Number(best[0]), fallback: finite.length === 0 };
}

function distRow(base: Row, metric: string, d: Distribution): Row {
  return { ...base, metric, min: d.min, median: d.median, p90: d.p90, p99: d.p99, max: d.max, mean: d.mean };
}

export function latencyDistributions(data: LoadedResults): ChartResult {
  const choice = chooseRate(data.points);
  if (!choice) return emptyChart({ id, title, columns }, 'No serving points (points.jsonl from `pnpm bench`) were found.');
  const atRate = data.points.filter((t) => String(t.record.requestRate) === String(choice.rate));
  const batch = mostCommon(
    atRate.map((t) => t.record.engine.maxNumSeqs),
    (a, b) => b - a,
  ) as number;
  const used = latestBy(
    atRate.filter((t) => t.record.engine.maxNumSeqs === batch),
    ({ record: p }) => JSON.stringify([setupOf(p.provenance).key, p.workload.name, p.precision]),
  );
  const src = sourcesOf(used.map((t) => t.record.provenance));
  const split = src.setups.length > 1;
  const rows: Row[] = [];
  for (const { record: p } of used) {
    const setup = setupOf(p.provenance).label;
    const base: Row = {
      panel: split ? `${p.workload.name} · ${setup}` : p.workload.name,
      workload: p.workload.name,
      precision: p.precision,
      requestRate: rateLabel(p.requestRate),
      maxBatch: p.engine.maxNumSeqs,
      setup,
    };
    rows.push(distRow(base, METRICS[0], p.metrics.ttftMs), distRow(base, METRICS[1], p.metrics.tpotMs));
  }
  rows.sort(
    (a, b) =>
      compareWorkloads(String(a.workload), String(b.workload)) ||
      String(a.setup).localeCompare(String(b.setup)) ||
      METRICS.indexOf(String(a.metric)) - METRICS.indexOf(String(b.metric)) ||
      comparePrecision(String(a.precision), String(b.precision)),
  );
  const precisions = [...new Set(rows.map((r) => String(r.precision)))].sort(comparePrecision);
  // Panel order follows the rows: workload order first, then setup.
  const panels = split ? [...new Set(rows.map((r) => String(r.panel)))] : sortWorkloads(rows.map((r) => String(r.panel)));

  // Reading: TPOT median spread and TTFT p99 spread in the first panel.
  const p0 = panels[0];
  const tpot = rows.filter((r) => r.panel === p0 && r.metric === METRICS[1]).sort((a, b) => Number(a.median) - Number(b.median));
  const ttft = rows.filter((r) => r.panel === p0 && r.metric === METRICS[0]).sort((a, b) => Number(a.p99) - Number(b.p99));
  const reading =
    `At ${rateLabel(choice.rate)}, max batch ${batch} (${p0}): median TPOT lowest for ${tpot[0].precision} ` +
    `(${fmtNum(Number(tpot[0].median))} ms) and highest for ${tpot[tpot.length - 1].precision} ` +
    `(${fmtNum(Number(tpot[tpot.length - 1].median))} ms); p99 TTFT ranges ${fmtNum(Number(ttft[0].p99))}–${fmtNum(Number(ttft[ttft.length - 1].p99))} ms.`;

  const color = { field: 'precision', type: 'nominal' as const, title: 'precision', scale: precisionScale(precisions), legend: null };
  const y = { field: 'precision', type: 'nominal' as const, title: null, sort: precisions };
  const spec = facetSpec({
    description: title,
    rows,
    setups: src.setups,
    row: { field: 'panel', type: 'nominal', sort: panels, header: { labelAngle: 0, labelOrient: 'top', labelAlign: 'left', title: null, labelFontWeight: 'bold' } },
    column: columnBy('metric', METRICS),
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 300,
      height: { step: 22 },
      encoding: { y },
      layer: [
        {
          mark: { type: 'rule', color: '#888' },
          encoding: { x: { field: 'min', type: 'quantitative', title: 'milliseconds' }, x2: { field: 'max' } },
        },
        {
          mark: { type: 'bar', height: 12, opacity: 0.9 },
          encoding: { x: { field: 'median', type: 'quantitative' }, x2: { field: 'p90' }, color },
        },
        {
          mark: { type: 'tick', color: '#222', thickness: 2, size: 14 },
          encoding: { x: { field: 'p99', type: 'quantitative' } },
        },
        {
          mark: { type: 'point', shape: 'diamond', filled: true, color: 'white', stroke: '#222', size: 40 },
          encoding: {
            x: { field: 'mean', type: 'quantitative' },
            tooltip: [
              { field: 'precision', type: 'nominal' },
              { field: 'metric', type: 'nominal' },
              { field: 'min', type: 'quantitative', format: ',.2f' },
              { field: 'median', type: 'quantitative', format: ',.2f' },
              { field: 'p90', type: 'quantitative', format: ',.2f' },
              { field: 'p99', type: 'quantitative', format: ',.2f' },
              { field: 'max', type: 'quantitative', format: ',.2f' },
              { field: 'mean', type: 'quantitative', format: ',.2f' },
            ],
          },
        },
      ],
    },
  });
  const notes = [
    'Thin line: min–max; bar: median–p90; black tick: p99; diamond: mean.',
    `Fixed rate ${rateLabel(choice.rate)} at max batch ${batch} (the rate and batch measured for the most precisions).`,
  ];
  if (choice.fallback) notes.push('No finite request rate was measured; these are the rate-inf (all at once) points, so TTFT includes queueing.');
  if (split) notes.push(`${src.setups.length} setups: panels are per workload · setup, never combined.`);
  return { id, title, reading, notes, spec, columns, rows, ...src };
}
