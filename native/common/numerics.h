// Numeric formats and quantization semantics shared by the CPU reference and the CUDA backend.
// Every function here is the definition: a CUDA kernel must produce the same bits for the same inputs
// (except fp32 accumulation order in GEMMs and attention).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#define QB_HD __host__ __device__ __forceinline__
#else
#define QB_HD inline
#endif

namespace qb {

// ---------------------------------------------------------------------------------------------------------------
// bit casts
QB_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
QB_HD float bits_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// ---------------------------------------------------------------------------------------------------------------
// IEEE binary16 (fp16): round to nearest even, overflow to inf, NaN kept (quiet).
// On the GPU the conversions below are single cvt instructions with the same rounding (round to nearest even,
// subnormals kept, overflow to inf / fp8 saturation); only NaN payloads may differ. The bit-level code is the
// definition and runs on the CPU; the kernel checks compare the two bit for bit.
QB_HD uint16_t f32_to_f16_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __half_as_ushort(__float2half_rn(f));
#endif
  uint32_t x = f32_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);          // NaN
  if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);         // >= 65520 rounds to inf
  if (absx < 0x38800000u) {                                           // below 2^-14: subnormal or zero
    // value * 2^24 rounded to nearest even gives the subnormal mantissa (may carry into the min normal)
    float a = bits_f32(absx);
    float m = a * 16777216.0f;  // exact: power of two scaling of a small number
#if defined(__CUDA_ARCH__)
    uint32_t q = (uint32_t)__float2uint_rn(m);
#else
    uint32_t q = (uint32_t)std::nearbyint(m);
#endif
    return (uint16_t)(sign | q);
  }
  uint32_t mant = absx & 0x7fffffu;
  uint32_t exp = (absx >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h += 1;  // carries into exponent correctly
  return (uint16_t)(sign | h);
}

QB_HD float f16_bits_to_f32(uint16_t h) {
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(h));
#endif
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = (float)mant * (1.0f / 16777216.0f);  // mant * 2^-24
    return sign ? -v : v;
  }
  if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
  return bits_f32(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

// bfloat16: round to nearest even, NaN kept (quiet).
QB_HD uint16_t f32_to_bf16_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __bfloat16_as_ushort(__float2bfloat16_rn(f));
#endif
  uint32_t x = f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return (uint16_t)(x >> 16);
}
QB_HD float bf16_bits_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

// Activation dtype between ops. fp32 mode keeps full precision (the reference mode).
enum class ActDtype : int { F32 = 0, F16 = 1, BF16 = 2 };

// Round a float to the activation dtype and back (what storing it as that dtype does).
QB_HD float round_act(float v, ActDtype d) {
  switch (d) {
    case ActDtype::F16: return f16_bits_to_f32(f32_to_f16_bits(v));
    case ActDtype::BF16: return bf16_bits_to_f32(f32_to_bf16_bits(v));
    default: return v;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// FP8 E4M3 ("e4m3fn"): bias 7, no infinities, NaN = S.1111.111, max finite 448, min subnormal 2^-9.
// Encoding: round to nearest even, saturate to +-448 (satfinite), NaN -> 0x7f (with sign).
constexpr float kFp8Max = 448.0f;

QB_HD uint8_t f32_to_fp8e4m3(float f) {
#if defined(__CUDA_ARCH__)
  return (uint8_t)__nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3);
#endif
  uint32_t x = f32_bits(f);
  uint8_t sign = (uint8_t)((x >> 24) & 0x80u);
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return (uint8_t)(sign | 0x7fu);
  float a = bits_f32(absx);
  if (a >= kFp8Max) return (uint8_t)(sign | 0x7eu);  // saturate (inf too)
  if (a < 0.015625f) {                                // below 2^-6: subnormals, q * 2^-9, q in 0..8
#if defined(__CUDA_ARCH__)
    uint32_t q = (uint32_t)__float2uint_rn(a * 512.0f);
#else
    uint32_t q = (uint32_t)std::nearbyint(a * 512.0f);
#endif
    return (uint8_t)(sign | q);  // q == 8 is exactly the min normal's code
  }
  int e = (int)((absx >> 23) & 0xffu) - 127;  // a normal float here
  uint32_t mant = absx & 0x7fffffu;
  uint32_t m = mant >> 20;
  uint32_t rest = mant & 0xfffffu;
  if (rest > 0x80000u || (rest == 0x80000u && (m & 1u))) m += 1;
  uint32_t code = ((uint32_t)(e + 7) << 3) + m;  // m == 8 carries into the exponent
  if (code > 0x7eu) code = 0x7eu;
  return (uint8_t)(sign | code);
}

QB_HD float fp8e4m3_to_f32(uint8_t c) {
#if defined(__CUDA_ARCH__)
  return __half2float(__half(__nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)c, __NV_E4M3)));
#endif
  uint32_t sign = (uint32_t)(c & 0x80u) << 24;
  uint32_t exp = (c >> 3) & 0xfu;
  uint32_t mant = c & 0x7u;
  if (exp == 15 && mant == 7) return bits_f32(sign | 0x7fc00000u);
  if (exp == 0) {
    float v = (float)mant * 0.001953125f;  // 2^-9
    return sign ? -v : v;
  }
  return bits_f32(sign | ((exp - 7 + 127) << 23) | (mant << 20));
}

// ---------------------------------------------------------------------------------------------------------------
// INT8: round half to even, saturate to [-128, 127].
QB_HD int8_t f32_to_int8_sat(float v) {
  if (v != v) return 0;
#if defined(__CUDA_ARCH__)
  float r = rintf(v);
#else
  float r = std::nearbyint(v);
#endif
  if (r > 127.0f) r = 127.0f;
  if (r < -128.0f) r = -128.0f;
  return (int8_t)r;
}

// ---------------------------------------------------------------------------------------------------------------
// Quantization scales.
constexpr float kInt8Max = 127.0f;
// Floors keep the reciprocal finite for an all-zero token (vLLM's fp8 floor; the int8 one is its analogue).
constexpr float kFp8ScaleFloor = 1.0f / (448.0f * 512.0f);
constexpr float kInt8ScaleFloor = 1.0f / (127.0f * 512.0f);

QB_HD float fp8_scale_from_absmax(float absmax) {
  float s = absmax / kFp8Max;
  return s > kFp8ScaleFloor ? s : kFp8ScaleFloor;
}
QB_HD float int8_scale_from_absmax(float absmax) {
  float s = absmax / kInt8Max;
  return s > kInt8ScaleFloor ? s : kInt8ScaleFloor;
}
// Quantize one value with scale s: q = cvt(x * (1/s)); the reciprocal is formed once per scale, in fp32.
QB_HD float inv_scale(float s) { return 1.0f / s; }
QB_HD uint8_t quant_fp8(float x, float inv_s) { return f32_to_fp8e4m3(x * inv_s); }
QB_HD int8_t quant_int8(float x, float inv_s) { return f32_to_int8_sat(x * inv_s); }

// Dequant epilogue of a quantized GEMM: y = acc * (s_act * s_w), fp32, then rounded to the activation dtype.
// One documented GPU deviation: fp8 GEMMs with M > 16 run through cuBLASLt with a bf16 output, so there acc is the
// fp32 accumulator rounded to bf16 before this epilogue (cuda_ops.h ScaledIn; relative 2^-9).
QB_HD float dequant_epilogue(float acc, float s_act, float s_w) { return acc * (s_act * s_w); }

// ---------------------------------------------------------------------------------------------------------------
// exp in fp32 for SiLU, the same bits on the CPU and the GPU: Cody-Waite reduction by ln 2 and a degree-6 polynomial,
// every step an IEEE fma / mul / add (no contraction left to the compiler), scaled by two exact powers of two.
// Within 1.013 ulp of exp for every float in range (checked exhaustively on the CPU against double exp, session 12).
// silu_mul (GPU kernel and CPU twin) uses it: the GPU's double-precision exp made that kernel compute-bound (batch
// 800: 45.8 us per layer for 57 MB). The fused small-M NormSiluMul epilogue keeps the double exp (its register bound,
// native/dev/README.md), so fused and unfused SiLU may differ by an ulp in rare elements (check_gemm_fused.cc).
QB_HD float fma_f32(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}
QB_HD float exp_f32(float x) {
  if (!(x == x)) return x;              // NaN
  if (x > 88.7228394f) return INFINITY;  // above log(FLT_MAX)
  if (x < -104.0f) return 0.0f;          // below half the smallest subnormal
#if defined(__CUDA_ARCH__)
  const float n = rintf(__fmul_rn(x, 1.44269504f));
#else
  const float n = std::nearbyint(x * 1.44269504f);
#endif
  float r = fma_f32(n, -0.693145751953125f, x);  // ln 2 = hi + lo, hi with 12 trailing zero bits: n * hi is exact
  r = fma_f32(n, -1.42860677e-06f, r);
  float p = 1.98756915e-4f;  // Cephes expf coefficients on |r| <= ln(2)/2
  p = fma_f32(p, r, 1.39819995e-3f);
  p = fma_f32(p, r, 8.33345191e-3f);
  p = fma_f32(p, r, 4.16657959e-2f);
  p = fma_f32(p, r, 1.66666655e-1f);
  p = fma_f32(p, r, 5.00000012e-1f);
#if defined(__CUDA_ARCH__)
  const float r2 = __fmul_rn(r, r);
  const float y = __fadd_rn(fma_f32(p, r2, r), 1.0f);
#else
  const float r2 = r * r;
  const float y = fma_f32(p, r2, r) + 1.0f;
#endif
  const int k = (int)n, k1 = k / 2, k2 = k - k1;  // 2^k as two normal powers of two: the first product is exact
  const float y1 = y * bits_f32((uint32_t)(k1 + 127) << 23);
  return y1 * bits_f32((uint32_t)(k2 + 127) << 23);
}
// SiLU(g) = g / (1 + exp(-g)), the definition both backends use.
QB_HD float silu_f32(float g) { return g / (1.0f + exp_f32(-g)); }


}  // namespace qb
