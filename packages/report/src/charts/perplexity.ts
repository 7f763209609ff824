/** Perplexity per precision on a text (`pnpm eval perplexity`), with next-token KL / top-1 agreement vs fp16. */
import type { LoadedResults } from '../load/read-results.ts';
import type { Provenance } from '../results-types.ts';
import { comparePrecision, precisionScale, setupOf } from '../setup.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';
import { CELL_HEIGHT, columnBy, emptyChart, facetSpec, fmtNum, fmtPct, latestBy, sourcesOf, splitNote } from './common.ts';

const id = 'perplexity';
const title = 'Perplexity per precision (next-token fidelity vs fp16)';
const columns: ChartColumn[] = [
  { field: 'text', title: 'text' },
  { field: 'precision', title: 'precision' },
  { field: 'ppl', title: 'perplexity', format: 'num3' },
  { field: 'pplVsFp16', title: 'vs fp16', format: 'pct1' },
  { field: 'kl', title: 'KL(fp16||p)', format: 'sci' },
  { field: 'top1Agreement', title: 'top-1 agree', format: 'pct1' },
  { field: 'tokens', title: 'tokens', format: 'int' },
  { field: 'setup', title: 'setup' },
];

export function perplexity(data: LoadedResults): ChartResult {
  const flat = data.perplexity.flatMap((t) =>
    Object.entries(t.record.perPrecision).map(([precision, v]) => ({
      record: { provenance: v.provenance as Provenance },
      precision,
      v,
      vs: t.record.vsReference[precision],
      file: t.record.file,
    })),
  );
  const used = latestBy(flat, (x) => JSON.stringify([setupOf(x.record.provenance).key, x.file, x.precision]));
  if (used.length === 0)
    return emptyChart({ id, title, columns }, 'No perplexity results (perplexity_<model>.json from `pnpm eval perplexity`) were found.');
  const fp16 = new Map<string, number>();
  for (const x of used) if (x.precision === 'fp16') fp16.set(JSON.stringify([setupOf(x.record.provenance).key, x.file]), x.v.ppl);
  const rows: Row[] = used
    .map((x) => {
      const base = fp16.get(JSON.stringify([setupOf(x.record.provenance).key, x.file]));
      return {
        text: x.file,
        precision: x.precision,
        ppl: x.v.ppl,
        pplVsFp16: base && x.precision !== 'fp16' ? x.v.ppl / base - 1 : null,
        kl: x.vs?.kl ?? null,
        top1Agreement: x.vs?.top1Agreement ?? null,
        tokens: x.v.tokens,
        setup: setupOf(x.record.provenance).label,
      };
    })
    .sort((a, b) => a.setup.localeCompare(b.setup) || a.text.localeCompare(b.text) || comparePrecision(a.precision, b.precision));
  const src = sourcesOf(used.map((x) => x.record.provenance));
  const precisions = [...new Set(rows.map((r) => String(r.precision)))].sort(comparePrecision);
  const texts = [...new Set(rows.map((r) => String(r.text)))];

  const withDelta = rows.filter((r) => typeof r.pplVsFp16 === 'number');
  const worst = withDelta.reduce<Row | undefined>((a, b) => (!a || Number(b.pplVsFp16) > Number(a.pplVsFp16) ? b : a), undefined);
  const reading = worst
    ? `Largest perplexity increase over fp16: ${worst.precision} on ${worst.text}, ${fmtNum(Number(worst.ppl))} (${Number(worst.pplVsFp16) >= 0 ? '+' : ''}${fmtPct(100 * Number(worst.pplVsFp16), 2)})${worst.top1Agreement != null ? `, top-1 agreement ${fmtPct(100 * Number(worst.top1Agreement))}` : ''}.`
    : `Perplexity of ${precisions.join(', ')} on ${texts.join(', ')}; no fp16 run of the same setup to compare against.`;

  const spec = facetSpec({
    description: title,
    rows,
    setups: src.setups,
    column: columnBy('text', texts),
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: { step: 64 },
      height: CELL_HEIGHT,
      // Dots, not bars: the axis is zoomed to the values, and a bar's length would misstate the ratio.
      mark: { type: 'point', filled: true, size: 120 },
      encoding: {
        x: { field: 'precision', type: 'nominal', title: null, sort: precisions, axis: { labelAngle: -30 } },
        y: { field: 'ppl', type: 'quantitative', title: 'perplexity', scale: { zero: false } },
        color: { field: 'precision', type: 'nominal', title: 'precision', scale: precisionScale(precisions), legend: null },
        tooltip: [
          { field: 'precision', type: 'nominal' },
          { field: 'ppl', type: 'quantitative', format: '.4f' },
          { field: 'pplVsFp16', type: 'quantitative', title: 'vs fp16', format: '+.2%' },
          { field: 'kl', type: 'quantitative', title: 'KL vs fp16', format: '.3g' },
          { field: 'top1Agreement', type: 'quantitative', title: 'top-1 agreement', format: '.1%' },
          { field: 'tokens', type: 'quantitative' },
        ],
      },
    },
  });
  return {
    id,
    title,
    reading,
    notes: ['The y axis is zoomed to the values (it does not start at zero): small perplexity differences are the point.', ...splitNote(src.setups)],
    spec,
    columns,
    rows,
    ...src,
  };
}
