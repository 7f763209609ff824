// FusedLinear (cuda_ops.h): argument checks and the dispatch to the per-precision instantiations.
#include <algorithm>
#include <string>

#include "kernels/gemm_fused/gemm_smallm_fused.cuh"

namespace qb::cuda {

namespace smallm {
namespace {
int device_attr(cudaDeviceAttr attr) {
  int dev = 0, v = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&v, attr, dev), "cudaDeviceGetAttribute");
  return v;
}
}  // namespace
int sm_count() {
  static const int n = std::max(1, device_attr(cudaDevAttrMultiProcessorCount));
  return n;
}
}  // namespace smallm

size_t fused_linear_smem(FusedOp op, QuantMode mode, int K, int M) {
  const bool staged = op == FusedOp::NormRopeKV || op == FusedOp::NormSiluMul;
  return staged ? (size_t)M * K * (mode == QuantMode::None ? 2 : 1) : 0;
}

void linear_fused_smallm(const FusedLinear& f, int M, cudaStream_t stream) {
  const char* name = "linear_fused_smallm";
  const bool q8 = f.mode != QuantMode::None;
  require(M >= 1 && M <= kFusedMMax, name, "M must be in [1, " + std::to_string(kFusedMMax) + "] (got " +
                                               std::to_string(M) + "); use the unfused kernels for larger batches");
  require(f.act == ActDtype::F16 || f.act == ActDtype::BF16, name, "act must be F16 or BF16");
  require(f.mode != QuantMode::Int8Static, name, "static int8 activations are not supported");
  require(f.N > 0 && f.K > 0 && f.K % 16 == 0, name, "N must be positive and K a positive multiple of 16");
  require(f.w && f.in, name, "w and in are required");
  require(!q8 || f.w_scale, name, "8-bit weights need their per-channel scales (w_scale)");
  for (const void* p : {f.w, f.in, f.norm_w})
    require(((uintptr_t)p % 16) == 0, name, "w, in and norm_w must be 16-byte aligned");
  const size_t smem = fused_linear_smem(f.op, f.mode, f.K, M);
  require(smem <= kFusedSmemMax, name,
          "the input rows need " + std::to_string(smem) + " bytes of shared memory (at most " +
              std::to_string(kFusedSmemMax) + "); use the unfused kernels");
  const bool is_static = f.mode == QuantMode::Fp8Static;
  switch (f.op) {
    case FusedOp::NormRopeKV:
      require(f.norm_w, name, "NormRopeKV needs norm_w");
      require(f.H > 0 && f.Hkv > 0 && f.H % f.Hkv == 0 && f.Dh > 0 && f.Dh % 2 == 0, name,
              "NormRopeKV needs H a positive multiple of Hkv and an even head_dim");
      require(f.N == (f.H + 2 * f.Hkv) * f.Dh && f.ld >= f.N, name, "NormRopeKV needs N = (H + 2 Hkv) Dh <= ld");
      require(f.qkv && f.positions && f.slots && f.cos_tab && f.sin_tab && f.k_cache && f.v_cache, name,
              "NormRopeKV needs qkv, positions, slots, cos / sin tables and the caches");
      require(!is_static || f.in_scale, name, "static quantization needs in_scale");
      break;
    case FusedOp::NormSiluMul:
      require(f.norm_w, name, "NormSiluMul needs norm_w");
      require(f.N % 2 == 0, name, "NormSiluMul needs N = 2F (gate rows, then up rows)");
      require(f.hmid || (is_static && f.hq && f.hq_scale), name,
              "NormSiluMul writes hmid, or (static modes) hq with hq_scale");
      require(!is_static || f.in_scale, name, "static quantization needs in_scale");
      require(!f.out_amax || (q8 && !is_static), name, "out_amax is for per-token activations (int8 / fp8-dynamic)");
      require(!f.out_amax || f.hmid, name, "out_amax is the absmax of hmid: hmid is required");
      break;
    case FusedOp::QuantLoadResidual:
      require(q8, name, "QuantLoadResidual quantizes its input: mode must not be None");
      require(f.resid, name, "QuantLoadResidual needs resid");
      require(is_static ? f.in_scale != nullptr : f.in_amax != nullptr, name,
              is_static ? "static quantization needs in_scale"
                        : "per-token QuantLoadResidual needs in_amax (the producer's out_amax)");
      break;
    case FusedOp::Residual:
      require(f.resid, name, "Residual needs resid");
      require(!q8 || is_static, name,
              "Residual over 8-bit codes needs a static input scale (per-token: QuantLoadResidual)");
      require(!is_static || f.in_scale, name, "static codes need in_scale");
      break;
  }
  if (!q8)
    smallm::linear_fused_f16(f, M, stream);
  else if (f.mode == QuantMode::Int8PerToken)
    smallm::linear_fused_int8(f, M, stream);
  else
    smallm::linear_fused_fp8(f, M, stream);
}

}  // namespace qb::cuda
