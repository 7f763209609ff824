// Tile-configuration choice of the small-M GEMM (included once per precision's .cu file).
#pragma once
#include "kernels/common/cuda_check.h"
#include "kernels/gemm/gemm_smallm_mma.cuh"
#include "kernels/common/pdl.h"

namespace qb::cuda::smallm {

// PRE: load the first weight batch into registers before the programmatic-dependent-launch wait (pdl.h). Chosen
// per configuration so that none spills: the M <= 8 one (80 registers at 3 blocks/SM) spills with it, the M <= 16
// one spills without it. The lm_head (N = 128256, M <= 8) gets its own configuration at 2 blocks/SM, where the preload
// fits in registers and measured faster (docs/perf-notes-cuda.md).
template <Kind KIND, int NT, int MT, int WARPS, int U, int MINB, bool PRE>
void launch_cfg(const uint8_t* x, const uint8_t* w, int M, int N, int row_bytes, const Epilogue& ep,
                cudaStream_t stream, const char* name) {
  dim3 grid((N + 16 * MT - 1) / (16 * MT));
  launch_pdl(name, gemm_smallm_kernel<KIND, NT, MT, WARPS, U, MINB, PRE>, grid, dim3(WARPS * 32), 0, stream, x, w, M,
             N, row_bytes, ep, Plain::Args{});
  check_launch(name);
}

template <Kind KIND>
void launch_smallm(const uint8_t* x, const uint8_t* w, int M, int N, int row_bytes, const Epilogue& ep,
                   cudaStream_t stream, const char* name) {
  if (M <= 8 && N >= 65536)  // lm_head-sized: many waves anyway, so 2 blocks/SM and room for the preload
    launch_cfg<KIND, 1, 1, 8, 8, 2, true>(x, w, M, N, row_bytes, ep, stream, name);
  else if (M <= 8)
    launch_cfg<KIND, 1, 1, 8, 8, 3, false>(x, w, M, N, row_bytes, ep, stream, name);
  else if (M <= 16)
    launch_cfg<KIND, 2, 1, 8, 4, 2, true>(x, w, M, N, row_bytes, ep, stream, name);
  else if (M <= 32)
    launch_cfg<KIND, 4, 1, 8, 2, 1, true>(x, w, M, N, row_bytes, ep, stream, name);
  else
    launch_cfg<KIND, 8, 1, 8, 2, 1, true>(x, w, M, N, row_bytes, ep, stream, name);
}

inline void check_smallm_args(const char* name, const void* x, const void* w, const void* y, int M, int N, int K,
                              int elem_bytes) {
  require(M >= 1 && M <= kSmallMMax, name, "M must be in [1, 64] (got " + std::to_string(M) + ")");
  require(N >= 1 && K >= 1, name, "N and K must be positive");
  require((K * elem_bytes) % 16 == 0, name,
          "K * element size must be a multiple of 16 bytes (got K=" + std::to_string(K) + ")");
  require(((uintptr_t)x % 16) == 0 && ((uintptr_t)w % 16) == 0, name, "x and w must be 16-byte aligned");
  require(y != nullptr, name, "y is null");
}

}  // namespace qb::cuda::smallm
