// CPU reference ops: the ground truth every CUDA kernel is checked against (each CUDA kernel names its twin here).
// Activations are float arrays whose values are already rounded to the activation dtype (fp16/bf16/fp32):
// every op rounds its output with qb::round_act(v, act). Accumulation is in double (ground truth);
// quantization follows common/numerics.h exactly.
#pragma once
#include <cstdint>
#include "common/numerics.h"

namespace qb::cpu {

// out[t, :] = round_act(table[tokens[t], :])
void embedding(const float* table, const int32_t* tokens, int T, int D, float* out, ActDtype act);

// Fused residual add + RMSNorm. If residual != nullptr: residual[t] = round_act(x[t] + residual[t]) and the norm is
// taken of the new residual; else of x. out[t, i] = round_act(v[t, i] * inv_rms(v[t]) * w[i]) (inv_rms in fp32
// from a double sum of squares).
void rmsnorm_residual(const float* x, float* residual, const float* w, int T, int D, float eps, float* out,
                      ActDtype act);

// Per-token dynamic quantization of a [T, K] activation. scale[t] = *_scale_from_absmax(absmax(x[t]));
// q = quant_*(x, 1/scale).
void quant_per_token_int8(const float* x, int T, int K, int8_t* q, float* scale);
void quant_per_token_fp8(const float* x, int T, int K, uint8_t* q, float* scale);
// Static per-tensor quantization with a calibrated scale.
void quant_static_fp8(const float* x, int T, int K, float scale, uint8_t* q);
void quant_static_int8(const float* x, int T, int K, float scale, int8_t* q);

// 16-bit (or fp32) GEMM: y[t, n] = round_act(sum_k x[t, k] * w[n, k]) (w row-major [N, K], "nn.Linear" layout).
void gemm_f(const float* x, const float* w, int T, int N, int K, float* y, ActDtype act);
// Same but fp32 output without rounding (lm_head logits).
void gemm_f_out_f32(const float* x, const float* w, int T, int N, int K, float* y);

// W8A8 int8 GEMM with int32 accumulation: y = round_act(acc * (s_a[t] * s_w[n])).
// s_a has T entries (per token) or 1 entry (per tensor) -> a_per_token selects.
void gemm_int8_w8a8(const int8_t* xq, const float* s_a, bool a_per_token, const int8_t* wq, const float* s_w, int T,
                    int N, int K, float* y, ActDtype act);
// FP8 e4m3 GEMM, exact products accumulated in double: y = round_act(acc * (s_a[t] * s_w[n])).
void gemm_fp8(const uint8_t* xq, const float* s_a, bool a_per_token, const uint8_t* wq, const float* s_w, int T, int N,
              int K, float* y, ActDtype act);

// RoPE (rotate-half / NeoX layout, as HF Llama) in place on x [T, H, Dh] with a cos/sin table [maxPos, Dh/2].
void rope(float* x, const int32_t* positions, int T, int H, int Dh, const float* cos_tab, const float* sin_tab,
          ActDtype act);

// out = round_act(silu_f32(g) * u): silu(g) = g / (1 + exp(-g)) in fp32 with numerics.h's exp_f32 (the GPU kernel's bits).
void silu_mul(const float* g, const float* u, int T, int F, float* out, ActDtype act);

// Write k, v [T, Hkv, Dh] into the paged cache [numBlocks, blockSize, Hkv, Dh] at slot_mapping[t]
// (= block * blockSize + offset).
void kv_cache_write(const float* k, const float* v, const int32_t* slot_mapping, int T, int Hkv, int Dh, float* k_cache,
                    float* v_cache, int block_size);

// The FP8 KV cache (KvDtype::Fp8): the cache holds what the GPU kernels read back, code * scale (fp32) with
// code = e4m3(x / scale) (IEEE division, round to nearest even, saturating at +-448).
inline float kv_fp8_roundtrip(float x, float scale) { return fp8e4m3_to_f32(f32_to_fp8e4m3(x / scale)) * scale; }
void kv_cache_write_fp8(const float* k, const float* v, const int32_t* slot_mapping, int T, int Hkv, int Dh,
                        float k_scale, float v_scale, float* k_cache, float* v_cache, int block_size);

// Causal GQA attention over the paged cache for a varlen batch (prefill chunks and decodes alike).
// q [T, H, Dh]; seq s owns rows [seq_starts[s], seq_starts[s+1]); row i of seq s has position positions[i] and attends
// to cache positions 0..positions[i]. Scores and softmax in fp32 (double sums), out [T, H, Dh] rounded.
// fp8_attn (AttnDtype::Fp8, over an FP8 cache): every row follows FlashAttention-3's FP8 path: each row's head
// enters as e4m3 codes times its scale (absmax / 448, fp8_scale_from_absmax and quant_fp8; the product in fp32); the
// fp32 numerators are p = 2^8 exp(s - max) (FA3's max offset of 8: P in [0, 256], so e4m3's subnormals start at 2^-17
// of the max), the output is sum e4m3(p) v / sum p (the denominator from the unrounded p, as FA3's row sum). A kernel
// rounds p at its running max (or a split's) rather than the row's final one, so the twin models its rounding, not
// its bits.
void attention_paged(const float* q, const float* k_cache, const float* v_cache, const int32_t* seq_starts, int S,
                     const int32_t* positions, const int32_t* block_tables, int max_blocks, int H, int Hkv, int Dh,
                     int block_size, float scale, float* out, ActDtype act, bool fp8_attn = false);

// y = round_act(a + b)
void add(const float* a, const float* b, size_t n, float* y, ActDtype act);

// Sampling and scoring on fp32 logits rows [R, V].
// temperature 0 -> argmax (first index on ties); else softmax(logits/temperature), nucleus top_p, one uniform draw
// from rng_uniform(seed, counter). logprob = log_softmax(logits)[token] (the model's distribution, temperature 1).
float rng_uniform(uint64_t seed, uint64_t counter);
int32_t sample_row(const float* logits, int V, float temperature, float top_p, uint64_t seed, uint64_t counter,
                   float* logprob);
// log p(target) and whether target is the argmax.
float gather_logprob(const float* logits, int V, int32_t target, bool* is_argmax);

// Thread count used by the parallel loops (set once from the model config).
void set_num_threads(int n);
int num_threads();

}  // namespace qb::cpu
