// exp_f32 (common/numerics.h) with its final scaling by 2^k done as an add to the exponent field whenever the result
// is a normal float (k in [-125, 127]: y in [0.70, 1.42] has a biased exponent of 126 or 127), and the two exact
// power-of-two products otherwise. y * 2^k1 * 2^k2 is exact whenever y * 2^k is normal, and equals the exponent add,
// so the result is bit-identical to exp_f32 for every float: checked on the CPU for all 2^32 inputs
// (exp_v1_sweep_cpu.cc, session 20: 0 differ) and on the device by elementwise_main's exp sweep.
// Same form for host and device as numerics.h (explicit fma / mul / add, no contraction left to the compiler).
#pragma once
#include "common/numerics.h"

namespace qb {

QB_HD float exp_f32_v1(float x) {
  if (!(x == x)) return x;
  if (x > 88.7228394f) return INFINITY;
  if (x < -104.0f) return 0.0f;
#if defined(__CUDA_ARCH__)
  const float n = rintf(__fmul_rn(x, 1.44269504f));
#else
  const float n = std::nearbyint(x * 1.44269504f);
#endif
  float r = fma_f32(n, -0.693145751953125f, x);
  r = fma_f32(n, -1.42860677e-06f, r);
  float p = 1.98756915e-4f;
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
  const int k = (int)n;
  if (k >= -125 && k <= 127) return bits_f32(f32_bits(y) + ((uint32_t)k << 23));
  const int k1 = k / 2, k2 = k - k1;
  const float y1 = y * bits_f32((uint32_t)(k1 + 127) << 23);
  return y1 * bits_f32((uint32_t)(k2 + 127) << 23);
}

}  // namespace qb
