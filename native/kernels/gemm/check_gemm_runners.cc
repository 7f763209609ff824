#include "kernels/gemm/check_gemm_runners.h"

#ifdef QB_HAVE_CUBLASLT
#include "kernels/gemm/gemm_lt.h"
#endif

void run_gemm_smallm(const GemmCase& c, void* y, cudaStream_t s) {
  switch (c.kind) {
    case GemmKind::FP8:
      qb::cuda::gemm_fp8_smallm(c.x.as<uint8_t>(), c.sa.as<float>(), c.a_per_token, c.w.as<uint8_t>(),
                                c.sw.as<float>(), c.w_per_channel, c.M, c.N, c.K, y, c.y_dtype, s);
      break;
    case GemmKind::INT8:
      qb::cuda::gemm_int8_w8a8_smallm(c.x.as<int8_t>(), c.sa.as<float>(), c.a_per_token, c.w.as<int8_t>(),
                                      c.sw.as<float>(), c.w_per_channel, c.M, c.N, c.K, y, c.y_dtype, s);
      break;
    case GemmKind::BF16:
      qb::cuda::gemm_f16_smallm(c.x.p, c.w.p, qb::ActDtype::BF16, c.M, c.N, c.K, y, c.y_dtype, s);
      break;
    case GemmKind::F16:
      qb::cuda::gemm_f16_smallm(c.x.p, c.w.p, qb::ActDtype::F16, c.M, c.N, c.K, y, c.y_dtype, s);
      break;
  }
}

#ifdef QB_HAVE_CUBLASLT
static qb::cuda::LtContext& lt_ctx() {
  static qb::cuda::LtContext ctx;
  return ctx;
}
bool lt_available() { return true; }
void run_gemm_lt(const GemmCase& c, void* y, cudaStream_t s) {
  auto& ctx = lt_ctx();
  switch (c.kind) {
    case GemmKind::FP8:
      qb::cuda::gemm_fp8_lt(ctx, c.x.as<uint8_t>(), c.sa.as<float>(), c.a_per_token, c.w.as<uint8_t>(),
                            c.sw.as<float>(), c.w_per_channel, c.M, c.N, c.K, y, c.y_dtype, s);
      break;
    case GemmKind::INT8:
      qb::cuda::gemm_int8_w8a8_lt(ctx, c.x.as<int8_t>(), c.sa.as<float>(), c.a_per_token, c.w.as<int8_t>(),
                                  c.sw.as<float>(), c.w_per_channel, c.M, c.N, c.K, y, c.y_dtype, s);
      break;
    case GemmKind::BF16:
      qb::cuda::gemm_f16_lt(ctx, c.x.p, c.w.p, qb::ActDtype::BF16, c.M, c.N, c.K, y, c.y_dtype, s);
      break;
    case GemmKind::F16:
      qb::cuda::gemm_f16_lt(ctx, c.x.p, c.w.p, qb::ActDtype::F16, c.M, c.N, c.K, y, c.y_dtype, s);
      break;
  }
}
#else
bool lt_available() { return false; }
void run_gemm_lt(const GemmCase&, void*, cudaStream_t) {
  throw std::runtime_error("built without cuBLASLt");
}
#endif
