/** Metric tests on hand-built log-likelihoods (a tiny in-test LM returns fixed numbers). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GenerateRequest, LM, LoglikelihoodRequest, LoglikelihoodResponse } from '../src/lm.ts';
import {
  accuracy,
  accuracyNorm,
  aggregateMacro,
  aggregateMicro,
  bootstrapStderr,
  mc2,
  mean,
  meanStderr,
  pooledSampleStderr,
} from '../src/metrics.ts';
import { planFromDocs } from '../src/plan.ts';
import { PyRandom } from '../src/python_random.ts';
import { ARC_EASY, type ArcDoc } from '../src/tasks/arc.ts';
import { TRUTHFULQA_MC2 } from '../src/tasks/truthfulqa.ts';

/** Returns the log-likelihood written in a lookup table keyed by continuation. */
class TableLM implements LM {
  constructor(private readonly table: Record<string, number>) {}
  async loglikelihood(reqs: LoglikelihoodRequest[]): Promise<LoglikelihoodResponse[]> {
    return reqs.map((r) => {
      const v = this.table[r.continuation];
      if (v === undefined) throw new Error(`no entry for ${JSON.stringify(r.continuation)}`);
      return { logprob: v, isGreedy: false };
    });
  }
  async generateUntil(reqs: GenerateRequest[]): Promise<string[]> {
    return reqs.map(() => '');
  }
}

test('acc and acc_norm disagree when a long choice has the larger total but smaller per-character log-likelihood', async () => {
  const doc: ArcDoc = { question: 'Q?', choices: ['cat', 'a much longer answer'], gold: 1 };
  // " cat": -6 (-2/char), " a much longer answer": -10 (-0.5/char); acc picks 0, acc_norm picks 1.
  const lm = new TableLM({ ' cat': -6, ' a much longer answer': -10 });
  const plan = planFromDocs(ARC_EASY, [doc], null);
  const d = plan.docs[0];
  const results = await lm.loglikelihood(d.requests);
  assert.deepEqual(d.score({ kind: 'loglikelihood', results }), { acc: 0, acc_norm: 1 });
  // normalisation uses len(choice) in characters, not the delimiter-prefixed continuation
  assert.equal(accuracyNorm([{ logprob: -3, isGreedy: false }, { logprob: -3.9, isGreedy: false }], ['abc', 'abcd'], 1), 1);
  assert.equal(accuracyNorm([{ logprob: -3, isGreedy: false }, { logprob: -4.1, isGreedy: false }], ['abc', 'abcd'], 1), 0);
});

test('ties go to the first choice (numpy argmax)', () => {
  const r = [{ logprob: -1, isGreedy: false }, { logprob: -1, isGreedy: false }];
  assert.equal(accuracy(r, 0), 1);
  assert.equal(accuracy(r, 1), 0);
});

test('mc2 is the normalized probability mass of the true answers', async () => {
  const doc = { question: 'q', mc1: { choices: ['t'], labels: [1] }, mc2: { choices: ['t1', 't2', 'f1'], labels: [1, 1, 0] } };
  const lp = [Math.log(0.2), Math.log(0.1), Math.log(0.3)];
  const lm = new TableLM({ ' t1': lp[0], ' t2': lp[1], ' f1': lp[2] });
  const d = planFromDocs(TRUTHFULQA_MC2, [doc], null).docs[0];
  const out = d.score({ kind: 'loglikelihood', results: await lm.loglikelihood(d.requests) });
  assert.ok(Math.abs(out.mc2 - 0.5) < 1e-12, `mc2 ${out.mc2}`);
  // every probability underflows exp(): still defined, same ratio
  assert.ok(Math.abs(mc2([-2000 + lp[0], -2000 + lp[1], -2000 + lp[2]], [1, 1, 0]) - 0.5) < 1e-9);
  assert.equal(mc2([-1, -2], [1, 1]), 1);
});

test('micro weights subtasks by size, macro averages them', () => {
  const subs = [
    { value: 1.0, stderr: 0, size: 10 },
    { value: 0.0, stderr: 0, size: 30 },
  ];
  assert.equal(aggregateMicro(subs).value, 0.25);
  assert.equal(aggregateMacro(subs).value, 0.5);
});

test('mean stderr and pooled stderr follow lm-eval formulas', () => {
  const xs = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1];
  assert.ok(Math.abs((meanStderr(xs) as number) - 0.16329931618554522) < 1e-15);
  assert.equal(meanStderr([1]), null);
  // pooled: sqrt(sum((n-1) * se^2 * n) / (N - k) / N)
  const got = pooledSampleStderr([0.1, 0.2], [10, 20]);
  const want = Math.sqrt(((9 * 0.01 * 10 + 19 * 0.04 * 20) / 28) / 30);
  assert.ok(Math.abs(got - want) < 1e-15);
  const m = aggregateMicro([
    { value: 0.5, stderr: 0.1, size: 10 },
    { value: 0.7, stderr: 0.2, size: 20 },
  ]);
  assert.ok(Math.abs((m.stderr as number) - want) < 1e-15);
  const mac = aggregateMacro([
    { value: 0.5, stderr: 0.3, size: 10 },
    { value: 0.7, stderr: 0.4, size: 20 },
  ]);
  assert.ok(Math.abs((mac.stderr as number) - 0.25) < 1e-15);
});

test('seeded bootstrap stderr is reproducible and close to the analytic stderr of a mean', () => {
  const rnd = new PyRandom(2024);
  const xs = Array.from({ length: 400 }, () => (rnd.random() < 0.3 ? 1 : 0));
  const a = bootstrapStderr(mean, xs, 2000, 7);
  const b = bootstrapStderr(mean, xs, 2000, 7);
  const c = bootstrapStderr(mean, xs, 2000, 8);
  assert.equal(a, b);
  assert.notEqual(a, c);
  const analytic = meanStderr(xs) as number;
  assert.ok(Math.abs(a - analytic) / analytic < 0.1, `bootstrap ${a} vs analytic ${analytic}`);
});
