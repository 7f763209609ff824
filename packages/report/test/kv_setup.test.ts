/**
 * Issue 17, item 1: results with an FP8 KV cache (provenance.kv_cache_dtype "fp8") are their own setup in the
 * report, never pooled with 16-bit-KV results of the same device, commit and model; older results (no field) and
 * "auto" are the same setup as before.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kvCacheLabel, setupOf } from '../src/setup.ts';
import type { Provenance } from '../src/results-types.ts';

const base: Provenance = {
  device: 'NVIDIA H200',
  deviceKind: 'cuda',
  commit: '0123456789abcdef0123',
  model: 'meta-llama/Llama-3.1-8B',
  weights: 'real',
  recipe: { precision: 'fp16', actDtype: 'fp16', weights: 'none (fp16)', activations: 'none (fp16)', source: 'none' },
  date: '2026-12-03T00:00:00Z',
  node: 'v20',
  host: 'h',
};

test('setupOf: an FP8 KV cache is its own, labelled setup; auto and older results keep the old key', () => {
  const old = setupOf(base);
  assert.equal(setupOf({ ...base, kv_cache_dtype: 'auto' }).key, old.key);
  const fp8 = setupOf({ ...base, kv_cache_dtype: 'fp8' });
  assert.notEqual(fp8.key, old.key);
  assert.match(fp8.label, /KV cache fp8$/);
  assert.doesNotMatch(old.label, /KV cache/);
});

test('setupOf: FP8 attention is its own, labelled setup beside the FP8 cache alone', () => {
  const kv = setupOf({ ...base, kv_cache_dtype: 'fp8' });
  const attn = setupOf({ ...base, kv_cache_dtype: 'fp8', recipe: { ...base.recipe, kvCacheDtype: 'fp8', attentionDtype: 'fp8' } });
  assert.notEqual(attn.key, kv.key);
  assert.match(attn.label, /KV cache fp8 · attention fp8$/);
});

test('kvCacheLabel: fp8 for an FP8 cache, the activation dtype otherwise (the summary header read only the latter)', () => {
  assert.equal(kvCacheLabel({ ...base, kv_cache_dtype: 'fp8' }), 'fp8');
  assert.equal(kvCacheLabel({ ...base, kv_cache_dtype: 'auto' }), 'fp16');
  assert.equal(kvCacheLabel(base), 'fp16');
});

test('engineKey: async scheduling is its own engine setup; off and older results (no field) keep the old key', async () => {
  const { engineKey } = await import('../src/select/bench-setups.ts');
  const engine = { maxNumSeqs: 800, maxNumBatchedTokens: 8192, blockSize: 16, numKvBlocks: 100, gpuMemoryUtilization: 0.9 };
  const point = (e: Record<string, unknown>) => ({ engine: e }) as unknown as Parameters<typeof engineKey>[0];
  const old = engineKey(point(engine));
  assert.equal(engineKey(point({ ...engine, asyncScheduling: false })), old);
  assert.notEqual(engineKey(point({ ...engine, asyncScheduling: true })), old);
  assert.match(engineKey(point({ ...engine, asyncScheduling: true })), /async scheduling/);
  // a run profiled with --ncu-steps is its own setup, labelled as not clean
  assert.match(engineKey(point({ ...engine, ncuSteps: [1037, 1038] })), /profiled under ncu \(steps 1037-1037\): timings not clean/);
});
