// Counter-based RNG shared by the CPU reference (cpu::rng_uniform) and the CUDA sampling kernel: the same
// (seed, counter) gives the same float on host and device.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define QB_RNG_HD __host__ __device__ __forceinline__
#else
#define QB_RNG_HD inline
#endif

namespace qb::rng {

QB_RNG_HD uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 24 random bits (exact in fp32).
QB_RNG_HD float uniform(uint64_t seed, uint64_t counter) {
  uint64_t r = splitmix64(seed ^ splitmix64(counter));
  return (float)(r >> 40) * (1.0f / 16777216.0f);
}

}  // namespace qb::rng
