// Embedding, residual+RMSNorm, RoPE, SiLU*mul, add: CPU reference.
#include <cmath>
#include <cstring>

#include "kernels/reference.h"
#include "common/parallel.h"

namespace qb::cpu {

void embedding(const float* table, const int32_t* tokens, int T, int D, float* out, ActDtype act) {
  for (int t = 0; t < T; ++t) {
    const float* row = table + (size_t)tokens[t] * D;
    for (int i = 0; i < D; ++i) out[(size_t)t * D + i] = round_act(row[i], act);
  }
}

void rmsnorm_residual(const float* x, float* residual, const float* w, int T, int D, float eps, float* out,
                      ActDtype act) {
  parallel_for(T, 8, [&](long b, long e) {
    for (long t = b; t < e; ++t) {
      const float* xr = x + (size_t)t * D;
      const float* v = xr;
      if (residual) {
        float* r = residual + (size_t)t * D;
        for (int i = 0; i < D; ++i) r[i] = round_act(xr[i] + r[i], act);
        v = r;
      }
      double ss = 0;
      for (int i = 0; i < D; ++i) ss += (double)v[i] * v[i];
      float inv = 1.0f / std::sqrt((float)(ss / D) + eps);
      float* o = out + (size_t)t * D;
      for (int i = 0; i < D; ++i) o[i] = round_act(v[i] * inv * w[i], act);
    }
  });
}

void rope(float* x, const int32_t* positions, int T, int H, int Dh, const float* cos_tab, const float* sin_tab,
          ActDtype act) {
  int half = Dh / 2;
  parallel_for(T, 64, [&](long tb, long te) {
    for (long t = tb; t < te; ++t) {
      const float* c = cos_tab + (size_t)positions[t] * half;
      const float* s = sin_tab + (size_t)positions[t] * half;
      for (int h = 0; h < H; ++h) {
        float* v = x + ((size_t)t * H + h) * Dh;
        for (int i = 0; i < half; ++i) {
          float a = v[i], b = v[i + half];
          v[i] = round_act(a * c[i] - b * s[i], act);
          v[i + half] = round_act(b * c[i] + a * s[i], act);
        }
      }
    }
  });
}

void silu_mul(const float* g, const float* u, int T, int F, float* out, ActDtype act) {
  parallel_for(T, 16, [&](long tb, long te) {
    for (size_t i = (size_t)tb * F; i < (size_t)te * F; ++i) {
      out[i] = round_act(silu_f32(g[i]) * u[i], act);
    }
  });
}

void add(const float* a, const float* b, size_t n, float* y, ActDtype act) {
  for (size_t i = 0; i < n; ++i) y[i] = round_act(a[i] + b[i], act);
}

}  // namespace qb::cpu
