// Fused decode linears (FusedLinear, cuda_ops.h) with 16-bit weights: fp16 / bf16.
#include "kernels/gemm_fused/gemm_smallm_fused.cuh"

namespace qb::cuda::smallm {

void linear_fused_f16(const FusedLinear& f, int M, cudaStream_t stream) {
  if (f.act == ActDtype::BF16)
    launch_fused_op<Kind::BF16, ActDtype::BF16, QuantMode::None>(f, M, stream, "linear_fused_bf16");
  else
    launch_fused_op<Kind::F16, ActDtype::F16, QuantMode::None>(f, M, stream, "linear_fused_f16");
}

}  // namespace qb::cuda::smallm
