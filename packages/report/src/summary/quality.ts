/**
 * Quality columns of the summary, from one eval run (device · model · run directory): accuracy of the
 * headline groups with recovery vs fp16 of the same run (real weights only), and fidelity vs fp16
 * (choice KL and top-1 agreement as means weighted by items compared, answer flips summed) for every precision.
 */
import type { LoadedResults } from '../load/read-results.ts';
import type { EvalGroup } from '../select/scope.ts';

export interface QualityCell {
  /** group name → primary metric value (0..1) */
  accuracy: Record<string, number>;
  /** group name → recovery vs fp16 (%) */
  recovery: Record<string, number>;
  kl: number | null;
  top1: number | null;
  flipsRightToWrong: number | null;
  flipsWrongToRight: number | null;
}

export interface QualityTable {
  group: EvalGroup;
  /** Groups shown (e.g. mmlu, leaderboard-v1). */
  groups: string[];
  metricOf: Record<string, string>;
  weights: string;
  cells: Record<string, QualityCell>;
  /** Per-task limit of the run (null = full). */
  limit: number | null;
}

const PREFERRED = ['mmlu', 'leaderboard-v1'];

export function qualityTable(current: LoadedResults, group: EvalGroup): QualityTable {
  const inGroup = <T extends { run: string; record: { provenance: { device: string; model: string } } }>(t: T) =>
    t.run === group.run && t.record.provenance.device === group.device && t.record.provenance.model === group.model;
  const evals = current.evals.filter(inGroup);
  const fids = current.fidelity.filter(inGroup);
  const cells: Record<string, QualityCell> = {};
  const allGroups = new Set<string>();
  for (const { record: e } of evals) for (const g of Object.keys(e.groups)) allGroups.add(g);
  let groups = PREFERRED.filter((g) => allGroups.has(g));
  if (!groups.length) groups = [...allGroups].slice(0, 2);
  const metricOf: Record<string, string> = {};
  const fp16 = evals.find((t) => t.record.precision === 'fp16')?.record;
  let limit: number | null = null;
  for (const { record: e } of evals) {
    limit = e.config.limit;
    const c: QualityCell = (cells[e.precision] ??= emptyCell());
    for (const g of groups) {
      const grp = e.groups[g];
      if (!grp) continue;
      const m = grp.metrics[grp.primaryMetric];
      if (!m) continue;
      metricOf[g] = grp.primaryMetric;
      c.accuracy[g] = m.value;
      const base = fp16?.groups[g]?.metrics[grp.primaryMetric]?.value;
      const rec = e.precision === 'fp16' ? 100 : (grp.recoveryPct ?? (base ? (100 * m.value) / base : undefined));
      if (rec != null) c.recovery[g] = rec;
    }
  }
  for (const { record: f } of fids) {
    const c: QualityCell = (cells[f.precision] ??= emptyCell());
    const tasks = Object.values(f.perTask);
    // Means weighted by items compared, so MMLU's 57 small subjects do not outvote the large tasks.
    const withKl = tasks.filter((t) => t.choiceKl != null);
    const nKl = withKl.reduce((a, t) => a + t.numCompared, 0);
    const n = tasks.reduce((a, t) => a + t.numCompared, 0);
    c.kl = nKl ? withKl.reduce((a, t) => a + (t.choiceKl as number) * t.numCompared, 0) / nKl : null;
    c.top1 = n ? tasks.reduce((a, t) => a + t.top1Agreement * t.numCompared, 0) / n : null;
    c.flipsRightToWrong = tasks.reduce((a, t) => a + t.flipsRightToWrong, 0);
    c.flipsWrongToRight = tasks.reduce((a, t) => a + t.flipsWrongToRight, 0);
  }
  if (cells.fp16) {
    cells.fp16.kl ??= 0;
    cells.fp16.top1 ??= 1;
  }
  return { group, groups, metricOf, weights: group.weights, cells, limit };
}

function emptyCell(): QualityCell {
  return { accuracy: {}, recovery: {}, kl: null, top1: null, flipsRightToWrong: null, flipsWrongToRight: null };
}
