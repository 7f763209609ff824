// The CPU twin's quantization of activation rows by QuantMode, for checking the kernels that quantize their output
// (check_quant_fused.cc; native/dev/elementwise).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cuda_ops.h"
#include "kernels/reference.h"

namespace qbh {

inline bool is_fp8(qb::cuda::QuantMode m) {
  return m == qb::cuda::QuantMode::Fp8PerToken || m == qb::cuda::QuantMode::Fp8Static;
}
inline bool is_dynamic(qb::cuda::QuantMode m) {
  return m == qb::cuda::QuantMode::Fp8PerToken || m == qb::cuda::QuantMode::Int8PerToken;
}

// Codes q [T, K] of rows x; per-token modes write the scales into s (T of them), static ones read s[0].
inline void cpu_quant(qb::cuda::QuantMode m, const std::vector<float>& x, int T, int K, std::vector<uint8_t>& q,
                      std::vector<float>& s) {
  using qb::cuda::QuantMode;
  q.assign((size_t)T * K, 0);
  switch (m) {
    case QuantMode::Fp8PerToken: s.assign(T, 0.f); qb::cpu::quant_per_token_fp8(x.data(), T, K, q.data(), s.data()); break;
    case QuantMode::Int8PerToken: s.assign(T, 0.f); qb::cpu::quant_per_token_int8(x.data(), T, K, (int8_t*)q.data(), s.data()); break;
    case QuantMode::Fp8Static: qb::cpu::quant_static_fp8(x.data(), T, K, s[0], q.data()); break;
    case QuantMode::Int8Static: qb::cpu::quant_static_int8(x.data(), T, K, s[0], (int8_t*)q.data()); break;
    default: break;
  }
}

}  // namespace qbh
