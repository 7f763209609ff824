// Device side of ScaledIn (cuda_ops.h): finishing a producer's epilogue on load, bit-identical to what the producer's
// own epilogue kernel would have stored from the same bf16 accumulator.
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

// Eight consecutive elements (columns n0 .. n0 + 7) in place; per-channel scales read as two float4 when aligned.
template <ActDtype A>
__device__ __forceinline__ void scaled_in_8(uint16_t* e, float sa, const ScaledIn& si, int n0) {
  float sw[8];
  const float* p = si.s_w + n0;
  if (si.w_per_channel && ((uintptr_t)p & 15) == 0) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(p)), b = __ldg(reinterpret_cast<const float4*>(p) + 1);
    sw[0] = a.x, sw[1] = a.y, sw[2] = a.z, sw[3] = a.w, sw[4] = b.x, sw[5] = b.y, sw[6] = b.z, sw[7] = b.w;
  } else {
#pragma unroll
    for (int j = 0; j < 8; ++j) sw[j] = __ldg(si.s_w + (si.w_per_channel ? n0 + j : 0));
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) e[j] = Act<A>::store(dequant_epilogue(bf16_bits_to_f32(e[j]), sa, sw[j]));
}

}  // namespace qb::cuda::dev
