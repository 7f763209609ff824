/** fp8-dynamic vs fp8-static output throughput at the same setup, workload and batch size. */
import type { LoadedResults } from '../load/read-results.ts';
import { precisionScale, setupOf } from '../setup.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';
import { CELL_HEIGHT, columnBy, emptyChart, facetSpec, fmtPct, compareWorkloads, sortWorkloads, sourcesOf, splitNote } from './common.ts';
import { atHighestRate, rateNote } from './serving-select.ts';

const id = 'fp8-dynamic-vs-static';
const title = 'fp8-dynamic vs fp8-static throughput';
const columns: ChartColumn[] = [
  { field: 'workload', title: 'workload' },
  { field: 'maxBatch', title: 'max batch', format: 'int' },
  { field: 'fp8Dynamic', title: 'fp8-dynamic tok/s', format: 'num1' },
  { field: 'fp8Static', title: 'fp8-static tok/s', format: 'num1' },
  { field: 'staticOverDynamic', title: 'static / dynamic', format: 'times' },
  { field: 'setup', title: 'setup' },
];

export function fp8DynamicVsStatic(data: LoadedResults): ChartResult {
  const sel = atHighestRate(data.points).filter((t) => t.record.precision === 'fp8-dynamic' || t.record.precision === 'fp8-static');
  const pairs = new Map<string, { dyn?: (typeof sel)[number]; sta?: (typeof sel)[number] }>();
  for (const t of sel) {
    const p = t.record;
    const k = JSON.stringify([setupOf(p.provenance).key, p.workload.name, p.engine.maxNumSeqs]);
    const e = pairs.get(k) ?? {};
    if (p.precision === 'fp8-dynamic') e.dyn = t;
    else e.sta = t;
    pairs.set(k, e);
  }
  const both = [...pairs.values()].filter((e) => e.dyn && e.sta) as { dyn: (typeof sel)[number]; sta: (typeof sel)[number] }[];
  if (both.length === 0)
    return emptyChart(
      { id, title, columns },
      sel.length === 0
        ? 'No fp8-dynamic or fp8-static serving points were found.'
        : 'fp8-dynamic and fp8-static were never measured at the same setup, workload and batch size.',
    );
  const rows: Row[] = both
    .map(({ dyn, sta }) => ({
      workload: dyn.record.workload.name,
      maxBatch: dyn.record.engine.maxNumSeqs,
      fp8Dynamic: dyn.record.metrics.outputThroughput,
      fp8Static: sta.record.metrics.outputThroughput,
      staticOverDynamic: dyn.record.metrics.outputThroughput > 0 ? sta.record.metrics.outputThroughput / dyn.record.metrics.outputThroughput : null,
      setup: setupOf(dyn.record.provenance).label,
    }))
    .sort((a, b) => a.setup.localeCompare(b.setup) || compareWorkloads(a.workload, b.workload) || a.maxBatch - b.maxBatch);
  const provs = both.flatMap((e) => [e.dyn.record.provenance, e.sta.record.provenance]);
  const src = sourcesOf(provs);
  const workloads = sortWorkloads(rows.map((r) => String(r.workload)));

  const diff = (x: number) => `${x >= 1 ? '+' : '−'}${fmtPct(Math.abs(x - 1) * 100)}`;
  // One average per setup: ratios of different setups are never pooled.
  const setupNames = [...new Set(rows.map((r) => String(r.setup)))].sort();
  const parts = setupNames.flatMap((setup) => {
    const ratios = rows.filter((r) => r.setup === setup).map((r) => r.staticOverDynamic).filter((x): x is number => typeof x === 'number');
    if (!ratios.length) return [];
    const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
    const who = setupNames.length > 1 ? `${setup}: ` : '';
    return [`${who}${diff(mean)} output tok/s on average over ${ratios.length} matched points (range ${diff(Math.min(...ratios))} to ${diff(Math.max(...ratios))})`];
  });
  const reading = parts.length ? `fp8-static vs fp8-dynamic: ${parts.join('; ')}.` : 'fp8-dynamic throughput was zero at every matched point.';

  const spec = facetSpec({
    description: title,
    rows,
    setups: src.setups,
    column: columnBy('workload', workloads),
    resolve: { scale: { y: 'independent' } },
    transform: [
      { fold: ['fp8Dynamic', 'fp8Static'], as: ['series', 'tokS'] },
      { calculate: "datum.series === 'fp8Dynamic' ? 'fp8-dynamic' : 'fp8-static'", as: 'precision' },
    ],
    spec: {
      width: { step: 16 },
      height: CELL_HEIGHT,
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'maxBatch', type: 'ordinal', title: 'max batch size' },
        xOffset: { field: 'precision', type: 'nominal' },
        y: { field: 'tokS', type: 'quantitative', title: 'output tokens/s' },
        color: { field: 'precision', type: 'nominal', title: 'precision', scale: precisionScale(['fp8-dynamic', 'fp8-static']) },
        tooltip: [
          { field: 'precision', type: 'nominal' },
          { field: 'maxBatch', type: 'quantitative', title: 'max batch' },
          { field: 'tokS', type: 'quantitative', title: 'tok/s', format: ',.1f' },
          { field: 'staticOverDynamic', type: 'quantitative', title: 'static / dynamic', format: '.3f' },
        ],
      },
    },
  });
  return {
    id,
    title,
    reading,
    notes: [...rateNote(both.flatMap((e) => [e.dyn, e.sta])), ...splitNote(src.setups)],
    spec,
    columns,
    rows,
    ...src,
  };
}
