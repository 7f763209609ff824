#include "schemes/weight_quant.h"

#include <algorithm>
#include <cmath>

#include "common/numerics.h"

namespace qb {

void quant_weight_int8_per_channel(const float* w, int N, int K, int8_t* q, float* s) {
  for (int n = 0; n < N; ++n) {
    const float* r = w + (size_t)n * K;
    float m = 0;
    for (int k = 0; k < K; ++k) m = std::fmax(m, std::fabs(r[k]));
    s[n] = int8_scale_from_absmax(m);
    float inv = inv_scale(s[n]);
    for (int k = 0; k < K; ++k) q[(size_t)n * K + k] = quant_int8(r[k], inv);
  }
}

void quant_weight_fp8_per_channel(const float* w, int N, int K, uint8_t* q, float* s) {
  for (int n = 0; n < N; ++n) {
    const float* r = w + (size_t)n * K;
    float m = 0;
    for (int k = 0; k < K; ++k) m = std::fmax(m, std::fabs(r[k]));
    s[n] = fp8_scale_from_absmax(m);
    float inv = inv_scale(s[n]);
    for (int k = 0; k < K; ++k) q[(size_t)n * K + k] = quant_fp8(r[k], inv);
  }
}

float quant_weight_fp8_per_tensor(const float* w, int N, int K, uint8_t* q) {
  size_t n = (size_t)N * K;
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::fmax(m, std::fabs(w[i]));
  float s = fp8_scale_from_absmax(m);
  float inv = inv_scale(s);
  for (size_t i = 0; i < n; ++i) q[i] = quant_fp8(w[i], inv);
  return s;
}

std::vector<float> smoothquant_factors(const std::vector<float>& act_absmax, const std::vector<const float*>& weights,
                                       const std::vector<int>& rows, int K, float alpha) {
  std::vector<float> wmax(K, 0.0f);
  for (size_t g = 0; g < weights.size(); ++g)
    for (int n = 0; n < rows[g]; ++n)
      for (int k = 0; k < K; ++k) wmax[k] = std::fmax(wmax[k], std::fabs(weights[g][(size_t)n * K + k]));
  return smoothquant_factors_from_wmax(act_absmax, wmax, alpha);
}

std::vector<float> smoothquant_factors_from_wmax(const std::vector<float>& act_absmax, const std::vector<float>& wmax,
                                                 float alpha) {
  const int K = (int)wmax.size();
  std::vector<float> s(K, 1.0f);
  for (int k = 0; k < K; ++k) {
    if (act_absmax[k] > 0 && wmax[k] > 0) {
      double v = std::pow((double)act_absmax[k], alpha) / std::pow((double)wmax[k], 1.0 - alpha);
      s[k] = (float)std::max(v, 1e-5);
    }
  }
  return s;
}

}  // namespace qb
