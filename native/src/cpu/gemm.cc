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

// Dot product in double with four independent partial sums (for instruction-level parallelism).
static inline double dot_f64(const float* a, const float* b, int K) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int k = 0;
  for (; k + 4 <= K; k += 4) {
    s0 += (double)a[k] * b[k];
    s1 += (double)a[k + 1] * b[k + 1];
    s2 += (double)a[k + 2] * b[k + 2];
    s3 += (double)a[k + 3] * b[k + 3];
  }
  for (; k < K; ++k) s0 += (double)a[k] * b[k];
  return (s0 + s1) + (s2 + s3);
}

void gemm_f(const float* x, const float* w, int T, int N, int K, float* y, ActDtype act) {
  over_outputs(T, N, K, [&](int n) {
    const float* wr = w + (size_t)n * K;
    for (int t = 0; t < T; ++t) y[(size_t)t * N + n] = round_act((float)dot_f64(x + (size_t)t * K, wr, K), act);
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
      double a0 = 0, a1 = 0;
      int k = 0;
      for (; k + 2 <= K; k += 2) {
        a0 += (double)(lut[xr[k]] * lut[wr[k]]);  // product exact in fp32
        a1 += (double)(lut[xr[k + 1]] * lut[wr[k + 1]]);
      }
      for (; k < K; ++k) a0 += (double)(lut[xr[k]] * lut[wr[k]]);
      double acc = a0 + a1;
      float sa = a_per_token ? s_a[t] : s_a[0];
      y[(size_t)t * N + n] = round_act(dequant_epilogue((float)acc, sa, s_w[n]), act);
    }
  });
}

}  // namespace qb::cpu
