/**
 * The terminal summary of `pnpm eval`: one row per group and task, one column per precision, each cell
 * "value ± stderr" of the primary metric with the recovery vs fp16 of the same model, and a warning when --limit
 * makes the numbers non-comparable with full-split results.
 */
import Table from 'cli-table3';
import type { EvalResult, MetricValue } from './schema.ts';

const cell = (m: MetricValue | undefined, recovery: number | undefined, isRef: boolean): string => {
  if (!m) return 'n/a';
  const v = m.value.toFixed(4) + (m.stderr !== null && Number.isFinite(m.stderr) ? ` ± ${m.stderr.toFixed(4)}` : '');
  if (isRef || recovery === undefined) return v;
  return `${v} (${recovery.toFixed(1)}%)`;
};

export function limitWarning(limit: number | null): string | null {
  if (limit === null) return null;
  const what = limit < 1 ? `the first ${(limit * 100).toFixed(1)}% of the documents` : `the first ${limit} document(s)`;
  return `WARNING: --limit ${limit}: only ${what} of each task were evaluated; these numbers are NOT comparable with full-split results (or with the published leaderboard).`;
}

/** The table (task x precision); mmlu_<subject> rows are left out when their group is shown. */
export function renderEvalTable(results: readonly EvalResult[]): string {
  const precisions = results.map((r) => r.precision);
  const t = new Table({ style: { head: [], border: [] }, head: ['task', 'metric', 'n-shot', 'n', ...precisions.map((p) => (p === 'fp16' ? 'fp16 (ref)' : `${p} (recovery)`))] });
  const first = results[0];
  if (!first) return '';
  const hasFp16 = precisions.includes('fp16');
  for (const [g, gr] of Object.entries(first.groups)) {
    t.push([`${g} (group)`, gr.primaryMetric, '', String(gr.numSamples ?? ''), ...results.map((r) => cell(r.groups[g]?.metrics[gr.primaryMetric], r.groups[g]?.recoveryPct, !hasFp16 || r.precision === 'fp16'))]);
  }
  const showSubjects = !('mmlu' in first.groups);
  for (const [task, tr] of Object.entries(first.results)) {
    if (task.startsWith('mmlu_') && !showSubjects) continue;
    t.push([task, tr.primaryMetric, String(tr.numFewshot), String(tr.numSamples), ...results.map((r) => cell(r.results[task]?.metrics[tr.primaryMetric], r.results[task]?.recoveryPct, !hasFp16 || r.precision === 'fp16'))]);
  }
  return t.toString();
}
