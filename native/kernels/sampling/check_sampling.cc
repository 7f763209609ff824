// Checks and timings of embedding / row gather, the logits kernels (sample / log-prob gather) and the calibration
// column absmax against their CPU twins (cpu/ops.h, CpuModel::record).
//
// embedding, gather_rows, absmax_columns: bit-exact (they copy or compare values; no arithmetic).
// sample_rows: tokens must equal cpu::sample_row's. A mismatch is allowed only where the CPU's own walk shows it is a
//   rounding tie: the draw u (or the top-p target) lies within 1e-12 (relative to the total mass) of the cumulative
//   boundary between the two tokens (the GPU sums the same doubles in another order). Such cases are counted and
//   reported; any other mismatch fails. Greedy rows (temperature 0) must give the argmax (first index on ties).
// logprobs (sample_rows, gather_logprob_rows): |gpu - cpu| <= 2e-6 + 1e-6 * |cpu| (the GPU's logsumexp adds fp32
//   expf terms in double: ~1e-7 relative error in the sum, i.e. ~1e-7 absolute in the log-prob, plus output rounding).
//   is_argmax must be exact.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <thread>

#include "tools/checks.h"
#include "common/rng.h"
#include "kernels/sampling/sampling.h"

using namespace qbh;

namespace {

constexpr double kBoundaryRel = 1e-12;

bool lp_close(float g, float c) {
  if (std::isinf(c) || std::isinf(g)) return g == c;
  return std::fabs((double)g - (double)c) <= 2e-6 + 1e-6 * std::fabs((double)c);
}

template <typename F>
void parallel_rows(int n, F f) {
  int nt = (int)std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  std::vector<std::thread> th;
  for (int t = 0; t < nt; ++t)
    th.emplace_back([&, t] {
      for (int i = t; i < n; i += nt) f(i);
    });
  for (auto& x : th) x.join();
}

enum class LogitKind { Normal, Peaked, Ties };
const char* kind_name(LogitKind k) { return k == LogitKind::Normal ? "normal" : k == LogitKind::Peaked ? "peaked" : "ties"; }

// R rows of V logits. Ties: values on a 0.25 grid (big groups of equal logits, equal maxima) and some -inf.
// Every kind: a third of the rows get the row maximum copied to 1-3 more random positions (duplicate maxima).
std::vector<float> make_logits(Rng& rng, int R, int V, LogitKind kind) {
  std::vector<float> x((size_t)R * V);
  for (int r = 0; r < R; ++r) {
    float* row = &x[(size_t)r * V];
    const float sd = kind == LogitKind::Peaked ? rng.uniform(6.0f, 12.0f) : rng.uniform(0.5f, 3.0f);
    const float shift = rng.uniform(-5.0f, 5.0f);
    for (int i = 0; i < V; ++i) {
      float v = rng.normal(sd) + shift;
      if (kind == LogitKind::Ties) {
        v = std::round(v * 4.0f) / 4.0f;
        if (rng.integer(0, 99) == 0) v = -INFINITY;
      }
      row[i] = v;
    }
    if (rng.integer(0, 2) == 0) {
      int am = (int)(std::max_element(row, row + V) - row);
      for (int k = rng.integer(1, 3); k > 0; --k) row[rng.integer(0, V - 1)] = row[am];
    }
  }
  return x;
}

// Replica of cpu::sample_row's walk, to judge a GPU/CPU token mismatch: explained when the draw lies within
// kBoundaryRel of the cumulative boundary between the two tokens, or the top-p target within it of the cut.
bool boundary_case(const float* logits, int V, float temperature, float top_p, uint64_t seed, uint64_t counter,
                   int cpu_tok, int gpu_tok) {
  int am = 0;
  for (int i = 1; i < V; ++i)
    if (logits[i] > logits[am]) am = i;
  const float mx = logits[am];
  std::vector<double> p(V);
  double sum = 0;
  for (int i = 0; i < V; ++i) {
    p[i] = std::exp(((double)logits[i] - mx) / temperature);
    sum += p[i];
  }
  std::vector<int> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  std::vector<double> c(V);
  double cum = 0;
  for (int j = 0; j < V; ++j) c[j] = cum += p[order[j]];
  const double tol = kBoundaryRel * sum;
  double keep_mass = (top_p > 0.0f && top_p < 1.0f) ? top_p * sum : sum;
  int n_keep = 0;
  while (n_keep < V && !(c[n_keep] >= keep_mass)) ++n_keep;
  n_keep = std::min(V, n_keep + 1);
  if (top_p > 0.0f && top_p < 1.0f) {
    if (std::fabs(c[n_keep - 1] - keep_mass) <= tol) return true;
    if (n_keep >= 2 && std::fabs(c[n_keep - 2] - keep_mass) <= tol) return true;
  }
  const double u = qb::rng::uniform(seed, counter) * c[n_keep - 1];
  int pa = -1, pg = -1;
  for (int j = 0; j < V; ++j) {
    if (order[j] == cpu_tok) pa = j;
    if (order[j] == gpu_tok) pg = j;
  }
  if (pa < 0 || pg < 0 || std::abs(pa - pg) != 1) return false;
  return std::fabs(u - c[std::min(pa, pg)]) <= tol;
}

void check_sample(Harness& h, int V, int n, LogitKind kind) {
  const float temps[] = {0.0f, 0.7f, 1.0f, 1.3f};
  const float tps[] = {1.0f, 0.9f, 0.5f, 0.05f};
  const int R = n + 3;
  std::vector<float> logits = make_logits(h.rng, R, V, kind);
  std::vector<int32_t> ridx(n);
  std::vector<float> T(n), tp(n);
  std::vector<uint32_t> seeds(3 * (size_t)n);
  for (int i = 0; i < n; ++i) {
    ridx[i] = h.rng.integer(0, R - 1);
    T[i] = n >= 16 ? temps[i % 4] : temps[h.rng.integer(0, 3)];
    tp[i] = n >= 16 ? tps[(i / 4) % 4] : tps[h.rng.integer(0, 3)];
    for (int k = 0; k < 3; ++k) seeds[3 * i + k] = (uint32_t)h.rng.g();
  }
  DevBuf ld = to_dev(logits), rd = to_dev(ridx), td = to_dev(T), pd = to_dev(tp), sd = to_dev(seeds);
  DevBuf tok(4 * (size_t)n), lp(4 * (size_t)n);
  const size_t wsb = qb::cuda::sample_rows_workspace_bytes(n, V);
  DevBuf ws(std::max<size_t>(wsb, 16));
  tok.poison();
  lp.poison();
  ws.poison();
  qb::cuda::sample_rows(ld.as<float>(), V, rd.as<int32_t>(), n, td.as<float>(), pd.as<float>(), sd.as<uint32_t>(),
                        tok.as<int32_t>(), lp.as<float>(), ws.p, wsb, h.stream);
  qb::cuda::check(cudaStreamSynchronize(h.stream), "sample_rows check");
  auto tg = from_dev<int32_t>(tok, n);
  auto lg = from_dev<float>(lp, n);
  std::vector<int32_t> tc(n);
  std::vector<float> lc(n), lgc(n);
  std::vector<char> bnd(n, 0);
  parallel_rows(n, [&](int i) {
    const float* row = &logits[(size_t)ridx[i] * V];
    const uint64_t seed = (uint64_t)seeds[3 * i] | ((uint64_t)seeds[3 * i + 1] << 32);
    tc[i] = qb::cpu::sample_row(row, V, T[i], tp[i], seed, seeds[3 * i + 2], &lc[i]);
    if (tg[i] >= 0 && tg[i] < V) {
      lgc[i] = qb::cpu::gather_logprob(row, V, tg[i], nullptr);
      if (tg[i] != tc[i] && T[i] > 0.0f) bnd[i] = boundary_case(row, V, T[i], tp[i], seed, seeds[3 * i + 2], tc[i], tg[i]);
    }
  });
  int bad = 0, boundary = 0, lp_bad = 0, greedy = 0, first_bad = -1;
  float worst_lp = 0;
  for (int i = 0; i < n; ++i) {
    greedy += !(T[i] > 0.0f);
    if (tg[i] != tc[i]) {
      if (bnd[i]) {
        ++boundary;
      } else {
        ++bad;
        if (first_bad < 0) first_bad = i;
      }
    }
    if (tg[i] < 0 || tg[i] >= V || !lp_close(lg[i], lgc[i])) ++lp_bad;
    else if (std::isfinite(lgc[i])) worst_lp = std::max(worst_lp, std::fabs(lg[i] - lgc[i]));
  }
  char buf[320];
  if (first_bad >= 0)
    std::snprintf(buf, sizeof buf,
                  "%d/%d tokens differ (first row %d: T=%.2f top_p=%.2f gpu %d cpu %d), %d boundary ties, %d logprob "
                  "out of tolerance",
                  bad, n, first_bad, T[first_bad], tp[first_bad], tg[first_bad], tc[first_bad], boundary, lp_bad);
  else
    std::snprintf(buf, sizeof buf,
                  "tokens equal the CPU's (%d rows, %d greedy; %d boundary ties), logprob max |err| %.2e (tol 2e-6 + "
                  "1e-6|lp|), %d out",
                  n, greedy, boundary, worst_lp, lp_bad);
  h.record("sample_rows " + std::string(kind_name(kind)) + " V=" + std::to_string(V) + " n=" + std::to_string(n),
           bad == 0 && lp_bad == 0, buf);
}

void check_logprob(Harness& h, int V, int n, LogitKind kind) {
  const int R = n + 3;
  std::vector<float> logits = make_logits(h.rng, R, V, kind);
  for (auto& v : logits)
    if (std::isinf(v)) v = -30.0f;  // finite targets
  std::vector<int32_t> ridx(n), tgt(n);
  for (int i = 0; i < n; ++i) {
    ridx[i] = h.rng.integer(0, R - 1);
    const float* row = &logits[(size_t)ridx[i] * V];
    const int am = (int)(std::max_element(row, row + V) - row);
    const int mode = h.rng.integer(0, 3);
    if (mode == 0) {
      tgt[i] = am;
    } else if (mode == 1) {  // the last position holding the maximum (not the argmax when the max is duplicated)
      int last = am;
      for (int k = 0; k < V; ++k)
        if (row[k] == row[am]) last = k;
      tgt[i] = last;
    } else {
      tgt[i] = h.rng.integer(0, V - 1);
    }
  }
  DevBuf ld = to_dev(logits), rd = to_dev(ridx), td = to_dev(tgt), lp(4 * (size_t)n), ia((size_t)n);
  lp.poison();
  ia.poison();
  qb::cuda::gather_logprob_rows(ld.as<float>(), V, rd.as<int32_t>(), td.as<int32_t>(), n, lp.as<float>(),
                                ia.as<uint8_t>(), h.stream);
  qb::cuda::check(cudaStreamSynchronize(h.stream), "gather_logprob_rows check");
  auto lg = from_dev<float>(lp, n);
  auto ag = from_dev<uint8_t>(ia, n);
  std::vector<float> lc(n);
  std::vector<char> ac(n);
  parallel_rows(n, [&](int i) {
    bool a;
    lc[i] = qb::cpu::gather_logprob(&logits[(size_t)ridx[i] * V], V, tgt[i], &a);
    ac[i] = a;
  });
  int lp_bad = 0, a_bad = 0, n_arg = 0;
  double worst = 0;
  for (int i = 0; i < n; ++i) {
    if (!lp_close(lg[i], lc[i])) ++lp_bad;
    else worst = std::max(worst, std::fabs((double)lg[i] - lc[i]));
    if (ag[i] != (uint8_t)ac[i]) ++a_bad;
    n_arg += ac[i];
  }
  char buf[240];
  std::snprintf(buf, sizeof buf, "logprob max |err| %.2e, %d out of tol (2e-6 + 1e-6|lp|); is_argmax %d wrong (%d true)",
                worst, lp_bad, a_bad, n_arg);
  h.record("gather_logprob_rows " + std::string(kind_name(kind)) + " V=" + std::to_string(V) + " n=" +
               std::to_string(n), lp_bad == 0 && a_bad == 0, buf);
}

void check_gathers(Harness& h) {
  for (ActDtype d : {ActDtype::BF16, ActDtype::F16, ActDtype::F32}) {
    for (auto [Vt, D, T] : {std::tuple{1000, 4096, 7}, std::tuple{517, 1000, 300}, std::tuple{64, 4100, 1},
                            std::tuple{300, 13, 64}}) {
      // embedding: table [Vt, D], tokens with repeats
      auto table = rand_act(h.rng, (size_t)Vt * D, d);
      std::vector<int32_t> tok(T);
      for (auto& t : tok) t = h.rng.integer(0, Vt - 1);
      if (T > 2) tok[1] = tok[0];
      std::vector<float> ref((size_t)T * D);
      qb::cpu::embedding(table.data(), tok.data(), T, D, ref.data(), d);
      DevBuf tb = act_to_dev(table, d), tk = to_dev(tok), out((size_t)T * D * (d == ActDtype::F32 ? 4 : 2));
      out.poison();
      qb::cuda::embedding(tb.p, tk.as<int32_t>(), T, D, d, out.p, h.stream);
      qb::cuda::check(cudaStreamSynchronize(h.stream), "embedding check");
      auto got = from_dev<uint8_t>(out, out.n);
      bool ok = got == to_storage(ref, d);
      h.record(std::string("embedding ") + dtype_name(d) + " V=" + std::to_string(Vt) + " D=" + std::to_string(D) +
                   " T=" + std::to_string(T), ok, ok ? "bit-exact" : "output differs from cpu::embedding");
      // gather_rows: out[r] = x[rows[r]] from a [Vt, D] activation
      std::vector<int32_t> rows(T);
      for (auto& r : rows) r = h.rng.integer(0, Vt - 1);
      std::vector<float> ref2((size_t)T * D);
      for (int r = 0; r < T; ++r) std::memcpy(&ref2[(size_t)r * D], &table[(size_t)rows[r] * D], 4 * (size_t)D);
      DevBuf rw = to_dev(rows);
      out.poison();
      qb::cuda::gather_rows(tb.p, rw.as<int32_t>(), T, D, d, out.p, h.stream);
      qb::cuda::check(cudaStreamSynchronize(h.stream), "gather_rows check");
      got = from_dev<uint8_t>(out, out.n);
      ok = got == to_storage(ref2, d);
      h.record(std::string("gather_rows ") + dtype_name(d) + " D=" + std::to_string(D) + " R=" + std::to_string(T),
               ok, ok ? "bit-exact" : "output differs");
    }
  }
}

void check_absmax(Harness& h) {
  for (ActDtype d : {ActDtype::BF16, ActDtype::F16, ActDtype::F32}) {
    for (auto [T, K] : {std::pair{1, 4096}, std::pair{7, 1000}, std::pair{300, 14336}, std::pair{2000, 4096},
                        std::pair{64, 37}}) {
      auto x = rand_act(h.rng, (size_t)T * K, d, h.rng.uniform(0.1f, 4.0f));
      std::vector<float> cm(K);
      for (int k = 0; k < K; ++k) cm[k] = h.rng.integer(0, 3) == 0 ? h.rng.uniform(0.0f, 6.0f) : 0.0f;  // prior max
      std::vector<float> ref = cm;
      for (int t = 0; t < T; ++t)
        for (int k = 0; k < K; ++k) ref[k] = std::fmax(ref[k], std::fabs(x[(size_t)t * K + k]));
      DevBuf xd = act_to_dev(x, d), cd = to_dev(cm);
      qb::cuda::absmax_columns(xd.p, d, T, K, cd.as<float>(), h.stream);
      // accumulates across calls: a second call over the same rows must not change anything
      qb::cuda::absmax_columns(xd.p, d, T, K, cd.as<float>(), h.stream);
      qb::cuda::check(cudaStreamSynchronize(h.stream), "absmax_columns check");
      auto got = from_dev<float>(cd, K);
      size_t bad = 0;
      for (int k = 0; k < K; ++k) bad += std::memcmp(&got[k], &ref[k], 4) != 0;
      char buf[120];
      std::snprintf(buf, sizeof buf, "%zu/%d columns differ (bit-exact required)", bad, K);
      h.record(std::string("absmax_columns ") + dtype_name(d) + " T=" + std::to_string(T) + " K=" + std::to_string(K),
               bad == 0, buf);
    }
  }
}


}  // namespace

void check_sampling(Harness& h) {
  check_gathers(h);
  check_absmax(h);
  for (auto [V, n, k] : {std::tuple{512, 1, LogitKind::Normal}, std::tuple{512, 64, LogitKind::Ties},
                         std::tuple{1000, 7, LogitKind::Normal}, std::tuple{1000, 300, LogitKind::Peaked},
                         std::tuple{1000, 300, LogitKind::Ties}, std::tuple{128256, 1, LogitKind::Normal},
                         std::tuple{128256, 7, LogitKind::Ties}, std::tuple{128256, 64, LogitKind::Normal},
                         std::tuple{128256, 64, LogitKind::Ties}, std::tuple{128256, 64, LogitKind::Peaked}})
    check_sample(h, V, n, k);
  if (!h.quick) check_sample(h, 128256, 300, LogitKind::Normal);
  for (auto [V, n, k] : {std::tuple{512, 1, LogitKind::Normal}, std::tuple{1000, 300, LogitKind::Ties},
                         std::tuple{128256, 7, LogitKind::Normal}, std::tuple{128256, 64, LogitKind::Ties}})
    check_logprob(h, V, n, k);
}

void bench_sampling(Harness& h) {
  using qb::cuda::FillKind;
  const int V = 128256;
  // Logits: 2 copies of the largest batch (2 x 410 MB > L2) so rows come from device memory; 800 rows: the peer
  // protocol's decode batch.
  const int nmax = 800;
  std::vector<DevBuf> lg;
  for (int c = 0; c < 2; ++c) {
    lg.emplace_back((size_t)nmax * V * 4);
    qb::cuda::fill_random(lg.back().p, (size_t)nmax * V, FillKind::F32, 4242 + c, 2.0f, h.stream);
  }
  std::vector<int32_t> ridx(nmax), tgt(nmax);
  std::vector<uint32_t> seeds(3 * nmax);
  for (int i = 0; i < nmax; ++i) {
    ridx[i] = i;
    tgt[i] = (i * 7919) % V;
    for (int k = 0; k < 3; ++k) seeds[3 * i + k] = (uint32_t)(i * 3 + k + 1);
  }
  DevBuf rd = to_dev(ridx), tdv = to_dev(tgt), sd = to_dev(seeds), tok(4 * nmax), lp(4 * nmax), ia(nmax);
  struct Mode {
    const char* name;
    float T, tp;
  };
  for (Mode m : {Mode{"greedy", 0.0f, 1.0f}, Mode{"T=1 top_p=1", 1.0f, 1.0f}, Mode{"T=0.7 top_p=0.9", 0.7f, 0.9f}}) {
    std::vector<float> T(nmax, m.T), tp(nmax, m.tp);
    DevBuf td = to_dev(T), pd = to_dev(tp);
    for (int n : {1, 64, 256, 800}) {
      const size_t wsb = qb::cuda::sample_rows_workspace_bytes(n, V);
      DevBuf ws(std::max<size_t>(wsb, 16));
      auto launch = [&](int i) {
        qb::cuda::sample_rows(lg[i % 2].as<float>(), V, rd.as<int32_t>(), n, td.as<float>(), pd.as<float>(),
                              sd.as<uint32_t>(), tok.as<int32_t>(), lp.as<float>(), ws.p, wsb, h.stream);
      };
      double us = time_median_us(launch, 3, 15, 10, h.stream);
      add_bench_row(h, "sample_rows", "f32", "n=" + std::to_string(n) + " V=128256 " + m.name, "parts+block/row", us,
                (double)n * V * 4, 0, 0);
    }
  }
  for (int n : {1, 256}) {
    auto launch = [&](int i) {
      qb::cuda::gather_logprob_rows(lg[i % 2].as<float>(), V, rd.as<int32_t>(), tdv.as<int32_t>(), n, lp.as<float>(),
                                    ia.as<uint8_t>(), h.stream);
    };
    double us = time_median_us(launch, 3, 15, 10, h.stream);
    add_bench_row(h, "gather_logprob_rows", "f32", "n=" + std::to_string(n) + " V=128256", "block/row", us, (double)n * V * 4, 0, 0);
  }
  lg.clear();
  // Embedding from a bf16 [128256, 4096] table; gather of lm_head rows; calibration absmax.
  {
    const int D = 4096;
    DevBuf table((size_t)V * D * 2);
    qb::cuda::fill_random(table.p, (size_t)V * D, FillKind::BF16, 99, 1.0f, h.stream);
    for (int T : {1, 64, 2048}) {
      std::vector<int32_t> tok(T);
      for (int t = 0; t < T; ++t) tok[t] = (int32_t)(((uint64_t)t * 2654435761u) % V);
      DevBuf tk = to_dev(tok), out((size_t)T * D * 2);
      auto launch = [&](int) { qb::cuda::embedding(table.p, tk.as<int32_t>(), T, D, ActDtype::BF16, out.p, h.stream); };
      double us = time_median_us(launch, 3, 15, 10, h.stream);
      add_bench_row(h, "embedding", "bf16", "T=" + std::to_string(T) + " D=4096 bf16", "gather", us, (double)T * D * 2 * 2, 0, 0);
    }
    for (int R : {64, 512}) {
      const int Tx = 4096;
      std::vector<int32_t> rows(R);
      for (int r = 0; r < R; ++r) rows[r] = (r * 8) % Tx;
      DevBuf rw = to_dev(rows), out((size_t)R * D * 2);
      auto launch = [&](int) { qb::cuda::gather_rows(table.p, rw.as<int32_t>(), R, D, ActDtype::BF16, out.p, h.stream); };
      double us = time_median_us(launch, 3, 15, 10, h.stream);
      add_bench_row(h, "gather_rows", "bf16", "R=" + std::to_string(R) + " D=4096 bf16", "gather", us, (double)R * D * 2 * 2, 0, 0);
    }
    for (auto [T, K] : {std::pair{64, 4096}, std::pair{2048, 4096}, std::pair{2048, 14336}}) {
      DevBuf cm((size_t)K * 4);
      qb::cuda::check(cudaMemset(cm.p, 0, cm.n), "memset");
      auto launch = [&](int) { qb::cuda::absmax_columns(table.p, ActDtype::BF16, T, K, cm.as<float>(), h.stream); };
      double us = time_median_us(launch, 3, 15, 10, h.stream);
      add_bench_row(h, "absmax_columns", "bf16", "T=" + std::to_string(T) + " K=" + std::to_string(K) + " bf16", "colwise", us,
                (double)T * K * 2, 0, 0);
    }
  }
}
