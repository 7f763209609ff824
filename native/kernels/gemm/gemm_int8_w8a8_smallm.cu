// INT8 W8A8 small-M GEMM (decode): exact int32 accumulation (IMMA), then y = acc * (s_a * s_w).
// Twin: cpu::gemm_int8_w8a8.
#include "kernels/cuda_ops.h"
#include "kernels/gemm/gemm_smallm_launch.cuh"

namespace qb::cuda {

void gemm_int8_w8a8_smallm(const int8_t* x, const float* s_a, bool a_per_token, const int8_t* w, const float* s_w,
                           bool w_per_channel, int M, int N, int K, void* y, ActDtype y_dtype, cudaStream_t stream) {
  const char* name = "gemm_int8_w8a8_smallm";
  smallm::check_smallm_args(name, x, w, y, M, N, K, 1);
  require(s_a && s_w, name, "scales are required");
  smallm::Epilogue ep{s_a, a_per_token ? 1 : 0, s_w, w_per_channel ? 1 : 0, y, y_dtype};
  smallm::launch_smallm<smallm::Kind::INT8>(reinterpret_cast<const uint8_t*>(x), reinterpret_cast<const uint8_t*>(w),
                                            M, N, K, ep, stream, name);
}

}  // namespace qb::cuda
