// Activation quantization (per-token dynamic int8/fp8, static per-tensor): CPU reference of numerics.h rules.
#include <cmath>

#include "kernels/reference.h"
#include "common/parallel.h"

namespace qb::cpu {
namespace {
float row_absmax(const float* x, int K) {
  float m = 0.0f;
  for (int k = 0; k < K; ++k) m = std::fmax(m, std::fabs(x[k]));
  return m;
}
}  // namespace

void quant_per_token_int8(const float* x, int T, int K, int8_t* q, float* scale) {
  parallel_for(T, 16, [&](long b, long e) {
    for (long t = b; t < e; ++t) {
      const float* r = x + (size_t)t * K;
      float s = int8_scale_from_absmax(row_absmax(r, K));
      float inv = inv_scale(s);
      scale[t] = s;
      for (int k = 0; k < K; ++k) q[(size_t)t * K + k] = quant_int8(r[k], inv);
    }
  });
}

void quant_per_token_fp8(const float* x, int T, int K, uint8_t* q, float* scale) {
  parallel_for(T, 16, [&](long b, long e) {
    for (long t = b; t < e; ++t) {
      const float* r = x + (size_t)t * K;
      float s = fp8_scale_from_absmax(row_absmax(r, K));
      float inv = inv_scale(s);
      scale[t] = s;
      for (int k = 0; k < K; ++k) q[(size_t)t * K + k] = quant_fp8(r[k], inv);
    }
  });
}

void quant_static_fp8(const float* x, int T, int K, float scale, uint8_t* q) {
  float inv = inv_scale(scale);
  size_t n = (size_t)T * K;
  for (size_t i = 0; i < n; ++i) q[i] = quant_fp8(x[i], inv);
}

void quant_static_int8(const float* x, int T, int K, float scale, int8_t* q) {
  float inv = inv_scale(scale);
  size_t n = (size_t)T * K;
  for (size_t i = 0; i < n; ++i) q[i] = quant_int8(x[i], inv);
}

}  // namespace qb::cpu
