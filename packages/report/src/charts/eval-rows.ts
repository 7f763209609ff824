/**
 * Flattens eval results into one row per (setup, task or group, precision), with recovery vs fp16.
 *
 * Groups can hold tasks and other groups (leaderboard-v1 → mmlu → mmlu_stem → subjects). The rows shown are
 * the top-level groups, their direct children (a task, or a group shown by its aggregate), and tasks in no
 * group; deeper levels (MMLU categories and subjects) are counted in `omitted` rather than drawn.
 */
import type { LoadedResults, Tagged } from '../load/read-results.ts';
import type { EvalResult, MetricValue } from '../results-types.ts';
import { comparePrecision, setupOf } from '../setup.ts';
import { latestBy } from './common.ts';

export interface EvalRow {
  setup: string;
  setupKey: string;
  task: string;
  kind: 'task' | 'group';
  precision: string;
  metric: string;
  value: number;
  stderr: number | null;
  numSamples: number | null;
  fewshot: string;
  /** From the result file when present, else computed against fp16 of the same setup. */
  recoveryPct: number | null;
  recoverySource: 'file' | 'computed' | null;
  /** Known differences from lm-eval's documents or protocol. */
  deviations: string;
}

/** Latest eval result per (setup, precision). */
export function latestEvals(data: LoadedResults): Tagged<EvalResult>[] {
  return latestBy(data.evals, ({ record: e }) => JSON.stringify([setupOf(e.provenance).key, e.precision]));
}

/** Group above this many direct children is not expanded (e.g. a flat 57-subject MMLU group). */
const MAX_EXPANDED_CHILDREN = 12;

/** Names to show for one eval result, in display order: each top group's children, then the group. */
export function shownNames(e: EvalResult): { names: string[]; omitted: number } {
  const childOf = new Set(Object.values(e.groups).flatMap((g) => g.subtasks));
  const shown: string[] = [];
  const add = (n: string) => {
    if (!shown.includes(n)) shown.push(n);
  };
  for (const [g, grp] of Object.entries(e.groups)) {
    if (childOf.has(g)) continue;
    if (grp.subtasks.length <= MAX_EXPANDED_CHILDREN) for (const c of grp.subtasks) if (c in e.results || c in e.groups) add(c);
    add(g);
  }
  for (const t of Object.keys(e.results).sort()) if (!childOf.has(t)) add(t);
  const total = Object.keys(e.results).length + Object.keys(e.groups).length;
  return { names: shown, omitted: total - shown.length };
}

function leafTasks(e: EvalResult, name: string, seen = new Set<string>()): string[] {
  if (seen.has(name)) return [];
  seen.add(name);
  const g = e.groups[name];
  if (!g) return name in e.results ? [name] : [];
  return g.subtasks.flatMap((s) => leafTasks(e, s, seen));
}

export function evalRows(evals: Tagged<EvalResult>[]): { rows: EvalRow[]; omitted: number } {
  const rows: EvalRow[] = [];
  const order = new Map<string, number>();
  let omitted = 0;
  for (const { record: e } of evals) {
    const s = setupOf(e.provenance);
    const { names, omitted: om } = shownNames(e);
    omitted = Math.max(omitted, om);
    for (const name of names) {
      const r = e.results[name];
      const g = e.groups[name];
      const primary = r ? r.primaryMetric : g.primaryMetric;
      const m: MetricValue | undefined = r ? r.metrics[primary] : g.metrics[primary];
      if (!m) continue;
      const label = g ? `${name} (${g.aggregation})` : name;
      if (!order.has(label)) order.set(label, order.size);
      const leaves = g ? leafTasks(e, name) : [];
      rows.push({
        setup: s.label,
        setupKey: s.key,
        task: label,
        kind: g ? 'group' : 'task',
        precision: e.precision,
        metric: primary,
        value: m.value,
        stderr: m.stderr,
        numSamples: r ? r.numSamples : (g.numSamples ?? (leaves.reduce((acc, t) => acc + e.results[t].numSamples, 0) || null)),
        fewshot: r ? `${r.numFewshot}-shot (${r.fewshotSource})` : `${leaves.length} tasks`,
        recoveryPct: (r ? r.recoveryPct : g.recoveryPct) ?? null,
        recoverySource: (r ? r.recoveryPct : g.recoveryPct) != null ? 'file' : null,
        deviations: [...new Set((r ? [name] : leaves).flatMap((t) => e.results[t]?.deviations ?? []))].join('; '),
      });
    }
  }
  // Fill recovery from fp16 of the same setup and task where the file did not carry it.
  const fp16 = new Map<string, number>();
  for (const r of rows) if (r.precision === 'fp16') fp16.set(JSON.stringify([r.setupKey, r.task, r.metric]), r.value);
  for (const r of rows) {
    if (r.recoveryPct != null || r.precision === 'fp16') continue;
    const base = fp16.get(JSON.stringify([r.setupKey, r.task, r.metric]));
    if (base && base > 0) {
      r.recoveryPct = (100 * r.value) / base;
      r.recoverySource = 'computed';
    }
  }
  rows.sort(
    (a, b) =>
      a.setup.localeCompare(b.setup) ||
      (order.get(a.task) ?? 0) - (order.get(b.task) ?? 0) ||
      comparePrecision(a.precision, b.precision),
  );
  return { rows, omitted };
}

export function omittedNote(omitted: number): string[] {
  return omitted > 0
    ? [`${omitted} deeper tasks/groups (e.g. MMLU categories and subjects) are folded into their group's bar; the eval JSON has them.`]
    : [];
}
