// SiLU(g) * u, optionally fused with the output quantization. Twin: cpu::silu_mul (then cpu::quant_*).
// silu(g) = g / (1 + exp(-g)) in fp32 with numerics.h's exp_f32 (the CPU twin's bits; a double-precision exp made
// this kernel compute-bound at large batch).
// Two kernels. Without a per-row absmax (no quantization, or a static scale) every thread takes one or two pieces of
// 8 elements anywhere in the batch and quantizes them in registers (silu_mul_flat_kernel): the whole GPU streams the
// batch at once. With per-token quantization a block owns a row (silu_mul_kernel), which is split over up to 8 blocks
// when there are few tokens, combined through a thread-block cluster (distributed shared memory).
#include "kernels/cuda_ops.h"
#include "kernels/common/device_common.cuh"
#include "kernels/common/pdl.h"
#include "kernels/gemm_fused/row_quant.cuh"
#include "kernels/norm_quant/scaled_in.cuh"

namespace qb::cuda {
namespace {

// Threads of a row block: 512 for a few rows (split further over blocks), 256 from kRowsFor256 rows, where 512-thread
// blocks would take two waves (4 per SM) and 256-thread ones (7 per SM by their shared memory) take one.
constexpr int kRowsFor256 = 132 * 4;

// Per-token quantization (MODE Fp8PerToken / Int8PerToken): the row's outputs wait in shared memory for its absmax.
template <ActDtype A, QuantMode MODE, int NT>
__global__ void __launch_bounds__(NT)
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
#pragma unroll 4
  for (int i = lo + threadIdx.x * 8; i < hi; i += NT * 8) {
    uint4 gr = dev::load_in_8<A>(g, row * (size_t)ld + i, gin, gsa, i);
    uint4 ur = dev::load_in_8<A>(u, row * (size_t)ld + i, uin, usa, i);
    uint16_t* ge = reinterpret_cast<uint16_t*>(&gr);
    uint16_t* ue = reinterpret_cast<uint16_t*>(&ur);
    uint4 orr;
    uint16_t* oe = reinterpret_cast<uint16_t*>(&orr);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      oe[j] = AT::store(silu_f32(AT::load(ge[j])) * AT::load(ue[j]));
      amax = fmaxf(amax, fabsf(AT::load(oe[j])));
    }
    if (out) *reinterpret_cast<uint4*>(out + row * (size_t)F + i) = orr;
    *reinterpret_cast<uint4*>(vals + (i - lo)) = orr;
  }
  __syncthreads();
  dev::quantize_slice_smem<MODE, A>(vals, F, lo, hi, amax, qo, row, redf, &slot);
}

// One or UN pieces of 8 elements per thread, anywhere in the [T, F] batch (piece p: row p / (F / 8), column
// 8 * (p % (F / 8))); the outputs are quantized with the static scale in registers. Same arithmetic as
// silu_mul_kernel element by element, so the same bits.
template <ActDtype A, QuantMode MODE, int UN>
__global__ void __launch_bounds__(256)
    silu_mul_flat_kernel(const uint16_t* __restrict__ g, const uint16_t* __restrict__ u, int ld, int F, size_t pieces,
                         uint16_t* __restrict__ out, QuantOut qo, ScaledIn gin, ScaledIn uin) {
  using AT = dev::Act<A>;
  dev::pdl_wait();
  dev::pdl_trigger();
  const int per_row = F / 8;
  const size_t p0 = ((size_t)blockIdx.x * UN) * blockDim.x + threadIdx.x;
  uint4 gr[UN], ur[UN];
  size_t row[UN];
  int col[UN];
#pragma unroll
  for (int k = 0; k < UN; ++k) {  // every load first (int32 accumulators are finished as they load)
    const size_t p = p0 + (size_t)k * blockDim.x;
    row[k] = p / per_row;
    col[k] = (int)(p - row[k] * per_row) * 8;
    if (p < pieces) {
      if (gin.acc) {
        gr[k] = dev::load_in_8<A>(g, row[k] * (size_t)ld + col[k], gin, dev::scaled_in_row(gin, row[k]), col[k]);
        ur[k] = dev::load_in_8<A>(u, row[k] * (size_t)ld + col[k], uin, dev::scaled_in_row(uin, row[k]), col[k]);
      } else {
        gr[k] = dev::ldg16(g + row[k] * (size_t)ld + col[k]);
        ur[k] = dev::ldg16(u + row[k] * (size_t)ld + col[k]);
      }
    }
  }
  float inv = 0.0f;
  if constexpr (MODE != QuantMode::None) inv = inv_scale(*qo.scale);
#pragma unroll
  for (int k = 0; k < UN; ++k) {
    if (p0 + (size_t)k * blockDim.x >= pieces) break;
    uint16_t* ge = reinterpret_cast<uint16_t*>(&gr[k]);
    uint16_t* ue = reinterpret_cast<uint16_t*>(&ur[k]);
    if (gin.s_a && !gin.acc) dev::scaled_in_8<A>(ge, dev::scaled_in_row(gin, row[k]), gin, col[k]);
    if (uin.s_a && !uin.acc) dev::scaled_in_8<A>(ue, dev::scaled_in_row(uin, row[k]), uin, col[k]);
    uint4 orr;
    uint16_t* oe = reinterpret_cast<uint16_t*>(&orr);
#pragma unroll
    for (int j = 0; j < 8; ++j) oe[j] = AT::store(silu_f32(AT::load(ge[j])) * AT::load(ue[j]));
    if (out) *reinterpret_cast<uint4*>(out + row[k] * (size_t)F + col[k]) = orr;
    if constexpr (MODE != QuantMode::None) {
      using QT = dev::QuantTraits<MODE>;
      uint32_t w0 = 0, w1 = 0;
#pragma unroll
      for (int j = 0; j < 4; ++j) w0 |= (uint32_t)(uint8_t)QT::q(AT::load(oe[j]), inv) << (8 * j);
#pragma unroll
      for (int j = 0; j < 4; ++j) w1 |= (uint32_t)(uint8_t)QT::q(AT::load(oe[4 + j]), inv) << (8 * j);
      auto* q = static_cast<typename QT::Q*>(qo.q) + row[k] * (size_t)F + col[k];
      *reinterpret_cast<uint2*>(q) = make_uint2(w0, w1);
    }
  }
}

// Pieces from which each thread takes two (every thread slot of the GPU would otherwise hold at least two).
constexpr size_t kFlatTwoPieces = 132 * 2048;

template <ActDtype A, QuantMode MODE>
void launch_flat(const void* g, const void* u, int ld, int T, int F, void* out, const QuantOut& qo,
                 cudaStream_t stream, const ScaledIn& gin, const ScaledIn& uin) {
  const size_t pieces = (size_t)T * (F / 8);
  const bool two = pieces >= kFlatTwoPieces;
  const size_t blocks = (pieces + (two ? 512 : 256) - 1) / (two ? 512 : 256);
  auto* k = two ? silu_mul_flat_kernel<A, MODE, 2> : silu_mul_flat_kernel<A, MODE, 1>;
  launch_pdl("silu_mul_quant", k, dim3((unsigned)blocks), dim3(256), 0, stream, static_cast<const uint16_t*>(g),
             static_cast<const uint16_t*>(u), ld, F, pieces, static_cast<uint16_t*>(out), qo, gin, uin);
}

template <ActDtype A, QuantMode MODE>
void launch_m(const void* g, const void* u, int ld, int T, int F, void* out, const QuantOut& qo, cudaStream_t stream,
              const ScaledIn& gin, const ScaledIn& uin) {
  const int split = dev::row_split(T, F / 8);
  const int per = ((F / 8 + split - 1) / split) * 8;
  const size_t smem = (size_t)per * 2;
  const bool narrow = T >= kRowsFor256;
  auto k = narrow ? silu_mul_kernel<A, MODE, 256> : silu_mul_kernel<A, MODE, 512>;
  if (smem > 48 * 1024) check(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem), "silu_mul_quant (smem attribute)");
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(split, T);
  cfg.blockDim = dim3(narrow ? 256 : 512);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  // A split row is a thread-block cluster (its blocks combine the row's absmax); whole rows launch with programmatic
  // dependent launch (pdl.h) instead.
  const bool cluster = split > 1;
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
    case QuantMode::None: launch_flat<A, QuantMode::None>(g, u, ld, T, F, out, qo, stream, gin, uin); break;
    case QuantMode::Fp8PerToken: launch_m<A, QuantMode::Fp8PerToken>(g, u, ld, T, F, out, qo, stream, gin, uin); break;
    case QuantMode::Int8PerToken: launch_m<A, QuantMode::Int8PerToken>(g, u, ld, T, F, out, qo, stream, gin, uin); break;
    case QuantMode::Fp8Static: launch_flat<A, QuantMode::Fp8Static>(g, u, ld, T, F, out, qo, stream, gin, uin); break;
    case QuantMode::Int8Static: launch_flat<A, QuantMode::Int8Static>(g, u, ld, T, F, out, qo, stream, gin, uin); break;
  }
}

}  // namespace

void silu_mul_quant(const void* g, const void* u, int ld, ActDtype act, int T, int F, void* out, const QuantOut& quant,
                    cudaStream_t stream, const ScaledIn& gin, const ScaledIn& uin) {
  const char* name = "silu_mul_quant";
  require((!gin.s_a || gin.s_w) && (!uin.s_a || uin.s_w), name, "scaled input needs s_w");
  require(!gin.acc == !uin.acc, name, "g and u: both int32 accumulators or neither");
  for (const ScaledIn* si : {&gin, &uin})
    require(!si->acc || (si->s_a && (uintptr_t)si->acc % 16 == 0), name,
            "int32 accumulators need s_a and 16-byte alignment");
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
