/** Share of decode-step time spent in attention vs batch size (from breakdown.jsonl), per precision. */
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
  latestBy,
  sourcesOf,
  splitNote,
  uniqueSorted,
} from './common.ts';

const id = 'attention-share';
const title = 'Attention share of decode-step time vs batch size';
const columns: ChartColumn[] = [
  { field: 'context', title: 'context' },
  { field: 'precision', title: 'precision' },
  { field: 'maxBatch', title: 'batch', format: 'int' },
  { field: 'attentionShare', title: 'attention share', format: 'pct1' },
  { field: 'attentionMs', title: 'attention ms', format: 'num3' },
  { field: 'stepMs', title: 'step ms', format: 'num3' },
  { field: 'setup', title: 'setup' },
];
const MAX_CONTEXTS = 4;

/** Up to `n` context lengths spread over the range (always the smallest and largest). */
export function spreadPick(values: number[], n: number): number[] {
  const v = uniqueSorted(values);
  if (v.length <= n) return v;
  const idx = new Set<number>();
  for (let i = 0; i < n; i++) idx.add(Math.round((i * (v.length - 1)) / (n - 1)));
  return [...idx].map((i) => v[i]);
}

export function attentionShare(data: LoadedResults): ChartResult {
  const valid = latestBy(
    data.breakdown.filter((t) => t.record.stepMs > 0),
    ({ record: b }) => JSON.stringify([setupOf(b.provenance).key, b.precision, b.batchSize, b.contextLen]),
  );
  if (valid.length === 0)
    return emptyChart({ id, title, columns }, 'No per-block breakdown (breakdown.jsonl) was found: run `pnpm bench` with --profile-blocks.');
  // Contexts measured at more than one batch size carry the trend; fall back to all contexts.
  const batchesPerCtx = new Map<number, Set<number>>();
  for (const { record: b } of valid) {
    if (!batchesPerCtx.has(b.contextLen)) batchesPerCtx.set(b.contextLen, new Set());
    batchesPerCtx.get(b.contextLen)?.add(b.batchSize);
  }
  const multi = [...batchesPerCtx.entries()].filter(([, s]) => s.size > 1).map(([c]) => c);
  const allCtx = [...batchesPerCtx.keys()];
  const contexts = spreadPick(multi.length ? multi : allCtx, MAX_CONTEXTS);
  const used = valid.filter((t) => contexts.includes(t.record.contextLen));
  const rows: Row[] = used
    .map(({ record: b }) => ({
      context: `context ${b.contextLen}`,
      contextLen: b.contextLen,
      precision: b.precision,
      maxBatch: b.batchSize,
      attentionShare: b.blocksMs.attention / b.stepMs,
      attentionMs: b.blocksMs.attention,
      stepMs: b.stepMs,
      setup: setupOf(b.provenance).label,
    }))
    .sort(
      (a, b) =>
        a.setup.localeCompare(b.setup) || a.contextLen - b.contextLen || comparePrecision(a.precision, b.precision) || a.maxBatch - b.maxBatch,
    );
  const src = sourcesOf(used.map((t) => t.record.provenance));
  const ctxLabels = contexts.map((c) => `context ${c}`);

  const ref = rows.filter((r) => r.setup === src.setups[0] && r.context === ctxLabels[ctxLabels.length - 1]);
  const prec = ref.some((r) => r.precision === 'fp16') ? 'fp16' : String(ref[0].precision);
  const line = ref.filter((r) => r.precision === prec);
  const lo = line[0];
  const hi = line[line.length - 1];
  const who = src.setups.length > 1 ? `${src.setups[0]} (first of ${src.setups.length} setups): ` : '';
  const reading =
    who +
    (lo === hi
      ? `${prec}, ${lo.context}: attention is ${fmtPct(100 * Number(lo.attentionShare))} of the decode step at batch ${lo.maxBatch}.`
      : `${prec}, ${lo.context}: attention is ${fmtPct(100 * Number(lo.attentionShare))} of the decode step at batch ${lo.maxBatch} and ${fmtPct(100 * Number(hi.attentionShare))} at batch ${hi.maxBatch}.`);

  const notes = [...splitNote(src.setups)];
  if (contexts.length < allCtx.length) notes.push(`Showing ${contexts.length} of ${allCtx.length} context lengths (${contexts.join(', ')}).`);
  const spec = facetSpec({
    description: title,
    rows,
    setups: src.setups,
    column: columnBy('context', ctxLabels),
    spec: {
      width: Math.min(CELL_WIDTH, 220),
      height: CELL_HEIGHT,
      encoding: {
        x: batchAxis(rows.map((r) => Number(r.maxBatch)), 'batch size'),
        y: { field: 'attentionShare', type: 'quantitative', title: 'attention / step time', axis: { format: '.0%' }, scale: { domain: [0, 1] } },
        color: { field: 'precision', type: 'nominal', title: 'precision', scale: precisionScale(rows.map((r) => String(r.precision))) },
        tooltip: [
          { field: 'precision', type: 'nominal' },
          { field: 'maxBatch', type: 'quantitative', title: 'batch' },
          { field: 'contextLen', type: 'quantitative', title: 'context' },
          { field: 'attentionShare', type: 'quantitative', title: 'attention share', format: '.1%' },
          { field: 'attentionMs', type: 'quantitative', title: 'attention ms', format: '.3f' },
          { field: 'stepMs', type: 'quantitative', title: 'step ms', format: '.3f' },
        ],
      },
      layer: [{ mark: { type: 'line' } }, { mark: { type: 'point', filled: true } }],
    },
  });
  return { id, title, reading, notes, spec, columns, rows, ...src };
}
