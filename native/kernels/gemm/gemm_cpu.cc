// GEMMs: 16-bit/fp32 (double accumulation), W8A8 int8 (exact int32 accumulation), FP8 e4m3 (exact products,
// double accumulation). Weights are [N, K] row-major (nn.Linear layout). Parallel over output channels.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/reference.h"
#include "common/parallel.h"

namespace qb::cpu {

// The reference arithmetic of one output y[t, n] (what every kernel below computes, lane by lane):
//   16-bit/fp32: four double partial sums s[k % 4] += (double)x[t, k] * w[n, k] over k in order (tail into s0),
//                y = round_act((float)((s0 + s1) + (s2 + s3)))
//   int8 W8A8:   exact int32 sum of x * w, y = round_act(dequant_epilogue((float)acc, s_act, s_w[n]))
//   FP8 e4m3:    two double partial sums (even/odd k, tail into a0) of the fp32 products (exact), y as for int8
// Kernels: NB output channels at once, one vector lane per channel, each lane doing exactly those operations in the
// same order, so results are bit-identical to the one-output-at-a-time scalar loops; the weights of a block are
// transposed into a small scratch per call. GCC vector extensions are element-wise IEEE operations; an AVX2 build
// is chosen at run time where the CPU has it (no FMA: products are rounded before the adds, as in scalar code, and
// float x float products are exact in double anyway).
namespace {
constexpr long kMinWork = 1 << 15;  // multiply-adds per thread before splitting
constexpr int NB = 4;
typedef double vd __attribute__((vector_size(8 * NB)));
typedef float vf __attribute__((vector_size(4 * NB)));
typedef int32_t vi __attribute__((vector_size(4 * NB)));

template <typename V>
V* aligned_scratch(std::vector<double>& buf, size_t n) {
  buf.resize((n * sizeof(V)) / sizeof(double) + 2 * sizeof(V) / sizeof(double));
  return reinterpret_cast<V*>((reinterpret_cast<uintptr_t>(buf.data()) + sizeof(V) - 1) & ~(uintptr_t)(sizeof(V) - 1));
}

struct FArgs {
  const float *x, *w;
  int T, N, K;
  float* y;
  ActDtype act;
};

__attribute__((always_inline)) inline void gemm_f_block(const FArgs& a, int n0, std::vector<double>& buf) {
  const int K = a.K, nb = std::min(NB, a.N - n0);
  vd* wt = aligned_scratch<vd>(buf, K);
  for (int k = 0; k < K; ++k) {
    vd v = vd{};
    for (int j = 0; j < nb; ++j) v[j] = (double)a.w[(size_t)(n0 + j) * K + k];
    wt[k] = v;
  }
  for (int t = 0; t < a.T; ++t) {
    const float* xr = a.x + (size_t)t * K;
    vd s0 = vd{}, s1 = vd{}, s2 = vd{}, s3 = vd{};
    int k = 0;
    for (; k + 4 <= K; k += 4) {
      s0 += (double)xr[k] * wt[k];
      s1 += (double)xr[k + 1] * wt[k + 1];
      s2 += (double)xr[k + 2] * wt[k + 2];
      s3 += (double)xr[k + 3] * wt[k + 3];
    }
    for (; k < K; ++k) s0 += (double)xr[k] * wt[k];
    vd r = (s0 + s1) + (s2 + s3);
    for (int j = 0; j < nb; ++j) a.y[(size_t)t * a.N + n0 + j] = round_act((float)r[j], a.act);
  }
}

struct QArgs {
  const void *xq, *wq;
  const float *s_a, *s_w;
  bool per_token;
  int T, N, K;
  float* y;
  ActDtype act;
};

__attribute__((always_inline)) inline void gemm_int8_block(const QArgs& a, int n0, std::vector<double>& buf) {
  const int K = a.K, nb = std::min(NB, a.N - n0);
  const int8_t* wq = static_cast<const int8_t*>(a.wq);
  const int8_t* xq = static_cast<const int8_t*>(a.xq);
  vi* wt = aligned_scratch<vi>(buf, K);
  for (int k = 0; k < K; ++k) {
    vi v = vi{};
    for (int j = 0; j < nb; ++j) v[j] = (int32_t)wq[(size_t)(n0 + j) * K + k];
    wt[k] = v;
  }
  for (int t = 0; t < a.T; ++t) {
    const int8_t* xr = xq + (size_t)t * K;
    vi acc = vi{};  // exact int32 sums: any order gives the same result
    for (int k = 0; k < K; ++k) acc += (int32_t)xr[k] * wt[k];
    float sa = a.per_token ? a.s_a[t] : a.s_a[0];
    for (int j = 0; j < nb; ++j)
      a.y[(size_t)t * a.N + n0 + j] = round_act(dequant_epilogue((float)acc[j], sa, a.s_w[n0 + j]), a.act);
  }
}

float fp8_lut[256];
const bool fp8_lut_ready = [] {
  for (int i = 0; i < 256; ++i) fp8_lut[i] = fp8e4m3_to_f32((uint8_t)i);
  return true;
}();

__attribute__((always_inline)) inline void gemm_fp8_block(const QArgs& a, int n0, std::vector<double>& buf) {
  const int K = a.K, nb = std::min(NB, a.N - n0);
  const uint8_t* wq = static_cast<const uint8_t*>(a.wq);
  const uint8_t* xq = static_cast<const uint8_t*>(a.xq);
  vf* wt = aligned_scratch<vf>(buf, K);
  for (int k = 0; k < K; ++k) {
    vf v = vf{};
    for (int j = 0; j < nb; ++j) v[j] = fp8_lut[wq[(size_t)(n0 + j) * K + k]];
    wt[k] = v;
  }
  for (int t = 0; t < a.T; ++t) {
    const uint8_t* xr = xq + (size_t)t * K;
    vd a0 = vd{}, a1 = vd{};
    int k = 0;
    for (; k + 2 <= K; k += 2) {
      a0 += __builtin_convertvector(fp8_lut[xr[k]] * wt[k], vd);  // product exact in fp32
      a1 += __builtin_convertvector(fp8_lut[xr[k + 1]] * wt[k + 1], vd);
    }
    for (; k < K; ++k) a0 += __builtin_convertvector(fp8_lut[xr[k]] * wt[k], vd);
    vd acc = a0 + a1;
    float sa = a.per_token ? a.s_a[t] : a.s_a[0];
    for (int j = 0; j < nb; ++j)
      a.y[(size_t)t * a.N + n0 + j] = round_act(dequant_epilogue((float)acc[j], sa, a.s_w[n0 + j]), a.act);
  }
}

#define QB_BLOCK_RANGE(NAME, ARGS, BODY)                                                                   \
  void NAME##_range(const ARGS& a, long b, long e) {                                                      \
    std::vector<double> buf;                                                                               \
    for (long blk = b; blk < e; ++blk) BODY(a, (int)blk * NB, buf);                                         \
  }                                                                                                        \
  __attribute__((target("avx2"))) void NAME##_range_avx2(const ARGS& a, long b, long e) {                 \
    std::vector<double> buf;                                                                               \
    for (long blk = b; blk < e; ++blk) BODY(a, (int)blk * NB, buf);                                         \
  }
QB_BLOCK_RANGE(gemm_f, FArgs, gemm_f_block)
QB_BLOCK_RANGE(gemm_int8, QArgs, gemm_int8_block)
QB_BLOCK_RANGE(gemm_fp8, QArgs, gemm_fp8_block)
#undef QB_BLOCK_RANGE

bool has_avx2() {
  static const bool v = __builtin_cpu_supports("avx2");
  return v;
}

// Parallel over blocks of NB output channels, at least kMinWork multiply-adds per thread.
template <typename A>
void over_blocks(const A& a, void (*plain)(const A&, long, long), void (*avx2)(const A&, long, long)) {
  auto fn = has_avx2() ? avx2 : plain;
  long blocks = (a.N + NB - 1) / NB;
  long min_b = std::max<long>(1, kMinWork / std::max<long>(1, (long)a.T * a.K * NB));
  parallel_for(blocks, min_b, [&](long b, long e) { fn(a, b, e); });
}
}  // namespace

void gemm_f(const float* x, const float* w, int T, int N, int K, float* y, ActDtype act) {
  over_blocks(FArgs{x, w, T, N, K, y, act}, gemm_f_range, gemm_f_range_avx2);
}

void gemm_f_out_f32(const float* x, const float* w, int T, int N, int K, float* y) {
  gemm_f(x, w, T, N, K, y, ActDtype::F32);
}

void gemm_int8_w8a8(const int8_t* xq, const float* s_a, bool a_per_token, const int8_t* wq, const float* s_w, int T,
                    int N, int K, float* y, ActDtype act) {
  over_blocks(QArgs{xq, wq, s_a, s_w, a_per_token, T, N, K, y, act}, gemm_int8_range, gemm_int8_range_avx2);
}

void gemm_fp8(const uint8_t* xq, const float* s_a, bool a_per_token, const uint8_t* wq, const float* s_w, int T, int N,
              int K, float* y, ActDtype act) {
  over_blocks(QArgs{xq, wq, s_a, s_w, a_per_token, T, N, K, y, act}, gemm_fp8_range, gemm_fp8_range_avx2);
}

}  // namespace qb::cpu
