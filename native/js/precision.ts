/**
 * The precisions the native core runs: one list, one type, used by the binding and re-exported by the engine.
 */

/** Unquantized baselines (fp32 is a reference mode) and the three quantized schemes. */
export const PRECISIONS = ['fp32', 'fp16', 'bf16', 'int8-w8a8', 'fp8-dynamic', 'fp8-static'] as const;
export type Precision = (typeof PRECISIONS)[number];
/** The four precisions the product compares. */
export const BENCH_PRECISIONS = ['fp16', 'int8-w8a8', 'fp8-dynamic', 'fp8-static'] as const satisfies readonly Precision[];
/** The quantized schemes: 8-bit linear weights and activations (attention, norms, embeddings, lm_head stay 16-bit). */
export const QUANTIZED_PRECISIONS = ['int8-w8a8', 'fp8-dynamic', 'fp8-static'] as const satisfies readonly Precision[];
export type QuantizedPrecision = (typeof QUANTIZED_PRECISIONS)[number];

/**
 * KV-cache dtype (vLLM's `--kv-cache-dtype`): 'auto' stores K and V in the activation dtype; 'fp8' stores FP8 E4M3
 * codes with a per-layer `k_scale` / `v_scale` (stored = x / scale, round-to-nearest-even, saturating at +-448;
 * read = code * scale). Scales come from the checkpoint tensors `model.layers.{i}.self_attn.k_scale` / `v_scale`
 * (compressed-tensors `kv_cache_scheme`, as llm-compressor writes them), else 1.0 as vLLM's default.
 */
export const KV_CACHE_DTYPES = ['auto', 'fp8'] as const;
export type KvCacheDtype = (typeof KV_CACHE_DTYPES)[number];
export function isKvCacheDtype(s: string): s is KvCacheDtype {
  return (KV_CACHE_DTYPES as readonly string[]).includes(s);
}
/**
 * Attention dtype: 'auto' computes attention in fp32 from the cache's values; 'fp8' (with an FP8 KV cache) is
 * FlashAttention-3's FP8 path, what vLLM's FA3 backend runs with `--kv-cache-dtype fp8` (prefills and decodes): Q in
 * e4m3 per row and head, P = 2^8 exp(s - max) in e4m3, both products on FP8 tensor cores. Every row follows it, so a
 * row's numerics do not depend on how a step batched it.
 */
export const ATTENTION_DTYPES = ['auto', 'fp8'] as const;
export type AttentionDtype = (typeof ATTENTION_DTYPES)[number];
export function isAttentionDtype(s: string): s is AttentionDtype {
  return (ATTENTION_DTYPES as readonly string[]).includes(s);
}
/** Bytes per cached K or V element: 1 for fp8, else the activation dtype's width. */
export function kvElementBytes(kv: KvCacheDtype, act: ActDtype): 1 | 2 | 4 {
  if (kv === 'fp8') return 1;
  return act === 'fp32' ? 4 : 2;
}

/** Activation dtype between ops (the 16-bit parts of a quantized model use it too). */
export type ActDtype = 'fp32' | 'fp16' | 'bf16';

export function isPrecision(p: string): p is Precision {
  return (PRECISIONS as readonly string[]).includes(p);
}
export function isQuantized(p: Precision): p is QuantizedPrecision {
  return (QUANTIZED_PRECISIONS as readonly string[]).includes(p);
}

/** Bytes per weight of the linear layers: 4 (fp32), 2 (fp16, bf16), 1 (the 8-bit schemes). */
export function linearWeightBytes(p: Precision): 1 | 2 | 4 {
  if (p === 'fp32') return 4;
  return isQuantized(p) ? 1 : 2;
}
