/**
 * Precision fidelity vs an fp16 run of the same model, per question: flips (right->wrong, wrong->right), KL(fp16 ||
 * quant) over the answer-choice distribution (softmax of the choices' summed log-likelihoods), top-1 agreement;
 * and over a text: next-token KL of the full distributions, top-1 agreement, perplexity.
 */
import { argmax } from '@quantbench/lm-eval-ts-shim';
import type { EvalSample, FidelityResult } from './schema.ts';

export const FLIP_RULE = 'correct = primary metric >= 0.5 (acc, mc1, exact_match are 0/1; mc2 is the true-answer mass)';

function logSoftmax(xs: readonly number[]): number[] {
  const m = Math.max(...xs);
  const lse = m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
  return xs.map((x) => x - lse);
}

/** KL(p || q) for two distributions given as log-probabilities. */
export function klFromLogprobs(lp: ArrayLike<number>, lq: ArrayLike<number>): number {
  let kl = 0;
  for (let i = 0; i < lp.length; i++) {
    const p = Math.exp(lp[i]);
    if (p > 0) kl += p * (lp[i] - lq[i]);
  }
  return Math.max(0, kl);
}

/** KL(ref || quant) of the choice distributions: softmax over the choices' summed log-likelihoods. */
export function choiceKl(ref: readonly number[], quant: readonly number[]): number {
  return klFromLogprobs(logSoftmax(ref), logSoftmax(quant));
}

export type PerTaskFidelity = FidelityResult['perTask'][string];

export function compareSamples(ref: EvalSample[], quant: EvalSample[], primaryMetric: string): PerTaskFidelity {
  const byId = new Map(ref.map((s) => [s.docId, s]));
  let r2w = 0;
  let w2r = 0;
  let n = 0;
  let agree = 0;
  let klSum = 0;
  let klN = 0;
  let refSum = 0;
  let quantSum = 0;
  for (const q of quant) {
    const r = byId.get(q.docId);
    if (!r) continue;
    n++;
    const rs = r.metrics[primaryMetric] ?? 0;
    const qs = q.metrics[primaryMetric] ?? 0;
    refSum += rs;
    quantSum += qs;
    const rc = rs >= 0.5;
    const qc = qs >= 0.5;
    if (rc && !qc) r2w++;
    if (!rc && qc) w2r++;
    if (r.choices && q.choices && r.choices.length === q.choices.length) {
      const rl = r.choices.map((c) => c.logprob);
      const ql = q.choices.map((c) => c.logprob);
      klSum += choiceKl(rl, ql);
      klN++;
      if (argmax(rl) === argmax(ql)) agree++;
    } else if (r.generation !== undefined && q.generation !== undefined) {
      if (r.generation === q.generation) agree++;
    }
  }
  return {
    flipsRightToWrong: r2w,
    flipsWrongToRight: w2r,
    numCompared: n,
    choiceKl: klN ? klSum / klN : null,
    top1Agreement: n ? agree / n : 0,
    refScore: n ? refSum / n : undefined,
    quantScore: n ? quantSum / n : undefined,
  };
}

/** Running next-token comparison over aligned log-softmax rows. */
export class NextTokenFidelity {
  tokens = 0;
  private klSum = 0;
  private agree = 0;

  add(refRows: readonly ArrayLike<number>[], quantRows: readonly ArrayLike<number>[]): void {
    const n = Math.min(refRows.length, quantRows.length);
    for (let i = 0; i < n; i++) {
      this.klSum += klFromLogprobs(refRows[i], quantRows[i]);
      if (argmaxRow(refRows[i]) === argmaxRow(quantRows[i])) this.agree++;
      this.tokens++;
    }
  }

  get kl(): number {
    return this.tokens ? this.klSum / this.tokens : NaN;
  }

  get top1Agreement(): number {
    return this.tokens ? this.agree / this.tokens : NaN;
  }
}

function argmaxRow(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export function perplexity(logprobs: readonly number[]): number {
  let s = 0;
  for (const x of logprobs) s += x;
  return Math.exp(-s / logprobs.length);
}
