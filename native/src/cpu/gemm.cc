// GEMMs: 16-bit/fp32 (double accumulation), W8A8 int8 (exact int32 accumulation), FP8 e4m3 (exact products,
// double accumulation). Weights are [N, K] row-major (nn.Linear layout). Parallel over output channels.
#include <cstring>
#include <vector>

#include "ops.h"
#include "parallel.h"

namespace qb::cpu {
namespace {
constexpr long kMinWork = 1 << 15;  // multiply-adds per thread before splitting

template <typename Body>
void over_outputs(int T, int N, int K, Body body) {
  long min_n = std::max<long>(1, kMinWork / std::max<long>(1, (long)T * K));
  parallel_for(N, min_n, [&](long b, long e) {
    for (long n = b; n < e; ++n) body((int)n);
  });
}
}  // namespace

void gemm_f(const float* x, const float* w, int T, int N, int K, float* y, ActDtype act) {
  over_outputs(T, N, K, [&](int n) {
    const float* wr = w + (size_t)n * K;
    for (int t = 0; t < T; ++t) {
      const float* xr = x + (size_t)t * K;
      double acc = 0;
      for (int k = 0; k < K; ++k) acc += (double)xr[k] * wr[k];
      y[(size_t)t * N + n] = round_act((float)acc, act);
    }
  });
}

void gemm_f_out_f32(const float* x, const float* w, int T, int N, int K, float* y) {
  gemm_f(x, w, T, N, K, y, ActDtype::F32);
}

void gemm_int8_w8a8(const int8_t* xq, const float* s_a, bool a_per_token, const int8_t* wq, const float* s_w, int T,
                    int N, int K, float* y, ActDtype act) {
  over_outputs(T, N, K, [&](int n) {
    const int8_t* wr = wq + (size_t)n * K;
    for (int t = 0; t < T; ++t) {
      const int8_t* xr = xq + (size_t)t * K;
      int32_t acc = 0;
      for (int k = 0; k < K; ++k) acc += (int32_t)xr[k] * (int32_t)wr[k];
      float sa = a_per_token ? s_a[t] : s_a[0];
      y[(size_t)t * N + n] = round_act(dequant_epilogue((float)acc, sa, s_w[n]), act);
    }
  });
}

void gemm_fp8(const uint8_t* xq, const float* s_a, bool a_per_token, const uint8_t* wq, const float* s_w, int T, int N,
              int K, float* y, ActDtype act) {
  static float lut[256];
  static bool init = [] {
    for (int i = 0; i < 256; ++i) lut[i] = fp8e4m3_to_f32((uint8_t)i);
    return true;
  }();
  (void)init;
  over_outputs(T, N, K, [&](int n) {
    const uint8_t* wr = wq + (size_t)n * K;
    for (int t = 0; t < T; ++t) {
      const uint8_t* xr = xq + (size_t)t * K;
      double acc = 0;
      for (int k = 0; k < K; ++k) acc += (double)(lut[xr[k]] * lut[wr[k]]);  // product exact in fp32
      float sa = a_per_token ? s_a[t] : s_a[0];
      y[(size_t)t * N + n] = round_act(dequant_epilogue((float)acc, sa, s_w[n]), act);
    }
  });
}

}  // namespace qb::cpu
