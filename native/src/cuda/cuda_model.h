// The CUDA model (issue 3): the same Model interface as the CPU reference, running our kernels on the GPU.
// Status: the kernels (cuda_ops.h) are built and checked against their CPU twins by native/tools; the GPU forward
// that strings them together is not written yet, so create_cuda_model() refuses with a clear error.
#pragma once
#include <memory>

#include "../model/model.h"

namespace qb {
int cuda_device_count();
// True once the GPU forward exists; the engine picks device 'auto' = cuda only then.
bool cuda_model_implemented();
std::unique_ptr<Model> create_cuda_model(const ModelConfig& cfg);
}  // namespace qb
