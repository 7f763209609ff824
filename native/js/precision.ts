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
