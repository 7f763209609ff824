// SiLU(g) * u, optionally fused with the output quantization. Twin: cpu::silu_mul (then cpu::quant_*).
// silu(g) = g / (1 + exp(-g)) in fp32 with numerics.h's exp_f32 (the CPU twin's bits; a double-precision exp made
// this kernel compute-bound at large batch). A row is split over up to 8 blocks when
// there are few tokens: a thread-block cluster when a dynamic absmax must be combined (distributed shared memory),
// independent blocks otherwise.
#include "kernels/cuda_ops.h"
#include "kernels/common/device_common.cuh"
#include "kernels/common/pdl.h"
#include "kernels/gemm_fused/row_quant.cuh"
#include "kernels/norm_quant/scaled_in.cuh"

namespace qb::cuda {
namespace {

constexpr int kThreads = 512;

template <ActDtype A, QuantMode MODE>
__global__ void __launch_bounds__(kThreads)
    silu_mul_kernel(const uint16_t* __restrict__ g, const uint16_t* __restrict__ u, int ld, int F,
                    uint16_t* __restrict__ out, QuantOut qo, ScaledIn gin, ScaledIn uin) {
  using AT = dev::Act<A>;
  extern __shared__ __align__(16) uint16_t vals[];  // this block's slice of the row
  __shared__ float redf[32];
  __shared__ float slot;
  dev::pdl_wait();
  dev::pdl_trigger();
  const size_t row = blockIdx.y;
  // Slice of the row owned by this block of the cluster (gridDim.x blocks per row, multiples of 8 elements).
  const int per = ((F / 8 + gridDim.x - 1) / gridDim.x) * 8;
  const int lo = blockIdx.x * per, hi = min(F, lo + per);
  float amax = 0.0f;
  const float gsa = gin.s_a ? dev::scaled_in_row(gin, row) : 0.0f;
  const float usa = uin.s_a ? dev::scaled_in_row(uin, row) : 0.0f;
  for (int i = lo + threadIdx.x * 8; i < hi; i += kThreads * 8) {
    uint4 gr = dev::ldg16(g + row * (size_t)ld + i);
    uint4 ur = dev::ldg16(u + row * (size_t)ld + i);
    uint16_t* ge = reinterpret_cast<uint16_t*>(&gr);
    uint16_t* ue = reinterpret_cast<uint16_t*>(&ur);
    if (gin.s_a) dev::scaled_in_8<A>(ge, gsa, gin, i);
    if (uin.s_a) dev::scaled_in_8<A>(ue, usa, uin, i);
    uint4 orr;
    uint16_t* oe = reinterpret_cast<uint16_t*>(&orr);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      oe[j] = AT::store(silu_f32(AT::load(ge[j])) * AT::load(ue[j]));
      amax = fmaxf(amax, fabsf(AT::load(oe[j])));
    }
    if (out) *reinterpret_cast<uint4*>(out + row * (size_t)F + i) = orr;
    if constexpr (MODE != QuantMode::None) *reinterpret_cast<uint4*>(vals + (i - lo)) = orr;
  }
  if constexpr (MODE != QuantMode::None) {
    __syncthreads();
    dev::quantize_slice_smem<MODE, A>(vals, F, lo, hi, amax, qo, row, redf, &slot);
  }
}

template <ActDtype A, QuantMode MODE>
void launch_m(const void* g, const void* u, int ld, int T, int F, void* out, const QuantOut& qo, cudaStream_t stream,
              const ScaledIn& gin, const ScaledIn& uin) {
  const int split = dev::row_split(T, F / 8);
  const int per = ((F / 8 + split - 1) / split) * 8;
  const size_t smem = MODE == QuantMode::None ? 0 : (size_t)per * 2;
  auto k = silu_mul_kernel<A, MODE>;
  if (smem > 48 * 1024) check(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem), "silu_mul_quant (smem attribute)");
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(split, T);
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  // A split row needs a thread-block cluster only to combine the absmax of dynamic quantization; otherwise (and for
  // whole rows) the blocks are independent and launch with programmatic dependent launch (pdl.h) instead.
  const bool cluster = split > 1 && (MODE == QuantMode::Fp8PerToken || MODE == QuantMode::Int8PerToken);
  cudaLaunchAttribute attr[1];
  if (cluster) {
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = split;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
  } else {
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
  }
  cfg.attrs = attr;
  cfg.numAttrs = cluster || pdl_enabled() ? 1 : 0;
  check(cudaLaunchKernelEx(&cfg, k, static_cast<const uint16_t*>(g), static_cast<const uint16_t*>(u), ld, F,
                           static_cast<uint16_t*>(out), qo, gin, uin), "silu_mul_quant");
}

template <ActDtype A>
void launch_a(const void* g, const void* u, int ld, int T, int F, void* out, const QuantOut& qo, cudaStream_t stream,
              const ScaledIn& gin, const ScaledIn& uin) {
  switch (qo.mode) {
    case QuantMode::None: launch_m<A, QuantMode::None>(g, u, ld, T, F, out, qo, stream, gin, uin); break;
    case QuantMode::Fp8PerToken: launch_m<A, QuantMode::Fp8PerToken>(g, u, ld, T, F, out, qo, stream, gin, uin); break;
    case QuantMode::Int8PerToken: launch_m<A, QuantMode::Int8PerToken>(g, u, ld, T, F, out, qo, stream, gin, uin); break;
    case QuantMode::Fp8Static: launch_m<A, QuantMode::Fp8Static>(g, u, ld, T, F, out, qo, stream, gin, uin); break;
    case QuantMode::Int8Static: launch_m<A, QuantMode::Int8Static>(g, u, ld, T, F, out, qo, stream, gin, uin); break;
  }
}

}  // namespace

void silu_mul_quant(const void* g, const void* u, int ld, ActDtype act, int T, int F, void* out, const QuantOut& quant,
                    cudaStream_t stream, const ScaledIn& gin, const ScaledIn& uin) {
  const char* name = "silu_mul_quant";
  require((!gin.s_a || gin.s_w) && (!uin.s_a || uin.s_w), name, "scaled input needs s_w");
  require(act == ActDtype::F16 || act == ActDtype::BF16, name, "act must be F16 or BF16");
  require(F > 0 && F % 16 == 0 && F <= 98304, name, "F must be a positive multiple of 16, at most 98304");
  require(ld % 8 == 0 && ld >= F, name, "ld must be a multiple of 8 and >= F");
  require(out != nullptr || quant.mode != QuantMode::None, name, "nothing to write: out is null and no quantization");
  require(quant.mode == QuantMode::None || (quant.q && quant.scale), name, "quantization needs q and scale");
  for (const void* p : {g, u, (const void*)out, (const void*)quant.q})
    require(((uintptr_t)p % 16) == 0, name, "pointers must be 16-byte aligned");
  if (T <= 0) return;
  if (act == ActDtype::BF16)
    launch_a<ActDtype::BF16>(g, u, ld, T, F, out, quant, stream, gin, uin);
  else
    launch_a<ActDtype::F16>(g, u, ld, T, F, out, quant, stream, gin, uin);
  check_launch(name);
}

}  // namespace qb::cuda
