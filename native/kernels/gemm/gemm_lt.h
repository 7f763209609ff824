// Large-M GEMMs through cuBLASLt (built only when cuBLASLt is found: QB_HAVE_CUBLASLT), with our scale epilogues.
//   gemm_f16_lt:        bf16/fp16 baseline (twin cpu::gemm_f / gemm_f_out_f32)
//   gemm_fp8_lt:        fp8 e4m3 TN GEMM; per-token x per-channel scales through cuBLASLt's outer-vector scale mode
//                       when the library offers an algorithm for it, else unit scales, fp32 output and our epilogue
//                       kernel (twin cpu::gemm_fp8)
//   gemm_int8_w8a8_lt:  int8 IMMA with int32 output, then our epilogue y = acc * (s_a * s_w) (twin cpu::gemm_int8_w8a8);
//                       gemm_int8_lt_acc: the int32 output alone, the epilogue left to the consumer
// The algorithm is cuBLASLt's first heuristic choice, or the fastest of its first few when LtContext::tune is set.
// Layout: y[M, N] = x[M, K] * W[N, K]^T, computed column-major as D[N, M] = op(W)^T... i.e. A = W (transposed), B = x.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/numerics.h"

namespace qb::cuda {

struct LtPlan;  // cached descriptors + algorithm per problem

// One cuBLASLt handle, a workspace and scratch buffers; not thread-safe (one per stream).
class LtContext {
 public:
  explicit LtContext(size_t workspace_bytes = 64ull << 20);
  ~LtContext();
  LtContext(const LtContext&) = delete;
  LtContext& operator=(const LtContext&) = delete;

  void* handle() const { return handle_; }
  void* workspace() const { return ws_; }
  size_t workspace_bytes() const { return ws_bytes_; }
  void* scratch(size_t bytes);        // grows; for int32 / fp32 intermediate outputs
  // Counts moves of the scratch / scale buffers (CUDA graphs holding their addresses must be re-captured).
  uint64_t scratch_generation() const { return generation_; }
  float* scale_vec(int which, size_t n);  // two float vectors (broadcast per-tensor scales)
  LtPlan* plan(const std::string& key);
  void put_plan(const std::string& key, LtPlan* p);
  // Whether the last gemm_fp8_lt call used cuBLASLt's outer-vector scales (true) or the fp32 + epilogue fallback.
  bool last_fp8_outer_vec = false;
  // While set, the first call of each problem outside a stream capture times cuBLASLt's top heuristic algorithms
  // (gemm_lt.cu kTuneCandidates) on its real operands and keeps the fastest for that problem. The model sets it
  // around the eager run that precedes a decode graph's capture (CudaOptions::gemm_tuning), so a graph bucket's
  // GEMMs run tuned and other steps never pay for timing.
  bool tune = false;

 private:
  void* handle_ = nullptr;
  void* ws_ = nullptr;
  size_t ws_bytes_ = 0;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  float* vec_[2] = {nullptr, nullptr};
  size_t vec_n_[2] = {0, 0};
  std::map<std::string, LtPlan*> plans_;
  uint64_t generation_ = 0;
};

// Sets LtContext::tune for a scope; cleared on leaving it, exceptions included.
struct LtTuneScope {
  LtTuneScope(LtContext& c, bool on) : ctx(c) { ctx.tune = on; }
  ~LtTuneScope() { ctx.tune = false; }
  LtTuneScope(const LtTuneScope&) = delete;
  LtTuneScope& operator=(const LtTuneScope&) = delete;
  LtContext& ctx;
};

void gemm_f16_lt(LtContext& ctx, const void* x, const void* w, ActDtype in_dtype, int M, int N, int K, void* y,
                 ActDtype y_dtype, cudaStream_t stream);
void gemm_fp8_lt(LtContext& ctx, const uint8_t* x, const float* s_a, bool a_per_token, const uint8_t* w,
                 const float* s_w, bool w_per_channel, int M, int N, int K, void* y, ActDtype y_dtype,
                 cudaStream_t stream);
// Unit scales, bf16 output (the accumulator rounded to 8 significant bits): scales applied by the consumer.
void gemm_fp8_lt_unscaled_bf16(LtContext& ctx, const uint8_t* x, const uint8_t* w, int M, int N, int K, void* y,
                               cudaStream_t stream);
void gemm_int8_w8a8_lt(LtContext& ctx, const int8_t* x, const float* s_a, bool a_per_token, const int8_t* w,
                       const float* s_w, bool w_per_channel, int M, int N, int K, void* y, ActDtype y_dtype,
                       cudaStream_t stream);
// The int8 IMMA alone: int32 accumulators acc[M, N] in ctx's scratch (valid until the scratch's next use), returned;
// the scales left to the consumer (ScaledIn::acc, cuda_ops.h). gemm_int8_w8a8_lt is this plus the epilogue kernel.
const int32_t* gemm_int8_lt_acc(LtContext& ctx, const int8_t* x, const int8_t* w, int M, int N, int K,
                                cudaStream_t stream);

// Our epilogue over an fp32 / int32 GEMM output acc[M, N]: y = round(acc * (s_a * s_w)).
void dequant_epilogue_f32(const float* acc, const float* s_a, bool a_per_token, const float* s_w, bool w_per_channel,
                          int M, int N, void* y, ActDtype y_dtype, cudaStream_t stream);
void dequant_epilogue_i32(const int32_t* acc, const float* s_a, bool a_per_token, const float* s_w,
                          bool w_per_channel, int M, int N, void* y, ActDtype y_dtype, cudaStream_t stream);

}  // namespace qb::cuda
