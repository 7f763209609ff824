// Decode-path fused linears (launcher in gemm_fused_dispatch.cu, kernels in gemm_smallm_fused.cuh; check:
// check_gemm_fused.cc against the unfused chain, whose kernels each have a CPU twin).
#pragma once
#include "common/linear.h"
#include "kernels/cuda_ops.h"
#include "kernels/gemm_fused/configs.h"

namespace qb::cuda {

// ---------------------------------------------------------------------------------------------------------------
// Decode-path fused linears (M <= kFusedMMax rows): the small-M GEMM above with its neighbouring element-wise work in
// a prologue / epilogue, so a layer at batch 1 is 5 kernels (4 of these + attention) instead of 11. Each is
// bit-identical to the unfused chain it replaces (whose kernels each have a CPU twin); the harness's `fused_gemv`
// group compares the two on random inputs.
//   NormRopeKV:    x = quant(rmsnorm(in) * norm_w) -> qkv GEMM -> RoPE on q, k; q|k|v into qkv, k and v into the cache
//                  (replaces rmsnorm_residual_quant + GEMM + rope_qkv_kv_write)
//   NormSiluMul:   x = quant(rmsnorm(in) * norm_w) -> gate_up GEMM -> silu(g)*u into hmid and / or, static modes,
//                  its codes into hq (replaces rmsnorm_residual_quant + GEMM + silu_mul_quant); per-token modes may
//                  also publish each row's absmax of hmid (out_amax) for a QuantLoadResidual consumer
//   QuantLoadResidual: x = quant(in) -> GEMM -> resid = round(resid + y) (replaces quant_* + GEMM + the next norm's
//                  add); the row's scale comes from its producer (in_amax: the absmax per row, per-token modes;
//                  in_scale, static) and every warp quantizes the 16-bit pieces of `in` it multiplies as it loads
//                  them: no staged rows, no block-wide reduction after the wait
//   Residual:      x = in (16-bit, or static-scale 8-bit codes) -> GEMM -> resid = round(resid + y)
// Every Norm* block recomputes the row statistics of its input (sum of squares, absmax) from L2 after the PDL wait;
// the input rows are staged in shared memory (fused_linear_smem bytes, at most kFusedSmemMax: callers use the unfused
// chain for larger M). That prologue works row by row, so the model uses these for one-row steps only (at 2-8 rows
// they were slower than the unfused chain: docs/perf-notes-cuda.md).
constexpr int kFusedMMax = 8;
constexpr size_t kFusedSmemMax = 96 * 1024;
enum class FusedOp : int { NormRopeKV = 0, NormSiluMul, Residual, QuantLoadResidual };
struct FusedLinear {
  FusedOp op = FusedOp::Residual;
  Linear linear = Linear::Qkv;       // which of the layer's linears: picks the tile configuration (configs.h)
  FusedTile tile = FusedTile::Auto;  // a configuration by name instead (the harness checks each one)
  QuantMode mode = QuantMode::None;  // the input's quantization (None: 16-bit weights in act)
  ActDtype act = ActDtype::BF16;
  const void* w = nullptr;         // [N, K]: 8-bit codes (mode != None) or act values
  const float* w_scale = nullptr;  // 8-bit: per output channel
  int N = 0, K = 0;
  const void* in = nullptr;         // [M, K] act values; Residual with an 8-bit mode: codes
  const float* in_scale = nullptr;  // static modes: the input's scale (device, one float)
  const void* norm_w = nullptr;     // Norm*: [K] act
  float eps = 0.0f;
  void* resid = nullptr;  // *Residual: [M, N] act, updated in place
  // NormRopeKV: N = (H + 2 Hkv) Dh; positions / slots per row (slot < 0: no cache write)
  void* qkv = nullptr;
  int ld = 0;
  const int32_t* positions = nullptr;
  const int32_t* slots = nullptr;
  int H = 0, Hkv = 0, Dh = 0;
  const float* cos_tab = nullptr;
  const float* sin_tab = nullptr;
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  KvCacheFormat kv;  // fp8: the caches get e4m3(x / scale) of the finished act values (as rope_qkv_kv_write)
  // NormSiluMul: N = 2F (rows [0, F) gate, [F, 2F) up)
  void* hmid = nullptr;               // [M, F] act (may be null when hq is written)
  void* hq = nullptr;                 // static modes: [M, F] codes of the output, scale hq_scale
  const float* hq_scale = nullptr;
  // NormSiluMul, per-token modes: [M] absmax of each hmid row (fp32 bits, atomicMax: the caller zeroes it before).
  float* out_amax = nullptr;
  // QuantLoadResidual, per-token modes: [M] absmax of each row of `in` (a NormSiluMul's out_amax, or the decode
  // attention's: PagedAttentionArgs::out_amax).
  const float* in_amax = nullptr;
  // Any op: zero_n floats zeroed by block 0 after the PDL wait (the model clears the layer's absmax slots here).
  float* zero_amax = nullptr;
  int zero_n = 0;
  // Block timeline trace (trace.cuh; only a -DQB_TRACE build writes it): buffer and this launch's tag.
  unsigned long long* trace = nullptr;
  int trace_tag = 0;
};
size_t fused_linear_smem(FusedOp op, QuantMode mode, int K, int M);
void linear_fused_smallm(const FusedLinear& f, int M, cudaStream_t stream);

}  // namespace qb::cuda
