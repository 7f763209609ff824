// Synthetic random data generated on the GPU (benchmark inputs; synthetic model weights without a host copy).
// Counter-based hash per element (splitmix64): the same (seed, index) gives the same value on any launch shape.
#include "kernels/common/cuda_check.h"
#include "kernels/cuda_ops.h"
#include "kernels/common/device_common.cuh"

namespace qb::cuda {
namespace {

__device__ __forceinline__ uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// Approximately normal(0, 1): sum of 4 uniforms, centred and scaled (var of U(0,1) is 1/12).
__device__ __forceinline__ float approx_normal(uint64_t h) {
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < 4; ++j) s += (float)((h >> (16 * j)) & 0xffffu) * (1.0f / 65536.0f);
  return (s - 2.0f) * 1.7320508f;
}

__global__ void fill_kernel(void* p, size_t n, FillKind kind, uint64_t seed, float scale) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const float v = approx_normal(mix(seed * 0x100000001b3ull + i)) * scale;
    switch (kind) {
      case FillKind::BF16: static_cast<uint16_t*>(p)[i] = f32_to_bf16_bits(v); break;
      case FillKind::F16: static_cast<uint16_t*>(p)[i] = f32_to_f16_bits(v); break;
      case FillKind::F32: static_cast<float*>(p)[i] = v; break;
      case FillKind::Fp8: static_cast<uint8_t*>(p)[i] = f32_to_fp8e4m3(v); break;
      case FillKind::Int8: static_cast<int8_t*>(p)[i] = f32_to_int8_sat(v); break;
      case FillKind::PositiveF32: static_cast<float*>(p)[i] = scale * (1.0f + 0.25f * fabsf(v / scale)); break;
    }
  }
}

}  // namespace

void fill_random(void* p, size_t n, FillKind kind, uint64_t seed, float scale, cudaStream_t stream) {
  if (n == 0) return;
  const int blocks = (int)std::min<size_t>((n + 255) / 256, 132 * 32);
  fill_kernel<<<blocks, 256, 0, stream>>>(p, n, kind, seed, scale);
  check_launch("fill_random");
}

}  // namespace qb::cuda
