// FP8 e4m3 W8A8 small-M GEMM (decode): per-token or static per-tensor activation scales, per-channel or per-tensor
// weight scales. Twin: cpu::gemm_fp8.
#include "kernels/cuda_ops.h"
#include "kernels/gemm/gemm_smallm_launch.cuh"

namespace qb::cuda {

void gemm_fp8_smallm(const uint8_t* x, const float* s_a, bool a_per_token, const uint8_t* w, const float* s_w,
                     bool w_per_channel, int M, int N, int K, void* y, ActDtype y_dtype, cudaStream_t stream) {
  const char* name = "gemm_fp8_smallm";
  smallm::check_smallm_args(name, x, w, y, M, N, K, 1);
  require(s_a && s_w, name, "scales are required");
  smallm::Epilogue ep{s_a, a_per_token ? 1 : 0, s_w, w_per_channel ? 1 : 0, y, y_dtype};
  smallm::launch_smallm<smallm::Kind::FP8>(x, w, M, N, K, ep, stream, name);
}

}  // namespace qb::cuda
