import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expand, LEADERBOARD_V1, MMLU_GROUPS } from '@quantbench/lm-eval-ts-shim';
import { aggregateGroups, applyRecovery } from '../src/results.ts';
import type { EvalResult, TaskResult } from '../src/schema.ts';

const tr = (metric: string, value: number, n: number): TaskResult => ({
  metrics: { [metric]: { value, stderr: 0.1 } },
  numSamples: n,
  numFewshot: 0,
  fewshotSource: 'none (0-shot)',
  primaryMetric: metric,
});

test('leaderboard-v1 expands to its six tasks with the leaderboard shot counts', () => {
  const e = expand('leaderboard-v1');
  const shots = Object.fromEntries(e.tasks.filter((t) => !t.name.startsWith('mmlu_')).map((t) => [t.name, t.numFewshot]));
  assert.deepEqual(shots, { arc_challenge: 25, hellaswag: 10, truthfulqa_mc2: 0, winogrande: 5, gsm8k: 5 });
  assert.equal(e.tasks.filter((t) => t.name.startsWith('mmlu_')).length, 57);
  assert.ok(e.tasks.filter((t) => t.name.startsWith('mmlu_')).every((t) => t.numFewshot === 5));
  assert.deepEqual(e.groups.map((g) => g.name).slice(-2), ['mmlu', 'leaderboard-v1']);
  assert.equal(expand('mmlu_anatomy').tasks[0].numFewshot, undefined, 'a bare subject keeps lm-eval default (0-shot)');
});

test('micro mmlu weights subjects by size; the leaderboard score is the plain mean of primary metrics', () => {
  const results: Record<string, TaskResult> = {};
  const e = expand('leaderboard-v1');
  for (const t of e.tasks) if (t.name.startsWith('mmlu_')) results[t.name] = tr('acc', 0.25, 10);
  results.mmlu_abstract_algebra = tr('acc', 1, 100); // stem, large
  results.arc_challenge = { ...tr('acc', 0.3, 50), metrics: { acc: { value: 0.3, stderr: 0.1 }, acc_norm: { value: 0.4, stderr: 0.1 } }, primaryMetric: 'acc_norm' };
  results.hellaswag = { ...tr('acc', 0.3, 50), metrics: { acc: { value: 0.3, stderr: 0.1 }, acc_norm: { value: 0.5, stderr: 0.1 } }, primaryMetric: 'acc_norm' };
  results.truthfulqa_mc2 = tr('mc2', 0.45, 50);
  results.winogrande = tr('acc', 0.5, 50);
  results.gsm8k = tr('exact_match,strict-match', 0.0, 50);
  const g = aggregateGroups(results, e.groups);
  const mmluMicro = (100 * 1 + 56 * 10 * 0.25) / (100 + 560);
  assert.ok(Math.abs(g.mmlu.metrics.acc.value - mmluMicro) < 1e-12);
  assert.ok(Math.abs(g.mmlu.macroMetrics!.acc.value - (1 + 56 * 0.25) / 57) < 1e-12);
  assert.equal(g.mmlu.numSamples, 660);
  const score = (0.4 + 0.5 + mmluMicro + 0.45 + 0.5 + 0) / 6;
  assert.ok(Math.abs(g['leaderboard-v1'].metrics.score.value - score) < 1e-12);
  assert.equal(g['leaderboard-v1'].aggregation, 'macro');
  assert.equal(MMLU_GROUPS.length, 5);
  assert.equal(LEADERBOARD_V1.members.length, 6);

  const mk = (res: Record<string, TaskResult>): EvalResult => ({ results: res, groups: aggregateGroups(res, e.groups) }) as EvalResult;
  const ref = mk(results);
  const q = mk({ ...results, winogrande: tr('acc', 0.25, 50) });
  applyRecovery(q, ref);
  assert.equal(q.results.winogrande.recoveryPct, 50);
  assert.equal(q.results.truthfulqa_mc2.recoveryPct, 100);
  assert.equal(q.results.gsm8k.recoveryPct, undefined, 'no recovery against a zero fp16 score');
  assert.ok(Math.abs((q.groups['leaderboard-v1'].recoveryPct as number) - (100 * (score - 0.25 / 6)) / score) < 1e-9);
});
