/** Output throughput vs max batch size, one line per precision, one panel per workload. */
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
  fmtNum,
  compareWorkloads,
  sortWorkloads,
  sourcesOf,
  splitNote,
} from './common.ts';
import { atHighestRate, rateLabel, rateNote } from './serving-select.ts';
import { lineStyle, pointStyle } from './marks.ts';

const id = 'throughput-vs-batch';
const title = 'Output throughput vs max batch size';
const columns: ChartColumn[] = [
  { field: 'workload', title: 'workload' },
  { field: 'precision', title: 'precision' },
  { field: 'maxBatch', title: 'max batch', format: 'int' },
  { field: 'outputTokS', title: 'output tok/s', format: 'num1' },
  { field: 'requestRate', title: 'rate' },
  { field: 'setup', title: 'setup' },
];

export function throughputVsBatch(data: LoadedResults): ChartResult {
  const sel = atHighestRate(data.points);
  if (sel.length === 0) return emptyChart({ id, title, columns }, 'No serving points (points.jsonl from `pnpm bench`) were found.');
  const rows: Row[] = sel
    .map(({ record: p }) => ({
      workload: p.workload.name,
      precision: p.precision,
      maxBatch: p.engine.maxNumSeqs,
      outputTokS: p.metrics.outputThroughput,
      requestRate: rateLabel(p.requestRate),
      setup: setupOf(p.provenance).label,
    }))
    .sort(
      (a, b) =>
        a.setup.localeCompare(b.setup) ||
        compareWorkloads(a.workload, b.workload) ||
        comparePrecision(a.precision, b.precision) ||
        a.maxBatch - b.maxBatch,
    );
  const src = sourcesOf(sel.map((t) => t.record.provenance));
  const workloads = sortWorkloads(rows.map((r) => String(r.workload)));

  // Reading: peak throughput per workload, per setup (never across setups).
  const parts = src.setups.flatMap((setup) =>
    workloads.flatMap((w) => {
      const inW = rows.filter((r) => r.workload === w && r.setup === setup);
      if (!inW.length) return [];
      const peakBy = new Map<string, Row>();
      for (const r of inW) {
        const prev = peakBy.get(String(r.precision));
        if (!prev || Number(r.outputTokS) > Number(prev.outputTokS)) peakBy.set(String(r.precision), r);
      }
      const peaks = [...peakBy.values()].sort((a, b) => Number(b.outputTokS) - Number(a.outputTokS));
      const top = peaks[0];
      const fp16 = peakBy.get('fp16');
      const vs = fp16 && top !== fp16 ? ` vs fp16 ${fmtNum(Number(fp16.outputTokS))}` : '';
      const who = src.setups.length > 1 ? `${setup}, ` : '';
      return [`${who}${w}: ${top.precision} peaks highest, ${fmtNum(Number(top.outputTokS))} tok/s at batch ${top.maxBatch}${vs}`];
    }),
  );
  const reading = `${parts.join('; ')}.`;

  const spec = facetSpec({
    description: title,
    rows,
    setups: src.setups,
    column: columnBy('workload', workloads),
    spec: {
      width: CELL_WIDTH,
      height: CELL_HEIGHT,
      encoding: {
        x: batchAxis(rows.map((r) => Number(r.maxBatch))),
        // One log scale for every panel: prefill- and decode-heavy differ 10×, and equal ratios look equal.
        y: { field: 'outputTokS', type: 'quantitative', title: 'output tokens/s (log)', scale: { type: 'log' }, axis: { format: '~s' } },
        color: { field: 'precision', type: 'nominal', title: 'precision', scale: precisionScale(rows.map((r) => String(r.precision))) },
        tooltip: [
          { field: 'precision', type: 'nominal' },
          { field: 'maxBatch', type: 'quantitative', title: 'max batch' },
          { field: 'outputTokS', type: 'quantitative', title: 'output tok/s', format: ',.1f' },
          { field: 'requestRate', type: 'nominal', title: 'rate' },
        ],
      },
      layer: [
        { mark: { type: 'line' }, encoding: lineStyle(precisionScale(rows.map((r) => String(r.precision))).domain) },
        { mark: { type: 'point', filled: true, size: 50 }, encoding: pointStyle(precisionScale(rows.map((r) => String(r.precision))).domain) },
      ],
    },
  });
  return {
    id,
    title,
    reading,
    notes: [...rateNote(sel), ...splitNote(src.setups)],
    spec,
    columns,
    rows,
    ...src,
  };
}
