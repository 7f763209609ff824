// The CUDA model (issue 3): the same Model interface and semantics as the CPU reference, running our kernels on the
// GPU (cuda_model.cc: forward, KV cache, decode CUDA graphs; cuda_model_weights.cc: weight preparation on the GPU).
#pragma once
#include <memory>

#include "model/model.h"

namespace qb {
int cuda_device_count();
// Brackets a region for an external profiler started with capture off (ncu --profile-from-start off).
void cuda_profiler(bool on);
// True when this build has the GPU forward (the engine picks device 'auto' = cuda when a GPU is visible).
bool cuda_model_implemented();
// Throws QbError NO_CUDA (no GPU), GPU_UNSUPPORTED (below sm_90: names what the GPU could run), UNSUPPORTED_ON_CUDA.
std::unique_ptr<Model> create_cuda_model(const ModelConfig& cfg);
}  // namespace qb
