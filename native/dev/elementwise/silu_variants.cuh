// SiLU(g) * u (+ quantization) variants (session 20, not yet run), against the product's flat kernel
// (kernels/norm_quant/silu_mul_quant.cu, silu_mul_flat_kernel: the static-scale and unquantized modes).
// Why: session 14's ncu (results/gpu-h200-session14-a166241) has the product's SiLU bound by its arithmetic, not its
// bytes: 57 MB in 34.4 µs at batch 800 (1.7 TB/s), 79.2 µs for a 2048-token prefill (1.9 TB/s) — per element two
// finished inputs (bf16 accumulator x scales, rounded to the act dtype), exp_f32 (Cody-Waite, a degree-6 polynomial,
// two exact power-of-two products), an IEEE division and the quantization: about 50 instructions, where the bytes
// allow ~34 at the capped clock.
//   v1 "exact": exp_f32 with the power of two added to the exponent field when the result is a normal float (k in
//      [-125, 127], every finite exp above 2^-125), the two-product path otherwise. Bit-identical to exp_f32 for every
//      float (y in [0.70, 1.42]: y * 2^k1 * 2^k2 is exact whenever y * 2^k is normal, and equals the exponent add);
//      checked against exp_f32 on the device for every float input and against the product kernel's outputs.
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

namespace qb::cuda::devx {

// exp_f32 (common/numerics.h) with the final scaling by 2^k as an exponent add where the result is normal.
__device__ __forceinline__ float exp_f32_v1(float x) {
  if (!(x == x)) return x;
  if (x > 88.7228394f) return INFINITY;
  if (x < -104.0f) return 0.0f;
  const float n = rintf(__fmul_rn(x, 1.44269504f));
  float r = __fmaf_rn(n, -0.693145751953125f, x);
  r = __fmaf_rn(n, -1.42860677e-06f, r);
  float p = 1.98756915e-4f;
  p = __fmaf_rn(p, r, 1.39819995e-3f);
  p = __fmaf_rn(p, r, 8.33345191e-3f);
  p = __fmaf_rn(p, r, 4.16657959e-2f);
  p = __fmaf_rn(p, r, 1.66666655e-1f);
  p = __fmaf_rn(p, r, 5.00000012e-1f);
  const float r2 = __fmul_rn(r, r);
  const float y = __fadd_rn(__fmaf_rn(p, r2, r), 1.0f);
  const int k = (int)n;
  if (k >= -125 && k <= 127) return __uint_as_float(__float_as_uint(y) + ((uint32_t)k << 23));
  const int k1 = k / 2, k2 = k - k1;
  const float y1 = y * __uint_as_float((uint32_t)(k1 + 127) << 23);
  return y1 * __uint_as_float((uint32_t)(k2 + 127) << 23);
}

enum class SiluMath { Exact, Mufu };

template <SiluMath M>
__device__ __forceinline__ float silu_v(float g) {
  if constexpr (M == SiluMath::Exact) return g / (1.0f + exp_f32_v1(-g));
  else return __fdividef(g, 1.0f + __expf(-g));
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
  const char* name = M == SiluMath::Exact ? "silu v1 (exact, exponent add)" : "silu v2 (mufu)";
  require(F % 16 == 0 && ld % 8 == 0, name, "F a multiple of 16, ld of 8");
  const size_t pieces = (size_t)T * (F / 8);
  if (pieces == 0) return;
  const size_t per_block = (size_t)UN * 256;
  launch_pdl(name, silu_mul_flat_v<A, MODE, UN, M>, dim3((unsigned)((pieces + per_block - 1) / per_block)), dim3(256), 0,
             stream, static_cast<const uint16_t*>(g), static_cast<const uint16_t*>(u), ld, F, pieces,
             static_cast<uint16_t*>(out), qo, gin, uin);
  check_launch(name);
}

// exp_f32_v1 against exp_f32 for the floats [lo, lo + n) (as bit patterns): mismatches counted in *bad, the first
// mismatching pattern in *first (atomicMin).
__global__ void exp_v1_sweep(uint32_t lo, uint32_t n, unsigned long long* bad, uint32_t* first) {
  unsigned long long local = 0;
  uint32_t f = 0xffffffffu;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const float x = __uint_as_float(lo + i);
    const float a = exp_f32(x), b = exp_f32_v1(x);
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
