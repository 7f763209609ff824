// 16-bit (fp16 or bf16) small-M GEMM (decode, and lm_head with fp32 logits). Twin: cpu::gemm_f / gemm_f_out_f32.
#include "kernels/cuda_ops.h"
#include "kernels/gemm/gemm_smallm_launch.cuh"

namespace qb::cuda {

void gemm_f16_smallm(const void* x, const void* w, ActDtype in_dtype, int M, int N, int K, void* y, ActDtype y_dtype,
                     cudaStream_t stream) {
  const char* name = "gemm_f16_smallm";
  smallm::check_smallm_args(name, x, w, y, M, N, K, 2);
  require(in_dtype == ActDtype::F16 || in_dtype == ActDtype::BF16, name, "in_dtype must be F16 or BF16");
  smallm::Epilogue ep{nullptr, 0, nullptr, 0, y, y_dtype};
  auto xb = static_cast<const uint8_t*>(x);
  auto wb = static_cast<const uint8_t*>(w);
  if (in_dtype == ActDtype::BF16)
    smallm::launch_smallm<smallm::Kind::BF16>(xb, wb, M, N, K * 2, ep, stream, name);
  else
    smallm::launch_smallm<smallm::Kind::F16>(xb, wb, M, N, K * 2, ep, stream, name);
}

}  // namespace qb::cuda
