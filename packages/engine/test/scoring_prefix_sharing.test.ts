/**
 * Prefix sharing in LLM scoring (scorePairs): identical inputs become one sequence with several gathered targets, and
 * sequences reference full KV blocks another sequence of the same forward computes. Results must be bit-identical to
 * scoring every request as its own sequence (sharePrefix: false, the plain path), across budgets and truncation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NativeBatch } from '@quantbench/native';
import { LLM } from '../src/llm.ts';
import type { Precision } from '../src/types.ts';
import { rng, storiesDir } from './helpers.ts';

const { dir, skip } = storiesDir();

interface Pair {
  context: number[];
  continuation: number[];
}

/** Counts tokens and sequences of every forward the LLM runs. */
function countForwards(llm: LLM): { tokens: number; seqs: number; forwards: number } {
  const c = { tokens: 0, seqs: 0, forwards: 0 };
  const orig = llm.forward.bind(llm);
  llm.forward = (b: NativeBatch) => {
    c.tokens += b.tokens.length;
    c.seqs += b.seqStarts.length - 1;
    c.forwards++;
    return orig(b);
  };
  return c;
}

/** Random token ids in [3, vocab). */
function ids(r: () => number, n: number, vocab: number): number[] {
  return Array.from({ length: n }, () => 3 + Math.floor(r() * (vocab - 3)));
}

/**
 * A mix that exercises every case: MMLU-like (one context, four single-token continuations), ARC-like (one context,
 * multi-token continuations crossing block boundaries), contexts of exactly k blocks, contexts sharing only a prefix
 * (WinoGrande-like), duplicates, and contexts longer than maxModelLen (left truncation, positions shift).
 */
function mixedPairs(seed: number, vocab: number, maxLen: number): Pair[] {
  const r = rng(seed);
  const out: Pair[] = [];
  const ctxLens = [1, 5, 15, 16, 17, 31, 32, 33, 47, 64, 100, maxLen - 1, maxLen, maxLen + 7];
  for (const n of ctxLens) {
    const ctx = ids(r, n, vocab);
    for (const t of ids(r, 4, vocab)) out.push({ context: ctx, continuation: [t] }); // MMLU-like
    for (const m of [1, 2, 3, 15, 16, 17, 30]) out.push({ context: ctx, continuation: ids(r, m, vocab) }); // ARC-like
  }
  const stem = ids(r, 40, vocab); // WinoGrande-like: shared stem, different endings, same continuation
  const cont = ids(r, 6, vocab);
  for (const k of [0, 3, 9, 24]) out.push({ context: [...stem, ...ids(r, k, vocab)], continuation: cont });
  out.push({ ...out[5]! }, { ...out[40]! }); // exact duplicates
  // shuffle so shared requests are not adjacent
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function compareSharedUnshared(llm: LLM, pairs: Pair[], budgets: number[]): Promise<{ shared: number; unshared: number }> {
  const counter = countForwards(llm);
  const ref = await llm.loglikelihoodTokens(pairs, { sharePrefix: false, tokenLogprobs: true });
  const unshared = counter.tokens;
  let shared = 0;
  for (const maxBatchTokens of budgets) {
    counter.tokens = 0;
    const got = await llm.loglikelihoodTokens(pairs, { sharePrefix: true, tokenLogprobs: true, maxBatchTokens });
    if (maxBatchTokens === budgets[0]) shared = counter.tokens;
    for (let i = 0; i < pairs.length; i++) {
      // bit-identical: same logprob sum, per-token logprobs and greedy flag
      assert.deepEqual(got[i], ref[i], `request ${i} (ctx ${pairs[i]!.context.length}, cont ${pairs[i]!.continuation.length}) with maxBatchTokens ${maxBatchTokens}`);
    }
  }
  return { shared, unshared };
}

test('prefix sharing: bit-identical to unshared scoring on synthetic:tiny (mixed groups, truncation, budgets)', async () => {
  const llm = await LLM.load({ model: 'synthetic:tiny', precision: 'fp16', maxModelLen: 96 } as Parameters<typeof LLM.load>[0]);
  try {
    const pairs = mixedPairs(7, llm.info.arch.vocabSize, llm.maxModelLen);
    const { shared, unshared } = await compareSharedUnshared(llm, pairs, [4096, 64, 17, 1]);
    assert.ok(shared < 0.6 * unshared, `sharing computes fewer tokens (${shared} vs ${unshared})`);
  } finally {
    llm.close();
  }
});

for (const precision of ['fp16', 'int8-w8a8', 'fp8-dynamic', 'fp8-static'] as Precision[]) {
  test(`prefix sharing: bit-identical to unshared scoring on stories260K ${precision}`, { skip }, async () => {
    const llm = await LLM.load({ model: dir!, precision });
    try {
      const pairs = mixedPairs(11, llm.info.arch.vocabSize, llm.maxModelLen);
      await compareSharedUnshared(llm, pairs, precision === 'fp16' ? [4096, 700, 33] : [4096]);
    } finally {
      llm.close();
    }
  });
}

test('prefix sharing: MMLU-like requests compute each context once; multi-token choices recompute < one block', { skip }, async () => {
  const llm = await LLM.load({ model: dir!, precision: 'fp16' });
  try {
    const r = rng(3);
    const V = llm.info.arch.vocabSize;
    const counter = countForwards(llm);
    // 3 questions x 4 single-token choices, contexts over maxModelLen: one 512-token sequence per question
    const mmlu: Pair[] = [];
    for (let q = 0; q < 3; q++) {
      const ctx = ids(r, 700, V);
      for (const t of [10, 11, 12, 13]) mmlu.push({ context: ctx, continuation: [t] });
    }
    const a = await llm.loglikelihoodTokens(mmlu);
    assert.equal(counter.tokens, 3 * llm.maxModelLen);
    assert.equal(counter.seqs, 3);
    const b = await llm.loglikelihoodTokens(mmlu, { sharePrefix: false });
    assert.deepEqual(a, b);
    // one 100-token context, 4 continuations of 5 tokens (inputs of 104): 104 + 3 * (104 - 96) tokens instead of 4 * 104
    counter.tokens = 0;
    const ctx = ids(r, 100, V);
    const arc = [0, 1, 2, 3].map(() => ({ context: ctx, continuation: ids(r, 5, V) }));
    const c = await llm.loglikelihoodTokens(arc);
    assert.equal(counter.tokens, 104 + 3 * 8, 'the first sequence computes all 104 input tokens, the others 8 each (blocks 0..5 shared)');
    assert.deepEqual(c, await llm.loglikelihoodTokens(arc, { sharePrefix: false }));
  } finally {
    llm.close();
  }
});

test('prefix sharing: text requests (lm-eval split, BOS prefix) score the same shared and unshared', { skip }, async () => {
  const llm = await LLM.load({ model: dir!, precision: 'fp8-static' });
  try {
    const ctx = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big';
    const reqs = [' dog', ' red ball that was bouncing', ' tree.', ' cat and a bird and a very big bear'].map((c) => ({ context: ctx, continuation: c }));
    reqs.push({ context: '', continuation: 'Once upon a time' }, { context: ctx + ' ', continuation: 'dog' });
    for (const addBos of [false, true]) {
      const a = await llm.loglikelihood(reqs, { addBos, tokenLogprobs: true });
      const b = await llm.loglikelihood(reqs, { addBos, tokenLogprobs: true, sharePrefix: false });
      assert.deepEqual(a, b);
    }
  } finally {
    llm.close();
  }
});

test('scoring: a continuation longer than the positions that predict it is refused', async () => {
  const llm = await LLM.load({ model: 'synthetic:tiny', precision: 'fp16' });
  try {
    await assert.rejects(llm.loglikelihoodTokens([{ context: [], continuation: [5, 6] }]), /continuation tokens but only/);
  } finally {
    llm.close();
  }
});
