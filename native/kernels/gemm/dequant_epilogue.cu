// Scale epilogue after a library GEMM with fp32 or int32 output: y[t, n] = round(acc * (s_a[t|0] * s_w[n|0])).
// numerics.h dequant_epilogue; twin: the epilogue line of cpu::gemm_fp8 / gemm_int8_w8a8.
#include "kernels/common/cuda_check.h"
#include "kernels/common/device_common.cuh"
#include "kernels/gemm/gemm_lt.h"

namespace qb::cuda {
namespace {

template <typename AccT>
__global__ void epilogue_kernel(const AccT* __restrict__ acc, const float* __restrict__ s_a, int a_per_token,
                                const float* __restrict__ s_w, int w_per_channel, int M, int N, void* y,
                                ActDtype y_dtype) {
  const size_t total = (size_t)M * N;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    const int t = (int)(i / N), n = (int)(i % N);
    const float sa = s_a[a_per_token ? t : 0], sw = s_w[w_per_channel ? n : 0];
    dev::store_act(y, i, dequant_epilogue((float)acc[i], sa, sw), y_dtype);
  }
}

template <typename AccT>
void launch(const char* name, const AccT* acc, const float* s_a, bool apt, const float* s_w, bool wpc, int M, int N,
            void* y, ActDtype yd, cudaStream_t stream) {
  const size_t total = (size_t)M * N;
  if (total == 0) return;
  int blocks = (int)std::min<size_t>((total + 255) / 256, 132 * 16);
  epilogue_kernel<AccT><<<blocks, 256, 0, stream>>>(acc, s_a, apt ? 1 : 0, s_w, wpc ? 1 : 0, M, N, y, yd);
  check_launch(name);
}

}  // namespace

void dequant_epilogue_f32(const float* acc, const float* s_a, bool apt, const float* s_w, bool wpc, int M, int N,
                          void* y, ActDtype yd, cudaStream_t stream) {
  launch("dequant_epilogue_f32", acc, s_a, apt, s_w, wpc, M, N, y, yd, stream);
}
void dequant_epilogue_i32(const int32_t* acc, const float* s_a, bool apt, const float* s_w, bool wpc, int M, int N,
                          void* y, ActDtype yd, cudaStream_t stream) {
  launch("dequant_epilogue_i32", acc, s_a, apt, s_w, wpc, M, N, y, yd, stream);
}

}  // namespace qb::cuda
