/** Accuracy per task (primary metric) and precision, with ±1 stderr bars. */
import type { LoadedResults } from '../load/read-results.ts';
import { comparePrecision, precisionScale } from '../setup.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';
import { emptyChart, facetSpec, fmtNum, sourcesOf, splitNote } from './common.ts';
import { evalRows, latestEvals, omittedNote } from './eval-rows.ts';

const id = 'accuracy';
const title = 'Accuracy per task and precision';
const columns: ChartColumn[] = [
  { field: 'task', title: 'task' },
  { field: 'precision', title: 'precision' },
  { field: 'metric', title: 'metric' },
  { field: 'value', title: 'value', format: 'num3' },
  { field: 'stderr', title: '± stderr', format: 'num3' },
  { field: 'recoveryPct', title: 'recovery vs fp16', format: 'pct' },
  { field: 'numSamples', title: 'n', format: 'int' },
  { field: 'fewshot', title: 'few-shot' },
  { field: 'deviations', title: 'deviations from lm-eval' },
  { field: 'setup', title: 'setup' },
];

/** Says so when results come from `--limit` runs (a subset of each task's documents). */
export function limitNote(limits: (number | null)[]): string[] {
  const set = [...new Set(limits.filter((l): l is number => l != null))].sort((a, b) => a - b);
  return set.length ? [`Limited run (--limit ${set.join(', ')}): scores cover only the first documents of each task, not the full benchmark.`] : [];
}

export function accuracy(data: LoadedResults): ChartResult {
  const evals = latestEvals(data);
  const { rows: er, omitted } = evalRows(evals);
  if (er.length === 0) return emptyChart({ id, title, columns }, 'No eval results (eval_<model>_<precision>.json from `pnpm eval`) were found.');
  const rows: Row[] = er.map((r) => ({
    task: r.task,
    precision: r.precision,
    metric: r.metric,
    value: r.value,
    stderr: r.stderr,
    lo: r.stderr != null ? r.value - r.stderr : null,
    hi: r.stderr != null ? r.value + r.stderr : null,
    recoveryPct: r.recoveryPct,
    numSamples: r.numSamples,
    fewshot: r.fewshot,
    deviations: r.deviations || null,
    setup: r.setup,
  }));
  const src = sourcesOf(evals.map((t) => t.record.provenance));
  const precisions = [...new Set(er.map((r) => r.precision))].sort(comparePrecision);
  const tasks = [...new Set(er.map((r) => r.task))];

  const q = er.filter((r) => r.recoveryPct != null);
  const worst = q.reduce<(typeof q)[number] | undefined>((a, b) => (!a || Number(b.recoveryPct) < Number(a.recoveryPct) ? b : a), undefined);
  const reading = worst
    ? `${tasks.length} tasks × ${precisions.length} precisions; lowest recovery: ${worst.precision} on ${worst.task}, ${fmtNum(worst.value)} ${worst.metric} (${(worst.recoveryPct as number).toFixed(1)}% of fp16).`
    : precisions.every((p) => p === 'fp16')
      ? `${tasks.length} tasks, fp16 only so far: no quantized run to compare against yet.`
      : `${tasks.length} tasks × ${precisions.length} precisions; no fp16 run of the same setup to compute recovery against.`;

  const color = { field: 'precision', type: 'nominal' as const, title: 'precision', scale: precisionScale(precisions) };
  const spec = facetSpec({
    description: title,
    rows,
    setups: src.setups,
    spec: {
      width: { step: Math.max(10, Math.round(40 / precisions.length)) },
      height: 220,
      encoding: {
        x: { field: 'task', type: 'nominal', title: null, sort: tasks, axis: { labelAngle: -30, labelLimit: 160 } },
        xOffset: { field: 'precision', type: 'nominal', sort: precisions },
      },
      layer: [
        {
          mark: { type: 'bar', clip: true },
          encoding: {
            y: { field: 'value', type: 'quantitative', title: 'primary metric (acc, mc2, exact match …)', scale: { domain: [0, 1] } },
            color,
            tooltip: [
              { field: 'task', type: 'nominal' },
              { field: 'precision', type: 'nominal' },
              { field: 'metric', type: 'nominal' },
              { field: 'value', type: 'quantitative', format: '.4f' },
              { field: 'stderr', type: 'quantitative', format: '.4f' },
              { field: 'recoveryPct', type: 'quantitative', title: 'recovery %', format: '.2f' },
              { field: 'numSamples', type: 'quantitative', title: 'n' },
            ],
          },
        },
        {
          mark: { type: 'rule', color: '#222', clip: true },
          transform: [{ filter: 'isValid(datum.lo)' }],
          encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
        },
      ],
    },
  });
  return {
    id,
    title,
    reading,
    notes: [
      'Bars: primary metric of each task; groups (micro = weighted by documents, macro = mean of tasks) as one bar each; black lines: ±1 stderr.',
      ...omittedNote(omitted),
      ...limitNote(evals.map((t) => t.record.config.limit)),
      ...splitNote(src.setups),
    ],
    spec,
    columns,
    rows,
    ...src,
  };
}
