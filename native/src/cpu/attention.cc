// Paged KV cache write and causal GQA attention over the paged cache (varlen batch): CPU reference.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops.h"
#include "parallel.h"

namespace qb::cpu {

void kv_cache_write(const float* k, const float* v, const int32_t* slot_mapping, int T, int Hkv, int Dh, float* k_cache,
                    float* v_cache, int block_size) {
  size_t row = (size_t)Hkv * Dh;
  for (int t = 0; t < T; ++t) {
    size_t slot = (size_t)slot_mapping[t];
    for (size_t i = 0; i < row; ++i) {
      k_cache[slot * row + i] = k[(size_t)t * row + i];
      v_cache[slot * row + i] = v[(size_t)t * row + i];
    }
  }
}

void attention_paged(const float* q, const float* k_cache, const float* v_cache, const int32_t* seq_starts, int S,
                     const int32_t* positions, const int32_t* block_tables, int max_blocks, int H, int Hkv, int Dh,
                     int block_size, float scale, float* out, ActDtype act) {
  int T = seq_starts[S];
  std::vector<int> seq_of(T);
  for (int s = 0; s < S; ++s)
    for (int i = seq_starts[s]; i < seq_starts[s + 1]; ++i) seq_of[i] = s;
  int group = H / Hkv;
  size_t kv_row = (size_t)Hkv * Dh;
  parallel_for((long)T * H, 4, [&](long b, long e) {
    std::vector<double> scores;
    std::vector<double> acc(Dh);
    for (long th = b; th < e; ++th) {
      int t = (int)(th / H), h = (int)(th % H);
      int s = seq_of[t];
      int kvh = h / group;
      int ctx = positions[t] + 1;
      const int32_t* bt = block_tables + (size_t)s * max_blocks;
      const float* qv = q + ((size_t)t * H + h) * Dh;
      scores.assign(ctx, 0.0);
      double mx = -INFINITY;
      // walk the sequence's blocks in order: position p lives at block p / block_size, offset p % block_size
      for (int p0 = 0, blk = 0; p0 < ctx; p0 += block_size, ++blk) {
        const float* kb = k_cache + (size_t)bt[blk] * block_size * kv_row + (size_t)kvh * Dh;
        int n = std::min(block_size, ctx - p0);
        for (int o = 0; o < n; ++o) {
          const float* kv = kb + (size_t)o * kv_row;
          double d = 0;
          for (int i = 0; i < Dh; ++i) d += (double)qv[i] * kv[i];
          d = (float)(d * scale);  // fp32 scores
          scores[p0 + o] = d;
          if (d > mx) mx = d;
        }
      }
      double sum = 0;
      for (int p = 0; p < ctx; ++p) {
        scores[p] = std::exp((float)(scores[p] - mx));  // fp32 softmax numerators, summed in double
        sum += scores[p];
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int p0 = 0, blk = 0; p0 < ctx; p0 += block_size, ++blk) {
        const float* vb = v_cache + (size_t)bt[blk] * block_size * kv_row + (size_t)kvh * Dh;
        int n = std::min(block_size, ctx - p0);
        for (int o = 0; o < n; ++o) {
          const float* vv = vb + (size_t)o * kv_row;
          double w = scores[p0 + o] / sum;
          for (int i = 0; i < Dh; ++i) acc[i] += w * vv[i];
        }
      }
      float* o = out + ((size_t)t * H + h) * Dh;
      for (int i = 0; i < Dh; ++i) o[i] = round_act((float)acc[i], act);
    }
  });
}

}  // namespace qb::cpu
