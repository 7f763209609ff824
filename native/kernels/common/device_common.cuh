// Device helpers shared by the kernels: 16-byte loads, activation dtype load/store (numerics.h conversions).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/numerics.h"

namespace qb::cuda::dev {

// 16-byte read-only load that does not allocate in L1 (streamed weights).
__device__ __forceinline__ uint4 ldg_stream(const void* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));
  return r;
}
// 16-byte read-only cached load (activations reused across blocks).
__device__ __forceinline__ uint4 ldg16(const void* p) { return __ldg(reinterpret_cast<const uint4*>(p)); }

// Programmatic dependent launch (pdl.h): wait for the previous kernel's completion and memory / let the next kernel
// launch. Both are no-ops in a kernel launched without the attribute.
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void pdl_trigger() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }

// Activation element types: storage and exact conversions (numerics.h is the definition).
template <ActDtype D>
struct Act;
template <>
struct Act<ActDtype::F16> {
  using T = uint16_t;
  static __device__ __forceinline__ float load(T v) { return f16_bits_to_f32(v); }
  static __device__ __forceinline__ T store(float f) { return f32_to_f16_bits(f); }
};
template <>
struct Act<ActDtype::BF16> {
  using T = uint16_t;
  static __device__ __forceinline__ float load(T v) { return bf16_bits_to_f32(v); }
  static __device__ __forceinline__ T store(float f) { return f32_to_bf16_bits(f); }
};
template <>
struct Act<ActDtype::F32> {
  using T = float;
  static __device__ __forceinline__ float load(T v) { return v; }
  static __device__ __forceinline__ T store(float f) { return f; }
};

// Runtime-dtype scalar store (epilogues where the output dtype is a launch argument).
__device__ __forceinline__ void store_act(void* y, size_t i, float v, ActDtype d) {
  if (d == ActDtype::F32)
    static_cast<float*>(y)[i] = v;
  else if (d == ActDtype::BF16)
    static_cast<uint16_t*>(y)[i] = f32_to_bf16_bits(v);
  else
    static_cast<uint16_t*>(y)[i] = f32_to_f16_bits(v);
}

// Block-wide reductions (blockDim.x a multiple of 32, <= 1024). `sh` holds 32 entries.
template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, T* sh, Op op, T identity) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();  // sh may be reused by a previous reduction
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : identity;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace qb::cuda::dev

#include <cooperative_groups.h>

namespace qb::cuda::dev {

// Combines one value per block across the thread-block cluster (blocks of a cluster split one row): `v` must already
// be block-reduced (same in all threads); `slot` is a __shared__ variable of this block. All threads get the result.
template <typename T, typename Op>
__device__ __forceinline__ T cluster_combine(T v, T* slot, Op op) {
  namespace cg = cooperative_groups;
  cg::cluster_group cl = cg::this_cluster();
  const unsigned n = cl.num_blocks();
  if (n == 1) return v;
  if (threadIdx.x == 0) *slot = v;
  cl.sync();
  T r = *cl.map_shared_rank(slot, 0);
  for (unsigned b = 1; b < n; ++b) r = op(r, *cl.map_shared_rank(slot, b));
  cl.sync();  // no block may leave (or reuse slot) while another still reads its shared memory
  return r;
}

// Blocks per row (cluster size) for row kernels: enough blocks to fill the GPU when there are few rows.
inline int row_split(int rows, int row_vec8) {
  int s = 1;
  while (s < 8 && rows * s * 2 <= 132 && row_vec8 / (s * 2) >= 64) s *= 2;
  return s;
}

}  // namespace qb::cuda::dev
