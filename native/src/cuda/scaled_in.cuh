// Device side of ScaledIn (cuda_ops.h): finishing a producer's epilogue on load, bit-identical to what the producer's
// own epilogue kernel would have stored from the same bf16 accumulator.
#pragma once
#include "cuda_ops.h"
#include "device_common.cuh"

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

}  // namespace qb::cuda::dev
