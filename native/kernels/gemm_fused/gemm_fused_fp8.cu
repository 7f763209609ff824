// Fused decode linears (FusedLinear, cuda_ops.h) for FP8 e4m3 W8A8: per-token dynamic or static activations.
#include "kernels/gemm_fused/gemm_smallm_fused.cuh"

namespace qb::cuda::smallm {

void linear_fused_fp8(const FusedLinear& f, int M, cudaStream_t stream) {
  const char* name = "linear_fused_fp8";
  const bool bf = f.act == ActDtype::BF16;
  if (f.mode == QuantMode::Fp8Static) {
    if (bf)
      launch_fused_op<Kind::FP8, ActDtype::BF16, QuantMode::Fp8Static>(f, M, stream, name);
    else
      launch_fused_op<Kind::FP8, ActDtype::F16, QuantMode::Fp8Static>(f, M, stream, name);
  } else {
    if (bf)
      launch_fused_op<Kind::FP8, ActDtype::BF16, QuantMode::Fp8PerToken>(f, M, stream, name);
    else
      launch_fused_op<Kind::FP8, ActDtype::F16, QuantMode::Fp8PerToken>(f, M, stream, name);
  }
}

}  // namespace qb::cuda::smallm
