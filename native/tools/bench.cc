// Timings: CUDA events around batches of back-to-back launches, warm-up first, median of the batches; weight buffers
// rotated across copies totalling > 4x L2 so bandwidth-bound shapes read device memory, not L2. Inputs are random
// (generated on the GPU), never zeros.
#include <cmath>
#include <cstdio>
#include <fstream>

#include "tools/checks.h"
#include "kernels/gemm/check_gemm_runners.h"

#ifdef QB_HAVE_CUBLASLT
#include "kernels/gemm/gemm_lt.h"
#endif

using namespace qbh;
using qb::cuda::FillKind;

namespace {

constexpr double kRotateBytes = 256e6;  // > 4x the 50 MB L2
constexpr int kMaxCopies = 32;          // tiny inputs (decode activations) stay L2-resident, as in the engine
int copies_for(double bytes) { return (int)std::min<double>(kMaxCopies, std::max<double>(1.0, std::ceil(kRotateBytes / bytes))); }

struct Shape {
  const char* name;
  int N, K;
};
const Shape kLlama[] = {{"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};


struct GemmBufs {
  std::vector<DevBuf> w;
  DevBuf x, sa, sw, y;
};

GemmBufs make_bufs(GemmKind k, int M, int N, int K, uint64_t seed, cudaStream_t s, size_t y_bytes) {
  GemmBufs b;
  const size_t eb = gemm_elem_bytes(k);
  const size_t wbytes = (size_t)N * K * eb;
  int copies = copies_for((double)wbytes);
  FillKind fk = k == GemmKind::FP8 ? FillKind::Fp8 : k == GemmKind::INT8 ? FillKind::Int8
              : k == GemmKind::BF16 ? FillKind::BF16 : FillKind::F16;
  const float wscale = (k == GemmKind::FP8) ? 64.0f : (k == GemmKind::INT8) ? 40.0f : 0.02f;
  const float xscale = (k == GemmKind::FP8) ? 64.0f : (k == GemmKind::INT8) ? 40.0f : 1.0f;
  for (int i = 0; i < copies; ++i) {
    b.w.emplace_back(wbytes);
    qb::cuda::fill_random(b.w.back().p, (size_t)N * K, fk, seed + 17 * i + 1, wscale, s);
  }
  b.x = DevBuf((size_t)M * K * eb);
  qb::cuda::fill_random(b.x.p, (size_t)M * K, fk, seed + 1000, xscale, s);
  b.sa = DevBuf(sizeof(float) * M);
  qb::cuda::fill_random(b.sa.p, M, FillKind::PositiveF32, seed + 2000, 0.01f, s);
  b.sw = DevBuf(sizeof(float) * N);
  qb::cuda::fill_random(b.sw.p, N, FillKind::PositiveF32, seed + 3000, 0.001f, s);
  b.y = DevBuf(y_bytes);
  qb::cuda::check(cudaStreamSynchronize(s), "bench fill");
  return b;
}

double peak_for(const Harness& h, GemmKind k) {
  return k == GemmKind::FP8 ? h.ceil.fp8 : k == GemmKind::INT8 ? h.ceil.int8 : h.ceil.bf16;
}

#ifdef QB_HAVE_CUBLASLT
qb::cuda::LtContext& bench_lt() {
  static qb::cuda::LtContext ctx;
  return ctx;
}
#endif

// unscaled: the GEMM alone, scales left to the consumer (the product's large-M paths): fp8 through cuBLASLt with unit
// scales and bf16 output; int8 with its int32 accumulators (ScaledIn::acc) and no epilogue kernel.
void bench_gemm(Harness& h, GemmKind k, bool lt, int M, const Shape& sh, uint64_t seed, bool unscaled = false) {
  const int N = sh.N, K = sh.K;
  const size_t eb = gemm_elem_bytes(k);
  const qb::ActDtype yd = qb::ActDtype::BF16;
  GemmBufs b = make_bufs(k, M, N, K, seed, h.stream, (size_t)M * N * 2);
  const bool big = (double)M * N * K > 1e11;
  const int reps = big ? 7 : 25, batch = std::max<int>(big ? 3 : 10, (int)b.w.size());
  std::function<void(int)> launch;
  std::string kernel;
  if (!lt) {
    kernel = "smallm-mma";
    launch = [&](int i) {
      const DevBuf& w = b.w[i % b.w.size()];
      switch (k) {
        case GemmKind::FP8: qb::cuda::gemm_fp8_smallm(b.x.as<uint8_t>(), b.sa.as<float>(), true, w.as<uint8_t>(), b.sw.as<float>(), true, M, N, K, b.y.p, yd, h.stream); break;
        case GemmKind::INT8: qb::cuda::gemm_int8_w8a8_smallm(b.x.as<int8_t>(), b.sa.as<float>(), true, w.as<int8_t>(), b.sw.as<float>(), true, M, N, K, b.y.p, yd, h.stream); break;
        default: qb::cuda::gemm_f16_smallm(b.x.p, w.p, k == GemmKind::F16 ? qb::ActDtype::F16 : qb::ActDtype::BF16, M, N, K, b.y.p, yd, h.stream); break;
      }
    };
  } else {
#ifdef QB_HAVE_CUBLASLT
    auto& ctx = bench_lt();
    launch = [&](int i) {
      const DevBuf& w = b.w[i % b.w.size()];
      switch (k) {
        case GemmKind::FP8:
          if (unscaled) qb::cuda::gemm_fp8_lt_unscaled_bf16(ctx, b.x.as<uint8_t>(), w.as<uint8_t>(), M, N, K, b.y.p, h.stream);
          else qb::cuda::gemm_fp8_lt(ctx, b.x.as<uint8_t>(), b.sa.as<float>(), true, w.as<uint8_t>(), b.sw.as<float>(), true, M, N, K, b.y.p, yd, h.stream);
          break;
        case GemmKind::INT8:
          if (unscaled) qb::cuda::gemm_int8_lt_acc(ctx, b.x.as<int8_t>(), w.as<int8_t>(), M, N, K, h.stream);
          else qb::cuda::gemm_int8_w8a8_lt(ctx, b.x.as<int8_t>(), b.sa.as<float>(), true, w.as<int8_t>(), b.sw.as<float>(), true, M, N, K, b.y.p, yd, h.stream);
          break;
        default: qb::cuda::gemm_f16_lt(ctx, b.x.p, w.p, k == GemmKind::F16 ? qb::ActDtype::F16 : qb::ActDtype::BF16, M, N, K, b.y.p, yd, h.stream); break;
      }
    };
    launch(0);  // plan creation outside the timing
    qb::cuda::check(cudaStreamSynchronize(h.stream), "lt plan");
    kernel = k == GemmKind::FP8 ? (unscaled ? "cublasLt-bf16-unscaled" : ctx.last_fp8_outer_vec ? "cublasLt-outervec" : "cublasLt+epilogue")
           : k == GemmKind::INT8 ? (unscaled ? "cublasLt-i32-acc" : "cublasLt-i32+epilogue") : "cublasLt";
#else
    return;
#endif
  }
  double us = time_median_us(launch, 3, reps, batch, h.stream);
  const double out_bytes = k == GemmKind::INT8 && unscaled ? 4 : 2;  // int32 accumulators, else 16-bit
  double bytes = (double)N * K * eb + (double)M * K * eb + (double)M * N * out_bytes;
  double flops = 2.0 * M * N * K;
  char shape[64];
  std::snprintf(shape, sizeof shape, "%s M=%d N=%d K=%d", sh.name, M, N, K);
  add_bench_row(h, "gemm", gemm_kind_name(k), shape, kernel, us, bytes, flops, peak_for(h, k));
}

void bench_act(Harness& h, uint64_t seed) {
  using qb::cuda::QuantMode;
  using qb::cuda::QuantOut;
  for (int T : {1, 64, 2048}) {
    // rmsnorm + residual + fp8 per-token quant, D = 4096
    {
      const int D = 4096;
      const size_t n = (size_t)T * D;
      int copies = copies_for(n * 2.0 * 2);
      std::vector<DevBuf> xs, rs;
      for (int i = 0; i < copies; ++i) {
        xs.emplace_back(n * 2);
        rs.emplace_back(n * 2);
        qb::cuda::fill_random(xs.back().p, n, FillKind::BF16, seed + i, 1.0f, h.stream);
        qb::cuda::fill_random(rs.back().p, n, FillKind::BF16, seed + 99 + i, 1.0f, h.stream);
      }
      DevBuf w(D * 2), q(n), s(4 * T);
      qb::cuda::fill_random(w.p, D, FillKind::BF16, seed + 7, 1.0f, h.stream);
      QuantOut qo{QuantMode::Fp8PerToken, q.p, s.as<float>()};
      auto launch = [&](int i) {
        qb::cuda::rmsnorm_residual_quant(xs[i % copies].p, rs[i % copies].p, w.p, qb::ActDtype::BF16, T, D, 1e-5f,
                                         nullptr, qo, h.stream);
      };
      double us = time_median_us(launch, 3, 25, std::max(10, copies), h.stream);
      add_bench_row(h, "rmsnorm_residual_quant", "fp8", "T=" + std::to_string(T) + " D=4096", "fused", us,
              n * 2.0 * 3 + n + 4.0 * T + D * 2, 0, 0);
    }
    // silu * mul + fp8 per-token quant, F = 14336 (gate_up layout)
    {
      const int F = 14336;
      const size_t n = (size_t)T * F;
      int copies = copies_for(n * 4.0);
      std::vector<DevBuf> gus;
      for (int i = 0; i < copies; ++i) {
        gus.emplace_back(n * 4);
        qb::cuda::fill_random(gus.back().p, 2 * n, FillKind::BF16, seed + 300 + i, 2.0f, h.stream);
      }
      DevBuf q(n), s(4 * T);
      QuantOut qo{QuantMode::Fp8PerToken, q.p, s.as<float>()};
      auto launch = [&](int i) {
        const uint16_t* g = gus[i % copies].as<uint16_t>();
        qb::cuda::silu_mul_quant(g, g + F, 2 * F, qb::ActDtype::BF16, T, F, nullptr, qo, h.stream);
      };
      double us = time_median_us(launch, 3, 25, std::max(10, copies), h.stream);
      add_bench_row(h, "silu_mul_quant", "fp8", "T=" + std::to_string(T) + " F=14336", "fused", us, n * 4.0 + n + 4.0 * T,
              0, 0);
    }
    // plain per-token fp8 quant, K = 4096
    {
      const int K = 4096;
      const size_t n = (size_t)T * K;
      int copies = copies_for(n * 2.0);
      std::vector<DevBuf> xs;
      for (int i = 0; i < copies; ++i) {
        xs.emplace_back(n * 2);
        qb::cuda::fill_random(xs.back().p, n, FillKind::BF16, seed + 500 + i, 1.0f, h.stream);
      }
      DevBuf q(n), s(4 * T);
      auto launch = [&](int i) {
        qb::cuda::quant_per_token_fp8(xs[i % copies].p, qb::ActDtype::BF16, T, K, q.as<uint8_t>(), s.as<float>(),
                                      h.stream);
      };
      double us = time_median_us(launch, 3, 25, std::max(10, copies), h.stream);
      add_bench_row(h, "quant_per_token", "fp8", "T=" + std::to_string(T) + " K=4096", "rowwise", us, n * 3.0 + 4.0 * T, 0,
              0);
    }
  }
}

}  // namespace

void add_bench_row(Harness& h, const std::string& op, const std::string& prec, const std::string& shape,
                   const std::string& kernel, double us, double bytes, double flops, double peak_flops) {
  BenchRow r;
  r.op = op;
  r.precision = prec;
  r.shape = shape;
  r.kernel = kernel;
  r.median_us = us;
  r.bytes = bytes;
  r.flops = flops;
  r.tbs = bytes / (us * 1e-6) / 1e12;
  r.tflops = flops / (us * 1e-6) / 1e12;
  if (h.ceil.bytes_per_s > 0) {
    const double t_bw = bytes / h.ceil.bytes_per_s, t_c = peak_flops > 0 ? flops / peak_flops : 0;
    r.roofline = std::max(t_bw, t_c) / (us * 1e-6);
    r.bound = t_bw >= t_c ? "bandwidth" : "compute";
  } else {
    r.roofline = 0;
    r.bound = "no ceilings for this card";
  }
  h.bench.push_back(r);
  std::printf("TIME %-22s %-10s %-28s %-18s %9.2f us %6.2f TB/s %7.1f TFLOP/s roofline %5.1f%% (%s)\n", op.c_str(),
              prec.c_str(), shape.c_str(), kernel.c_str(), us, r.tbs, r.tflops, 100 * r.roofline, r.bound.c_str());
  std::fflush(stdout);
}

void run_bench(Harness& h) {
  const uint64_t seed = 12345;
  std::vector<int> small = h.quick ? std::vector<int>{1, 64} : std::vector<int>{1, 16, 32, 64};
  std::vector<int> large = h.quick ? std::vector<int>{2048} : std::vector<int>{256, 512, 2048, 8192, 16384};  // issue 18: M = 512 ... 16384
  if (h.wants("gemm")) {
  for (int M : small)
    for (const Shape& sh : kLlama) {
      for (GemmKind k : {GemmKind::FP8, GemmKind::INT8, GemmKind::BF16}) bench_gemm(h, k, false, M, sh, seed);
      if (lt_available())
        for (GemmKind k : {GemmKind::BF16, GemmKind::FP8}) bench_gemm(h, k, true, M, sh, seed);
    }
  if (lt_available())
    for (int M : large)
      for (const Shape& sh : kLlama)
        for (GemmKind k : {GemmKind::BF16, GemmKind::FP8, GemmKind::INT8}) {
          bench_gemm(h, k, true, M, sh, seed);
          if (k != GemmKind::BF16) bench_gemm(h, k, true, M, sh, seed, true);  // the product's path
        }
  }
  if (h.wants("act")) bench_act(h, seed);
  if (h.wants("fused_gemv")) bench_fused_gemv(h);
  if (h.wants("attention")) bench_attention(h);
  if (h.wants("sampling")) bench_sampling(h);
}

void write_jsonl(const Harness& h, const std::string& path) {
  std::ofstream f(path);
  for (const auto& r : h.bench) {
    char buf[768];
    std::snprintf(buf, sizeof buf,
                  "{\"op\":\"%s\",\"precision\":\"%s\",\"shape\":\"%s\",\"kernel\":\"%s\",\"medianUs\":%.3f,"
                  "\"bytes\":%.0f,\"flops\":%.0f,\"achievedTBs\":%.4f,\"achievedTflops\":%.3f,\"rooflineRatio\":%.4f,"
                  "\"bound\":\"%s\",\"device\":\"%s\",\"peakTBs\":%.2f,\"peakTflops\":%.0f}\n",
                  r.op.c_str(), r.precision.c_str(), r.shape.c_str(), r.kernel.c_str(), r.median_us, r.bytes, r.flops,
                  r.tbs, r.tflops, r.roofline, r.bound.c_str(), h.device.c_str(), h.ceil.bytes_per_s / 1e12,
                  r.precision == "bf16" || r.precision == "f16" ? h.ceil.bf16 / 1e12 : h.ceil.fp8 / 1e12);
    f << buf;
  }
  for (const auto& c : h.results) {
    std::string d;
    for (char ch : c.detail) d += (ch == '"' || ch == '\\') ? '\'' : ch;
    f << "{\"check\":\"" << c.name << "\",\"pass\":" << (c.pass ? "true" : "false") << ",\"detail\":\"" << d << "\"}\n";
  }
}

void print_table(const Harness& h) {
  std::printf("\n%-22s %-9s %-30s %-21s %9s %7s %8s %6s\n", "op", "prec", "shape", "kernel", "us", "TB/s", "TFLOP/s",
              "roof%");
  for (const auto& r : h.bench)
    std::printf("%-22s %-9s %-30s %-21s %9.2f %7.2f %8.1f %6.1f\n", r.op.c_str(), r.precision.c_str(),
                r.shape.c_str(), r.kernel.c_str(), r.median_us, r.tbs, r.tflops, 100 * r.roofline);
}
