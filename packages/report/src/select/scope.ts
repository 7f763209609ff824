/**
 * Splits loaded results into the *current* view (per device, the newest comparable setup of each kind of
 * record) and *history* (everything older). Headlines and detail charts read only the current view, so
 * no headline mixes setups; older setups are summarised in the history section.
 *
 * Bench points: per GPU device, the newest bench setup (device · commit · model · engine configuration).
 * CPU bench runs are plumbing checks of the reference backend: they go to history when any GPU run exists.
 * Block breakdowns and kernel timings: per device, the newest setup of that kind.
 * Evals and fidelity: per device and model, the newest eval run (directory); the precisions of one eval run
 * may come from different commits, which its setup label then lists (they are not hidden).
 */
import type { LoadedResults, Tagged } from '../load/read-results.ts';
import { emptyResults } from '../load/read-results.ts';
import type { Provenance } from '../results-types.ts';
import { setupOf, shortCommit } from '../setup.ts';
import { benchSetups, type BenchSetup } from './bench-setups.ts';

export interface EvalGroup {
  key: string;
  device: string;
  model: string;
  run: string;
  weights: string;
  /** precision → commit */
  commits: Record<string, string>;
  lastDate: string;
}

export interface Scope {
  current: LoadedResults;
  history: LoadedResults;
  /** Newest bench setup per device, GPU devices first, newest first. */
  currentBench: BenchSetup[];
  /** Every other bench setup, newest first. */
  olderBench: BenchSetup[];
  /** Newest eval run per device and model. */
  currentEval: EvalGroup[];
  olderEval: EvalGroup[];
}

type WithProv = { run: string; record: { provenance: Provenance } };

function newestPerDevice<T extends WithProv>(items: T[], key: (t: T) => string): { cur: T[]; old: T[] } {
  const newest = new Map<string, { k: string; date: string }>();
  for (const t of items) {
    const d = t.record.provenance.device;
    const k = key(t);
    const prev = newest.get(d);
    if (!prev || t.record.provenance.date > prev.date) newest.set(d, { k, date: t.record.provenance.date });
  }
  const cur: T[] = [];
  const old: T[] = [];
  for (const t of items) (newest.get(t.record.provenance.device)?.k === key(t) ? cur : old).push(t);
  return { cur, old };
}

/** CPU records of a kind go to history when any GPU record of that kind exists (CPU runs are plumbing). */
function gpuFirst<T extends WithProv>(items: T[]): { cur: T[]; old: T[] } {
  const gpu = items.filter((t) => t.record.provenance.deviceKind !== 'cpu');
  if (!gpu.length) return { cur: items, old: [] };
  return { cur: gpu, old: items.filter((t) => t.record.provenance.deviceKind === 'cpu') };
}

function evalGroups(items: WithProv[], precisionOf: (t: WithProv) => string): Map<string, EvalGroup> {
  const out = new Map<string, EvalGroup>();
  for (const t of items) {
    const p = t.record.provenance;
    const key = JSON.stringify([p.device, p.model, t.run]);
    const g = out.get(key) ?? { key, device: p.device, model: p.model, run: t.run, weights: p.weights, commits: {}, lastDate: p.date };
    g.commits[precisionOf(t)] = p.commit;
    if (p.date > g.lastDate) g.lastDate = p.date;
    out.set(key, g);
  }
  return out;
}

/** The commit field shown for an eval group: its one commit, or each precision's when they differ. */
export function evalCommitLabel(g: EvalGroup): string {
  const distinct = [...new Set(Object.values(g.commits))];
  if (distinct.length <= 1) return distinct[0] ?? '';
  return `per precision: ${Object.entries(g.commits)
    .map(([prec, c]) => `${prec} ${shortCommit(c)}`)
    .join(', ')}`;
}

export function scopeResults(data: LoadedResults): Scope {
  const current = { ...emptyResults(), runs: data.runs, skipped: data.skipped };
  const history = { ...emptyResults(), runs: data.runs, skipped: [] };

  // Bench points.
  const setups = benchSetups(data.points);
  const gpu = setups.filter((s) => s.deviceKind !== 'cpu');
  const pool = gpu.length ? gpu : setups;
  // Per device the newest setup that compares precisions (fp16 and at least one other); a newer setup of one precision
  // alone (a serving-overhead check, a peer-protocol run of the FP8 precisions) answers nothing about the question
  // and goes to history, unless the device has no comparing setup at all.
  const benchCompares = (s: BenchSetup) => {
    const ps = new Set(s.points.map((t) => t.record.precision));
    return ps.has('fp16') && ps.size > 1;
  };
  const currentBench: BenchSetup[] = [];
  for (const s of pool) {
    const i = currentBench.findIndex((c) => c.device === s.device);
    if (i < 0) currentBench.push(s);
    else if (!benchCompares(currentBench[i]!) && benchCompares(s)) currentBench[i] = s;
  }
  const olderBench = setups.filter((s) => !currentBench.includes(s));
  for (const s of currentBench) current.points.push(...s.points);
  for (const s of olderBench) history.points.push(...s.points);

  const bySetup = (t: WithProv) => setupOf(t.record.provenance).key;
  const bd = newestPerDevice(gpuFirst(data.breakdown).cur, bySetup);
  current.breakdown = bd.cur;
  history.breakdown = [...bd.old, ...gpuFirst(data.breakdown).old];
  const kn = newestPerDevice(gpuFirst(data.kernels).cur, bySetup);
  current.kernels = kn.cur;
  history.kernels = [...kn.old, ...gpuFirst(data.kernels).old];

  // Evals and fidelity: grouped by run directory per device and model.
  const precisionOf = (t: WithProv) => (t.record as unknown as { precision: string }).precision;
  const groups = evalGroups([...data.evals, ...data.fidelity], precisionOf);
  // Per device and model the newest run that compares precisions (fp16 and at least one other); a newer run of one
  // precision alone (e.g. a single-task protocol check) answers nothing about the question and goes to history.
  const compares = (g: EvalGroup) => 'fp16' in g.commits && Object.keys(g.commits).length > 1;
  const newestGroup = new Map<string, EvalGroup>();
  for (const g of groups.values()) {
    const k = JSON.stringify([g.device, g.model]);
    const prev = newestGroup.get(k);
    const better = !prev || (compares(g) !== compares(prev) ? compares(g) : g.lastDate > prev.lastDate);
    if (better) newestGroup.set(k, g);
  }
  const currentEval = [...newestGroup.values()].sort((a, b) => b.lastDate.localeCompare(a.lastDate));
  const olderEval = [...groups.values()].filter((g) => !currentEval.includes(g)).sort((a, b) => b.lastDate.localeCompare(a.lastDate));
  const groupOf = (t: WithProv) => groups.get(JSON.stringify([t.record.provenance.device, t.record.provenance.model, t.run])) as EvalGroup;
  // Inside a current group, records share one setup label naming every precision's commit.
  const relabel = <T extends WithProv>(t: T): T => {
    const g = groupOf(t);
    return { ...t, record: { ...t.record, provenance: { ...t.record.provenance, commit: evalCommitLabel(g) } } };
  };
  for (const t of data.evals) (currentEval.includes(groupOf(t)) ? current.evals.push(relabel(t)) : history.evals.push(t));
  for (const t of data.fidelity) (currentEval.includes(groupOf(t)) ? current.fidelity.push(relabel(t)) : history.fidelity.push(t));
  current.perplexity = data.perplexity;
  return { current, history, currentBench, olderBench, currentEval, olderEval };
}

export type { Tagged };
