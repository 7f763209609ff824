// Calibration statistics: colmax[k] = max(colmax[k], max_t |x[t, k]|) (twin: CpuModel::record, std::fmax: NaN
// inputs are ignored). Each thread keeps a running max of 8/4 adjacent columns (one 16-byte load per row) over a
// slice of rows, then one atomicMax per column on the float bits (all values non-negative, so the int order of the
// bits is the float order).
#include <string>

#include "kernels/sampling/sampling.h"
#include "kernels/common/device_common.cuh"

namespace qb::cuda {
namespace {

constexpr int kThreads = 256;

template <ActDtype A, int VEC>
__global__ void __launch_bounds__(kThreads) absmax_kernel(const void* __restrict__ xv, int T, int K, int rows_per_block,
                                                          float* __restrict__ colmax) {
  using E = typename dev::Act<A>::T;
  const E* x = static_cast<const E*>(xv);
  const int c0 = (blockIdx.x * kThreads + threadIdx.x) * VEC;
  if (c0 >= K) return;
  const int t0 = blockIdx.y * rows_per_block, t1 = min(T, t0 + rows_per_block);
  float m[VEC];
#pragma unroll
  for (int j = 0; j < VEC; ++j) m[j] = 0.0f;
  for (int t = t0; t < t1; ++t) {
    const E* p = x + (size_t)t * K + c0;
    if constexpr (VEC * sizeof(E) == 16) {
      const uint4 raw = dev::ldg16(p);
      const E* e = reinterpret_cast<const E*>(&raw);
#pragma unroll
      for (int j = 0; j < VEC; ++j) m[j] = fmaxf(m[j], fabsf(dev::Act<A>::load(e[j])));
    } else {
      m[0] = fmaxf(m[0], fabsf(dev::Act<A>::load(__ldg(p))));
    }
  }
#pragma unroll
  for (int j = 0; j < VEC; ++j)
    if (m[j] > 0.0f) atomicMax(reinterpret_cast<int*>(colmax + c0 + j), __float_as_int(m[j]));
}

template <ActDtype A>
void launch(const void* x, int T, int K, float* colmax, cudaStream_t stream) {
  constexpr int kVec = 16 / sizeof(typename dev::Act<A>::T);
  const bool vec = K % kVec == 0 && (uintptr_t)x % 16 == 0;
  const int per_thread = vec ? kVec : 1;
  const int cols_per_block = kThreads * per_thread;
  const int gx = (K + cols_per_block - 1) / cols_per_block;
  // Row slices: about 4 blocks per SM in all, at least 16 rows per slice (fewer atomics).
  int gy = std::max(1, std::min((T + 15) / 16, 528 / gx));
  const int rows_per_block = (T + gy - 1) / gy;
  gy = (T + rows_per_block - 1) / rows_per_block;
  const dim3 grid(gx, gy);
  if (vec)
    absmax_kernel<A, kVec><<<grid, kThreads, 0, stream>>>(x, T, K, rows_per_block, colmax);
  else
    absmax_kernel<A, 1><<<grid, kThreads, 0, stream>>>(x, T, K, rows_per_block, colmax);
}

}  // namespace

void absmax_columns(const void* x, ActDtype act, int T, int K, float* colmax, cudaStream_t stream) {
  const char* name = "absmax_columns";
  require(T >= 0 && K > 0, name, "bad shape T=" + std::to_string(T) + " K=" + std::to_string(K));
  require(x != nullptr && colmax != nullptr, name, "null pointer");
  if (T == 0) return;
  if (act == ActDtype::BF16)
    launch<ActDtype::BF16>(x, T, K, colmax, stream);
  else if (act == ActDtype::F16)
    launch<ActDtype::F16>(x, T, K, colmax, stream);
  else
    launch<ActDtype::F32>(x, T, K, colmax, stream);
  check_launch(name);
}

}  // namespace qb::cuda
