/**
 * Metrics and aggregation as lm-eval computes them:
 *  - acc: argmax of summed log-likelihoods == gold (first index wins ties, as numpy.argmax);
 *  - acc_norm: argmax of loglik / len(choice in characters) (the choice text, without the target delimiter);
 *  - mc1: acc with gold 0 (TruthfulQA lists the single true answer first);
 *  - mc2: normalized probability mass of the true answers (labels: 1s first, then 0s);
 *  - mean with stderr = sample stddev / sqrt(n) (lm-eval's mean_stderr);
 *  - groups: micro (weighted by size, pooled stderr as lm-eval) or macro (plain mean of subtask scores);
 *  - bootstrap stderr with a seeded generator for aggregations without a closed form.
 */
import { PyRandom } from './python_random.ts';
import type { ChoiceResult } from './task.ts';

export function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

export function accuracy(results: readonly ChoiceResult[], gold: number): number {
  return argmax(results.map((r) => r.logprob)) === gold ? 1 : 0;
}

export function accuracyNorm(results: readonly ChoiceResult[], choices: readonly string[], gold: number): number {
  return argmax(results.map((r, i) => r.logprob / choices[i].length)) === gold ? 1 : 0;
}

/** Default per-doc multiple-choice metrics. */
export function multipleChoiceScores(results: readonly ChoiceResult[], choices: readonly string[], gold: number): Record<string, number> {
  return { acc: accuracy(results, gold), acc_norm: accuracyNorm(results, choices, gold) };
}

export function mc1(results: readonly ChoiceResult[]): number {
  return accuracy(results, 0);
}

/**
 * TruthfulQA MC2: sum(p_true) / (sum(p_true) + sum(p_false)), p = exp(loglik). The split is at the first label 0.
 * Computed with a max shift (same value, no 0/0 when every log-likelihood underflows exp()).
 */
export function mc2(logprobs: readonly number[], labels: readonly number[]): number {
  const split = labels.indexOf(0);
  const nTrue = split < 0 ? labels.length : split;
  const m = Math.max(...logprobs);
  const p = logprobs.map((l) => Math.exp(l - m));
  const total = p.reduce((a, b) => a + b, 0);
  return p.slice(0, nTrue).reduce((a, b) => a + b, 0) / total;
}

export function mean(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

export function sampleStddev(xs: readonly number[]): number {
  const mu = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - mu) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

/** lm-eval mean_stderr; null for fewer than 2 samples (lm-eval reports "N/A"). */
export function meanStderr(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  return sampleStddev(xs) / Math.sqrt(xs.length);
}

/** lm-eval pooled_sample_stderr: stderr of a size-weighted group mean. */
export function pooledSampleStderr(stderrs: readonly number[], sizes: readonly number[]): number {
  let num = 0;
  let total = 0;
  for (let i = 0; i < sizes.length; i++) {
    num += (sizes[i] - 1) * stderrs[i] ** 2 * sizes[i];
    total += sizes[i];
  }
  return Math.sqrt(num / (total - sizes.length) / total);
}

/** Seeded bootstrap stderr of statistic f over xs (resampling with replacement); sample stddev of the replicates. */
export function bootstrapStderr(f: (xs: number[]) => number, xs: readonly number[], iters: number, seed: number): number {
  const rnd = new PyRandom(seed);
  const n = xs.length;
  const reps: number[] = [];
  const buf = new Array<number>(n);
  for (let it = 0; it < iters; it++) {
    for (let i = 0; i < n; i++) buf[i] = xs[Math.floor(rnd.random() * n)];
    reps.push(f(buf));
  }
  return sampleStddev(reps);
}

export interface SubtaskScore {
  value: number;
  stderr: number | null;
  size: number;
}

export interface Aggregate {
  value: number;
  stderr: number | null;
}

/** Weighted by size (lm-eval weight_by_size: True, MMLU's default). */
export function aggregateMicro(subs: readonly SubtaskScore[]): Aggregate {
  const total = subs.reduce((a, s) => a + s.size, 0);
  const value = subs.reduce((a, s) => a + s.value * s.size, 0) / total;
  const haveAll = subs.every((s) => s.stderr !== null);
  const stderr = haveAll && total > subs.length ? pooledSampleStderr(subs.map((s) => s.stderr as number), subs.map((s) => s.size)) : null;
  return { value, stderr };
}

/** Plain mean of subtask scores; stderr of a mean of independent estimates, sqrt(sum se^2) / k. */
export function aggregateMacro(subs: readonly SubtaskScore[]): Aggregate {
  const k = subs.length;
  const value = subs.reduce((a, s) => a + s.value, 0) / k;
  const haveAll = subs.every((s) => s.stderr !== null);
  const stderr = haveAll ? Math.sqrt(subs.reduce((a, s) => a + (s.stderr as number) ** 2, 0)) / k : null;
  return { value, stderr };
}
