// Quantization of one activation row held in shared memory (16-bit act bits), shared by the fused norm/elementwise
// kernels. Semantics: numerics.h (scale from absmax with floor, q = cvt(x * (1/s))), bit-exact with cpu::quant_*.
#pragma once
#include "kernels/cuda_ops.h"
#include "kernels/common/device_common.cuh"

namespace qb::cuda::dev {

template <QuantMode MODE>
struct QuantTraits;
template <>
struct QuantTraits<QuantMode::Fp8PerToken> {
  static constexpr bool kDynamic = true;
  using Q = uint8_t;
  static __device__ __forceinline__ float scale(float amax) { return fp8_scale_from_absmax(amax); }
  static __device__ __forceinline__ Q q(float v, float inv) { return quant_fp8(v, inv); }
};
template <>
struct QuantTraits<QuantMode::Int8PerToken> {
  static constexpr bool kDynamic = true;
  using Q = int8_t;
  static __device__ __forceinline__ float scale(float amax) { return int8_scale_from_absmax(amax); }
  static __device__ __forceinline__ Q q(float v, float inv) { return quant_int8(v, inv); }
};
template <>
struct QuantTraits<QuantMode::Fp8Static> {
  static constexpr bool kDynamic = false;
  using Q = uint8_t;
  static __device__ __forceinline__ Q q(float v, float inv) { return quant_fp8(v, inv); }
};
template <>
struct QuantTraits<QuantMode::Int8Static> {
  static constexpr bool kDynamic = false;
  using Q = int8_t;
  static __device__ __forceinline__ Q q(float v, float inv) { return quant_int8(v, inv); }
};

// Quantizes row `row` (D values, act bits in shared memory `vals`, D % 8 == 0) into q[row*D ...]; writes the per-token
// scale (dynamic) or reads the static one. `amax` is this thread's partial absmax (dynamic modes).
// Must be called by the whole block.
template <QuantMode MODE, ActDtype A>
__device__ __forceinline__ void quantize_row_smem(const uint16_t* vals, int D, float amax, const QuantOut& qo,
                                                  size_t row, float* red) {
  using QT = QuantTraits<MODE>;
  float s;
  if constexpr (QT::kDynamic) {
    amax = block_reduce(amax, red, [](float a, float b) { return fmaxf(a, b); }, 0.0f);
    s = QT::scale(amax);
    if (threadIdx.x == 0) qo.scale[row] = s;
  } else {
    s = *qo.scale;
  }
  const float inv = inv_scale(s);
  auto* q = static_cast<typename QT::Q*>(qo.q) + row * (size_t)D;
  for (int i = threadIdx.x * 8; i < D; i += blockDim.x * 8) {
    const uint4 raw = *reinterpret_cast<const uint4*>(vals + i);
    const uint16_t* h = reinterpret_cast<const uint16_t*>(&raw);
    uint32_t lo = 0, hi = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j) lo |= (uint32_t)(uint8_t)QT::q(Act<A>::load(h[j]), inv) << (8 * j);
#pragma unroll
    for (int j = 0; j < 4; ++j) hi |= (uint32_t)(uint8_t)QT::q(Act<A>::load(h[4 + j]), inv) << (8 * j);
    *reinterpret_cast<uint2*>(q + i) = make_uint2(lo, hi);
  }
}

// Cluster version: this block holds the slice [lo, hi) of the row in `vals`; the absmax is combined across the
// cluster's blocks (which together hold the whole row). Must be called by every thread of every block of the cluster.
template <QuantMode MODE, ActDtype A>
__device__ __forceinline__ void quantize_slice_smem(const uint16_t* vals, int D, int lo, int hi, float amax,
                                                    const QuantOut& qo, size_t row, float* red, float* slot) {
  using QT = QuantTraits<MODE>;
  float s;
  if constexpr (QT::kDynamic) {
    amax = block_reduce(amax, red, [](float a, float b) { return fmaxf(a, b); }, 0.0f);
    amax = cluster_combine(amax, slot, [](float a, float b) { return fmaxf(a, b); });
    s = QT::scale(amax);
    if (threadIdx.x == 0 && blockIdx.x == 0) qo.scale[row] = s;
  } else {
    s = *qo.scale;
  }
  const float inv = inv_scale(s);
  auto* q = static_cast<typename QT::Q*>(qo.q) + row * (size_t)D;
  for (int i = lo + threadIdx.x * 8; i < hi; i += blockDim.x * 8) {
    const uint4 raw = *reinterpret_cast<const uint4*>(vals + (i - lo));
    const uint16_t* h = reinterpret_cast<const uint16_t*>(&raw);
    uint32_t w0 = 0, w1 = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j) w0 |= (uint32_t)(uint8_t)QT::q(Act<A>::load(h[j]), inv) << (8 * j);
#pragma unroll
    for (int j = 0; j < 4; ++j) w1 |= (uint32_t)(uint8_t)QT::q(Act<A>::load(h[4 + j]), inv) << (8 * j);
    *reinterpret_cast<uint2*>(q + i) = make_uint2(w0, w1);
  }
}

}  // namespace qb::cuda::dev
