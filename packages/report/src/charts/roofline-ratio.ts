/** Roofline ratio of each serving point: ideal time under its bound (bandwidth or compute) / measured time. */
import type { LoadedResults } from '../load/read-results.ts';
import { comparePrecision, precisionScale, setupOf } from '../setup.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';
import {
  CELL_HEIGHT,
  CELL_WIDTH,
  batchAxis,
  columnBy,
  emptyChart,
  facetSpec,
  fmtPct,
  compareWorkloads,
  sortWorkloads,
  sourcesOf,
  splitNote,
} from './common.ts';
import { lineStyle } from './marks.ts';
import { atHighestRate, rateLabel, rateNote } from './serving-select.ts';

const id = 'roofline-ratio';
const title = 'Roofline ratio per serving point';
const columns: ChartColumn[] = [
  { field: 'workload', title: 'workload' },
  { field: 'precision', title: 'precision' },
  { field: 'maxBatch', title: 'max batch', format: 'int' },
  { field: 'ratio', title: 'roofline ratio', format: 'pct1' },
  { field: 'bound', title: 'bound' },
  { field: 'peak', title: 'assumed peak' },
  { field: 'gpuClock', title: 'SM clock p50 (power-capped)' },
  { field: 'requestRate', title: 'rate' },
  { field: 'setup', title: 'setup' },
];

export function rooflineRatio(data: LoadedResults): ChartResult {
  const used = atHighestRate(data.points).filter((t) => t.record.roofline);
  if (used.length === 0)
    return emptyChart({ id, title, columns }, 'No serving point carries a roofline ratio (BenchPoint.roofline is absent in every points.jsonl).');
  const rows: Row[] = used
    .map(({ record: p }) => {
      const r = p.roofline as NonNullable<typeof p.roofline>;
      const peak = r.bound === 'bandwidth' ? (r.peakBandwidthTBs != null ? `${r.peakBandwidthTBs} TB/s` : '') : r.peakTflops != null ? `${r.peakTflops} TFLOP/s` : '';
      return {
        workload: p.workload.name,
        precision: p.precision,
        maxBatch: p.engine.maxNumSeqs,
        ratio: r.ratio,
        bound: r.bound,
        peak,
        // the point's clock while it ran (bench --gpu-telemetry): a compute-bound ratio under the power cap reads low
        gpuClock: p.gpuTelemetry
          ? `${p.gpuTelemetry.smClockMHz.median.toFixed(0)} MHz${p.gpuTelemetry.maxSmClockMHz ? ` of ${p.gpuTelemetry.maxSmClockMHz.toFixed(0)}` : ''} (${(100 * p.gpuTelemetry.powerCappedFraction).toFixed(0)}%)`
          : '',
        requestRate: rateLabel(p.requestRate),
        setup: setupOf(p.provenance).label,
      };
    })
    .sort(
      (a, b) =>
        a.setup.localeCompare(b.setup) || compareWorkloads(a.workload, b.workload) || comparePrecision(a.precision, b.precision) || a.maxBatch - b.maxBatch,
    );
  const src = sourcesOf(used.map((t) => t.record.provenance));
  const workloads = sortWorkloads(rows.map((r) => String(r.workload)));
  // Ratios over 1.0 mean the assumed ceiling is below what the card did: flagged, never "closest".
  const above = rows.filter((r) => Number(r.ratio) > 1);
  const within = rows.filter((r) => Number(r.ratio) <= 1);
  const parts = src.setups.flatMap((setup) => {
    const rs = within.filter((r) => r.setup === setup);
    if (!rs.length) return [];
    const best = rs.reduce((a, b) => (Number(b.ratio) > Number(a.ratio) ? b : a));
    const worst = rs.reduce((a, b) => (Number(b.ratio) < Number(a.ratio) ? b : a));
    const who = src.setups.length > 1 ? `${setup}: ` : '';
    return [
      `${who}closest to the roofline ${best.precision} at batch ${best.maxBatch} (${best.workload}, ${fmtPct(100 * Number(best.ratio))}), farthest ${worst.precision} at batch ${worst.maxBatch} (${worst.workload}, ${fmtPct(100 * Number(worst.ratio))})`,
    ];
  });
  const bw = rows.filter((r) => r.bound === 'bandwidth').length;
  const capped = used.filter(({ record: p }) => p.roofline?.bound === 'compute' && (p.gpuTelemetry?.powerCappedFraction ?? 0) >= 0.5);
  const reading =
    `${bw} of ${rows.length} points are bandwidth-bound. ${parts.join('. ')}.` +
    (above.length ? ` ${above.length} point(s) ABOVE THE CEILING (ratio > 100%): the assumed peak is below what the card did, so those ratios are not comparable.` : '') +
    (capped.length
      ? ` ${capped.length} compute-bound point(s) ran under the power cap most of the time (SM clock p50 ${Math.min(...capped.map((t) => t.record.gpuTelemetry!.smClockMHz.median)).toFixed(0)}-${Math.max(...capped.map((t) => t.record.gpuTelemetry!.smClockMHz.median)).toFixed(0)} MHz): their ratios are against a peak measured at a higher clock.`
      : '');
  const precs = precisionScale(rows.map((r) => String(r.precision))).domain;

  const spec = facetSpec({
    description: title,
    rows,
    setups: src.setups,
    column: columnBy('workload', workloads),
    spec: {
      width: CELL_WIDTH,
      height: CELL_HEIGHT,
      layer: [
        { mark: { type: 'rule', color: '#b42318', strokeDash: [4, 3] }, encoding: { y: { datum: 1, type: 'quantitative' } } },
        {
          encoding: {
            x: batchAxis(rows.map((r) => Number(r.maxBatch))),
            y: { field: 'ratio', type: 'quantitative', title: 'ideal time / measured time', axis: { format: '.0%' }, scale: { domainMin: 0 } },
            color: { field: 'precision', type: 'nominal', title: 'precision', scale: precisionScale(rows.map((r) => String(r.precision))) },
          },
          layer: [
            { mark: { type: 'line', opacity: 0.6 }, encoding: lineStyle(precs) },
            ...(above.length
              ? [
                  {
                    transform: [{ filter: 'datum.ratio > 1' }],
                    mark: { type: 'point' as const, filled: false, size: 260, strokeWidth: 2 },
                    encoding: { color: { value: '#b42318' }, tooltip: { value: 'above the assumed ceiling' } },
                  },
                ]
              : []),
            {
              mark: { type: 'point', filled: true, size: 60 },
              encoding: {
                shape: { field: 'bound', type: 'nominal', title: 'bound', scale: { domain: ['bandwidth', 'compute'], range: ['circle', 'triangle-up'] } },
                tooltip: [
                  { field: 'precision', type: 'nominal' },
                  { field: 'maxBatch', type: 'quantitative', title: 'max batch' },
                  { field: 'ratio', type: 'quantitative', format: '.1%' },
                  { field: 'bound', type: 'nominal' },
                  { field: 'peak', type: 'nominal', title: 'assumed peak' },
                ],
              },
            },
          ],
        },
      ],
    },
  });
  return {
    id,
    title,
    reading,
    notes: ['100% (red dashed rule) = at the assumed ceiling; red rings mark points above it; shape shows which bound applies.', ...rateNote(used), ...splitNote(src.setups)],
    spec,
    columns,
    rows,
    ...src,
  };
}
