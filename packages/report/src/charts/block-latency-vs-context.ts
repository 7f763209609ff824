/** Per-block decode-step latency vs context length at batch 64 (nearest measured batch otherwise), per precision. */
import type { LoadedResults } from '../load/read-results.ts';
import { comparePrecision, setupOf } from '../setup.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';
import { CELL_HEIGHT, columnBy, emptyChart, facetSpec, fmtNum, fmtPct, latestBy, sourcesOf, splitNote } from './common.ts';

const id = 'block-latency-vs-context';
const title = 'Per-block decode latency vs context length at batch 64';
const columns: ChartColumn[] = [
  { field: 'precision', title: 'precision' },
  { field: 'contextLen', title: 'context', format: 'int' },
  { field: 'block', title: 'block' },
  { field: 'ms', title: 'ms / step', format: 'num3' },
  { field: 'stepMs', title: 'step ms', format: 'num3' },
  { field: 'batch', title: 'batch', format: 'int' },
  { field: 'setup', title: 'setup' },
];
const TARGET_BATCH = 64;
const BLOCKS = ['attention', 'mlp', 'quantization', 'other'] as const;
const BLOCK_COLORS = ['#e45756', '#4c78a8', '#eeca3b', '#bab0ac'];

export function blockLatencyVsContext(data: LoadedResults): ChartResult {
  const all = latestBy(data.breakdown, ({ record: b }) =>
    JSON.stringify([setupOf(b.provenance).key, b.precision, b.batchSize, b.contextLen]),
  );
  if (all.length === 0)
    return emptyChart({ id, title, columns }, 'No per-block breakdown (breakdown.jsonl) was found: run `pnpm bench` with --profile-blocks.');
  // Per setup, the measured batch closest to 64 (ties: the larger).
  const batchesBySetup = new Map<string, Set<number>>();
  for (const { record: b } of all) {
    const k = setupOf(b.provenance).key;
    if (!batchesBySetup.has(k)) batchesBySetup.set(k, new Set());
    batchesBySetup.get(k)?.add(b.batchSize);
  }
  const chosen = new Map<string, number>();
  for (const [k, s] of batchesBySetup)
    chosen.set(k, [...s].sort((a, b) => Math.abs(a - TARGET_BATCH) - Math.abs(b - TARGET_BATCH) || b - a)[0]);
  const used = all.filter((t) => chosen.get(setupOf(t.record.provenance).key) === t.record.batchSize);
  const rows: Row[] = [];
  for (const { record: b } of used)
    for (const block of BLOCKS)
      rows.push({
        precision: b.precision,
        contextLen: b.contextLen,
        block,
        ms: b.blocksMs[block],
        stepMs: b.stepMs,
        batch: b.batchSize,
        setup: setupOf(b.provenance).label,
      });
  rows.sort(
    (a, b) =>
      String(a.setup).localeCompare(String(b.setup)) ||
      comparePrecision(String(a.precision), String(b.precision)) ||
      Number(a.contextLen) - Number(b.contextLen) ||
      BLOCKS.indexOf(a.block as (typeof BLOCKS)[number]) - BLOCKS.indexOf(b.block as (typeof BLOCKS)[number]),
  );
  const src = sourcesOf(used.map((t) => t.record.provenance));
  const precisions = [...new Set(rows.map((r) => String(r.precision)))].sort(comparePrecision);

  const ref = used
    .filter((t) => setupOf(t.record.provenance).label === src.setups[0])
    .filter((t, _i, arr) => t.record.precision === (arr.some((x) => x.record.precision === 'fp16') ? 'fp16' : arr[0].record.precision))
    .sort((a, b) => a.record.contextLen - b.record.contextLen);
  const lo = ref[0].record;
  const hi = ref[ref.length - 1].record;
  const reading =
    (src.setups.length > 1 ? `${src.setups[0]} (first of ${src.setups.length} setups): ` : '') +
    `${lo.precision} at batch ${lo.batchSize}: the step grows from ${fmtNum(lo.stepMs)} ms at context ${lo.contextLen} to ${fmtNum(hi.stepMs)} ms at ${hi.contextLen}; ` +
    `attention goes from ${fmtPct((100 * lo.blocksMs.attention) / lo.stepMs)} to ${fmtPct((100 * hi.blocksMs.attention) / hi.stepMs)} of it.`;

  const notes = ['Stacked bars: the blocks add up to the decode step.', ...splitNote(src.setups)];
  const off = [...chosen.values()].filter((b) => b !== TARGET_BATCH);
  if (off.length) notes.push(`Batch 64 was not measured${src.setups.length > 1 ? ' for every setup' : ''}; showing the nearest batch (${[...new Set(off)].join(', ')}).`);
  const spec = facetSpec({
    description: title,
    rows,
    setups: src.setups,
    column: columnBy('precision', precisions),
    spec: {
      width: { step: 26 },
      height: CELL_HEIGHT,
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'contextLen', type: 'ordinal', title: 'context length (tokens)' },
        y: { field: 'ms', type: 'quantitative', title: 'ms per decode step', stack: 'zero' },
        color: { field: 'block', type: 'nominal', title: 'block', scale: { domain: [...BLOCKS], range: BLOCK_COLORS }, sort: [...BLOCKS] },
        order: { field: 'blockOrder', type: 'quantitative' },
        tooltip: [
          { field: 'precision', type: 'nominal' },
          { field: 'contextLen', type: 'quantitative', title: 'context' },
          { field: 'block', type: 'nominal' },
          { field: 'ms', type: 'quantitative', format: '.3f' },
          { field: 'stepMs', type: 'quantitative', title: 'step ms', format: '.3f' },
        ],
      },
    },
    transform: [{ calculate: `indexof(${JSON.stringify([...BLOCKS])}, datum.block)`, as: 'blockOrder' }],
  });
  return { id, title, reading, notes, spec, columns, rows, ...src };
}
