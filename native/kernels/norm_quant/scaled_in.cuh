// Device side of ScaledIn (cuda_ops.h): finishing a producer's epilogue on load, bit-identical to what the producer's
// own epilogue kernel would have stored from the same accumulator (bf16 from the fp8 path, int32 from the int8 one).
#pragma once
#include "kernels/cuda_ops.h"
#include "kernels/common/device_common.cuh"

namespace qb::cuda::dev {

__device__ __forceinline__ float scaled_in_row(const ScaledIn& si, size_t row) {
  return si.s_a[si.a_per_token ? row : 0];
}
// acc_bf16: the unscaled accumulator (bf16 bits); sa: scaled_in_row(); n: the element's column. Returns act bits.
template <ActDtype A>
__device__ __forceinline__ uint16_t scaled_in_bits(uint16_t acc_bf16, float sa, const ScaledIn& si, int n) {
  const float sw = __ldg(si.s_w + (si.w_per_channel ? n : 0));
  return Act<A>::store(dequant_epilogue(bf16_bits_to_f32(acc_bf16), sa, sw));
}

// The weight scales of columns n0 .. n0 + 7; per-channel ones read as two float4 when aligned.
__device__ __forceinline__ void scaled_in_sw8(const ScaledIn& si, int n0, float (&sw)[8]) {
  const float* p = si.s_w + n0;
  if (si.w_per_channel && ((uintptr_t)p & 15) == 0) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(p)), b = __ldg(reinterpret_cast<const float4*>(p) + 1);
    sw[0] = a.x, sw[1] = a.y, sw[2] = a.z, sw[3] = a.w, sw[4] = b.x, sw[5] = b.y, sw[6] = b.z, sw[7] = b.w;
  } else {
#pragma unroll
    for (int j = 0; j < 8; ++j) sw[j] = __ldg(si.s_w + (si.w_per_channel ? n0 + j : 0));
  }
}

// Eight consecutive elements (columns n0 .. n0 + 7) of bf16 accumulators in place.
template <ActDtype A>
__device__ __forceinline__ void scaled_in_8(uint16_t* e, float sa, const ScaledIn& si, int n0) {
  float sw[8];
  scaled_in_sw8(si, n0, sw);
#pragma unroll
  for (int j = 0; j < 8; ++j) e[j] = Act<A>::store(dequant_epilogue(bf16_bits_to_f32(e[j]), sa, sw[j]));
}

// A consumer's eight input elements at element offset off (columns n0 .. n0 + 7; off a multiple of 8, x and si.acc
// 16-byte aligned), finished: x's 16-bit values as they are or as bf16 accumulators (si.s_a), or si.acc's int32
// accumulators (the int8 epilogue's (float) conversion). sa: scaled_in_row() of the row (unused when not scaled).
template <ActDtype A>
__device__ __forceinline__ uint4 load_in_8(const uint16_t* x, size_t off, const ScaledIn& si, float sa, int n0) {
  uint4 r;
  uint16_t* e = reinterpret_cast<uint16_t*>(&r);
  if (si.acc) {
    const int4* p = reinterpret_cast<const int4*>(si.acc + off);
    const int4 a0 = __ldg(p), a1 = __ldg(p + 1);
    const int32_t acc[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
    float sw[8];
    scaled_in_sw8(si, n0, sw);
#pragma unroll
    for (int j = 0; j < 8; ++j) e[j] = Act<A>::store(dequant_epilogue((float)acc[j], sa, sw[j]));
    return r;
  }
  r = ldg16(x + off);
  if (si.s_a) scaled_in_8<A>(e, sa, si, n0);
  return r;
}

// One input element at element offset off (column n), finished as load_in_8 does.
template <ActDtype A>
__device__ __forceinline__ uint16_t load_in_1(const uint16_t* x, size_t off, const ScaledIn& si, float sa, int n) {
  if (si.acc) {
    const float sw = __ldg(si.s_w + (si.w_per_channel ? n : 0));
    return Act<A>::store(dequant_epilogue((float)__ldg(si.acc + off), sa, sw));
  }
  const uint16_t b = x[off];
  return si.s_a ? scaled_in_bits<A>(b, sa, si, n) : b;
}

}  // namespace qb::cuda::dev
