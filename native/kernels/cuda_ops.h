// CUDA kernel launchers of the quantbench engine (sm_90a). Each names its CPU twin in kernels/reference.h and follows the
// quantization rules of common/numerics.h bit for bit (GEMMs and reductions: up to fp32 accumulation order).
//
// Conventions: all pointers are device pointers; activations are stored in a 16-bit dtype (ActDtype::F16 or BF16;
// F32 where noted), row-major; weights are [N, K] row-major (nn.Linear layout); scales are fp32 device arrays.
// Every launcher is asynchronous on `stream`, checks its arguments (CudaArgError) and the launch (CudaError naming the
// kernel). Alignment: every row pointer must be 16-byte aligned (K % 16 == 0 for 8-bit, K % 8 == 0 for 16-bit data).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "common/numerics.h"
#include "kernels/common/cuda_check.h"

namespace qb::cuda {

inline size_t act_bytes(ActDtype d) { return d == ActDtype::F32 ? 4 : 2; }

// ---------------------------------------------------------------------------------------------------------------
// Small-M (decode, M <= 64) weight-streaming GEMMs: y[M, N] = x[M, K] * W[N, K]^T on mma.sync tensor cores, weights
// read once with 16-byte streaming loads, K split across the warps of a block, fp32 (int32) accumulation.
constexpr int kSmallMMax = 64;

// Twin: cpu::gemm_fp8. y = round(acc * (s_a[t or 0] * s_w[n or 0])), fp32 accumulation (each 32-k mma added to it).
// x: fp8 e4m3 [M, K]; w: fp8 e4m3 [N, K]; y: [M, N] in y_dtype (F16/BF16/F32).
void gemm_fp8_smallm(const uint8_t* x, const float* s_a, bool a_per_token, const uint8_t* w, const float* s_w,
                     bool w_per_channel, int M, int N, int K, void* y, ActDtype y_dtype, cudaStream_t stream);
// Twin: cpu::gemm_int8_w8a8. Exact int32 accumulation, then the same epilogue.
void gemm_int8_w8a8_smallm(const int8_t* x, const float* s_a, bool a_per_token, const int8_t* w, const float* s_w,
                           bool w_per_channel, int M, int N, int K, void* y, ActDtype y_dtype, cudaStream_t stream);
// Twin: cpu::gemm_f / gemm_f_out_f32. x, w in in_dtype (F16 or BF16); y in y_dtype (F16/BF16/F32).
void gemm_f16_smallm(const void* x, const void* w, ActDtype in_dtype, int M, int N, int K, void* y, ActDtype y_dtype,
                     cudaStream_t stream);

// ---------------------------------------------------------------------------------------------------------------
// Activation quantization. x in x_dtype (F16/BF16/F32), [T, K].
// Twins: cpu::quant_per_token_fp8 / _int8: scale[t] = *_scale_from_absmax(absmax(x[t])), q = quant(x, 1/scale).
void quant_per_token_fp8(const void* x, ActDtype x_dtype, int T, int K, uint8_t* q, float* scale, cudaStream_t stream);
void quant_per_token_int8(const void* x, ActDtype x_dtype, int T, int K, int8_t* q, float* scale,
                          cudaStream_t stream);
// Twins: cpu::quant_static_fp8 / _int8; `scale` is a device pointer to one calibrated float.
void quant_static_fp8(const void* x, ActDtype x_dtype, int T, int K, const float* scale, uint8_t* q,
                      cudaStream_t stream);
void quant_static_int8(const void* x, ActDtype x_dtype, int T, int K, const float* scale, int8_t* q,
                       cudaStream_t stream);

// Output quantization fused into an elementwise/norm kernel (the activation is written once, quantized).
enum class QuantMode : int { None = 0, Fp8PerToken, Int8PerToken, Fp8Static, Int8Static };
struct QuantOut {
  QuantMode mode = QuantMode::None;
  void* q = nullptr;        // [T, D] uint8 (fp8 e4m3) or int8
  float* scale = nullptr;   // per-token: [T] written; static: [1] read
};

// A linear's output left unscaled by its producer: the cuBLASLt fp8 path (unit scales, bf16 output, i.e. the fp32
// accumulator rounded to bf16, in the consumer's 16-bit input) or the cuBLASLt int8 path (the exact int32
// accumulators, in acc). The consumer finishes the epilogue as it loads each element:
//   y = round_act(dequant_epilogue(acc, s_a[t | 0], s_w[n | 0]))   (numerics.h; n = the element's column)
// and then proceeds exactly as with a y it had read. s_a == nullptr: the input is y already (the default).
// acc != nullptr (with s_a): the consumer reads acc[i] (int32, converted to float as the int8 epilogue kernel does)
// wherever it would read element i of its 16-bit input, same indexing; the 16-bit input is not read.
struct ScaledIn {
  const float* s_a = nullptr;
  const float* s_w = nullptr;
  bool a_per_token = false, w_per_channel = false;
  const int32_t* acc = nullptr;
};

// How the paged KV cache stores K and V (KvDtype, model/config.h): the activation dtype, or FP8 E4M3 codes of
// x / scale (IEEE division, RNE, saturating) read back as code * scale. Twin: cpu::kv_cache_write_fp8.
struct KvCacheFormat {
  bool fp8 = false;
  float k_scale = 1.0f, v_scale = 1.0f;
};

// Twin: cpu::rmsnorm_residual (then cpu::quant_* of its output). x, residual, out in act (F16/BF16); w [D] in act.
// residual may be null (norm of x). out may be null when quant.mode != None (the 16-bit output is then not written).
// xin: x may be an unscaled linear output (see ScaledIn).
void rmsnorm_residual_quant(const void* x, void* residual, const void* w, ActDtype act, int T, int D, float eps,
                            void* out, const QuantOut& quant, cudaStream_t stream, const ScaledIn& xin = {});

// Twin: cpu::silu_mul (then cpu::quant_*). g[t, :F] at g + t*ld, u likewise (ld = 2F for a fused gate_up output with
// u = g + F); out [T, F] in act (may be null when quantizing).
// gin / uin: g / u may be unscaled linear outputs (uin.s_w points at u's first column's scale).
void silu_mul_quant(const void* g, const void* u, int ld, ActDtype act, int T, int F, void* out, const QuantOut& quant,
                    cudaStream_t stream, const ScaledIn& gin = {}, const ScaledIn& uin = {});

// ---------------------------------------------------------------------------------------------------------------
// Synthetic data on the GPU: value_i ~ approx normal(0, scale) from a counter hash of (seed, i), stored as `kind`
// (fp8 / int8: the value converted with numerics.h saturation, so scale sets the code spread); PositiveF32 gives
// values in [scale, ~2 scale] (quantization scales).
enum class FillKind : int { BF16, F16, F32, Fp8, Int8, PositiveF32 };
void fill_random(void* p, size_t n, FillKind kind, uint64_t seed, float scale, cudaStream_t stream);

}  // namespace qb::cuda

#include "kernels/gemm_fused/gemm_fused.h"  // the fused decode linears (FusedLinear)
