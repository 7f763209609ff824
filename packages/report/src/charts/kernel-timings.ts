/**
 * Kernel micro-benchmarks (kernels.jsonl) as small multiples: one panel per GEMM (median µs vs M, log-log,
 * one line per precision and the cuBLASLt baseline), and every kernel in the folded table. Roofline
 * ratios above 100% are flagged as above the assumed ceiling, never called "closest to roofline".
 */
import type { LoadedResults } from '../load/read-results.ts';
import { comparePrecision, precisionScale, setupOf } from '../setup.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';
import { columnBy, emptyChart, facetSpec, fmtPct, latestBy, sourcesOf, splitNote } from './common.ts';
import { lineStyle, pointStyle } from './marks.ts';

const id = 'kernel-timings';
const title = 'Kernel timings: GEMMs vs M, and every kernel in the table';
const columns: ChartColumn[] = [
  { field: 'op', title: 'op' },
  { field: 'shapeLabel', title: 'shape' },
  { field: 'precision', title: 'precision' },
  { field: 'medianUs', title: 'median µs', format: 'num2' },
  { field: 'baseline', title: 'baseline' },
  { field: 'baselineUs', title: 'baseline µs', format: 'num2' },
  { field: 'ratio', title: 'roofline ratio', format: 'pct1' },
  { field: 'aboveCeiling', title: 'above ceiling' },
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
      op: k.op,
      shapeLabel: shapeLabel(k.shape),
      M: k.shape.M ?? null,
      precision: k.precision,
      medianUs: k.medianUs,
      baseline: k.baseline?.name ?? null,
      baselineUs: k.baseline?.medianUs ?? null,
      ratio: k.roofline?.ratio ?? null,
      aboveCeiling: k.roofline ? (k.roofline.ratio > 1 ? 'yes' : 'no') : null,
      bound: k.roofline?.bound ?? null,
      setup: setupOf(k.provenance).label,
    }))
    .sort(
      (a, b) =>
        a.setup.localeCompare(b.setup) ||
        a.op.localeCompare(b.op) ||
        Number(a.M ?? 0) - Number(b.M ?? 0) ||
        a.shapeLabel.localeCompare(b.shapeLabel) ||
        comparePrecision(a.precision, b.precision),
    );
  const src = sourcesOf(used.map((t) => t.record.provenance));

  // Panels: GEMM ops measured at several M; the baseline (one per op and M) as its own line.
  const gemmRows = rows.filter((r) => String(r.op).startsWith('gemm') && typeof r.M === 'number');
  const series: Row[] = [...gemmRows];
  const seen = new Set<string>();
  for (const r of gemmRows) {
    const k = JSON.stringify([r.setup, r.op, r.M]);
    if (r.baseline && r.baselineUs != null && !seen.has(k)) {
      seen.add(k);
      series.push({ ...r, precision: String(r.baseline), medianUs: r.baselineUs, ratio: null, aboveCeiling: null });
    }
  }
  const above = rows.filter((r) => r.aboveCeiling === 'yes');
  const parts: string[] = [];
  const mins = [...new Set(gemmRows.map((r) => Number(r.M)))].sort((a, b) => a - b);
  for (const m of [mins[0], mins[mins.length - 1]].filter((x, i, a) => x != null && a.indexOf(x) === i)) {
    const at = gemmRows.filter((r) => r.M === m && r.baselineUs != null);
    const byPrec = new Map<string, number[]>();
    for (const r of at) (byPrec.get(String(r.precision)) ?? byPrec.set(String(r.precision), []).get(String(r.precision)))?.push(Number(r.baselineUs) / Number(r.medianUs));
    const txt = [...byPrec.entries()]
      .sort((a, b) => comparePrecision(a[0], b[0]))
      .map(([p, xs]) => `${p} ${Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length).toFixed(2)}×`);
    if (txt.length) parts.push(`at M=${m}: ${txt.join(', ')}`);
  }
  const baseName = gemmRows.find((r) => r.baseline)?.baseline;
  let reading = parts.length
    ? `Speed over ${baseName} (geometric mean over the ${new Set(gemmRows.map((r) => r.op)).size} GEMMs) ${parts.join('; ')}.`
    : `${rows.length} kernel timings; no GEMM sweep over M to draw.`;
  if (above.length)
    reading += ` ${above.length} kernel row(s) are ABOVE THE ASSUMED CEILING (roofline ratio > 100%, e.g. ${above[0].op} ${above[0].shapeLabel} ${above[0].precision} at ${fmtPct(100 * Number(above[0].ratio))}): the assumed peak is too low for them.`;
  if (gemmRows.length === 0) {
    const e = emptyChart({ id, title, columns }, 'No GEMM timings over several M to draw; every kernel is in the table.');
    return { ...e, reading, rows, ...src, notes: splitNote(src.setups) };
  }
  const precs = precisionScale(series.map((r) => String(r.precision))).domain;
  const ops = [...new Set(gemmRows.map((r) => String(r.op)))];
  const spec = facetSpec({
    description: title,
    rows: series,
    setups: src.setups,
    column: columnBy('op', ops),
    spec: {
      width: 230,
      height: 190,
      encoding: {
        x: { field: 'M', type: 'quantitative', title: 'M (tokens)', scale: { type: 'log', base: 2 }, axis: { format: '~s', tickCount: 6 } },
        y: { field: 'medianUs', type: 'quantitative', title: 'median µs (log)', scale: { type: 'log' } },
        color: { field: 'precision', type: 'nominal', title: 'precision / baseline', scale: precisionScale(series.map((r) => String(r.precision))) },
        tooltip: [
          { field: 'op', type: 'nominal' },
          { field: 'shapeLabel', type: 'nominal', title: 'shape' },
          { field: 'precision', type: 'nominal' },
          { field: 'medianUs', type: 'quantitative', title: 'median µs', format: ',.2f' },
          { field: 'ratio', type: 'quantitative', title: 'roofline ratio', format: '.1%' },
        ],
      },
      layer: [
        { mark: { type: 'line' }, encoding: lineStyle(precs, 'precision / baseline') },
        { mark: { type: 'point', filled: true, size: 36 }, encoding: pointStyle(precs, 'precision / baseline') },
      ],
    },
  });
  const notes = [
    `Panels: the GEMMs measured at several M (log-log); the other ${rows.length - gemmRows.length} kernel rows are in the table.`,
    ...splitNote(src.setups),
  ];
  return { id, title, reading, notes, spec, columns, rows, ...src };
}
