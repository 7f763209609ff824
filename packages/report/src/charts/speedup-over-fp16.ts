/** Output-throughput speedup of each quantized precision over fp16 at the same setup, workload and batch. */
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
  fmtTimes,
  compareWorkloads,
  sortWorkloads,
  sourcesOf,
  splitNote,
} from './common.ts';
import { lineStyle, pointStyle } from './marks.ts';
import { atHighestRate, rateNote } from './serving-select.ts';

const id = 'speedup-over-fp16';
const title = 'Speedup over fp16 (output tok/s ratio)';
const columns: ChartColumn[] = [
  { field: 'workload', title: 'workload' },
  { field: 'precision', title: 'precision' },
  { field: 'maxBatch', title: 'max batch', format: 'int' },
  { field: 'speedup', title: 'speedup', format: 'times' },
  { field: 'outputTokS', title: 'tok/s', format: 'num1' },
  { field: 'fp16TokS', title: 'fp16 tok/s', format: 'num1' },
  { field: 'setup', title: 'setup' },
];

export function speedupOverFp16(data: LoadedResults): ChartResult {
  const sel = atHighestRate(data.points);
  if (sel.length === 0) return emptyChart({ id, title, columns }, 'No serving points (points.jsonl from `pnpm bench`) were found.');
  const keyOf = (setup: string, w: string, b: number) => JSON.stringify([setup, w, b]);
  const fp16 = new Map<string, number>();
  for (const { record: p } of sel)
    if (p.precision === 'fp16') fp16.set(keyOf(setupOf(p.provenance).key, p.workload.name, p.engine.maxNumSeqs), p.metrics.outputThroughput);
  if (fp16.size === 0) return emptyChart({ id, title, columns }, 'No fp16 serving points to compare against: run `pnpm bench` with fp16 among the precisions.');

  const used = sel.filter(({ record: p }) => p.precision !== 'fp16' && fp16.has(keyOf(setupOf(p.provenance).key, p.workload.name, p.engine.maxNumSeqs)));
  if (used.length === 0)
    return emptyChart({ id, title, columns }, 'No quantized point shares a setup, workload and batch size with an fp16 point.');
  const rows: Row[] = used
    .map(({ record: p }) => {
      const base = fp16.get(keyOf(setupOf(p.provenance).key, p.workload.name, p.engine.maxNumSeqs)) as number;
      return {
        workload: p.workload.name,
        precision: p.precision,
        maxBatch: p.engine.maxNumSeqs,
        speedup: base > 0 ? p.metrics.outputThroughput / base : null,
        outputTokS: p.metrics.outputThroughput,
        fp16TokS: base,
        setup: setupOf(p.provenance).label,
      };
    })
    .sort(
      (a, b) =>
        a.setup.localeCompare(b.setup) ||
        compareWorkloads(a.workload, b.workload) ||
        comparePrecision(a.precision, b.precision) ||
        a.maxBatch - b.maxBatch,
    );
  const src = sourcesOf(used.map((t) => t.record.provenance));
  const workloads = sortWorkloads(rows.map((r) => String(r.workload)));

  // Reading per setup: a ratio is only ever compared with others of the same setup.
  const parts = src.setups.flatMap((setup) => {
    const valid = rows.filter((r) => r.setup === setup && typeof r.speedup === 'number');
    if (!valid.length) return [];
    const best = valid.reduce((a, b) => (Number(b.speedup) > Number(a.speedup) ? b : a));
    const worst = valid.reduce((a, b) => (Number(b.speedup) < Number(a.speedup) ? b : a));
    const who = src.setups.length > 1 ? `${setup}: ` : '';
    return [
      `${who}largest gain ${best.precision} ${fmtTimes(Number(best.speedup))} fp16 at batch ${best.maxBatch} (${best.workload}); smallest ${worst.precision} ${fmtTimes(Number(worst.speedup))} at batch ${worst.maxBatch} (${worst.workload})`,
    ];
  });
  const reading = parts.length ? `${parts.join('. ')}.` : 'fp16 throughput was zero at every matching point; no ratio can be drawn.';

  const spec = facetSpec({
    description: title,
    rows,
    setups: src.setups,
    column: columnBy('workload', workloads),
    spec: {
      width: CELL_WIDTH,
      height: CELL_HEIGHT,
      layer: [
        {
          mark: { type: 'rule', strokeDash: [4, 3], color: '#666' },
          encoding: { y: { datum: 1, type: 'quantitative' } },
        },
        {
          encoding: {
            x: batchAxis(rows.map((r) => Number(r.maxBatch))),
            y: { field: 'speedup', type: 'quantitative', title: 'speedup over fp16 (×)', scale: { zero: false } },
            color: { field: 'precision', type: 'nominal', title: 'precision', scale: precisionScale(rows.map((r) => String(r.precision))) },
            tooltip: [
              { field: 'precision', type: 'nominal' },
              { field: 'maxBatch', type: 'quantitative', title: 'max batch' },
              { field: 'speedup', type: 'quantitative', format: '.3f' },
              { field: 'outputTokS', type: 'quantitative', title: 'tok/s', format: ',.1f' },
              { field: 'fp16TokS', type: 'quantitative', title: 'fp16 tok/s', format: ',.1f' },
            ],
          },
          layer: [
            { mark: { type: 'line' }, encoding: lineStyle(precisionScale(rows.map((r) => String(r.precision))).domain) },
            { mark: { type: 'point', filled: true, size: 50 }, encoding: pointStyle(precisionScale(rows.map((r) => String(r.precision))).domain) },
          ],
        },
      ],
    },
  });
  return {
    id,
    title,
    reading,
    notes: ['Dashed line: parity with fp16 (1.0×).', ...rateNote(used), ...splitNote(src.setups)],
    spec,
    columns,
    rows,
    ...src,
  };
}
