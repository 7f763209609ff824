// Weight quantization (host, once at load) and SmoothQuant folding. Semantics from common/numerics.h.
#pragma once
#include <cstdint>
#include <vector>

namespace qb {

// Per-output-channel symmetric int8: s[n] = int8_scale_from_absmax(max_k |w[n,k]|), q = quant_int8(w, 1/s[n]).
void quant_weight_int8_per_channel(const float* w, int N, int K, int8_t* q, float* s);
// Per-output-channel fp8 e4m3: s[n] = fp8_scale_from_absmax(row absmax).
void quant_weight_fp8_per_channel(const float* w, int N, int K, uint8_t* q, float* s);
// Per-tensor fp8 e4m3: one scale for the whole [N, K] tensor, returned.
float quant_weight_fp8_per_tensor(const float* w, int N, int K, uint8_t* q);

// SmoothQuant factors for a group of linears sharing one input (q/k/v, or gate/up):
// s_j = clamp(act_absmax_j^alpha / w_absmax_j^(1-alpha), 1e-5) with w_absmax_j = max over the group's rows of |W[:, j]|.
// Channels whose activation or weight absmax is 0 get s_j = 1.
// The same from precomputed per-column weight absmax (max over the group's rows of |W[:, j]|).
std::vector<float> smoothquant_factors_from_wmax(const std::vector<float>& act_absmax, const std::vector<float>& wmax,
                                                 float alpha);
std::vector<float> smoothquant_factors(const std::vector<float>& act_absmax, const std::vector<const float*>& weights,
                                       const std::vector<int>& rows, int K, float alpha);

}  // namespace qb
