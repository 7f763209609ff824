// On-GPU weight preparation kernels (declared in weights_prep.h). Twins: synthesize_weights / synth_value
// (model/llama_weights.cc), round_act, schemes/weight_quant.cc. Exact: only max, products and conversions.
#include <algorithm>

#include "common/synth.h"
#include "kernels/common/cuda_check.h"
#include "kernels/weights_prep/weights_prep.h"
#include "kernels/common/device_common.cuh"

namespace qb::cuda {
namespace {

constexpr int kThreads = 256;
int grid_for(size_t n) { return (int)std::min<size_t>((n + kThreads - 1) / kThreads, 132 * 64); }

__global__ void synth_kernel(float* dst, size_t n, uint64_t seed, uint64_t hash, float amp, uint64_t offset) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    dst[i] = synth_uniform(seed, hash, offset + i, amp);
}

__global__ void to_act_kernel(const float* src, int N, int K, void* dst, int ld, ActDtype act) {
  size_t total = (size_t)N * K;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    size_t n = i / K, k = i % K;
    dev::store_act(dst, n * ld + k, round_act(src[i], act), act);
  }
}

// Non-negative floats order like their bit patterns as signed ints: atomicMax on the bits is an exact float max.
__device__ __forceinline__ void atomic_max_nonneg(float* p, float v) { atomicMax((int*)p, __float_as_int(v)); }

__global__ void colmax_kernel(const float* w, int N, int K, float* colmax) {
  int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= K) return;
  float m = 0.f;
  for (int n = blockIdx.y; n < N; n += gridDim.y) m = fmaxf(m, fabsf(w[(size_t)n * K + k]));
  atomic_max_nonneg(&colmax[k], m);
}

__global__ void scale_cols_kernel(float* w, int N, int K, const float* s) {
  size_t total = (size_t)N * K;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
    w[i] *= s[i % K];
}

template <bool kInt8>
__global__ void quant_rows_kernel(const float* w, int K, void* q, int ld, float* s) {
  __shared__ float sh[32];
  const float* r = w + (size_t)blockIdx.x * K;
  float m = 0.f;
  for (int k = threadIdx.x; k < K; k += blockDim.x) m = fmaxf(m, fabsf(r[k]));
  m = dev::block_reduce(m, sh, [](float a, float b) { return fmaxf(a, b); }, 0.f);
  const float sc = kInt8 ? int8_scale_from_absmax(m) : fp8_scale_from_absmax(m);
  const float inv = inv_scale(sc);
  if (threadIdx.x == 0) s[blockIdx.x] = sc;
  for (int k = threadIdx.x; k < K; k += blockDim.x) {
    size_t o = (size_t)blockIdx.x * ld + k;
    if (kInt8)
      static_cast<int8_t*>(q)[o] = quant_int8(r[k], inv);
    else
      static_cast<uint8_t*>(q)[o] = quant_fp8(r[k], inv);
  }
}

__global__ void absmax_all_kernel(const float* w, size_t n, float* out) {
  __shared__ float sh[32];
  float m = 0.f;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    m = fmaxf(m, fabsf(w[i]));
  m = dev::block_reduce(m, sh, [](float a, float b) { return fmaxf(a, b); }, 0.f);
  if (threadIdx.x == 0) atomic_max_nonneg(out, m);
}

__global__ void quant_tensor_fp8_kernel(const float* w, int N, int K, const float* absmax, uint8_t* q, int ld,
                                        float* s_rows) {
  const float sc = fp8_scale_from_absmax(*absmax);
  const float inv = inv_scale(sc);
  size_t total = (size_t)N * K;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    size_t n = i / K, k = i % K;
    q[n * ld + k] = quant_fp8(w[i], inv);
    if (k == 0) s_rows[n] = sc;
  }
}

__global__ void fill_kernel(float* p, size_t n, float v) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) p[i] = v;
}

}  // namespace

void synth_fill_f32(float* dst, size_t n, uint64_t seed, uint64_t hash, float amplitude, uint64_t offset,
                    cudaStream_t stream) {
  if (n == 0) return;
  synth_kernel<<<grid_for(n), kThreads, 0, stream>>>(dst, n, seed, hash, amplitude, offset);
  check_launch("synth_fill_f32");
}

void f32_to_act_rows(const float* src, int N, int K, void* dst, int ld, ActDtype act, cudaStream_t stream) {
  require(ld >= K, "f32_to_act_rows", "ld < K");
  if ((size_t)N * K == 0) return;
  to_act_kernel<<<grid_for((size_t)N * K), kThreads, 0, stream>>>(src, N, K, dst, ld, act);
  check_launch("f32_to_act_rows");
}

void absmax_columns_f32(const float* w, int N, int K, float* colmax, cudaStream_t stream) {
  if (N == 0 || K == 0) return;
  dim3 grid((K + kThreads - 1) / kThreads, std::min(N, 256));
  colmax_kernel<<<grid, kThreads, 0, stream>>>(w, N, K, colmax);
  check_launch("absmax_columns_f32");
}

void scale_columns_f32(float* w, int N, int K, const float* s, cudaStream_t stream) {
  if ((size_t)N * K == 0) return;
  scale_cols_kernel<<<grid_for((size_t)N * K), kThreads, 0, stream>>>(w, N, K, s);
  check_launch("scale_columns_f32");
}

void quant_weight_rows_int8(const float* w, int N, int K, int8_t* q, int ld, float* s, cudaStream_t stream) {
  require(ld >= K, "quant_weight_rows_int8", "ld < K");
  if (N == 0) return;
  quant_rows_kernel<true><<<N, kThreads, 0, stream>>>(w, K, q, ld, s);
  check_launch("quant_weight_rows_int8");
}

void quant_weight_rows_fp8(const float* w, int N, int K, uint8_t* q, int ld, float* s, cudaStream_t stream) {
  require(ld >= K, "quant_weight_rows_fp8", "ld < K");
  if (N == 0) return;
  quant_rows_kernel<false><<<N, kThreads, 0, stream>>>(w, K, q, ld, s);
  check_launch("quant_weight_rows_fp8");
}

void absmax_all_f32(const float* w, size_t n, float* absmax, cudaStream_t stream) {
  if (n == 0) return;
  absmax_all_kernel<<<grid_for(n), kThreads, 0, stream>>>(w, n, absmax);
  check_launch("absmax_all_f32");
}

void quant_weight_tensor_fp8(const float* w, int N, int K, const float* absmax, uint8_t* q, int ld, float* s_rows,
                             cudaStream_t stream) {
  require(ld >= K, "quant_weight_tensor_fp8", "ld < K");
  if ((size_t)N * K == 0) return;
  quant_tensor_fp8_kernel<<<grid_for((size_t)N * K), kThreads, 0, stream>>>(w, N, K, absmax, q, ld, s_rows);
  check_launch("quant_weight_tensor_fp8");
}

void fill_f32(float* p, size_t n, float v, cudaStream_t stream) {
  if (n == 0) return;
  fill_kernel<<<grid_for(n), kThreads, 0, stream>>>(p, n, v);
  check_launch("fill_f32");
}

}  // namespace qb::cuda
