// Fused decode linears (FusedLinear, cuda_ops.h) for INT8 W8A8 (per-token dynamic activations).
#include "kernels/gemm_fused/gemm_smallm_fused.cuh"

namespace qb::cuda::smallm {

void linear_fused_int8(const FusedLinear& f, int M, cudaStream_t stream) {
  if (f.act == ActDtype::BF16)
    launch_fused_op<Kind::INT8, ActDtype::BF16, QuantMode::Int8PerToken>(f, M, stream, "linear_fused_int8");
  else
    launch_fused_op<Kind::INT8, ActDtype::F16, QuantMode::Int8PerToken>(f, M, stream, "linear_fused_int8");
}

}  // namespace qb::cuda::smallm
