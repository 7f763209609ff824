// Checks of GPU weight preparation (kernels/weights_prep/weights_prep.h, synthetic_fill.cu) against their host twins,
// bit for bit (these kernels only take maxima, single products and conversions, so any difference is a bug):
//   synth_fill_f32           synth_value (model/llama_weights.cc) directly, and synthesize_weights' tensors rebuilt
//                            from row chunks the way the CUDA model does (offset r0 * K)
//   f32_to_act_rows          round_act (common/numerics.h), f16 and bf16, strided rows (padding untouched)
//   absmax_columns_f32       the column max of smoothquant_factors (schemes/weight_quant.cc), accumulating over a
//                            group and into prior values; smoothquant_factors_from_wmax on it equals smoothquant_factors
//   scale_columns_f32        the SmoothQuant fold w[n, k] *= s[k] (prepare_weights)
//   quant_weight_rows_*      quant_weight_{int8,fp8}_per_channel (codes and scales; all-zero rows; strided codes)
//   absmax_all_f32 +
//   quant_weight_tensor_fp8  quant_weight_fp8_per_tensor (absmax, codes, per-row copies of the scale)
//   fill_f32                 p[i] = v
//   fill_random              no product twin: a host replica of synthetic_fill.cu's formula (exact: its only fused
//                            multiply-add candidates have exact products), plus properties (written everywhere,
//                            finite, fp8 codes never NaN, PositiveF32 in [scale, 1.87 scale], deterministic per seed,
//                            another seed gives other values, moments of the approximate normal)
// Every output is poisoned before the launch (0xff bytes) and every element is compared, padding and a guard past
// the end included (they must keep the poison).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/synth.h"
#include "kernels/weights_prep/weights_prep.h"
#include "model/llama_weights.h"
#include "model/tensor_store.h"
#include "schemes/weight_quant.h"
#include "tools/checks.h"

using namespace qbh;

namespace {

constexpr size_t kGuard = 37;  // elements past the end of every output, which must stay poisoned

template <typename T>
T poison_value() {
  T v;
  std::memset(&v, 0xff, sizeof v);
  return v;
}

std::string show(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  char s[64];
  std::snprintf(s, sizeof s, "%.9g (0x%08x)", v, b);
  return s;
}
std::string show(int8_t v) { return std::to_string((int)v); }
std::string show(uint8_t v) {
  char s[32];
  std::snprintf(s, sizeof s, "0x%02x (%.6g)", v, qb::fp8e4m3_to_f32(v));
  return s;
}
std::string show(uint16_t v) {
  char s[16];
  std::snprintf(s, sizeof s, "0x%04x", v);
  return s;
}

// Bitwise comparison of a whole device buffer image `got` with `want` (same layout: ld > 0 reads index i as row
// i / ld, column i % ld, and columns >= K as padding; ld == 0: a flat array). Appends to `det`; returns mismatches.
template <typename T>
size_t compare_bits(const std::vector<T>& got, const std::vector<T>& want, size_t ld, size_t K, size_t valid,
                    std::string& det) {
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      if (bad++ == 0) first = i;
    }
  char buf[320];
  if (bad) {
    std::string where;
    if (first >= valid)
      where = "guard past the end +" + std::to_string(first - valid);
    else if (ld > 0)
      where = "row " + std::to_string(first / ld) + " col " + std::to_string(first % ld) +
              (first % ld >= K ? " (padding)" : "");
    else
      where = "index " + std::to_string(first);
    std::snprintf(buf, sizeof buf, "%zu/%zu differ, first at %zu [%s]: gpu %s host %s", bad, want.size(), first,
                  where.c_str(), show(got[first]).c_str(), show(want[first]).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%zu elements equal", want.size());
  }
  if (!det.empty()) det += "; ";
  det += buf;
  return bad;
}

// Runs one check; a thrown error (launcher argument check, CUDA fault) is a failed record, not the end of the run.
void guarded(Harness& h, const std::string& name, const std::function<void(std::string&, bool&)>& body) {
  std::string det;
  bool ok = true;
  try {
    body(det, ok);
  } catch (const std::exception& e) {
    ok = false;
    det = std::string("threw: ") + e.what();
    (void)cudaGetLastError();
  }
  h.record(name, ok, det);
}

void sync(Harness& h, const char* what) { qb::cuda::check(cudaStreamSynchronize(h.stream), what); }

// Device buffer of n elements of T plus the guard, poisoned.
template <typename T>
DevBuf poisoned(size_t n) {
  DevBuf b((n + kGuard) * sizeof(T));
  b.poison();
  return b;
}
// Host image of such a buffer: poison everywhere, to be filled with the expected values.
template <typename T>
std::vector<T> poisoned_image(size_t n) {
  return std::vector<T>(n + kGuard, poison_value<T>());
}

// Weight-like matrix [N, K]: per-row spread from 1e-3 to 2, both signs, rare outliers, exact zeros and -0; row
// `zero_row` (if >= 0) is all zeros (some -0.0), row `wide_row` spans 2^-24..1 (fp8 subnormal codes, int8 zeros).
std::vector<float> make_weights(Rng& r, int N, int K, int zero_row, int wide_row) {
  std::vector<float> w((size_t)N * K);
  for (int n = 0; n < N; ++n) {
    float* row = &w[(size_t)n * K];
    const float sd = std::exp(r.uniform(std::log(1e-3f), std::log(2.0f)));
    for (int k = 0; k < K; ++k) {
      float v = r.normal(sd);
      const int u = r.integer(0, 999);
      if (u == 0) v *= 60.0f;
      else if (u == 1) v = 0.0f;
      else if (u == 2) v = -0.0f;
      if (n == zero_row) v = (u & 1) ? -0.0f : 0.0f;
      if (n == wide_row) v = (r.integer(0, 1) ? 1.0f : -1.0f) * std::exp2(-r.uniform(0.0f, 24.0f));
      row[k] = v;
    }
  }
  return w;
}

// ---------------------------------------------------------------------------------------------------------------
// synth_fill_f32

void check_synth_direct(Harness& h, size_t n, uint64_t offset, float amp) {
  const uint64_t seed = h.rng.g(), hash = h.rng.g();
  char name[160];
  std::snprintf(name, sizeof name, "weights synth_fill_f32 n=%zu offset=%llu amp=%g", n, (unsigned long long)offset,
                amp);
  guarded(h, name, [&](std::string& det, bool& ok) {
    DevBuf d = poisoned<float>(n);
    qb::cuda::synth_fill_f32(d.as<float>(), n, seed, hash, amp, offset, h.stream);
    sync(h, "synth_fill_f32 check");
    auto want = poisoned_image<float>(n);
    for (size_t i = 0; i < n; ++i) want[i] = qb::synth_value(seed, hash, offset + i, amp);
    auto got = from_dev<float>(d, n + kGuard);
    ok = compare_bits(got, want, 0, 0, n, det) == 0;
    float mn = want[0], mx = want[0];
    for (size_t i = 0; i < n; ++i) mn = std::min(mn, want[i]), mx = std::max(mx, want[i]);
    const float a = std::fabs(amp);
    const bool in_range = mn >= -a && mx <= a;
    ok = ok && in_range;
    char b[96];
    std::snprintf(b, sizeof b, ", host range [%.4g, %.4g] %s [-amp, amp)", mn, mx, in_range ? "in" : "NOT in");
    det += b;
  });
}

// synthesize_weights' tensors, regenerated on the GPU in row chunks as the CUDA model's RawSource::matrix_rows does:
// synth_fill_f32(dst, rows * K, seed, name_hash(name), synth_matrix_amplitude(cfg, name), r0 * K).
void check_synth_model(Harness& h) {
  qb::ModelConfig cfg;
  cfg.hidden = 96;
  cfg.inter = 200;
  cfg.layers = 2;
  cfg.heads = 4;
  cfg.kv_heads = 2;
  cfg.head_dim = 24;
  cfg.vocab = 301;
  cfg.tie = false;
  cfg.max_pos = 64;
  const uint64_t seed = h.rng.g();
  qb::TensorStore store;
  try {
    qb::synthesize_weights(cfg, store, seed, 2, 8.0f);
  } catch (const std::exception& e) {
    h.record("weights synth_fill_f32 synthesize_weights", false, std::string("host synthesize_weights threw: ") + e.what());
    return;
  }
  const std::string names[] = {"model.embed_tokens.weight", "lm_head.weight", "model.layers.0.self_attn.k_proj.weight",
                               "model.layers.1.mlp.down_proj.weight"};
  for (const std::string& nm : names) {
    const qb::HostTensor& t = store.get(nm);
    const int N = (int)t.shape[0], K = (int)t.shape[1];
    const int chunk = 7;  // rows per launch (the model's chunk is its scratch size; any split must give the same)
    char name[200];
    std::snprintf(name, sizeof name, "weights synth_fill_f32 %s [%d,%d] in %d-row chunks", nm.c_str(), N, K, chunk);
    guarded(h, name, [&](std::string& det, bool& ok) {
      const size_t n = (size_t)N * K;
      DevBuf d = poisoned<float>(n);
      const uint64_t hash = qb::name_hash(nm);
      const float amp = qb::synth_matrix_amplitude(cfg, nm);
      for (int r0 = 0; r0 < N; r0 += chunk) {
        const int rows = std::min(chunk, N - r0);
        qb::cuda::synth_fill_f32(d.as<float>() + (size_t)r0 * K, (size_t)rows * K, seed, hash, amp, (uint64_t)r0 * K,
                                 h.stream);
      }
      sync(h, "synth_fill_f32 model check");
      auto want = poisoned_image<float>(n);
      const std::vector<float> host = t.to_float();
      std::copy(host.begin(), host.end(), want.begin());
      auto got = from_dev<float>(d, n + kGuard);
      ok = compare_bits(got, want, (size_t)K, (size_t)K, n, det) == 0;
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// f32_to_act_rows

// Inputs that exercise the conversions: normal values, random finite bit patterns (every exponent: f16 overflow to
// inf, subnormals, flush to zero), exact round-to-nearest-even ties of the target dtype, +-inf, +-0.
std::vector<float> make_conversion_inputs(Rng& r, size_t n, qb::ActDtype d) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    const int u = r.integer(0, 99);
    float x;
    if (u < 50) {
      x = r.normal(3.0f);
    } else if (u < 75) {
      uint32_t b;
      do b = (uint32_t)r.g(); while ((b & 0x7f800000u) == 0x7f800000u);  // finite
      std::memcpy(&x, &b, 4);
    } else if (u < 95) {  // a tie: the dropped bits are exactly half an ulp of the target
      uint32_t b = (uint32_t)r.g();
      const uint32_t e = (uint32_t)r.integer(d == qb::ActDtype::F16 ? 103 : 1, d == qb::ActDtype::F16 ? 142 : 254);
      if (d == qb::ActDtype::F16)
        b = (b & 0x80000000u) | (e << 23) | (b & 0x007fe000u) | 0x1000u;
      else
        b = (b & 0x80000000u) | (e << 23) | (b & 0x007f0000u) | 0x8000u;
      std::memcpy(&x, &b, 4);
    } else if (u < 97) {
      x = (u & 1) ? INFINITY : -INFINITY;
    } else if (u < 98) {
      x = -0.0f;
    } else {
      x = 65519.0f + r.uniform(0.0f, 2.0f);  // around the f16 overflow threshold (65520 rounds to inf)
    }
    v[i] = x;
  }
  return v;
}

void check_to_act(Harness& h, int N, int K, int ld, qb::ActDtype d) {
  char name[160];
  std::snprintf(name, sizeof name, "weights f32_to_act_rows %s N=%d K=%d ld=%d", dtype_name(d), N, K, ld);
  guarded(h, name, [&](std::string& det, bool& ok) {
    const std::vector<float> src = make_conversion_inputs(h.rng, (size_t)N * K, d);
    DevBuf s = to_dev(src);
    const size_t total = (size_t)N * ld;
    DevBuf y = poisoned<uint16_t>(total);
    qb::cuda::f32_to_act_rows(s.as<float>(), N, K, y.p, ld, d, h.stream);
    sync(h, "f32_to_act_rows check");
    auto want = poisoned_image<uint16_t>(total);
    for (int n = 0; n < N; ++n)
      for (int k = 0; k < K; ++k) {
        const float r = qb::round_act(src[(size_t)n * K + k], d);  // the twin: the stored 16-bit value
        want[(size_t)n * ld + k] = d == qb::ActDtype::F16 ? qb::f32_to_f16_bits(r) : qb::f32_to_bf16_bits(r);
      }
    auto got = from_dev<uint16_t>(y, total + kGuard);
    ok = compare_bits(got, want, (size_t)ld, (size_t)K, total, det) == 0;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// absmax_columns_f32 / scale_columns_f32 (SmoothQuant)

// A group of matrices sharing K (q/k/v or gate/up) accumulated into colmax (prior values `init`: the caller's).
void check_colmax(Harness& h, const std::vector<int>& Ns, int K, bool prior) {
  std::string shape;
  for (int N : Ns) shape += (shape.empty() ? "" : "+") + std::to_string(N);
  char name[160];
  std::snprintf(name, sizeof name, "weights absmax_columns_f32 N=%s K=%d%s", shape.c_str(), K,
                prior ? " into prior values" : "");
  guarded(h, name, [&](std::string& det, bool& ok) {
    std::vector<std::vector<float>> ws;
    const int zero_col = K / 3;
    for (int N : Ns) {
      ws.push_back(make_weights(h.rng, N, K, -1, N > 4 ? N / 2 : -1));
      for (int n = 0; n < N; ++n) ws.back()[(size_t)n * K + zero_col] = (n & 1) ? -0.0f : 0.0f;  // an all-zero column
    }
    std::vector<float> init(K, 0.0f);
    if (prior)
      for (int k = 0; k < K; ++k) {
        const int u = h.rng.integer(0, 3);
        init[k] = u == 0 ? 0.0f : u == 1 ? h.rng.uniform(0.0f, 0.5f) : h.rng.uniform(0.0f, 200.0f);
      }
    DevBuf cm = poisoned<float>((size_t)K);
    cm.upload(init.data(), init.size() * 4);
    std::vector<DevBuf> wd;
    for (auto& w : ws) wd.push_back(to_dev(w));
    for (size_t g = 0; g < ws.size(); ++g) qb::cuda::absmax_columns_f32(wd[g].as<float>(), Ns[g], K, cm.as<float>(), h.stream);
    sync(h, "absmax_columns_f32 check");
    // The twin: smoothquant_factors' loop (wmax[k] = fmax(wmax[k], |w[n, k]|) over the group's rows).
    auto want = poisoned_image<float>((size_t)K);
    for (int k = 0; k < K; ++k) want[k] = init[k];
    for (size_t g = 0; g < ws.size(); ++g)
      for (int n = 0; n < Ns[g]; ++n)
        for (int k = 0; k < K; ++k) want[k] = std::fmax(want[k], std::fabs(ws[g][(size_t)n * K + k]));
    auto got = from_dev<float>(cm, (size_t)K + kGuard);
    ok = compare_bits(got, want, 0, 0, (size_t)K, det) == 0;
    if (!prior) {
      // Through the product function: factors from the GPU's column max equal smoothquant_factors' own.
      std::vector<float> act(K);
      for (int k = 0; k < K; ++k) act[k] = k % 11 == 5 ? 0.0f : std::fabs(h.rng.normal(2.0f)) * (k % 17 == 0 ? 30.0f : 1.0f);
      std::vector<const float*> ptrs;
      for (auto& w : ws) ptrs.push_back(w.data());
      const auto f_cpu = qb::smoothquant_factors(act, ptrs, Ns, K, 0.5f);
      const auto f_gpu = qb::smoothquant_factors_from_wmax(act, std::vector<float>(got.begin(), got.begin() + K), 0.5f);
      std::string d2;
      ok = compare_bits(f_gpu, f_cpu, 0, 0, (size_t)K, d2) == 0 && ok;
      det += "; smoothquant factors from it: " + d2;
    }
  });
}

void check_scale_cols(Harness& h, int N, int K) {
  char name[160];
  std::snprintf(name, sizeof name, "weights scale_columns_f32 N=%d K=%d", N, K);
  guarded(h, name, [&](std::string& det, bool& ok) {
    std::vector<float> w = make_weights(h.rng, N, K, N > 2 ? 1 : -1, -1);
    std::vector<float> s(K);
    for (int k = 0; k < K; ++k) {  // SmoothQuant factors: clamp(.., 1e-5); some exactly 1 (a zero channel)
      const int u = h.rng.integer(0, 9);
      s[k] = u == 0 ? 1.0f : u == 1 ? 1e-5f : std::exp(h.rng.uniform(std::log(1e-3f), std::log(50.0f)));
    }
    const size_t total = (size_t)N * K;
    DevBuf wd = poisoned<float>(total);
    wd.upload(w.data(), total * 4);
    DevBuf sd = to_dev(s);
    qb::cuda::scale_columns_f32(wd.as<float>(), N, K, sd.as<float>(), h.stream);
    sync(h, "scale_columns_f32 check");
    auto want = poisoned_image<float>(total);
    for (int n = 0; n < N; ++n)  // prepare_weights' fold: w[j][n * K + k] *= s[k]
      for (int k = 0; k < K; ++k) want[(size_t)n * K + k] = w[(size_t)n * K + k] * s[k];
    auto got = from_dev<float>(wd, total + kGuard);
    ok = compare_bits(got, want, (size_t)K, (size_t)K, total, det) == 0;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Per-channel weight quantization

template <bool kInt8>
void check_quant_rows(Harness& h, int N, int K, int ld) {
  using Q = std::conditional_t<kInt8, int8_t, uint8_t>;
  char name[160];
  std::snprintf(name, sizeof name, "weights quant_weight_rows_%s N=%d K=%d ld=%d", kInt8 ? "int8" : "fp8", N, K, ld);
  guarded(h, name, [&](std::string& det, bool& ok) {
    const int zero_row = N >= 3 ? N - 2 : -1, wide_row = N >= 2 ? 0 : -1;
    const std::vector<float> w = make_weights(h.rng, N, K, zero_row, wide_row);
    DevBuf wd = to_dev(w);
    const size_t total = (size_t)N * ld;
    DevBuf q = poisoned<Q>(total);
    DevBuf s = poisoned<float>((size_t)N);
    if constexpr (kInt8)
      qb::cuda::quant_weight_rows_int8(wd.as<float>(), N, K, q.as<int8_t>(), ld, s.as<float>(), h.stream);
    else
      qb::cuda::quant_weight_rows_fp8(wd.as<float>(), N, K, q.as<uint8_t>(), ld, s.as<float>(), h.stream);
    sync(h, "quant_weight_rows check");
    std::vector<Q> qc((size_t)N * K);
    std::vector<float> sc(N);
    if constexpr (kInt8)
      qb::quant_weight_int8_per_channel(w.data(), N, K, qc.data(), sc.data());
    else
      qb::quant_weight_fp8_per_channel(w.data(), N, K, qc.data(), sc.data());
    auto want_q = poisoned_image<Q>(total);
    for (int n = 0; n < N; ++n)
      for (int k = 0; k < K; ++k) want_q[(size_t)n * ld + k] = qc[(size_t)n * K + k];
    auto want_s = poisoned_image<float>((size_t)N);
    std::copy(sc.begin(), sc.end(), want_s.begin());
    det = "codes: ";
    std::string ds;
    const size_t bq = compare_bits(from_dev<Q>(q, total + kGuard), want_q, (size_t)ld, (size_t)K, total, det);
    const size_t bs = compare_bits(from_dev<float>(s, (size_t)N + kGuard), want_s, 0, 0, (size_t)N, ds);
    det += "; scales: " + ds;
    if (zero_row >= 0) det += "; zero row " + std::to_string(zero_row) + " scale " + show(sc[zero_row]);
    ok = bq == 0 && bs == 0;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Per-tensor fp8: absmax_all_f32, quant_weight_tensor_fp8

// absmax alone on a long tensor (grid-stride loop, many blocks' atomics), the maximum at `where` (0 first, 1 last,
// 2 random), into a zero or a prior value.
void check_absmax_all(Harness& h, size_t n, int where, float prior_rel) {
  char name[160];
  std::snprintf(name, sizeof name, "weights absmax_all_f32 n=%zu max at %s%s", n,
                where == 0 ? "first" : where == 1 ? "last" : "random", prior_rel > 0 ? " into a prior value" : "");
  guarded(h, name, [&](std::string& det, bool& ok) {
    std::vector<float> w(n);
    for (auto& v : w) v = h.rng.normal(0.05f);
    const size_t at = where == 0 ? 0 : where == 1 ? n - 1 : (size_t)h.rng.integer(0, (int)(n - 1));
    w[at] = -7.25f;  // negative: the max of |w|
    const float prior = prior_rel > 0 ? 7.25f * prior_rel : 0.0f;
    DevBuf wd = to_dev(w);
    DevBuf am = poisoned<float>(1);
    am.upload(&prior, 4);
    qb::cuda::absmax_all_f32(wd.as<float>(), n, am.as<float>(), h.stream);
    sync(h, "absmax_all_f32 check");
    auto want = poisoned_image<float>(1);
    float m = prior;  // quant_weight_fp8_per_tensor's loop
    for (size_t i = 0; i < n; ++i) m = std::fmax(m, std::fabs(w[i]));
    want[0] = m;
    ok = compare_bits(from_dev<float>(am, 1 + kGuard), want, 0, 0, 1, det) == 0;
  });
}

void check_quant_tensor(Harness& h, int N, int K, int ld, bool zero) {
  char name[160];
  std::snprintf(name, sizeof name, "weights quant_weight_tensor_fp8 N=%d K=%d ld=%d%s", N, K, ld,
                zero ? " all zero" : "");
  guarded(h, name, [&](std::string& det, bool& ok) {
    std::vector<float> w = make_weights(h.rng, N, K, N >= 3 ? 1 : -1, N >= 2 ? N - 1 : -1);
    if (zero)
      for (size_t i = 0; i < w.size(); ++i) w[i] = (i % 3 == 0) ? -0.0f : 0.0f;
    DevBuf wd = to_dev(w);
    DevBuf am(4);
    qb::cuda::check(cudaMemsetAsync(am.p, 0, 4, h.stream), "absmax zero-init");  // the caller's zero-initialisation
    const size_t total = (size_t)N * ld;
    DevBuf q = poisoned<uint8_t>(total);
    DevBuf s = poisoned<float>((size_t)N);
    qb::cuda::absmax_all_f32(wd.as<float>(), w.size(), am.as<float>(), h.stream);
    qb::cuda::quant_weight_tensor_fp8(wd.as<float>(), N, K, am.as<float>(), q.as<uint8_t>(), ld, s.as<float>(), h.stream);
    sync(h, "quant_weight_tensor_fp8 check");
    std::vector<uint8_t> qc((size_t)N * K);
    const float sc = qb::quant_weight_fp8_per_tensor(w.data(), N, K, qc.data());
    float m = 0;
    for (float v : w) m = std::fmax(m, std::fabs(v));
    auto want_q = poisoned_image<uint8_t>(total);
    for (int n = 0; n < N; ++n)
      for (int k = 0; k < K; ++k) want_q[(size_t)n * ld + k] = qc[(size_t)n * K + k];
    auto want_s = poisoned_image<float>((size_t)N);
    std::fill(want_s.begin(), want_s.begin() + N, sc);
    std::string da, ds;
    det = "codes: ";
    const size_t bq = compare_bits(from_dev<uint8_t>(q, total + kGuard), want_q, (size_t)ld, (size_t)K, total, det);
    const size_t bs = compare_bits(from_dev<float>(s, (size_t)N + kGuard), want_s, 0, 0, (size_t)N, ds);
    const size_t ba = compare_bits(from_dev<float>(am, 1), std::vector<float>{m}, 0, 0, 1, da);
    det += "; row scales: " + ds + "; absmax: " + da + "; scale " + show(sc);
    ok = bq == 0 && bs == 0 && ba == 0;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// fill_f32

void check_fill_f32(Harness& h, size_t n) {
  const float v = -h.rng.uniform(0.1f, 9.0f);
  char name[160];
  std::snprintf(name, sizeof name, "weights fill_f32 n=%zu v=%g", n, v);
  guarded(h, name, [&](std::string& det, bool& ok) {
    DevBuf d = poisoned<float>(n);
    qb::cuda::fill_f32(d.as<float>(), n, v, h.stream);
    sync(h, "fill_f32 check");
    auto want = poisoned_image<float>(n);
    std::fill(want.begin(), want.begin() + n, v);
    ok = compare_bits(from_dev<float>(d, n + kGuard), want, 0, 0, n, det) == 0;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// fill_random (synthetic_fill.cu): host replica of its per-element formula.

uint64_t fill_mix(uint64_t z) { return qb::synth_mix64(z); }  // the kernel's mix() is splitmix64, as synth_mix64
float fill_approx_normal(uint64_t hsh) {
  float s = 0.f;
  for (int j = 0; j < 4; ++j) s += (float)((hsh >> (16 * j)) & 0xffffu) * (1.0f / 65536.0f);  // exact
  return (s - 2.0f) * 1.7320508f;
}
float fill_value(uint64_t seed, size_t i, float scale) {
  return fill_approx_normal(fill_mix(seed * 0x100000001b3ull + (uint64_t)i)) * scale;
}

size_t fill_elem_bytes(qb::cuda::FillKind k) {
  using K = qb::cuda::FillKind;
  return k == K::F32 || k == K::PositiveF32 ? 4 : k == K::BF16 || k == K::F16 ? 2 : 1;
}
const char* fill_kind_name(qb::cuda::FillKind k) {
  using K = qb::cuda::FillKind;
  switch (k) {
    case K::BF16: return "bf16";
    case K::F16: return "f16";
    case K::F32: return "f32";
    case K::Fp8: return "fp8";
    case K::Int8: return "int8";
    case K::PositiveF32: return "positive_f32";
  }
  return "?";
}

// Expected bytes of element i.
void fill_expected(qb::cuda::FillKind kind, uint64_t seed, float scale, size_t i, uint8_t* out) {
  using K = qb::cuda::FillKind;
  const float v = fill_value(seed, i, scale);
  switch (kind) {
    case K::BF16: { uint16_t b = qb::f32_to_bf16_bits(v); std::memcpy(out, &b, 2); break; }
    case K::F16: { uint16_t b = qb::f32_to_f16_bits(v); std::memcpy(out, &b, 2); break; }
    case K::F32: std::memcpy(out, &v, 4); break;
    case K::Fp8: out[0] = qb::f32_to_fp8e4m3(v); break;
    case K::Int8: { int8_t c = qb::f32_to_int8_sat(v); std::memcpy(out, &c, 1); break; }
    case K::PositiveF32: {
      const float p = scale * (1.0f + 0.25f * std::fabs(v / scale));
      std::memcpy(out, &p, 4);
      break;
    }
  }
}

void check_fill_random(Harness& h, qb::cuda::FillKind kind, size_t n, float scale) {
  using K = qb::cuda::FillKind;
  const uint64_t seed = h.rng.g();
  char name[160];
  std::snprintf(name, sizeof name, "weights fill_random %s n=%zu scale=%g", fill_kind_name(kind), n, scale);
  guarded(h, name, [&](std::string& det, bool& ok) {
    const size_t es = fill_elem_bytes(kind), bytes = n * es, gb = kGuard * es;
    DevBuf a(bytes + gb), b(bytes + gb), c(bytes + gb);
    a.poison();
    qb::cuda::check(cudaMemset(b.p, 0x00, b.n), "fill_random second poison");  // another pattern: unwritten shows
    c.poison();
    qb::cuda::fill_random(a.p, n, kind, seed, scale, h.stream);
    qb::cuda::fill_random(b.p, n, kind, seed, scale, h.stream);
    qb::cuda::fill_random(c.p, n, kind, seed + 1, scale, h.stream);
    sync(h, "fill_random check");
    const auto ga = from_dev<uint8_t>(a, bytes + gb), gbv = from_dev<uint8_t>(b, bytes + gb),
               gc = from_dev<uint8_t>(c, bytes + gb);
    // 1. the replica, bit for bit (guard: 0xff), and the same seed on the 0x00-poisoned buffer gives the same bytes
    std::vector<uint8_t> want(bytes + gb, 0xff);
    for (size_t i = 0; i < n; ++i) fill_expected(kind, seed, scale, i, &want[i * es]);
    size_t bad = 0, first = 0, nondet = 0, first_nd = 0, guard_b = 0, same_other_seed = 0;
    for (size_t i = 0; i < n; ++i) {
      if (std::memcmp(&ga[i * es], &want[i * es], es) != 0 && bad++ == 0) first = i;
      if (std::memcmp(&ga[i * es], &gbv[i * es], es) != 0 && nondet++ == 0) first_nd = i;
      same_other_seed += std::memcmp(&ga[i * es], &gc[i * es], es) == 0;
    }
    for (size_t i = bytes; i < bytes + gb; ++i) guard_b += (ga[i] != 0xff) + (gbv[i] != 0x00);
    // 2. properties of the values
    size_t nonfinite = 0, out_of_range = 0;
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* p = &ga[i * es];
      float v = 0;
      switch (kind) {
        case K::BF16: { uint16_t x; std::memcpy(&x, p, 2); v = qb::bf16_bits_to_f32(x); break; }
        case K::F16: { uint16_t x; std::memcpy(&x, p, 2); v = qb::f16_bits_to_f32(x); break; }
        case K::F32: case K::PositiveF32: std::memcpy(&v, p, 4); break;
        case K::Fp8: v = (p[0] & 0x7f) == 0x7f ? NAN : qb::fp8e4m3_to_f32(p[0]); break;
        case K::Int8: { int8_t x; std::memcpy(&x, p, 1); v = (float)x; break; }
      }
      if (!std::isfinite(v)) { ++nonfinite; continue; }
      if (kind == K::PositiveF32 && !(v >= scale && v <= 1.875f * scale)) ++out_of_range;
      // |approx normal| <= 2 sqrt(3): values within 3.47 scale (int8: the saturated code range)
      if (kind != K::PositiveF32 && kind != K::Int8 && std::fabs(v) > 3.47f * scale * 1.0625f) ++out_of_range;
      if (kind == K::Int8 && (v < -128.0f || v > 127.0f)) ++out_of_range;
      sum += v;
      sum2 += (double)v * v;
    }
    const double mean = sum / (double)n, sd = std::sqrt(std::max(0.0, sum2 / (double)n - mean * mean));
    bool moments_ok = true;
    if (kind == K::F32 || kind == K::BF16 || kind == K::F16)  // approximately normal(0, scale)
      moments_ok = std::fabs(mean) < 0.02 * scale && sd > 0.97 * scale && sd < 1.03 * scale;
    ok = bad == 0 && nondet == 0 && guard_b == 0 && nonfinite == 0 && out_of_range == 0 && moments_ok &&
         same_other_seed < n / 2 + 1;
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "replica: %zu/%zu differ%s; same seed again (0x00 poison): %zu differ%s; guard touched %zu; "
                  "non-finite %zu; out of range %zu; mean %.4g sd %.4g (scale %g)%s; seed+1 equal in %zu",
                  bad, n, bad ? (" (first " + std::to_string(first) + ")").c_str() : "", nondet,
                  nondet ? (" (first " + std::to_string(first_nd) + ")").c_str() : "", guard_b, nonfinite,
                  out_of_range, mean, sd, scale, moments_ok ? "" : " MOMENTS OFF", same_other_seed);
    det = buf;
  });
}

}  // namespace

void check_weights(Harness& h) {
  if (!h.wants("weights")) return;
  using qb::ActDtype;
  using K = qb::cuda::FillKind;
  const bool q = h.quick;
  // Lengths past the launchers' grid caps (132 * 64 blocks of 256 threads = 2.16M elements; fill_random: 1.08M) run
  // the grid-stride loops more than once.
  const size_t big = q ? (size_t)2162689 : (size_t)3000017;

  // synth_fill_f32
  check_synth_direct(h, 1, 0, 1.0f);
  check_synth_direct(h, 4099, 123457, 0.0361f);
  check_synth_direct(h, big, ((uint64_t)1 << 40) + 977, 1.7320508f);
  check_synth_model(h);

  // f32_to_act_rows
  for (ActDtype d : {ActDtype::F16, ActDtype::BF16}) {
    check_to_act(h, 1, 17, 17, d);
    check_to_act(h, 37, 1001, 1040, d);
    check_to_act(h, 300, 4097, 4112, d);  // odd K, strided, 1.2M elements
  }

  // absmax_columns_f32 (+ smoothquant_factors), scale_columns_f32
  check_colmax(h, {37}, 1001, false);
  check_colmax(h, {300, 77, 77}, 257, false);  // a q/k/v-like group; N > 256 (the kernel's grid.y cap)
  check_colmax(h, {5, 600}, 4099, true);
  check_scale_cols(h, 37, 1001);
  check_scale_cols(h, 1100, 2003);  // 2.2M elements: past the grid cap

  // per-channel weight quantization
  check_quant_rows<true>(h, 1, 17, 17);
  check_quant_rows<true>(h, 37, 1001, 1008);
  check_quant_rows<true>(h, 203, 4144, 4160);
  check_quant_rows<true>(h, 64, 200, 200);  // K < the block's 256 threads
  check_quant_rows<false>(h, 1, 17, 17);
  check_quant_rows<false>(h, 37, 1001, 1008);
  check_quant_rows<false>(h, 203, 4144, 4160);
  check_quant_rows<false>(h, 64, 200, 200);

  // per-tensor fp8
  check_absmax_all(h, 1, 0, 0.0f);
  check_absmax_all(h, 4097, 2, 0.0f);
  check_absmax_all(h, big, 1, 0.0f);
  check_absmax_all(h, 100003, 0, 1.5f);
  check_absmax_all(h, 100003, 2, 0.5f);
  check_quant_tensor(h, 37, 1001, 1008, false);
  check_quant_tensor(h, 700, 3001, 3001, false);  // 2.1M elements
  check_quant_tensor(h, 5, 33, 48, true);

  // fill_f32
  check_fill_f32(h, 1);
  check_fill_f32(h, 1003);
  check_fill_f32(h, big);

  // fill_random
  for (K k : {K::BF16, K::F16, K::F32, K::Fp8, K::Int8, K::PositiveF32}) check_fill_random(h, k, 100003, 0.7f);
  check_fill_random(h, K::F32, big, 0.02f);   // past its grid cap (132 * 32 blocks)
  check_fill_random(h, K::Int8, 65537, 90.0f);  // saturating int8 codes
  check_fill_random(h, K::Fp8, 65537, 300.0f);  // saturating fp8 codes
}
