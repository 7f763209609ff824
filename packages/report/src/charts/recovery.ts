/** Recovery % of each quantized precision vs fp16 of the same setup, per task (heatmap with labels). */
import type { LoadedResults } from '../load/read-results.ts';
import { comparePrecision, setupOf } from '../setup.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';
import { emptyChart, facetSpec, sourcesOf, splitNote } from './common.ts';
import { limitNote } from './accuracy.ts';
import { evalRows, latestEvals } from './eval-rows.ts';

const id = 'recovery';
const title = 'Accuracy recovery vs fp16';
const columns: ChartColumn[] = [
  { field: 'task', title: 'task' },
  { field: 'precision', title: 'precision' },
  { field: 'recoveryPct', title: 'recovery', format: 'pct' },
  { field: 'value', title: 'value', format: 'num3' },
  { field: 'metric', title: 'metric' },
  { field: 'source', title: 'recovery from' },
  { field: 'setup', title: 'setup' },
];

export function recovery(data: LoadedResults): ChartResult {
  const evals = latestEvals(data);
  const er = evalRows(evals).rows.filter((r) => r.precision !== 'fp16' && r.recoveryPct != null);
  if (er.length === 0)
    return emptyChart(
      { id, title, columns },
      evals.length === 0
        ? 'No eval results (eval_<model>_<precision>.json from `pnpm eval`) were found.'
        : 'No quantized eval result has an fp16 result of the same setup (device · commit · model) to recover against.',
    );
  const rows: Row[] = er.map((r) => ({
    task: r.task,
    precision: r.precision,
    recoveryPct: r.recoveryPct,
    value: r.value,
    metric: r.metric,
    source: r.recoverySource === 'file' ? 'result file' : 'computed vs fp16',
    setup: r.setup,
  }));
  const setupKeys = new Set(er.map((r) => r.setupKey));
  const used = evals.filter((t) => setupKeys.has(setupOf(t.record.provenance).key));
  const src = sourcesOf(used.map((t) => t.record.provenance));
  const precisions = [...new Set(er.map((r) => r.precision))].sort(comparePrecision);
  const tasks = [...new Set(er.map((r) => r.task))];

  const byPrec = precisions.map((p) => {
    const v = er.filter((r) => r.precision === p).map((r) => r.recoveryPct as number);
    return `${p} ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(1)}%`;
  });
  const reading = `Mean recovery over ${tasks.length} tasks: ${byPrec.join(', ')} (100% = same score as fp16).`;

  const spec = facetSpec({
    description: title,
    rows,
    setups: src.setups,
    spec: {
      width: { step: 90 },
      height: { step: 24 },
      encoding: {
        x: { field: 'precision', type: 'nominal', title: null, sort: precisions, axis: { orient: 'top', labelAngle: 0 } },
        y: { field: 'task', type: 'nominal', title: null, sort: tasks },
      },
      layer: [
        {
          mark: { type: 'rect' },
          encoding: {
            color: {
              field: 'recoveryPct',
              type: 'quantitative',
              title: 'recovery %',
              scale: { scheme: 'redblue', domainMid: 100, domain: [90, 110], clamp: true },
            },
            tooltip: [
              { field: 'task', type: 'nominal' },
              { field: 'precision', type: 'nominal' },
              { field: 'recoveryPct', type: 'quantitative', title: 'recovery %', format: '.2f' },
              { field: 'value', type: 'quantitative', format: '.4f' },
              { field: 'source', type: 'nominal', title: 'from' },
            ],
          },
        },
        {
          mark: { type: 'text', fontSize: 11 },
          encoding: { text: { field: 'recoveryPct', type: 'quantitative', format: '.1f' }, color: { value: '#111' } },
        },
      ],
    },
  });
  return {
    id,
    title,
    reading,
    notes: [
      'Colour clamps at 90% and 110%; labels give the exact value.',
      ...limitNote(used.map((t) => t.record.config.limit)),
      ...splitNote(src.setups),
    ],
    spec,
    columns,
    rows,
    ...src,
  };
}
