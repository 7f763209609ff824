#include "cuda_model.h"

#include <cuda_runtime.h>

namespace qb {

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

bool cuda_model_implemented() { return false; }

std::unique_ptr<Model> create_cuda_model(const ModelConfig&) {
  throw QbError("CUDA_MODEL_MISSING",
                "the CUDA model forward is not implemented yet (its kernels are built and checked by "
                "scripts/device/kernels.sh); run with device 'cpu'");
}

}  // namespace qb
