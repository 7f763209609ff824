/** Scored documents -> lm-eval-like results (per-task metrics with stderr, groups, recovery vs fp16). */
import type { GroupDef } from '@quantbench/lm-eval-ts-shim';
import { aggregateMacro, aggregateMicro, mean, meanStderr, type SubtaskScore } from '@quantbench/lm-eval-ts-shim';
import type { ScoredTask } from './runner.ts';
import type { EvalResult, EvalSample, GroupResult, MetricValue, TaskResult } from './schema.ts';

export function summarizeTask(t: ScoredTask): TaskResult {
  const metrics: Record<string, MetricValue> = {};
  for (const m of t.plan.metrics) {
    const xs = t.docs.map((d) => d.metrics[m]).filter((x): x is number => typeof x === 'number');
    metrics[m] = { value: mean(xs), stderr: meanStderr(xs) };
  }
  return {
    metrics,
    numSamples: t.docs.length,
    numFewshot: t.plan.numFewshot,
    fewshotSource: t.plan.fewshotSource,
    primaryMetric: t.plan.primaryMetric,
    version: t.plan.version,
    evalSource: t.plan.evalSource,
    deviations: t.plan.deviations,
  };
}

/**
 * A generation task's reference is dataset text: per-sample files (committed under results/) keep only its last line
 * (the final answer, e.g. GSM8K's "#### 18"); docId locates the full reference in the dataset.
 */
export function sampleTarget(target: number | string): number | string {
  if (typeof target === 'number') return target;
  const lines = target.trimEnd().split('\n');
  return lines[lines.length - 1]!;
}

export function toSamples(t: ScoredTask): EvalSample[] {
  return t.docs.map((d) => ({
    task: t.plan.task,
    docId: d.docId,
    target: sampleTarget(d.target),
    ...(d.choices ? { choices: d.choices } : {}),
    ...(d.generation !== undefined ? { generation: d.generation } : {}),
    metrics: d.metrics,
  }));
}

interface Node {
  metricValue(metric: string): SubtaskScore | null;
  leaves: string[];
  primary: string;
}

/** Aggregate groups; `groups` must list inner groups before the groups that contain them (registry.expand does). */
export function aggregateGroups(results: Record<string, TaskResult>, groups: GroupDef[]): Record<string, GroupResult> {
  const out: Record<string, GroupResult> = {};
  const node = (name: string): Node | null => {
    const t = results[name];
    if (t) {
      return {
        metricValue: (m) => (t.metrics[m] ? { value: t.metrics[m].value, stderr: t.metrics[m].stderr, size: t.numSamples } : null),
        leaves: [name],
        primary: t.primaryMetric,
      };
    }
    const g = out[name];
    if (g) {
      return {
        metricValue: (m) => (g.metrics[m] ? { value: g.metrics[m].value, stderr: g.metrics[m].stderr, size: g.numSamples ?? 0 } : null),
        leaves: leavesOf(name),
        primary: g.primaryMetric,
      };
    }
    return null;
  };
  const leafMap = new Map<string, string[]>();
  const leavesOf = (name: string) => leafMap.get(name) ?? [name];
  for (const g of groups) {
    const members = g.members.map((m) => [m, node(m)] as const).filter((x): x is [string, Node] => x[1] !== null);
    if (!members.length) continue;
    const leaves = members.flatMap(([, n]) => n.leaves);
    leafMap.set(g.name, leaves);
    const metricName = g.metric === 'primary' ? 'score' : g.metric;
    const subs = members
      .map(([, n]) => n.metricValue(g.metric === 'primary' ? n.primary : g.metric))
      .filter((s): s is SubtaskScore => s !== null);
    const agg = g.aggregation === 'micro' ? aggregateMicro(subs) : aggregateMacro(subs);
    const numSamples = leaves.reduce((a, l) => a + (results[l]?.numSamples ?? 0), 0);
    const res: GroupResult = {
      aggregation: g.aggregation,
      metrics: { [metricName]: { value: agg.value, stderr: agg.stderr } },
      subtasks: members.map(([m]) => m),
      primaryMetric: metricName,
      numSamples,
    };
    if (g.aggregation === 'micro' && g.metric !== 'primary') {
      const leafSubs = leaves
        .map((l) => results[l]?.metrics[g.metric])
        .filter((m): m is MetricValue => m !== undefined)
        .map((m) => ({ value: m.value, stderr: m.stderr, size: 1 }));
      const mac = aggregateMacro(leafSubs);
      res.macroMetrics = { [metricName]: { value: mac.value, stderr: mac.stderr } };
    }
    out[g.name] = res;
  }
  return out;
}

function pct(q: number, ref: number): number | undefined {
  return ref > 0 && Number.isFinite(q) ? (100 * q) / ref : undefined;
}

/** Recovery % = 100 * quantized / fp16 on each task's and group's primary metric. Mutates `quant`. */
export function applyRecovery(quant: EvalResult, ref: EvalResult): void {
  for (const [name, t] of Object.entries(quant.results)) {
    const r = ref.results[name];
    const q = t.metrics[t.primaryMetric];
    const f = r?.metrics[t.primaryMetric];
    if (q && f) t.recoveryPct = pct(q.value, f.value);
  }
  for (const [name, g] of Object.entries(quant.groups)) {
    const r = ref.groups[name];
    const q = g.metrics[g.primaryMetric];
    const f = r?.metrics[g.primaryMetric];
    if (q && f) g.recoveryPct = pct(q.value, f.value);
  }
}
