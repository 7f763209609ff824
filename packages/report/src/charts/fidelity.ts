/** Fidelity of each quantized precision vs its fp16 reference: choice KL, top-1 agreement, answer flips. */
import type { LoadedResults } from '../load/read-results.ts';
import type { FidelityResult } from '../results-types.ts';
import { comparePrecision, precisionScale, setupOf } from '../setup.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';
import { columnBy, emptyChart, facetSpec, fmtNum, fmtPct, latestBy, sourcesOf, splitNote } from './common.ts';

const id = 'fidelity';
const title = 'Fidelity vs fp16: KL, top-1 agreement, answer flips';
const columns: ChartColumn[] = [
  { field: 'task', title: 'task / text' },
  { field: 'precision', title: 'precision' },
  { field: 'kl', title: 'KL(ref||quant)', format: 'sci' },
  { field: 'top1Agreement', title: 'top-1 agree', format: 'pct1' },
  { field: 'flipsRightToWrong', title: 'flips ✓→✗', format: 'int' },
  { field: 'flipsWrongToRight', title: 'flips ✗→✓', format: 'int' },
  { field: 'numCompared', title: 'n', format: 'int' },
  { field: 'refScore', title: 'fp16 score', format: 'num3' },
  { field: 'quantScore', title: 'score', format: 'num3' },
  { field: 'reference', title: 'ref' },
  { field: 'setup', title: 'setup' },
];
const METRICS = ['KL(ref||quant)', 'top-1 agreement', 'flips right→wrong', 'flips wrong→right'];

type PerTask = FidelityResult['perTask'][string];

/** MMLU's subjects fold into one "mmlu (N subjects)" row: KL and top-1 weighted by items, flips summed. */
export function foldSubjects(perTask: Record<string, PerTask>): [string, PerTask][] {
  const out: [string, PerTask][] = [];
  const subj = Object.entries(perTask).filter(([k]) => k.startsWith('mmlu_'));
  for (const [k, t] of Object.entries(perTask)) if (!k.startsWith('mmlu_')) out.push([k, t]);
  if (subj.length) {
    const n = subj.reduce((a, [, t]) => a + t.numCompared, 0) || 1;
    const kls = subj.filter(([, t]) => t.choiceKl != null);
    const nk = kls.reduce((a, [, t]) => a + t.numCompared, 0) || 1;
    out.push([
      `mmlu (${subj.length} subjects)`,
      {
        flipsRightToWrong: subj.reduce((a, [, t]) => a + t.flipsRightToWrong, 0),
        flipsWrongToRight: subj.reduce((a, [, t]) => a + t.flipsWrongToRight, 0),
        numCompared: subj.reduce((a, [, t]) => a + t.numCompared, 0),
        choiceKl: kls.length ? kls.reduce((a, [, t]) => a + (t.choiceKl as number) * t.numCompared, 0) / nk : null,
        top1Agreement: subj.reduce((a, [, t]) => a + t.top1Agreement * t.numCompared, 0) / n,
      },
    ]);
  }
  return out;
}

export function fidelity(data: LoadedResults): ChartResult {
  const fids = latestBy(data.fidelity, ({ record: f }) => JSON.stringify([setupOf(f.provenance).key, f.precision, f.reference]));
  if (fids.length === 0)
    return emptyChart({ id, title, columns }, 'No fidelity results (fidelity_<model>_<precision>.json from `pnpm eval` with an fp16 run) were found.');
  const rows: Row[] = [];
  for (const { record: f } of fids) {
    const setup = setupOf(f.provenance).label;
    for (const [task, t] of foldSubjects(f.perTask))
      rows.push({
        task,
        precision: f.precision,
        kl: t.choiceKl,
        top1Agreement: t.top1Agreement,
        flipsRightToWrong: t.flipsRightToWrong,
        flipsWrongToRight: t.flipsWrongToRight,
        numCompared: t.numCompared,
        refScore: t.refScore ?? null,
        quantScore: t.quantScore ?? null,
        reference: f.reference,
        setup,
      });
    if (f.text)
      rows.push({
        task: `text: ${f.text.file}`,
        precision: f.precision,
        kl: f.text.kl,
        top1Agreement: f.text.top1Agreement,
        flipsRightToWrong: null,
        flipsWrongToRight: null,
        numCompared: f.text.tokens,
        refScore: null,
        quantScore: null,
        reference: f.reference,
        setup,
      });
  }
  rows.sort(
    (a, b) =>
      String(a.setup).localeCompare(String(b.setup)) ||
      String(a.task).localeCompare(String(b.task)) ||
      comparePrecision(String(a.precision), String(b.precision)),
  );
  const src = sourcesOf(fids.map((t) => t.record.provenance));
  const precisions = [...new Set(rows.map((r) => String(r.precision)))].sort(comparePrecision);
  const tasks = [...new Set(rows.map((r) => String(r.task)))];

  const withKl = rows.filter((r) => typeof r.kl === 'number');
  const worstKl = withKl.reduce<Row | undefined>((a, b) => (!a || Number(b.kl) > Number(a.kl) ? b : a), undefined);
  const flips = precisions.map((p) => {
    const rs = rows.filter((r) => r.precision === p && typeof r.flipsRightToWrong === 'number');
    const rw = rs.reduce((s, r) => s + Number(r.flipsRightToWrong), 0);
    const wr = rs.reduce((s, r) => s + Number(r.flipsWrongToRight), 0);
    return `${p} ${rw} right→wrong / ${wr} wrong→right`;
  });
  const minAgree = rows.reduce((a, b) => (Number(b.top1Agreement) < Number(a.top1Agreement) ? b : a));
  const reading =
    `${worstKl ? `Largest KL: ${worstKl.precision} on ${worstKl.task} (${fmtNum(Number(worstKl.kl))}); ` : ''}lowest top-1 agreement ${fmtPct(100 * Number(minAgree.top1Agreement))} (${minAgree.precision}, ${minAgree.task}); ` +
    `answer flips: ${flips.join(', ')}.`;

  const spec = facetSpec({
    description: title,
    rows,
    setups: src.setups,
    column: columnBy('metric', METRICS),
    resolve: { scale: { x: 'independent' } },
    transform: [
      { calculate: 'datum.kl', as: METRICS[0] },
      { calculate: 'datum.top1Agreement', as: METRICS[1] },
      { calculate: 'datum.flipsRightToWrong', as: METRICS[2] },
      { calculate: 'datum.flipsWrongToRight', as: METRICS[3] },
      { fold: METRICS, as: ['metric', 'value'] },
      { filter: 'isValid(datum.value)' },
    ],
    spec: {
      width: 170,
      // Step of one precision's bar inside a task band: keeps bands readable with 1 or many precisions.
      height: { step: Math.max(7, Math.round(24 / precisions.length)) },
      mark: { type: 'bar' },
      encoding: {
        y: { field: 'task', type: 'nominal', title: null, sort: tasks },
        yOffset: { field: 'precision', type: 'nominal', sort: precisions },
        x: { field: 'value', type: 'quantitative', title: null, axis: { format: '~g' } },
        color: { field: 'precision', type: 'nominal', title: 'precision', scale: precisionScale(precisions) },
        tooltip: [
          { field: 'task', type: 'nominal' },
          { field: 'precision', type: 'nominal' },
          { field: 'metric', type: 'nominal' },
          { field: 'value', type: 'quantitative', format: '.4g' },
          { field: 'numCompared', type: 'quantitative', title: 'n' },
        ],
      },
    },
  });
  return {
    id,
    title,
    reading,
    notes: [
      'KL: mean KL(fp16 || quantized) over answer choices (text rows: next-token distribution; none for generation tasks). Top-1 agreement: same argmax choice (generation tasks: identical text). Flips count answers that changed correctness vs fp16.',
      ...[...new Set(fids.map((t) => t.record.flipRule).filter((x): x is string => !!x))].map((r) => `Flip rule: ${r}`),
      ...splitNote(src.setups),
    ],
    spec,
    columns,
    rows,
    ...src,
  };
}
