// Async scheduling: a step's input tokens taken from the samples of the step before it, on the device, so the host
// can submit a step before it has read the previous step's tokens (Model::submit). Twin: Model::submit's resolution
// of Batch::token_sources on the CPU.
#include <string>

#include "kernels/sampling/sampling.h"
#include "kernels/common/device_common.cuh"

namespace qb::cuda {
namespace {

__global__ void tokens_from_samples_kernel(int32_t* __restrict__ tokens, const int32_t* __restrict__ sources,
                                           const int32_t* __restrict__ sampled, int T) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= T) return;
  const int j = __ldg(sources + i);
  if (j >= 0) tokens[i] = __ldg(sampled + j);
}

}  // namespace

void tokens_from_samples(int32_t* tokens, const int32_t* sources, const int32_t* sampled, int T, cudaStream_t stream) {
  const char* name = "tokens_from_samples";
  require(T >= 0, name, "T must be >= 0, got " + std::to_string(T));
  if (T == 0) return;
  require(tokens != nullptr && sources != nullptr && sampled != nullptr, name, "null pointer");
  tokens_from_samples_kernel<<<(T + 255) / 256, 256, 0, stream>>>(tokens, sources, sampled, T);
  check_launch(name);
}

}  // namespace qb::cuda
