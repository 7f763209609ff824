// Paged KV cache write and causal GQA attention over the paged cache (varlen batch): CPU reference.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/reference.h"
#include "common/parallel.h"

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

void kv_cache_write_fp8(const float* k, const float* v, const int32_t* slot_mapping, int T, int Hkv, int Dh,
                        float k_scale, float v_scale, float* k_cache, float* v_cache, int block_size) {
  size_t row = (size_t)Hkv * Dh;
  for (int t = 0; t < T; ++t) {
    size_t slot = (size_t)slot_mapping[t];
    for (size_t i = 0; i < row; ++i) {
      k_cache[slot * row + i] = kv_fp8_roundtrip(k[(size_t)t * row + i], k_scale);
      v_cache[slot * row + i] = kv_fp8_roundtrip(v[(size_t)t * row + i], v_scale);
    }
  }
}

namespace {

// R query rows of one sequence and head are processed together: each lane of a vector is one row, and every lane
// does exactly the scalar reference's operations in the same order (double dot products over i, fp32 scores, fp32
// exp summed in double over positions in order, a true division by the sum, double weighted sum of V), so results
// are bit-identical to one row at a time; the lanes only break the dependency chains. GCC vector extensions are
// element-wise IEEE operations; the AVX2 build of a tile is chosen at run time where the CPU has it (no FMA: the
// products are rounded before the adds, as in the scalar code).
constexpr int R = 4;
typedef double vd __attribute__((vector_size(8 * R)));
typedef float vf __attribute__((vector_size(4 * R)));

struct Tile {
  int s, t0, n;  // sequence, first row, rows (1..R)
  bool fp8;      // FlashAttention-3's FP8 path (fp8_attn)
};

// e4m3 rounding of an fp32 value (RNE, saturating; the P of the FP8 path).
inline float e4m3_round(float x) { return fp8e4m3_to_f32(f32_to_fp8e4m3(x)); }

struct Args {
  const float *q, *k_cache, *v_cache;
  const int32_t *positions, *block_tables;
  int max_blocks, H, Hkv, Dh, block_size;
  float scale;
  float* out;
  ActDtype act;
};

// DH > 0: head dim known at compile time (registers); DH == 0: a.Dh at run time (scratch arrays).
template <int DH>
__attribute__((always_inline)) inline void attend_tile(const Tile& tl, int h, const Args& a, std::vector<double>& buf) {
  const int Dh = DH > 0 ? DH : a.Dh;
  const int group = a.H / a.Hkv, kvh = h / group, bs = a.block_size;
  const size_t kv_row = (size_t)a.Hkv * Dh;
  const int32_t* bt = a.block_tables + (size_t)tl.s * a.max_blocks;
  int ctx[R], maxctx = 0, minctx = 1 << 30;
  for (int r = 0; r < R; ++r) {
    ctx[r] = r < tl.n ? a.positions[tl.t0 + r] + 1 : 0;
    maxctx = std::max(maxctx, ctx[r]);
    if (r < tl.n) minctx = std::min(minctx, ctx[r]);
  }
  // one scratch buffer of doubles, aligned by hand for the vectors: [2 * Dh] q/acc (run-time Dh) + [maxctx] scores
  buf.resize((size_t)R * (2 * Dh + maxctx) + R);
  vd* base = reinterpret_cast<vd*>((reinterpret_cast<uintptr_t>(buf.data()) + sizeof(vd) - 1) & ~(uintptr_t)(sizeof(vd) - 1));
  vd qv_fixed[DH > 0 ? DH : 1], acc_fixed[DH > 0 ? DH : 1];
  vd* qv = DH > 0 ? qv_fixed : base;
  vd* acc = DH > 0 ? acc_fixed : base + Dh;
  vd* scv = base + 2 * Dh;
  for (int i = 0; i < Dh; ++i) qv[i] = vd{};
  for (int r = 0; r < tl.n; ++r) {
    const float* qr = a.q + ((size_t)(tl.t0 + r) * a.H + h) * Dh;
    if (tl.fp8) {  // e4m3 codes of the row's head times its scale
      float amax = 0.0f;
      for (int i = 0; i < Dh; ++i) amax = std::max(amax, std::fabs(qr[i]));
      const float sq = fp8_scale_from_absmax(amax), inv = inv_scale(sq);
      for (int i = 0; i < Dh; ++i) qv[i][r] = (double)(fp8e4m3_to_f32(quant_fp8(qr[i], inv)) * sq);
    } else {
      for (int i = 0; i < Dh; ++i) qv[i][r] = (double)qr[i];
    }
  }
  // fp32 scores (q.k in double, times scale, rounded to fp32) for every position up to the longest row
  const double scale = a.scale;
  for (int p0 = 0, blk = 0; p0 < maxctx; p0 += bs, ++blk) {
    const float* kb = a.k_cache + (size_t)bt[blk] * bs * kv_row + (size_t)kvh * Dh;
    int n = std::min(bs, maxctx - p0);
    for (int o = 0; o < n; ++o) {
      const float* kv = kb + (size_t)o * kv_row;
      vd d = vd{};
      for (int i = 0; i < Dh; ++i) d += qv[i] * (double)kv[i];
      scv[p0 + o] = __builtin_convertvector(__builtin_convertvector(d * scale, vf), vd);
    }
  }
  // per row: max, fp32 exp numerators summed in double in position order
  vd den;
  for (int r = 0; r < R; ++r) den[r] = 1.0;
  for (int r = 0; r < tl.n; ++r) {
    double mx = -INFINITY;
    for (int p = 0; p < ctx[r]; ++p)
      if (scv[p][r] > mx) mx = scv[p][r];
    double sum = 0;
    for (int p = 0; p < ctx[r]; ++p) {
      float e = std::exp((float)(scv[p][r] - mx));
      if (tl.fp8) {  // 2^8 e (exact), summed unrounded; the weight is its e4m3 rounding
        e *= 256.0f;
        sum += e;
        scv[p][r] = e4m3_round(e);
      } else {
        scv[p][r] = e;
        sum += e;
      }
    }
    den[r] = sum;
  }
  for (int i = 0; i < Dh; ++i) acc[i] = vd{};
  // positions every row of the tile attends to: all lanes at once
  for (int p0 = 0, blk = 0; p0 < minctx; p0 += bs, ++blk) {
    const float* vb = a.v_cache + (size_t)bt[blk] * bs * kv_row + (size_t)kvh * Dh;
    int n = std::min(bs, minctx - p0);
    for (int o = 0; o < n; ++o) {
      const float* vv = vb + (size_t)o * kv_row;
      vd w = scv[p0 + o] / den;
      for (int i = 0; i < Dh; ++i) acc[i] += w * (double)vv[i];
    }
  }
  // the rest row by row (rows of a tile are usually consecutive positions)
  for (int r = 0; r < tl.n; ++r) {
    for (int p = minctx; p < ctx[r]; ++p) {
      const float* vv = a.v_cache + ((size_t)bt[p / bs] * bs + p % bs) * kv_row + (size_t)kvh * Dh;
      double w = scv[p][r] / den[r];
      for (int i = 0; i < Dh; ++i) acc[i][r] += w * vv[i];
    }
    float* o = a.out + ((size_t)(tl.t0 + r) * a.H + h) * Dh;
    for (int i = 0; i < Dh; ++i) o[i] = round_act((float)acc[i][r], a.act);
  }
}

template <int DH>
void attend_range(const std::vector<Tile>& tiles, long b, long e, const Args& a) {
  std::vector<double> buf;
  for (long th = b; th < e; ++th) attend_tile<DH>(tiles[th / a.H], (int)(th % a.H), a, buf);
}

template <int DH>
__attribute__((target("avx2"))) void attend_range_avx2(const std::vector<Tile>& tiles, long b, long e, const Args& a) {
  std::vector<double> buf;
  for (long th = b; th < e; ++th) attend_tile<DH>(tiles[th / a.H], (int)(th % a.H), a, buf);
}

using RangeFn = void (*)(const std::vector<Tile>&, long, long, const Args&);

template <int DH>
RangeFn pick() {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 ? attend_range_avx2<DH> : attend_range<DH>;
}

}  // namespace

void attention_paged(const float* q, const float* k_cache, const float* v_cache, const int32_t* seq_starts, int S,
                     const int32_t* positions, const int32_t* block_tables, int max_blocks, int H, int Hkv, int Dh,
                     int block_size, float scale, float* out, ActDtype act, bool fp8_attn) {
  std::vector<Tile> tiles;
  for (int s = 0; s < S; ++s)
    for (int t = seq_starts[s]; t < seq_starts[s + 1]; t += R)
      tiles.push_back({s, t, std::min(R, seq_starts[s + 1] - t), fp8_attn});
  const Args a{q, k_cache, v_cache, positions, block_tables, max_blocks, H, Hkv, Dh, block_size, scale, out, act};
  RangeFn fn = Dh == 8 ? pick<8>() : Dh == 16 ? pick<16>() : Dh == 64 ? pick<64>() : pick<0>();
  parallel_for((long)tiles.size() * H, 1, [&](long b, long e) { fn(tiles, b, e, a); });
}

}  // namespace qb::cpu
