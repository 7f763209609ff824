// SiLU(g) * u (+ quantization) variants (session 20, not yet run), against the product's flat kernel
// (kernels/norm_quant/silu_mul_quant.cu, silu_mul_flat_kernel: the static-scale and unquantized modes).
// Why: session 14's ncu (results/gpu-h200-session14-a166241) has the product's SiLU bound by its arithmetic, not its
// bytes: 57 MB in 34.4 µs at batch 800 (1.7 TB/s), 79.2 µs for a 2048-token prefill (1.9 TB/s) — per element two
// finished inputs (bf16 accumulator x scales, rounded to the act dtype), exp_f32 (Cody-Waite, a degree-6 polynomial,
// two exact power-of-two products), an IEEE division and the quantization: about 50 instructions, where the bytes
// allow ~34 at the capped clock.
//   v1 "exact": exp_f32_v1 (exp_v1.h: exp_f32 with the power of two added to the exponent field when the result is a
//      normal float, the two-product path otherwise), bit-identical to exp_f32 for every float (swept on the CPU and
//      on the device) — so the product could take it without a numerics change.
//   v2 "mufu": silu(g) = __fdividef(g, 1 + __expf(-g)) (the SFU's ex2 and rcp approximations, a few ulp of fp32):
//      a numerics change — the CPU twin cannot reproduce the SFU's bits, so it would agree within the harness's
//      tolerance only (1 ulp in at most 0.1 % of elements for the fused kernels). The main prints how many outputs
//      differ from the twin, to decide on data whether the fp16 / bf16 rounding hides the approximation.
#pragma once
#include "kernels/common/device_common.cuh"
#include "kernels/common/pdl.h"
#include "kernels/cuda_ops.h"
#include "kernels/gemm_fused/row_quant.cuh"
#include "kernels/norm_quant/scaled_in.cuh"
#include "dev/elementwise/exp_v1.h"

namespace qb::cuda::devx {

enum class SiluMath { Exact, Mufu, MufuCW };

// v3 "mufu-cw": exp(x) = 2^n * 2^(r log2 e) with exp_f32's Cody-Waite reduction (r = x - n ln 2 in two fma, |r| <=
// ln 2 / 2) and the SFU's ex2 on the small argument only (its relative error does not grow with |x| as __expf's
// does), 2^n as an exponent add (x clamped to [-104, 88.72]; below 2^-125, e is 0: 1 + e rounds to 1 anyway), then
// g * __frcp_rn(1 + e) (IEEE reciprocal). A few fp32 ulp from exp_f32's SiLU, about half its instructions.
__device__ __forceinline__ float silu_mufu_cw(float g) {
  const float x = fminf(fmaxf(-g, -104.0f), 88.7228394f);  // a NaN g gives x = -104 here and NaN from g * y below
  const float n = rintf(__fmul_rn(x, 1.44269504f));
  float r = __fmaf_rn(n, -0.693145751953125f, x);
  r = __fmaf_rn(n, -1.42860677e-06f, r);
  float e;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(__fmul_rn(r, 1.44269504f)));
  const int k = (int)n;  // in [-150, 128]; e in [0.7, 1.42]
  const int k1 = min(k, 127);  // k = 128 (x near 88.72): 2^127 by the add, then x 2 (finite or inf, as exp_f32)
  e = k >= -125 ? __uint_as_float(__float_as_uint(e) + ((uint32_t)k1 << 23)) * (k > 127 ? 2.0f : 1.0f) : 0.0f;
  return g * __frcp_rn(1.0f + e);
}

template <SiluMath M>
__device__ __forceinline__ float silu_v(float g) {
  if constexpr (M == SiluMath::Exact) return g / (1.0f + qb::exp_f32_v1(-g));
  else if constexpr (M == SiluMath::Mufu) return __fdividef(g, 1.0f + __expf(-g));
  else return silu_mufu_cw(g);
}

// The product's silu_mul_flat_kernel with the SiLU of variant M and UN pieces of 8 per thread.
template <ActDtype A, QuantMode MODE, int UN, SiluMath M>
__global__ void __launch_bounds__(256)
    silu_mul_flat_v(const uint16_t* __restrict__ g, const uint16_t* __restrict__ u, int ld, int F, size_t pieces,
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
  for (int k = 0; k < UN; ++k) {
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
    for (int j = 0; j < 8; ++j) oe[j] = AT::store(silu_v<M>(AT::load(ge[j])) * AT::load(ue[j]));
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

// Same contract as qb::cuda::silu_mul_quant for the flat modes (None, Fp8Static, Int8Static).
template <ActDtype A, QuantMode MODE, int UN, SiluMath M>
void silu_mul_flat(const void* g, const void* u, int ld, int T, int F, void* out, const QuantOut& qo,
                   cudaStream_t stream, const ScaledIn& gin, const ScaledIn& uin) {
  static_assert(MODE == QuantMode::None || MODE == QuantMode::Fp8Static || MODE == QuantMode::Int8Static,
                "flat kernel: unquantized or static-scale modes");
  const char* name = M == SiluMath::Exact ? "silu v1 (exact, exponent add)" : M == SiluMath::Mufu ? "silu v2 (mufu)" : "silu v3 (mufu, Cody-Waite)";
  require(F % 16 == 0 && ld % 8 == 0, name, "F a multiple of 16, ld of 8");
  const size_t pieces = (size_t)T * (F / 8);
  if (pieces == 0) return;
  const size_t per_block = (size_t)UN * 256;
  launch_pdl(name, silu_mul_flat_v<A, MODE, UN, M>, dim3((unsigned)((pieces + per_block - 1) / per_block)), dim3(256), 0,
             stream, static_cast<const uint16_t*>(g), static_cast<const uint16_t*>(u), ld, F, pieces,
             static_cast<uint16_t*>(out), qo, gin, uin);
  check_launch(name);
}

// The product's silu_mul_kernel (per-token quantization: a block, or a cluster of up to 8 blocks, owns a row; the
// row's outputs wait in shared memory for its absmax) with the SiLU of variant M.
template <ActDtype A, QuantMode MODE, int NT, SiluMath M>
__global__ void __launch_bounds__(NT)
    silu_mul_row_v(const uint16_t* __restrict__ g, const uint16_t* __restrict__ u, int ld, int F, uint16_t* __restrict__ out,
                   QuantOut qo, ScaledIn gin, ScaledIn uin) {
  using AT = dev::Act<A>;
  extern __shared__ __align__(16) uint16_t vals[];
  __shared__ float redf[32];
  __shared__ float slot;
  dev::pdl_wait();
  dev::pdl_trigger();
  const size_t row = blockIdx.y;
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
      oe[j] = AT::store(silu_v<M>(AT::load(ge[j])) * AT::load(ue[j]));
      amax = fmaxf(amax, fabsf(AT::load(oe[j])));
    }
    if (out) *reinterpret_cast<uint4*>(out + row * (size_t)F + i) = orr;
    *reinterpret_cast<uint4*>(vals + (i - lo)) = orr;
  }
  __syncthreads();
  dev::quantize_slice_smem<MODE, A>(vals, F, lo, hi, amax, qo, row, redf, &slot);
}

// Same contract as qb::cuda::silu_mul_quant for the per-token modes, with the product's launch shape (launch_m).
template <ActDtype A, QuantMode MODE, SiluMath M>
void silu_mul_row(const void* g, const void* u, int ld, int T, int F, void* out, const QuantOut& qo, cudaStream_t stream,
                  const ScaledIn& gin, const ScaledIn& uin) {
  static_assert(MODE == QuantMode::Fp8PerToken || MODE == QuantMode::Int8PerToken, "row kernel: per-token modes");
  const char* name = M == SiluMath::Exact ? "silu v1 row (exact, exponent add)" : M == SiluMath::Mufu ? "silu v2 row (mufu)" : "silu v3 row (mufu, Cody-Waite)";
  if (T <= 0) return;
  constexpr int kRowsFor256 = 132 * 4;  // the product's: 256-thread blocks from this many rows
  const int split = dev::row_split(T, F / 8);
  const int per = ((F / 8 + split - 1) / split) * 8;
  const size_t smem = (size_t)per * 2;
  const bool narrow = T >= kRowsFor256;
  auto k = narrow ? silu_mul_row_v<A, MODE, 256, M> : silu_mul_row_v<A, MODE, 512, M>;
  if (smem > 48 * 1024) check(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem), name);
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(split, T);
  cfg.blockDim = dim3(narrow ? 256 : 512);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  if (split > 1) {
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = split;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
  } else {
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
  }
  cfg.attrs = attr;
  cfg.numAttrs = split > 1 || pdl_enabled() ? 1 : 0;
  check(cudaLaunchKernelEx(&cfg, k, static_cast<const uint16_t*>(g), static_cast<const uint16_t*>(u), ld, F,
                           static_cast<uint16_t*>(out), qo, gin, uin), name);
}

// exp_f32_v1 against exp_f32 for the floats [lo, lo + n) (as bit patterns): mismatches counted in *bad, the first
// mismatching pattern in *first (atomicMin).
__global__ void exp_v1_sweep(uint32_t lo, uint32_t n, unsigned long long* bad, uint32_t* first) {
  unsigned long long local = 0;
  uint32_t f = 0xffffffffu;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const float x = __uint_as_float(lo + i);
    const float a = exp_f32(x), b = qb::exp_f32_v1(x);
    if (__float_as_uint(a) != __float_as_uint(b) && !(a != a && b != b)) {
      ++local;
      f = min(f, lo + i);
    }
  }
  if (local) {
    atomicAdd(bad, local);
    atomicMin(first, f);
  }
}

}  // namespace qb::cuda::devx
