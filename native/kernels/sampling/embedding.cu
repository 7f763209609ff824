// Row gathers at the ends of the model: token embedding (twin: cpu::embedding; the table is already stored in the
// activation dtype, so the twin's round_act is the identity) and selection of rows (lm_head input rows).
// One block per output row (grid.y splits long rows); 16-byte copies when rows are 16-byte aligned, else 2/4-byte.
#include <string>

#include "kernels/sampling/sampling.h"
#include "kernels/common/device_common.cuh"
#include "kernels/common/pdl.h"

namespace qb::cuda {
namespace {

constexpr int kThreads = 128;

template <typename T>
__global__ void __launch_bounds__(kThreads) gather_kernel(const T* __restrict__ src, const int32_t* __restrict__ idx,
                                                          size_t row_elems, T* __restrict__ dst) {
  dev::pdl_wait();
  dev::pdl_trigger();
  const size_t r = blockIdx.x;
  const T* s = src + (size_t)__ldg(idx + r) * row_elems;
  T* d = dst + r * row_elems;
  for (size_t i = (size_t)blockIdx.y * kThreads + threadIdx.x; i < row_elems; i += (size_t)gridDim.y * kThreads)
    d[i] = __ldg(s + i);
}

void launch_gather(const char* name, const void* src, const int32_t* idx, int R, int D, ActDtype act, void* dst,
                   cudaStream_t stream) {
  require(R >= 0 && D > 0, name, "bad shape R=" + std::to_string(R) + " D=" + std::to_string(D));
  require(src != nullptr && idx != nullptr && dst != nullptr, name, "null pointer");
  if (R == 0) return;
  const size_t es = act == ActDtype::F32 ? 4 : 2;
  const size_t row_bytes = (size_t)D * es;
  const bool vec = row_bytes % 16 == 0 && (uintptr_t)src % 16 == 0 && (uintptr_t)dst % 16 == 0;
  const size_t unit = vec ? 16 : es;
  const size_t row_elems = row_bytes / unit;
  // Enough blocks per row to cover it with 4 elements per thread (depends only on R, D, dtype).
  const int ysplit = (int)std::min<size_t>(65535, (row_elems + 4 * kThreads - 1) / (4 * kThreads));
  const dim3 grid((unsigned)R, (unsigned)std::max(1, ysplit));
  require(R <= 0x7fffffff, name, "too many rows");
  if (unit == 16)
    launch_pdl(name, gather_kernel<uint4>, grid, kThreads, 0, stream, static_cast<const uint4*>(src), idx, row_elems,
               static_cast<uint4*>(dst));
  else if (unit == 4)
    launch_pdl(name, gather_kernel<uint32_t>, grid, kThreads, 0, stream, static_cast<const uint32_t*>(src), idx,
               row_elems, static_cast<uint32_t*>(dst));
  else
    launch_pdl(name, gather_kernel<uint16_t>, grid, kThreads, 0, stream, static_cast<const uint16_t*>(src), idx,
               row_elems, static_cast<uint16_t*>(dst));
  check_launch(name);
}

}  // namespace

void embedding(const void* table, const int32_t* tokens, int T, int D, ActDtype act, void* out, cudaStream_t stream) {
  launch_gather("embedding", table, tokens, T, D, act, out, stream);
}

void gather_rows(const void* x, const int32_t* rows, int R, int D, ActDtype act, void* out, cudaStream_t stream) {
  launch_gather("gather_rows", x, rows, R, D, act, out, stream);
}

}  // namespace qb::cuda
