// Inputs for checking a consumer that finishes an unscaled linear output (qb::cuda::ScaledIn): random bf16
// accumulators and scales, and the finished act values the CPU twin then consumes.
#pragma once
#include <vector>

#include "kernels/cuda_ops.h"
#include "tools/harness_util.h"

namespace qbh {

struct ScaledFixture {
  DevBuf acc, sa, sw;  // bf16 accumulators [T, ld], s_a [T | 1], s_w [ld | 1]
  qb::cuda::ScaledIn si;
};

// Overwrites x[T, ld] (act dtype d) with round_act(dequant_epilogue(acc, s_a, s_w)) of fresh random accumulators and
// returns the device side: the accumulators as bf16 and the ScaledIn pointing at the scales.
inline ScaledFixture make_scaled(Rng& rng, std::vector<float>& x, int T, int ld, qb::ActDtype d, bool per_token,
                                 bool per_channel) {
  std::vector<float> acc = rand_act(rng, (size_t)T * ld, qb::ActDtype::BF16, 3000.0f);
  std::vector<float> sa(per_token ? T : 1), sw(per_channel ? ld : 1);
  for (auto& v : sa) v = rng.uniform(0.004f, 0.02f);
  for (auto& v : sw) v = rng.uniform(0.004f, 0.02f);
  for (int t = 0; t < T; ++t)
    for (int n = 0; n < ld; ++n) {
      const size_t i = (size_t)t * ld + n;
      x[i] = qb::round_act(qb::dequant_epilogue(acc[i], sa[per_token ? t : 0], sw[per_channel ? n : 0]), d);
    }
  ScaledFixture f{act_to_dev(acc, qb::ActDtype::BF16), to_dev(sa), to_dev(sw), {}};
  f.si = qb::cuda::ScaledIn{f.sa.as<float>(), f.sw.as<float>(), per_token, per_channel};
  return f;
}

}  // namespace qbh
