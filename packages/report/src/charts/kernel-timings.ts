/** Kernel micro-benchmarks (kernels.jsonl): roofline ratio per op, shape and precision; median µs in the table. */
import type { LoadedResults } from '../load/read-results.ts';
import { comparePrecision, precisionScale, setupOf } from '../setup.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';
import { emptyChart, facetSpec, fmtNum, fmtPct, latestBy, sourcesOf, splitNote } from './common.ts';

const id = 'kernel-timings';
const title = 'Kernel timings and roofline ratio';
const columns: ChartColumn[] = [
  { field: 'kernel', title: 'op · shape' },
  { field: 'precision', title: 'precision' },
  { field: 'medianUs', title: 'median µs', format: 'num2' },
  { field: 'baseline', title: 'baseline' },
  { field: 'baselineUs', title: 'baseline µs', format: 'num2' },
  { field: 'ratio', title: 'roofline ratio', format: 'pct1' },
  { field: 'bound', title: 'bound' },
  { field: 'setup', title: 'setup' },
];

export function shapeLabel(shape: Record<string, number>): string {
  return Object.entries(shape)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

export function kernelTimings(data: LoadedResults): ChartResult {
  const used = latestBy(data.kernels, ({ record: k }) =>
    JSON.stringify([setupOf(k.provenance).key, k.op, k.precision, shapeLabel(k.shape)]),
  );
  if (used.length === 0) return emptyChart({ id, title, columns }, 'No kernel timings (kernels.jsonl from `pnpm bench kernels`) were found.');
  const rows: Row[] = used
    .map(({ record: k }) => ({
      kernel: `${k.op} · ${shapeLabel(k.shape)}`,
      precision: k.precision,
      medianUs: k.medianUs,
      baseline: k.baseline?.name ?? null,
      baselineUs: k.baseline?.medianUs ?? null,
      ratio: k.roofline?.ratio ?? null,
      bound: k.roofline?.bound ?? null,
      setup: setupOf(k.provenance).label,
    }))
    .sort((a, b) => a.setup.localeCompare(b.setup) || a.kernel.localeCompare(b.kernel) || comparePrecision(a.precision, b.precision));
  const src = sourcesOf(used.map((t) => t.record.provenance));
  const withRatio = rows.filter((r) => typeof r.ratio === 'number');
  const useRatio = withRatio.length > 0;
  const kernels = [...new Set(rows.map((r) => String(r.kernel)))];

  let reading: string;
  if (useRatio) {
    const best = withRatio.reduce((a, b) => (Number(b.ratio) > Number(a.ratio) ? b : a));
    const worst = withRatio.reduce((a, b) => (Number(b.ratio) < Number(a.ratio) ? b : a));
    reading = `Closest to roofline: ${best.kernel} ${best.precision} (${fmtPct(100 * Number(best.ratio))}); farthest: ${worst.kernel} ${worst.precision} (${fmtPct(100 * Number(worst.ratio))}).`;
  } else {
    const slow = rows.reduce((a, b) => (Number(b.medianUs) > Number(a.medianUs) ? b : a));
    reading = `No roofline ratios recorded; slowest kernel: ${slow.kernel} ${slow.precision} at ${fmtNum(Number(slow.medianUs))} µs.`;
  }
  const x = useRatio
    ? { field: 'ratio', type: 'quantitative' as const, title: 'roofline ratio (ideal / measured)', axis: { format: '.0%' }, scale: { domainMin: 0 } }
    : { field: 'medianUs', type: 'quantitative' as const, title: 'median µs (log)', scale: { type: 'log' as const } };
  const spec = facetSpec({
    description: title,
    rows: useRatio ? withRatio : rows,
    setups: src.setups,
    spec: {
      width: 420,
      height: { step: Math.max(8, Math.round(40 / new Set(rows.map((r) => r.precision)).size)) },
      // Bars for ratios (from 0); points for times on a log scale, where a bar has no baseline.
      mark: useRatio ? { type: 'bar' } : { type: 'point', filled: true, size: 50 },
      encoding: {
        y: { field: 'kernel', type: 'nominal', title: null, sort: kernels, axis: { labelLimit: 280 } },
        yOffset: { field: 'precision', type: 'nominal', sort: [...new Set(rows.map((r) => String(r.precision)))].sort(comparePrecision) },
        x,
        color: { field: 'precision', type: 'nominal', title: 'precision', scale: precisionScale(rows.map((r) => String(r.precision))) },
        tooltip: [
          { field: 'kernel', type: 'nominal', title: 'op · shape' },
          { field: 'precision', type: 'nominal' },
          { field: 'medianUs', type: 'quantitative', title: 'median µs', format: ',.2f' },
          { field: 'ratio', type: 'quantitative', title: 'roofline ratio', format: '.1%' },
          { field: 'bound', type: 'nominal' },
        ],
      },
    },
  });
  const notes = [...splitNote(src.setups)];
  if (useRatio && withRatio.length < rows.length) notes.push(`${rows.length - withRatio.length} kernel rows have no roofline ratio; they appear in the table only.`);
  return { id, title, reading, notes, spec, columns, rows, ...src };
}
