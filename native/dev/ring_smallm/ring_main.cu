// Standalone check + timing of the persistent ring small-M GEMM (gemm_smallm_ring.cuh; formerly tile configuration 5
// of the fused decode linears, removed from the product: it streamed slower per SM than the register-loading kernel).
// Build and run: dev/ring_smallm/README.md. Nothing in the product links this file.
//
// For an int8 W8A8 GEMM (int8 codes, per-token activation scales, per-channel weight scales, bf16 output) and an fp16
// GEMM (f16 in, f16 out), M <= 8 rows, it launches ring::gemm_ring_kernel<KIND, F> the way launch_ring did (one
// block per SM times --bps, a ring of as many 16-row x --chunk-byte slots as fit in --smem-kb, producer warp issuing
// cp.async.bulk copies before the PDL wait), with two epilogue policies:
//   plain     F = Plain (gemm_smallm_mma.cuh): y = round(acc * (s_a[t] * s_w[n])) stored in y
//   residual  F = Fused<act, mode, FusedOp::Residual> (gemm_smallm_fused.cuh), as the o / down linears ran it:
//             resid = round(resid + round(y)), updated in place
// Checks (outputs poisoned, every element compared; both epilogues, the requested shape plus two odd ones):
//   - against the CPU twins: qb::cpu::gemm_int8_w8a8 bit for bit (exact int32 sums, same fp32 epilogue);
//     qb::cpu::gemm_f (double accumulation) within |d| <= u_out |ref| + 2^-14 sum_k |x_k w_k| (the harness's GEMM
//     tolerance, kernels/gemm/check_gemm_cases.cc), residual: + u_out |y_ref| for the extra rounding;
//   - against the register-loading kernel gemm_smallm_kernel<KIND, 1, 1, 8, U, 2, true, F> (U = 4 for int8, the
//     8-bit o/down default; U = 8 for 16-bit) bit for bit: the ring kernel keeps its k split, mma order and
//     cross-warp reduction, so the two must agree exactly (int8 and fp16).
// Timing: CUDA graph of back-to-back launches (qbh::time_median_us), weights rotated over enough copies to exceed
// 3x the L2 so they stream from DRAM; median per launch of --reps replays; GB/s = bytes moved / time. The register
// kernel is timed the same way for comparison.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/gemm_fused/gemm_smallm_fused.cuh"  // Fused policies (+ gemm_smallm_mma.cuh: Plain, the kernel)
#include "dev/ring_smallm/gemm_smallm_ring.cuh"      // after it: the ring kernel template
#include "kernels/common/pdl.h"
#include "kernels/reference.h"
#include "tools/harness_util.h"

using qb::ActDtype;
using qb::cuda::check;
using qb::cuda::require;
using qbh::DevBuf;
namespace sm = qb::cuda::smallm;

namespace {

struct Opts {
  int chunk = 2048;   // bytes of a weight row per ring slot (multiple of 64; was QB_RING_CHUNK)
  int smem_kb = 200;  // dynamic shared memory cap per block (was QB_RING_SMEM_KB)
  int bps = 1;        // blocks per SM (was QB_RING_BPS)
  int M = 1, N = 4096, K = 14336;  // default: Llama-3-8B's down projection at decode batch 1
  int reps = 50;
  std::string kind = "both";     // int8 | fp16 | both
  std::string epilogue = "plain";  // timed epilogue: plain | residual
  uint64_t seed = 1;
  bool pdl = true, edge = true, time = true;
};

int device_attr(cudaDeviceAttr a) {
  int dev = 0, v = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&v, a, dev), "cudaDeviceGetAttribute");
  return v;
}
int dev_sm_count() {
  static const int n = std::max(1, device_attr(cudaDevAttrMultiProcessorCount));
  return n;
}
int dev_smem_optin() {
  static const int n = device_attr(cudaDevAttrMaxSharedMemoryPerBlockOptin);
  return n;
}

struct RingPlan {
  int chunk = 0, stages = 0, grid = 0;
  size_t smem = 0;
};

// launch_ring of the fused linears (eab799f, gemm_smallm_fused.cuh), with its knobs as arguments.
template <sm::Kind KIND, class F>
RingPlan dev_launch_ring(const uint8_t* x, const uint8_t* w, int M, int N, int row_bytes, const sm::Epilogue& ep,
                         const typename F::Args& fa, const Opts& o, cudaStream_t stream) {
  const char* name = "gemm_ring_kernel";
  auto kernel = sm::ring::gemm_ring_kernel<KIND, F>;
  static const int static_smem = [&] {
    cudaFuncAttributes a{};
    check(cudaFuncGetAttributes(&a, kernel), name);
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               dev_smem_optin() - (int)a.sharedSizeBytes),
          name);
    return (int)a.sharedSizeBytes;
  }();
  RingPlan p;
  p.chunk = std::max(64, o.chunk / 64 * 64);
  const size_t xs = sm::ring::xs_bytes(F::kSmemX, M, row_bytes);
  const size_t cap = std::min<size_t>((size_t)o.smem_kb * 1024, (size_t)(dev_smem_optin() - static_smem));
  p.stages = (int)std::min<size_t>(sm::ring::kMaxStages, cap > xs ? (cap - xs) / sm::ring::slot_bytes(p.chunk) : 0);
  require(p.stages >= 2, name,
          "the ring kernel needs 2 weight slots of " + std::to_string(sm::ring::slot_bytes(p.chunk)) + " bytes beside " +
              std::to_string(xs) + " bytes of input rows (lower --chunk or raise --smem-kb)");
  const int ntiles = (N + 15) / 16;  // F::kPaired is false for every policy used here
  p.grid = std::min(ntiles, std::max(1, o.bps) * dev_sm_count());
  p.smem = xs + (size_t)p.stages * sm::ring::slot_bytes(p.chunk);
  qb::cuda::launch_pdl(name, kernel, dim3(p.grid), dim3(sm::ring::kThreads), p.smem, stream, x, w, M, N, row_bytes,
                       p.chunk, p.stages, ep, fa);
  qb::cuda::check_launch(name);
  return p;
}

// The register-loading kernel the ring lost to (launch_fused's run(): 16 rows per block of 8 warps).
template <sm::Kind KIND, int U, class F>
void launch_register(const uint8_t* x, const uint8_t* w, int M, int N, int row_bytes, const sm::Epilogue& ep,
                     const typename F::Args& fa, cudaStream_t stream) {
  static_assert(!F::kSmemX && !F::kPaired, "plain / residual policies only");
  auto kernel = sm::gemm_smallm_kernel<KIND, 1, 1, 8, U, 2, true, F>;
  qb::cuda::launch_pdl("gemm_smallm_kernel", kernel, dim3((N + 15) / 16), dim3(256), 0, stream, x, w, M, N, row_bytes,
                       ep, fa);
  qb::cuda::check_launch("gemm_smallm_kernel");
}

bool g_fail = false;
void report(bool ok, const std::string& name, const std::string& detail) {
  std::printf("%s %-64s %s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.c_str());
  std::fflush(stdout);
  if (!ok) g_fail = true;
}

enum class Epi { Plain, Residual };
const char* epi_name(Epi e) { return e == Epi::Plain ? "plain" : "residual"; }

// One problem: host data, CPU reference, device buffers (weights in `copies` rotated copies).
struct Problem {
  bool int8 = true;
  int M = 0, N = 0, K = 0, row_bytes = 0;
  ActDtype act = ActDtype::BF16;  // output / residual dtype
  // host
  std::vector<int8_t> xq, wq;
  std::vector<float> s_a, s_w;
  std::vector<float> xf, wf;         // fp16: the values (rounded to f16)
  std::vector<float> yref, absref;   // CPU twin output (rounded to act); fp16: sum_k |x_k w_k|
  std::vector<float> resid0;         // residual before (act values)
  // device
  DevBuf x, sa, sw, y, resid;
  std::vector<DevBuf> w;
};

Problem make_problem(qbh::Rng& rng, bool int8, int M, int N, int K, int copies) {
  Problem p;
  p.int8 = int8;
  p.M = M;
  p.N = N;
  p.K = K;
  p.row_bytes = int8 ? K : 2 * K;
  p.act = int8 ? ActDtype::BF16 : ActDtype::F16;
  const size_t nx = (size_t)M * K, nw = (size_t)N * K;
  std::vector<uint8_t> wbytes;
  if (int8) {
    p.xq.resize(nx);
    p.wq.resize(nw);
    for (auto& v : p.xq) v = (int8_t)rng.integer(-128, 127);
    for (auto& v : p.wq) v = (int8_t)rng.integer(-127, 127);
    for (int n = 0; n < N; n += 97) p.wq[(size_t)n * K + rng.integer(0, K - 1)] = -128;  // the code range's edge
    p.s_a.resize(M);
    p.s_w.resize(N);
    for (auto& v : p.s_a) v = rng.uniform(0.005f, 0.05f);
    for (auto& v : p.s_w) v = rng.uniform(1e-4f, 1e-3f);
    p.yref.resize((size_t)M * N);
    qb::cpu::gemm_int8_w8a8(p.xq.data(), p.s_a.data(), true, p.wq.data(), p.s_w.data(), M, N, K, p.yref.data(), p.act);
    p.x = qbh::to_dev(p.xq);
    p.sa = qbh::to_dev(p.s_a);
    p.sw = qbh::to_dev(p.s_w);
    wbytes.assign(reinterpret_cast<const uint8_t*>(p.wq.data()), reinterpret_cast<const uint8_t*>(p.wq.data()) + nw);
  } else {
    p.xf = qbh::rand_act(rng, nx, ActDtype::F16, 1.0f);
    p.wf.resize(nw);
    for (auto& v : p.wf) v = qb::round_act(rng.normal(0.02f), ActDtype::F16);
    p.yref.resize((size_t)M * N);
    qb::cpu::gemm_f(p.xf.data(), p.wf.data(), M, N, K, p.yref.data(), p.act);
    std::vector<float> ax(nx), aw(nw);
    for (size_t i = 0; i < nx; ++i) ax[i] = std::fabs(p.xf[i]);
    for (size_t i = 0; i < nw; ++i) aw[i] = std::fabs(p.wf[i]);
    p.absref.resize((size_t)M * N);
    qb::cpu::gemm_f(ax.data(), aw.data(), M, N, K, p.absref.data(), ActDtype::F32);
    p.x = qbh::act_to_dev(p.xf, ActDtype::F16);
    wbytes = qbh::to_storage(p.wf, ActDtype::F16);
  }
  p.resid0 = qbh::rand_act(rng, (size_t)M * N, p.act, 1.0f);
  p.y = DevBuf((size_t)M * N * 2);
  p.resid = DevBuf((size_t)M * N * 2);
  p.w.emplace_back(qbh::to_dev(wbytes));
  for (int c = 1; c < copies; ++c) {
    DevBuf b(wbytes.size());
    check(cudaMemcpy(b.p, p.w[0].p, wbytes.size(), cudaMemcpyDeviceToDevice), "weight copy");
    p.w.emplace_back(std::move(b));
  }
  return p;
}

// Epilogue + policy arguments of one launch (output into p.y, or the residual p.resid).
sm::Epilogue make_ep(const Problem& p) {
  sm::Epilogue ep{};
  if (p.int8) {
    ep.s_a = p.sa.as<float>();
    ep.a_per_token = 1;
    ep.s_w = p.sw.as<float>();
    ep.w_per_channel = 1;
  }
  ep.y = p.y.p;
  ep.y_dtype = p.act;
  return ep;
}
qb::cuda::FusedLinear make_fused(const Problem& p, const DevBuf& w) {
  qb::cuda::FusedLinear f;
  f.op = qb::cuda::FusedOp::Residual;
  f.mode = p.int8 ? qb::cuda::QuantMode::Int8PerToken : qb::cuda::QuantMode::None;
  f.act = p.act;
  f.w = w.p;
  f.w_scale = p.int8 ? p.sw.as<float>() : nullptr;
  f.N = p.N;
  f.K = p.K;
  f.in = p.x.p;
  f.resid = p.resid.p;
  return f;
}

// The policies: plain, and the fused linears' Residual (int8: bf16 activations, per-token codes; fp16: f16).
using ResidInt8 = sm::Fused<ActDtype::BF16, qb::cuda::QuantMode::Int8PerToken, qb::cuda::FusedOp::Residual>;
using ResidF16 = sm::Fused<ActDtype::F16, qb::cuda::QuantMode::None, qb::cuda::FusedOp::Residual>;

// Launch the ring (ring = true) or the register kernel with weight copy `wc`.
RingPlan launch(const Problem& p, Epi e, bool ring, int wc, const Opts& o, cudaStream_t s) {
  const uint8_t* x = p.x.as<uint8_t>();
  const uint8_t* w = p.w[wc].as<uint8_t>();
  const sm::Epilogue ep = make_ep(p);
  RingPlan plan;
  if (p.int8) {
    constexpr sm::Kind KD = sm::Kind::INT8;
    if (e == Epi::Plain) {
      if (ring) plan = dev_launch_ring<KD, sm::Plain>(x, w, p.M, p.N, p.row_bytes, ep, {}, o, s);
      else launch_register<KD, 4, sm::Plain>(x, w, p.M, p.N, p.row_bytes, ep, {}, s);
    } else {
      const auto f = make_fused(p, p.w[wc]);
      if (ring) plan = dev_launch_ring<KD, ResidInt8>(x, w, p.M, p.N, p.row_bytes, ep, f, o, s);
      else launch_register<KD, 4, ResidInt8>(x, w, p.M, p.N, p.row_bytes, ep, f, s);
    }
  } else {
    constexpr sm::Kind KD = sm::Kind::F16;
    if (e == Epi::Plain) {
      if (ring) plan = dev_launch_ring<KD, sm::Plain>(x, w, p.M, p.N, p.row_bytes, ep, {}, o, s);
      else launch_register<KD, 8, sm::Plain>(x, w, p.M, p.N, p.row_bytes, ep, {}, s);
    } else {
      const auto f = make_fused(p, p.w[wc]);
      if (ring) plan = dev_launch_ring<KD, ResidF16>(x, w, p.M, p.N, p.row_bytes, ep, f, o, s);
      else launch_register<KD, 8, ResidF16>(x, w, p.M, p.N, p.row_bytes, ep, f, s);
    }
  }
  return plan;
}

// Output image of one run: y (poisoned first) or the residual (reset to resid0 first), as 16-bit words.
std::vector<uint16_t> run_once(Problem& p, Epi e, bool ring, const Opts& o, cudaStream_t s, RingPlan* plan) {
  const size_t n = (size_t)p.M * p.N;
  if (e == Epi::Plain) {
    p.y.poison();
  } else {
    p.y.poison();  // must stay untouched
    const auto st = qbh::to_storage(p.resid0, p.act);
    p.resid.upload(st.data(), st.size());
  }
  RingPlan pl = launch(p, e, ring, 0, o, s);
  if (plan) *plan = pl;
  check(cudaStreamSynchronize(s), ring ? "ring kernel" : "register kernel");
  std::vector<uint16_t> out(n);
  (e == Epi::Plain ? p.y : p.resid).download(out.data(), n * 2);
  if (e == Epi::Residual) {  // y must not be written by the residual policy
    std::vector<uint16_t> yb(n);
    p.y.download(yb.data(), n * 2);
    for (size_t i = 0; i < n; ++i)
      if (yb[i] != 0xffffu) {
        out.clear();  // signals "y written" to the caller
        break;
      }
  }
  return out;
}

float to_f(uint16_t b, ActDtype d) { return d == ActDtype::F16 ? qb::f16_bits_to_f32(b) : qb::bf16_bits_to_f32(b); }

// Ring output vs the CPU twin (and the register kernel's output, bit for bit).
void check_case(Problem& p, Epi e, const Opts& o, cudaStream_t s) {
  char name[200];
  std::snprintf(name, sizeof name, "ring %s %s M=%d N=%d K=%d chunk=%d smem=%dKB bps=%d", p.int8 ? "int8" : "fp16",
                epi_name(e), p.M, p.N, p.K, o.chunk, o.smem_kb, o.bps);
  std::string det;
  bool ok = true;
  try {
    RingPlan plan;
    const auto g = run_once(p, e, true, o, s, &plan);
    const auto r = run_once(p, e, false, o, s, nullptr);
    if (g.empty() || r.empty()) {
      report(false, name, std::string("the residual policy wrote y (") + (g.empty() ? "ring" : "register") + ")");
      return;
    }
    const size_t n = (size_t)p.M * p.N;
    const double u_out = p.act == ActDtype::BF16 ? std::ldexp(1.0, -7) : std::ldexp(1.0, -10);
    size_t bad = 0, nan = 0, diff_reg = 0, first_bad = n, first_reg = n;
    double worst = 0;
    for (size_t i = 0; i < n; ++i) {
      const float gv = to_f(g[i], p.act);
      double ref = p.yref[i], tol = 0;
      if (e == Epi::Residual) {
        ref = qb::round_act(p.resid0[i] + p.yref[i], p.act);  // resid = round(resid + round(y))
        if (!p.int8) tol = u_out * (std::fabs(ref) + std::fabs(p.yref[i])) + std::ldexp(1.0, -14) * p.absref[i];
      } else if (!p.int8) {
        tol = u_out * std::fabs(ref) + std::ldexp(1.0, -14) * p.absref[i];
      }
      if (!std::isfinite(gv)) {
        ++nan;
        if (bad++ == 0) first_bad = i;
      } else {
        const double err = std::fabs((double)gv - ref);
        if (err > tol && bad++ == 0) first_bad = i;
        if (tol > 0) worst = std::max(worst, err / tol);
      }
      if (g[i] != r[i] && diff_reg++ == 0) first_reg = i;
    }
    char buf[400];
    int len = std::snprintf(buf, sizeof buf, "stages %d grid %d smem %zu; vs CPU %s: %zu/%zu out%s (%zu NaN/unwritten)",
                            plan.stages, plan.grid, plan.smem, p.int8 ? "exact" : "tol", bad, n,
                            p.int8 ? "" : (", worst err/tol " + std::to_string(worst)).c_str(), nan);
    if (first_bad < n)
      len += std::snprintf(buf + len, sizeof buf - len, " first t=%zu n=%zu gpu %.7g ref %.7g", first_bad / p.N,
                           first_bad % p.N, to_f(g[first_bad], p.act), e == Epi::Residual
                               ? (double)qb::round_act(p.resid0[first_bad] + p.yref[first_bad], p.act)
                               : (double)p.yref[first_bad]);
    len += std::snprintf(buf + len, sizeof buf - len, "; vs register kernel: %zu differ", diff_reg);
    if (first_reg < n)
      std::snprintf(buf + len, sizeof buf - len, " (first %zu: ring 0x%04x register 0x%04x)", first_reg, g[first_reg],
                    r[first_reg]);
    det = buf;
    ok = bad == 0 && diff_reg == 0;
  } catch (const std::exception& ex) {
    ok = false;
    det = std::string("threw: ") + ex.what();
  }
  report(ok, name, det);
}

void time_case(Problem& p, Epi e, const Opts& o, cudaStream_t s) {
  const size_t n = (size_t)p.M * p.N;
  const double wbytes = (double)p.N * p.row_bytes;
  const double bytes = wbytes + (double)p.M * p.row_bytes + (e == Epi::Plain ? 2.0 : 4.0) * (double)n;
  const int copies = (int)p.w.size();
  double us[2];
  RingPlan plan;
  for (int ring = 1; ring >= 0; --ring) {
    if (e == Epi::Residual) {
      const auto st = qbh::to_storage(p.resid0, p.act);
      p.resid.upload(st.data(), st.size());
    }
    us[ring] = qbh::time_median_us(
        [&](int i) {
          RingPlan pl = launch(p, e, ring != 0, i % copies, o, s);
          if (ring) plan = pl;
        },
        5, o.reps, copies, s);
  }
  std::printf("TIME %s %s M=%d N=%d K=%d (%d weight copies, %.1f MB each, pdl %s)\n", p.int8 ? "int8" : "fp16",
              epi_name(e), p.M, p.N, p.K, copies, wbytes / 1e6, o.pdl ? "on" : "off");
  std::printf("  ring     chunk %d, %d stages (%zu B smem), grid %d (bps %d): %8.2f us  %7.1f GB/s\n", plan.chunk,
              plan.stages, plan.smem, plan.grid, o.bps, us[1], bytes / us[1] / 1e3);
  std::printf("  register U=%d, 2 blocks/SM, grid %d:                       %8.2f us  %7.1f GB/s   ring/register %.3f\n",
              p.int8 ? 4 : 8, (p.N + 15) / 16, us[0], bytes / us[0] / 1e3, us[1] / us[0]);
  std::fflush(stdout);
}

void usage() {
  std::printf(
      "ring_main [--chunk B] [--smem-kb KB] [--bps N] [--M M] [--N N] [--K K] [--reps R] [--kind int8|fp16|both]\n"
      "          [--epilogue plain|residual] [--seed S] [--no-pdl] [--no-edge] [--check-only]\n"
      "defaults: --chunk 2048 --smem-kb 200 --bps 1 --M 1 --N 4096 --K 14336 --reps 50 --kind both --epilogue plain\n");
}

}  // namespace

int main(int argc, char** argv) {
  Opts o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--chunk") o.chunk = std::atoi(next());
    else if (a == "--smem-kb") o.smem_kb = std::atoi(next());
    else if (a == "--bps") o.bps = std::atoi(next());
    else if (a == "--M") o.M = std::atoi(next());
    else if (a == "--N") o.N = std::atoi(next());
    else if (a == "--K") o.K = std::atoi(next());
    else if (a == "--reps") o.reps = std::max(1, std::atoi(next()));
    else if (a == "--kind") o.kind = next();
    else if (a == "--epilogue") o.epilogue = next();
    else if (a == "--seed") o.seed = std::strtoull(next(), nullptr, 10);
    else if (a == "--no-pdl") o.pdl = false;
    else if (a == "--no-edge") o.edge = false;
    else if (a == "--check-only") o.time = false;
    else {
      usage();
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (o.M < 1 || o.M > 8 || o.N < 1 || o.K < 16 || o.K % 16 != 0 || o.chunk < 64 ||
      (o.kind != "int8" && o.kind != "fp16" && o.kind != "both") ||
      (o.epilogue != "plain" && o.epilogue != "residual")) {
    std::printf("bad arguments: M in [1, 8], N >= 1, K a positive multiple of 16, chunk >= 64\n");
    usage();
    return 2;
  }
  try {
    qb::cuda::set_pdl_enabled(o.pdl);
    cudaDeviceProp prop{};
    int dev = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
    std::printf("device %s, sm_%d%d, %d SMs, L2 %d MB, smem opt-in %d B; seed %llu\n", prop.name, prop.major,
                prop.minor, prop.multiProcessorCount, prop.l2CacheSize >> 20, dev_smem_optin(),
                (unsigned long long)o.seed);
    cudaStream_t s;
    check(cudaStreamCreate(&s), "cudaStreamCreate");
    qbh::Rng rng(o.seed);
    const Epi timed = o.epilogue == "plain" ? Epi::Plain : Epi::Residual;
    for (int k = 0; k < 2; ++k) {
      const bool int8 = k == 0;
      if (o.kind != "both" && o.kind != (int8 ? "int8" : "fp16")) continue;
      const double wb = (double)o.N * o.K * (int8 ? 1 : 2);
      const int copies = o.time ? (int)std::clamp(std::ceil(3.0 * prop.l2CacheSize / wb) + 1, 2.0, 64.0) : 1;
      Problem p = make_problem(rng, int8, o.M, o.N, o.K, copies);
      check_case(p, Epi::Plain, o, s);
      check_case(p, Epi::Residual, o, s);
      if (o.edge) {  // odd N (a partial row tile); K with a partial 64-byte chunk and a partial ring slot
        for (auto [N, K] : {std::pair{1003, 4144}, std::pair{77, 2064}}) {
          Problem q = make_problem(rng, int8, o.M, N, K, 1);
          check_case(q, Epi::Plain, o, s);
          check_case(q, Epi::Residual, o, s);
        }
      }
      if (o.time) time_case(p, timed, o, s);
    }
    check(cudaStreamDestroy(s), "cudaStreamDestroy");
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 2;
  }
  std::printf(g_fail ? "SOME CHECKS FAILED\n" : "all checks passed\n");
  return g_fail ? 1 : 0;
}
