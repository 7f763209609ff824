/**
 * Issue 18 (FP8 attention, groundwork): LoadOptions.attentionDtype 'auto' | 'fp8' — FlashAttention-3's FP8 path, the
 * numerics vLLM's FA3 backend runs over an FP8 KV cache (Q and P in e4m3, every row).
 *   - refused with a clear error: an unknown value, 'fp8' without an FP8 KV cache, 'fp8' on CUDA (no kernel yet);
 *   - the native config refuses the same (a caller that bypasses the loader);
 *   - [native] it reaches the CPU reference: the recipe records it, logits move against 'auto', and a prefill split
 *     into a prefix and a one-token step scores as the whole prefill does (every row follows the FP8 path).
 * The op itself is pinned against a float64 reference in native/test/ops.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LLM } from '@quantbench/engine';
import { loadNative } from '@quantbench/native';

const code = (c: string) => (e: Error & { code?: string }) => e.code === c;

test('the loader refuses an unknown attentionDtype, fp8 without an FP8 KV cache, and fp8 on CUDA', async () => {
  await assert.rejects(LLM.load({ model: 'synthetic:tiny', device: 'cpu', kvCacheDtype: 'fp8', attentionDtype: 'fp4' as never, kvBlocks: 8 }), (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /unknown attentionDtype "fp4" \(use auto or fp8\)/.test(e.message));
  await assert.rejects(LLM.load({ model: 'synthetic:tiny', device: 'cpu', attentionDtype: 'fp8', kvBlocks: 8 }), (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /needs kvCacheDtype 'fp8'/.test(e.message));
  // checked before the device is resolved, so a machine without a GPU says the same
  await assert.rejects(LLM.load({ model: 'synthetic:tiny', device: 'cuda', kvCacheDtype: 'fp8', attentionDtype: 'fp8', kvBlocks: 8 }), (e: Error & { code?: string }) => code('UNSUPPORTED_ON_CUDA')(e) && /CPU reference only/.test(e.message) && /--device cpu/.test(e.message));
});

test('the native config refuses fp8 attention without an FP8 cache, and on CUDA before any GPU work', () => {
  const native = loadNative();
  const cfg = { hiddenSize: 8, intermediateSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 4, vocabSize: 16, rmsNormEps: 1e-5, ropeTheta: 10000, ropeFactor: 0, ropeLowFreqFactor: 1, ropeHighFreqFactor: 4, ropeOriginalMaxPos: 8192, tieWordEmbeddings: false, maxPositions: 32, actDtype: 'fp16' as const, device: 'cpu' as const, threads: 1 };
  assert.throws(() => new native.NativeModel({ ...cfg, attentionDtype: 'fp8' }), (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /needs kvCacheDtype 'fp8'/.test(e.message));
  assert.throws(() => new native.NativeModel({ ...cfg, kvCacheDtype: 'fp8', attentionDtype: 'fp9' as never }), (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /unknown attentionDtype 'fp9'/.test(e.message));
  assert.throws(() => new native.NativeModel({ ...cfg, kvCacheDtype: 'fp8', attentionDtype: 'fp8', device: 'cuda' }), code('UNSUPPORTED_ON_CUDA'));
  new native.NativeModel({ ...cfg, kvCacheDtype: 'fp8', attentionDtype: 'fp8' }).free();
});

test('[native] fp8 attention reaches the CPU reference: recorded in the recipe, prefill logits move', async () => {
  const base = { model: 'synthetic:tiny', device: 'cpu' as const, precision: 'fp16' as const, kvCacheDtype: 'fp8' as const, kvBlocks: 8 };
  const auto = await LLM.load(base);
  const fp8 = await LLM.load({ ...base, attentionDtype: 'fp8' });
  try {
    assert.equal(auto.info.recipe.attentionDtype, undefined, "'auto' leaves the recipe as before");
    assert.equal(fp8.info.recipe.attentionDtype, 'fp8');
    assert.equal(fp8.provenance().recipe.attentionDtype, 'fp8');
    assert.equal(fp8.provenance().kv_cache_dtype, 'fp8');
    const ids = [1, 5, 9, 13, 17, 21, 25, 29];
    const la = await auto.scoreLogits(ids);
    const lf = await fp8.scoreLogits(ids);
    assert.equal(la.length, lf.length);
    assert.ok(la.some((x, i) => x !== lf[i]), 'Q and P in e4m3 change the prefill logits');
    let num = 0, den = 0;
    for (let i = 0; i < la.length; i++) { num += (la[i]! - lf[i]!) ** 2; den += la[i]! ** 2; }
    assert.ok(Math.sqrt(num / den) < 0.1, `relative change of the logits ${Math.sqrt(num / den)} < 0.1`);
  } finally {
    auto.close();
    fp8.close();
  }
});

test('[native] fp8 attention is batch-invariant: prefix-shared scoring (one-row steps included) is bit-identical to unshared', async () => {
  const llm = await LLM.load({ model: 'synthetic:tiny', device: 'cpu', precision: 'fp16', kvCacheDtype: 'fp8', attentionDtype: 'fp8', maxModelLen: 96 });
  try {
    const V = llm.info.arch.vocabSize;
    let x = 12345;
    const tok = () => 3 + ((x = (x * 1103515245 + 12345) >>> 0) % (V - 3));
    const pairs: { context: number[]; continuation: number[] }[] = [];
    for (const n of [5, 16, 17, 32, 40]) {
      const ctx = Array.from({ length: n }, tok);
      for (let k = 0; k < 3; k++) pairs.push({ context: ctx, continuation: [tok()] });
      pairs.push({ context: ctx, continuation: [tok(), tok(), tok()] });
      pairs.push({ context: ctx, continuation: [tok(), tok()] }); // after a shared full block: a one-row step
    }
    const ref = await llm.loglikelihoodTokens(pairs, { sharePrefix: false, tokenLogprobs: true });
    for (const maxBatchTokens of [4096, 17, 1]) {
      const got = await llm.loglikelihoodTokens(pairs, { sharePrefix: true, tokenLogprobs: true, maxBatchTokens });
      for (let i = 0; i < pairs.length; i++) assert.deepEqual(got[i], ref[i], `request ${i} (ctx ${pairs[i]!.context.length}) with maxBatchTokens ${maxBatchTokens}`);
    }
  } finally {
    llm.close();
  }
});
