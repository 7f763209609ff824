// On-GPU weight preparation for the CUDA model: synthetic values (twin of synthesize_weights), 16-bit conversion,
// SmoothQuant column statistics and folding, per-channel / per-tensor weight quantization (twins of
// schemes/weight_quant.cc). Every kernel reproduces the host result bit for bit (max and elementwise ops only).
// Destinations take a row stride (ld) so linears can be written into fused, padded buffers.
#pragma once
#include "kernels/cuda_ops.h"

namespace qb::cuda {

// dst[i] = synth_uniform(seed, hash, offset + i, amplitude), i < n (fp32).
void synth_fill_f32(float* dst, size_t n, uint64_t seed, uint64_t hash, float amplitude, uint64_t offset,
                    cudaStream_t stream);
// dst[n * ld + k] = round_act(src[n * K + k]) for n < N, k < K.
void f32_to_act_rows(const float* src, int N, int K, void* dst, int ld, ActDtype act, cudaStream_t stream);
// colmax[k] = max(colmax[k], max_n |w[n, k]|).
void absmax_columns_f32(const float* w, int N, int K, float* colmax, cudaStream_t stream);
// w[n, k] *= s[k].
void scale_columns_f32(float* w, int N, int K, const float* s, cudaStream_t stream);
// Per-output-channel weight quantization: s[n] = *_scale_from_absmax(max_k |w[n, k]|), q[n * ld + k].
void quant_weight_rows_int8(const float* w, int N, int K, int8_t* q, int ld, float* s, cudaStream_t stream);
void quant_weight_rows_fp8(const float* w, int N, int K, uint8_t* q, int ld, float* s, cudaStream_t stream);
// Per-tensor fp8: *absmax = max(*absmax, max |w|) (absmax zero-initialised by the caller), then
// quant_weight_tensor_fp8 writes q with the scale fp8_scale_from_absmax(*absmax) and s_rows[n] = that scale.
void absmax_all_f32(const float* w, size_t n, float* absmax, cudaStream_t stream);
void quant_weight_tensor_fp8(const float* w, int N, int K, const float* absmax, uint8_t* q, int ld, float* s_rows,
                             cudaStream_t stream);
// p[i] = v for i < n (fp32).
void fill_f32(float* p, size_t n, float v, cudaStream_t stream);

}  // namespace qb::cuda
