// exp_f32_v1 (exp_v1.h) against exp_f32 (common/numerics.h) for every one of the 2^32 float bit patterns, on the CPU
// (NaN outputs compare equal whatever their payload). Build and run from the repository root (about a minute on two
// cores):
//   g++ -O2 -std=c++17 -ffp-contract=off -I native -o /tmp/exp_v1_sweep native/dev/elementwise/exp_v1_sweep_cpu.cc -lpthread
//   /tmp/exp_v1_sweep
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "dev/elementwise/exp_v1.h"

int main() {
  const unsigned nt = std::max(1u, std::thread::hardware_concurrency());
  std::vector<unsigned long long> bad(nt, 0), first(nt, ~0ull);
  std::vector<std::thread> th;
  for (unsigned t = 0; t < nt; ++t)
    th.emplace_back([&, t] {
      for (uint64_t i = t; i < (1ull << 32); i += nt) {
        const float x = qb::bits_f32((uint32_t)i);
        const float a = qb::exp_f32(x), b = qb::exp_f32_v1(x);
        if (qb::f32_bits(a) != qb::f32_bits(b) && !(a != a && b != b)) {
          ++bad[t];
          first[t] = std::min<unsigned long long>(first[t], i);
        }
      }
    });
  for (auto& x : th) x.join();
  unsigned long long total = 0, f = ~0ull;
  for (unsigned t = 0; t < nt; ++t) total += bad[t], f = std::min(f, first[t]);
  std::printf("exp_f32_v1 vs exp_f32, all 2^32 floats: %llu differ\n", total);
  if (total) std::printf("first differing pattern 0x%08llx\n", f);
  return total ? 1 : 0;
}
