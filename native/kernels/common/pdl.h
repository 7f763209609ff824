// Programmatic dependent launch (Hopper). A kernel launched with launch_pdl may start while the previous kernel in
// the stream is still running: it must call dev::pdl_wait() (device_common.cuh) before it touches memory that an
// earlier kernel writes or reads, and calls dev::pdl_trigger() after that so the next kernel can be launched early.
// What runs before the wait may only read constants (weights, tables) or the step's metadata, which the host uploads
// before the step's first kernel (positions, slots, sequence bounds).
// Captured into CUDA graphs as programmatic edges. The model turns it off with its `pdl` option (CudaOptions,
// model/config.h) through set_pdl_enabled; launches then serialize normally.
#pragma once
#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"

namespace qb::cuda {

// Process-wide: the engine runs one model per process; the harness leaves it on.
inline bool& pdl_flag() {
  static bool on = true;
  return on;
}
inline bool pdl_enabled() { return pdl_flag(); }
inline void set_pdl_enabled(bool on) { pdl_flag() = on; }

template <typename... KArgs, typename... Args>
void launch_pdl(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  check(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...), name);
}

}  // namespace qb::cuda
