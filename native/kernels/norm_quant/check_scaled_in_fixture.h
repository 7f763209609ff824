// Inputs for checking a consumer that finishes an unscaled linear output (qb::cuda::ScaledIn): random bf16
// accumulators and scales, and the finished act values the CPU twin then consumes.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cuda_ops.h"
#include "tools/harness_util.h"

namespace qbh {

struct ScaledFixture {
  DevBuf acc, sa, sw;  // bf16 accumulators [T, ld] (i32: a poisoned 16-bit buffer the consumer must not read), s_a, s_w
  DevBuf acc32;        // i32: the int32 accumulators [T, ld]
  qb::cuda::ScaledIn si;
};

// Overwrites x[T, ld] (act dtype d) with round_act(dequant_epilogue(acc, s_a, s_w)) of fresh random accumulators and
// returns the device side: the accumulators as bf16 and the ScaledIn pointing at the scales. i32: int32 accumulators
// (the int8 path: most within +-2^20, one in ten up to +-2^26, where the conversion to float rounds) in acc32 and
// ScaledIn::acc, and acc a 16-bit buffer of 0xff bytes (NaN) in their place; i32_sa scales the row scales down so
// that the finished values stay within f16's range (|y| up to ~1,340 with the default; a consumer that multiplies two
// inputs, SiLU·mul, needs a smaller one).
inline ScaledFixture make_scaled(Rng& rng, std::vector<float>& x, int T, int ld, qb::ActDtype d, bool per_token,
                                 bool per_channel, bool i32 = false, float i32_sa = 0.05f) {
  const size_t n = (size_t)T * ld;
  std::vector<float> acc;
  std::vector<int32_t> acc32;
  if (i32) {
    acc32.resize(n);
    for (auto& v : acc32)
      v = rng.integer(0, 9) == 0 ? rng.integer(-(1 << 26), 1 << 26) : (int32_t)std::lround(rng.normal(1 << 18));
  } else {
    acc = rand_act(rng, n, qb::ActDtype::BF16, 3000.0f);
  }
  std::vector<float> sa(per_token ? T : 1), sw(per_channel ? ld : 1);
  for (auto& v : sa) v = rng.uniform(0.004f, 0.02f);
  for (auto& v : sw) v = rng.uniform(0.004f, 0.02f);
  if (i32)  // the int8 path's scales are smaller: keep y = acc * s_a * s_w within f16's range
    for (auto& v : sa) v *= i32_sa;
  for (int t = 0; t < T; ++t)
    for (int c = 0; c < ld; ++c) {
      const size_t i = (size_t)t * ld + c;
      const float a = i32 ? (float)acc32[i] : acc[i];
      x[i] = qb::round_act(qb::dequant_epilogue(a, sa[per_token ? t : 0], sw[per_channel ? c : 0]), d);
    }
  ScaledFixture f;
  if (i32) {
    f.acc = DevBuf(n * 2);
    f.acc.poison();
    f.acc32 = to_dev(acc32);
  } else {
    f.acc = act_to_dev(acc, qb::ActDtype::BF16);
  }
  f.sa = to_dev(sa);
  f.sw = to_dev(sw);
  f.si = qb::cuda::ScaledIn{f.sa.as<float>(), f.sw.as<float>(), per_token, per_channel,
                            i32 ? f.acc32.as<int32_t>() : nullptr};
  return f;
}

}  // namespace qbh
