// Seeded synthetic weight values, identical on host and device: the CPU's synthesize_weights() and the CUDA model's
// on-GPU generation produce the same numbers for the same (seed, tensor name, index).
#pragma once
#include <cstdint>

#include "common/numerics.h"

namespace qb {

QB_HD uint64_t synth_mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [-amplitude, amplitude): 24 random bits, exact float arithmetic up to the final multiply.
QB_HD float synth_uniform(uint64_t seed, uint64_t tensor_hash, uint64_t index, float amplitude) {
  uint64_t r = synth_mix64(seed ^ tensor_hash ^ synth_mix64(index));
  float u = (float)(r >> 40) * (1.0f / 16777216.0f);
  return (u * 2.0f - 1.0f) * amplitude;
}

}  // namespace qb
