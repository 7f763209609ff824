// Standalone check + timing of the large-M elementwise kernels of a layer against variants (session 20, not yet run):
// RMSNorm (+ residual, + quantization), SiLU * mul (+ quantization) and RoPE + KV-cache write, at Llama-3.1-8B's
// widths and the row counts the serving runs use (256 / 800: decode batches; 2048 / 16384: a prompt, a prefill step).
// Build and run: dev/elementwise/README.md. Nothing in the product links this file.
//
// Configurations follow the model (model/cuda/forward_layers.cc): fp16 activations; the input of each kernel as the
// precision's producer leaves it — fp16: 16-bit values; fp8-static / fp8-dynamic: cuBLASLt's unscaled bf16
// accumulators with per-tensor / per-token activation scales and per-channel weight scales (ScaledIn); int8: int32
// accumulators with per-token and per-channel scales. The 16-bit output is not written where the model quantizes.
// Checks (outputs poisoned first):
//   - product and every variant against the CPU twins (cpu::rmsnorm_residual / cpu::silu_mul, then cpu::quant_*) at
//     T = 1, 7, 256, 800, with the harness's rule for these kernels (check_quant_fused.cc): the 16-bit output within 1
//     ulp in at most 0.1 % of elements, the quantized output equal to the twin's quantization of the kernel's own 16-bit
//     output, scales too;
//   - the variants that keep the product's arithmetic (rmsnorm v1, silu v1, rope v1 / v2) against the product kernel at
//     every timed T: bit for bit (rmsnorm: the sum-of-squares order may move rare elements by an ulp — counted);
//   - silu v2 / v3 (SFU exp / reciprocal, a numerics change) report how many outputs differ from the twin;
//   - exp_f32_v1 against exp_f32 for all 2^32 floats.
// Timing: qbh::time_median_us (a CUDA graph of back-to-back launches over rotating input copies, so the inputs come
// from HBM), median per launch; TB/s over the bytes each launch must move.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "dev/elementwise/rmsnorm_warp_row.cuh"
#include "dev/elementwise/rope_rows.cuh"
#include "dev/elementwise/silu_variants.cuh"
#include "kernels/attention/attention.h"
#include "kernels/norm_quant/check_quant_twin.h"
#include "kernels/reference.h"
#include "tools/harness_util.h"

using qb::ActDtype;
using qb::cuda::check;
using qb::cuda::KvCacheFormat;
using qb::cuda::QuantMode;
using qb::cuda::QuantOut;
using qb::cuda::ScaledIn;
using qbh::DevBuf;
namespace devx = qb::cuda::devx;

namespace {

constexpr ActDtype ACT = ActDtype::F16;
constexpr int D = 4096, F = 14336, H = 32, HKV = 8, DH = 128, MAXPOS = 8192;
constexpr float EPS = 1e-5f;

int g_fail = 0;
// info: a measurement, not a check (silu v2's distance from the twin): printed as INFO, never a failure.
void record(const std::string& name, bool ok, const std::string& det, bool info = false) {
  std::printf("%s %-64s %s\n", info ? "INFO" : ok ? "PASS" : "FAIL", name.c_str(), det.c_str());
  std::fflush(stdout);
  if (!ok && !info) ++g_fail;
}

// What a precision's producer hands the kernel (the model's ScaledIn).
enum class Src { F16, Bf16AccTensor, Bf16AccToken, Int32AccToken };
const char* src_name(Src s) {
  switch (s) {
    case Src::F16: return "fp16";
    case Src::Bf16AccTensor: return "fp8-static";
    case Src::Bf16AccToken: return "fp8-dynamic";
    case Src::Int32AccToken: return "int8";
  }
  return "?";
}
QuantMode mode_for(Src s) {
  switch (s) {
    case Src::F16: return QuantMode::None;
    case Src::Bf16AccTensor: return QuantMode::Fp8Static;
    case Src::Bf16AccToken: return QuantMode::Fp8PerToken;
    case Src::Int32AccToken: return QuantMode::Int8PerToken;
  }
  return QuantMode::None;
}

// A [T, N] input as the producer leaves it (row stride ld), its scales, and the finished values on the host (what
// load_in_8 yields, rounded to ACT).
struct Input {
  DevBuf x16, acc, sa, sw;
  ScaledIn si;
  std::vector<float> fin;  // [T, N] finished (only for N columns, row stride N)
  size_t in_bytes = 0;     // bytes the kernel reads of it
};

// Host values beyond this many are a tiled copy of the first ones (timing-only sizes: the host's random generator
// would take longer than the GPU work).
constexpr size_t kHostChunk = size_t(1) << 22;

// n device elements of type E: host values h (h.size() <= n) repeated.
template <typename E>
DevBuf tiled_to_dev(const std::vector<E>& h, size_t n) {
  DevBuf b(n * sizeof(E));
  for (size_t o = 0; o < n; o += h.size())
    check(cudaMemcpy(b.as<E>() + o, h.data(), std::min(h.size(), n - o) * sizeof(E), cudaMemcpyHostToDevice), "tile");
  return b;
}

// Random 16-bit activation values of dtype d on the device (n elements, the first min(n, kHostChunk) drawn).
DevBuf rand_act_dev(qbh::Rng& rng, size_t n, ActDtype d, float sd) {
  const auto h = qbh::to_storage(qbh::rand_act(rng, std::min(n, kHostChunk), d, sd), d);
  std::vector<uint16_t> h16(h.size() / 2);
  std::memcpy(h16.data(), h.data(), h.size());
  return tiled_to_dev(h16, n);
}

Input make_input(qbh::Rng& rng, Src src, int T, int N, int ld, bool keep_host) {
  Input in;
  const size_t n = (size_t)T * ld;
  const size_t nh = keep_host ? n : std::min(n, kHostChunk);
  std::vector<float> sa(src == Src::Bf16AccTensor ? 1 : T), sw(N);
  for (auto& v : sa) v = src == Src::Int32AccToken ? rng.uniform(2e-6f, 8e-6f) : rng.uniform(0.02f, 0.2f);
  for (auto& v : sw) v = src == Src::Int32AccToken ? rng.uniform(0.5f, 2.0f) : rng.uniform(0.5f, 4.0f);
  std::vector<float> raw;
  std::vector<int32_t> iraw;
  if (src == Src::Int32AccToken) {
    iraw.resize(nh);
    for (auto& v : iraw) v = (int32_t)std::lround(rng.normal(3.0e5f));
    in.acc = tiled_to_dev(iraw, n);
    in.x16 = DevBuf(n * 2);  // not read (the kernels write finished q / k here)
    in.in_bytes = n * 4;
  } else {
    raw.resize(nh);
    for (auto& v : raw) {
      float x = rng.normal(src == Src::F16 ? 1.0f : 8.0f);
      if (rng.integer(0, 999) == 0) x *= 20.0f;
      v = src == Src::F16 ? qb::round_act(x, ACT) : qb::round_act(x, ActDtype::BF16);
    }
    const auto st = qbh::to_storage(raw, src == Src::F16 ? ACT : ActDtype::BF16);
    std::vector<uint16_t> h16(nh);
    std::memcpy(h16.data(), st.data(), st.size());
    in.x16 = tiled_to_dev(h16, n);
    in.in_bytes = n * 2;
  }
  if (src != Src::F16) {
    in.sa = qbh::to_dev(sa);
    in.sw = qbh::to_dev(sw);
    in.si.s_a = in.sa.as<float>();
    in.si.s_w = in.sw.as<float>();
    in.si.a_per_token = src != Src::Bf16AccTensor;
    in.si.w_per_channel = true;
    in.si.acc = src == Src::Int32AccToken ? in.acc.as<int32_t>() : nullptr;
  }
  if (keep_host) {
    in.fin.resize((size_t)T * N);
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < N; ++c) {
        const size_t i = (size_t)t * ld + c;
        const float s_a = sa[src == Src::Bf16AccTensor ? 0 : t];
        float v;
        if (src == Src::F16) v = raw[i];
        else if (src == Src::Int32AccToken) v = qb::round_act(qb::dequant_epilogue((float)iraw[i], s_a, sw[c]), ACT);
        else v = qb::round_act(qb::dequant_epilogue(raw[i], s_a, sw[c]), ACT);
        in.fin[(size_t)t * N + c] = v;
      }
  }
  return in;
}

// ScaledIn of the same input shifted by `cols` columns (u = g + F in the gate_up layout).
ScaledIn shifted(const ScaledIn& s, int cols) {
  ScaledIn r = s;
  if (r.s_w) r.s_w += cols;
  if (r.acc) r.acc += cols;
  return r;
}

using qbh::cpu_quant;
using qbh::is_dynamic;

// 16-bit outputs as stored (ACT bits): compared bit for bit, the distance in ulp only where they differ (the timed
// sizes hold up to 235 M elements: converting each to float and back would take the host minutes).
using Bits = std::vector<uint16_t>;
Bits bits_from_dev(const DevBuf& b, size_t n) { return qbh::from_dev<uint16_t>(b, n); }
Bits to_bits(const std::vector<float>& v) {  // values already rounded to ACT
  Bits r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = qb::f32_to_f16_bits(v[i]);
  return r;
}
std::vector<float> from_bits(const Bits& b) {
  std::vector<float> r(b.size());
  for (size_t i = 0; i < b.size(); ++i) r[i] = qb::f16_bits_to_f32(b[i]);
  return r;
}
long ulp16(uint16_t a, uint16_t b) {  // fp16 patterns: distance in representable steps (NaN: huge)
  auto nan = [](uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; };
  if (nan(a) || nan(b)) return 1L << 40;
  auto key = [](uint16_t h) { return (h & 0x8000) ? -(long)(h & 0x7fff) : (long)(h & 0x7fff); };
  return std::labs(key(a) - key(b));
}
static_assert(ACT == ActDtype::F16, "the bit comparisons assume fp16 activations");

// 16-bit output vs a reference: max ulp and differing elements; ok bit for bit (exact) or under the fused kernels'
// rule (at most 1 ulp, in at most 0.1 % of the elements).
std::string cmp_act(const Bits& g, const Bits& c, bool& ok, bool exact = false) {
  long maxu = 0;
  size_t diff = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (g[i] == c[i]) continue;
    maxu = std::max(maxu, ulp16(g[i], c[i]));
    ++diff;
  }
  ok = exact ? diff == 0 : (maxu <= 1 && diff * 1000 <= c.size());
  char b[160];
  std::snprintf(b, sizeof b, "16-bit: max %ld ulp, %zu/%zu differ", maxu, diff, c.size());
  return b;
}

// The kernel's quantized output against the twin's quantization of the kernel's own 16-bit output (codes and scales).
std::string cmp_own_quant(QuantMode m, const std::vector<float>& out, int T, int K, const DevBuf& q, const DevBuf& s,
                          float static_scale, bool& ok) {
  std::vector<uint8_t> qc;
  std::vector<float> sc(1, static_scale);
  cpu_quant(m, out, T, K, qc, sc);
  const auto qg = qbh::from_dev<uint8_t>(q, (size_t)T * K);
  size_t bad = 0, sbad = 0;
  for (size_t i = 0; i < qc.size(); ++i) bad += qg[i] != qc[i];
  if (is_dynamic(m)) {
    const auto sg = qbh::from_dev<float>(s, T);
    for (int t = 0; t < T; ++t) sbad += std::memcmp(&sg[t], &sc[t], 4) != 0;
  }
  ok = bad == 0 && sbad == 0;
  char b[160];
  std::snprintf(b, sizeof b, "codes: %zu/%zu differ, scales: %zu differ", bad, qc.size(), sbad);
  return b;
}

int copies_for(double bytes) { return (int)std::min(8.0, std::max(1.0, std::ceil(240e6 / bytes))); }

void time_row(const char* op, const char* cfg, const char* kernel, int T, double bytes, const std::function<void(int)>& f,
              int copies, cudaStream_t st) {
  const double us = qbh::time_median_us(f, 3, 15, std::max(10, copies), st);
  std::printf("TIME %-8s %-12s T=%-6d %-34s %9.2f us  %6.2f TB/s\n", op, cfg, T, kernel, us, bytes / (us * 1e6));
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------------------------
// RMSNorm: the model's two calls per layer (after o and after down): residual present, out null when quantizing.
using NormFn = std::function<void(const void* x, void* resid, const void* w, int T, void* out, const QuantOut&,
                                  cudaStream_t, const ScaledIn&)>;

template <QuantMode MODE>
NormFn norm_v1() {
  return [](const void* x, void* r, const void* w, int T, void* out, const QuantOut& q, cudaStream_t st, const ScaledIn& si) {
    devx::rmsnorm_warp_row<ACT, MODE>(x, r, w, T, D, EPS, out, q, st, si);
  };
}
NormFn norm_v1_for(QuantMode m) {
  switch (m) {
    case QuantMode::None: return norm_v1<QuantMode::None>();
    case QuantMode::Fp8Static: return norm_v1<QuantMode::Fp8Static>();
    case QuantMode::Fp8PerToken: return norm_v1<QuantMode::Fp8PerToken>();
    case QuantMode::Int8PerToken: return norm_v1<QuantMode::Int8PerToken>();
    default: return norm_v1<QuantMode::Int8Static>();
  }
}
NormFn norm_product() {
  return [](const void* x, void* r, const void* w, int T, void* out, const QuantOut& q, cudaStream_t st, const ScaledIn& si) {
    qb::cuda::rmsnorm_residual_quant(x, r, w, ACT, T, D, EPS, out, q, st, si);
  };
}

void run_norm(qbh::Rng& rng, cudaStream_t st, const std::vector<int>& check_T, const std::vector<int>& time_T) {
  const std::vector<float> w = qbh::rand_act(rng, D, ACT, 1.0f);
  DevBuf wd = qbh::act_to_dev(w, ACT);
  for (Src src : {Src::F16, Src::Bf16AccTensor, Src::Bf16AccToken, Src::Int32AccToken}) {
    const QuantMode m = mode_for(src);
    const std::pair<const char*, NormFn> kernels[] = {{"product", norm_product()}, {"v1 warp-row", norm_v1_for(m)}};
    std::vector<int> Ts = check_T;
    for (int t : time_T) Ts.push_back(t);
    for (size_t ti = 0; ti < Ts.size(); ++ti) {
      const int T = Ts[ti];
      const bool cpu = ti < check_T.size();
      Input in = make_input(rng, src, T, D, D, cpu);
      const std::vector<float> resid0 = cpu ? qbh::rand_act(rng, (size_t)T * D, ACT, 2.0f) : std::vector<float>{};
      DevBuf resid_dev = cpu ? qbh::act_to_dev(resid0, ACT) : rand_act_dev(rng, (size_t)T * D, ACT, 2.0f);
      float sstat = 0.05f;  // a static scale small enough that some codes saturate
      std::vector<float> out_cpu, res_cpu = resid0;
      if (cpu) {
        out_cpu.resize((size_t)T * D);
        qb::cpu::rmsnorm_residual(in.fin.data(), res_cpu.data(), w.data(), T, D, EPS, out_cpu.data(), ACT);
      }
      Bits outs[2], res[2];
      const Bits out_twin = cpu ? to_bits(out_cpu) : Bits{}, res_twin = cpu ? to_bits(res_cpu) : Bits{};
      std::vector<uint8_t> qs[2];
      for (int k = 0; k < 2; ++k) {
        DevBuf rd((size_t)T * D * 2), od((size_t)T * D * 2), qd((size_t)T * D), sd(4 * (size_t)T + 16);
        check(cudaMemcpy(rd.p, resid_dev.p, rd.n, cudaMemcpyDeviceToDevice), "residual copy");
        od.poison();
        qd.poison();
        sd.poison();
        if (!is_dynamic(m)) sd.upload(&sstat, 4);
        QuantOut qo{m, m == QuantMode::None ? nullptr : qd.p, sd.as<float>()};
        kernels[k].second(in.x16.p, rd.p, wd.p, T, od.p, qo, st, in.si);
        check(cudaStreamSynchronize(st), "norm check");
        outs[k] = bits_from_dev(od, (size_t)T * D);
        res[k] = bits_from_dev(rd, (size_t)T * D);
        if (m != QuantMode::None) qs[k] = qbh::from_dev<uint8_t>(qd, (size_t)T * D);
        const std::string name = std::string("rmsnorm ") + src_name(src) + " " + kernels[k].first + " T=" + std::to_string(T);
        if (cpu) {
          bool ok1, ok2, ok3 = true;
          std::string det = cmp_act(outs[k], out_twin, ok1) + "; residual " + cmp_act(res[k], res_twin, ok2, true);
          if (m != QuantMode::None) det += "; " + cmp_own_quant(m, from_bits(outs[k]), T, D, qd, sd, sstat, ok3);
          record(name + " vs twin", ok1 && ok2 && ok3, det);
        }
      }
      {
        bool ok1, ok2;
        std::string det = cmp_act(outs[1], outs[0], ok1) + "; residual " + cmp_act(res[1], res[0], ok2, true);
        size_t qd = 0;
        for (size_t i = 0; i < qs[0].size(); ++i) qd += qs[0][i] != qs[1][i];
        det += "; codes differing " + std::to_string(qd);
        record(std::string("rmsnorm ") + src_name(src) + " v1 vs product T=" + std::to_string(T), ok1 && ok2, det);
      }
      if (cpu) continue;
      // timing: the model's call (out null when quantizing), rotating copies of input and residual
      const double bytes = (double)in.in_bytes + 4.0 * T * D + (m == QuantMode::None ? 2.0 : 1.0) * T * D;
      const int copies = copies_for(bytes);
      std::vector<Input> ins;
      std::vector<DevBuf> rs;
      ins.push_back(std::move(in));
      for (int c = 1; c < copies; ++c) ins.push_back(make_input(rng, src, T, D, D, false));
      for (int c = 0; c < copies; ++c) rs.push_back(rand_act_dev(rng, (size_t)T * D, ACT, 2.0f));
      DevBuf od((size_t)T * D * 2), qd((size_t)T * D), sd(4 * (size_t)T + 16);
      sd.upload(&sstat, 4);
      QuantOut qo{m, m == QuantMode::None ? nullptr : qd.p, sd.as<float>()};
      for (int k = 0; k < 2; ++k)
        time_row("rmsnorm", src_name(src), kernels[k].first, T, bytes, [&](int i) {
          const Input& x = ins[i % copies];
          kernels[k].second(x.x16.p, rs[i % copies].p, wd.p, T, m == QuantMode::None ? od.p : nullptr, qo, st, x.si);
        }, copies, st);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SiLU * mul on the gate_up output [T, 2F]: the flat kernel's modes (fp16: none; fp8-static: static fp8 codes) and the
// row kernel's (fp8-dynamic / int8: per-token codes and scales).
using SiluFn = std::function<void(const void* g, int T, void* out, const QuantOut&, cudaStream_t, const ScaledIn&,
                                  const ScaledIn&)>;
template <QuantMode MODE, devx::SiluMath M>
SiluFn silu_row() {
  return [](const void* g, int T, void* out, const QuantOut& q, cudaStream_t st, const ScaledIn& gi, const ScaledIn& ui) {
    devx::silu_mul_row<ACT, MODE, M>(g, static_cast<const uint16_t*>(g) + F, 2 * F, T, F, out, q, st, gi, ui);
  };
}
template <QuantMode MODE, int UN, devx::SiluMath M>
SiluFn silu_v() {
  return [](const void* g, int T, void* out, const QuantOut& q, cudaStream_t st, const ScaledIn& gi, const ScaledIn& ui) {
    devx::silu_mul_flat<ACT, MODE, UN, M>(g, static_cast<const uint16_t*>(g) + F, 2 * F, T, F, out, q, st, gi, ui);
  };
}

void run_silu(qbh::Rng& rng, cudaStream_t st, const std::vector<int>& check_T, const std::vector<int>& time_T) {
  for (Src src : {Src::F16, Src::Bf16AccTensor, Src::Bf16AccToken, Src::Int32AccToken}) {
    const QuantMode m = mode_for(src);
    using E = devx::SiluMath;
    std::vector<std::pair<const char*, SiluFn>> kernels = {
        {"product", [](const void* g, int T, void* out, const QuantOut& q, cudaStream_t st, const ScaledIn& gi, const ScaledIn& ui) {
           qb::cuda::silu_mul_quant(g, static_cast<const uint16_t*>(g) + F, 2 * F, ACT, T, F, out, q, st, gi, ui);
         }}};
    if (m == QuantMode::None) {
      kernels.push_back({"v1 exact (UN 2)", silu_v<QuantMode::None, 2, E::Exact>()});
      kernels.push_back({"v1 exact (UN 4)", silu_v<QuantMode::None, 4, E::Exact>()});
      kernels.push_back({"v2 mufu (UN 2)", silu_v<QuantMode::None, 2, E::Mufu>()});
      kernels.push_back({"v3 mufu-cw (UN 2)", silu_v<QuantMode::None, 2, E::MufuCW>()});
    } else if (m == QuantMode::Fp8Static) {
      kernels.push_back({"v1 exact (UN 2)", silu_v<QuantMode::Fp8Static, 2, E::Exact>()});
      kernels.push_back({"v1 exact (UN 4)", silu_v<QuantMode::Fp8Static, 4, E::Exact>()});
      kernels.push_back({"v2 mufu (UN 2)", silu_v<QuantMode::Fp8Static, 2, E::Mufu>()});
      kernels.push_back({"v3 mufu-cw (UN 2)", silu_v<QuantMode::Fp8Static, 2, E::MufuCW>()});
    } else if (m == QuantMode::Fp8PerToken) {  // the row kernel: per-token scales
      kernels.push_back({"v1 exact (row)", silu_row<QuantMode::Fp8PerToken, E::Exact>()});
      kernels.push_back({"v2 mufu (row)", silu_row<QuantMode::Fp8PerToken, E::Mufu>()});
      kernels.push_back({"v3 mufu-cw (row)", silu_row<QuantMode::Fp8PerToken, E::MufuCW>()});
    } else {
      kernels.push_back({"v1 exact (row)", silu_row<QuantMode::Int8PerToken, E::Exact>()});
      kernels.push_back({"v2 mufu (row)", silu_row<QuantMode::Int8PerToken, E::Mufu>()});
      kernels.push_back({"v3 mufu-cw (row)", silu_row<QuantMode::Int8PerToken, E::MufuCW>()});
    }
    std::vector<int> Ts = check_T;
    for (int t : time_T) Ts.push_back(t);
    for (size_t ti = 0; ti < Ts.size(); ++ti) {
      const int T = Ts[ti];
      const bool cpu = ti < check_T.size();
      Input in = make_input(rng, src, T, 2 * F, 2 * F, cpu);
      const ScaledIn ui = shifted(in.si, F);
      const float sstat = 0.02f;
      std::vector<float> out_cpu;
      if (cpu) {
        std::vector<float> g((size_t)T * F), u((size_t)T * F);
        for (int t = 0; t < T; ++t)
          for (int c = 0; c < F; ++c) {
            g[(size_t)t * F + c] = in.fin[(size_t)t * 2 * F + c];
            u[(size_t)t * F + c] = in.fin[(size_t)t * 2 * F + F + c];
          }
        out_cpu.resize((size_t)T * F);
        qb::cpu::silu_mul(g.data(), u.data(), T, F, out_cpu.data(), ACT);
      }
      std::vector<Bits> outs(kernels.size());
      const Bits out_twin = cpu ? to_bits(out_cpu) : Bits{};
      std::vector<std::vector<uint8_t>> qs(kernels.size());
      for (size_t k = 0; k < kernels.size(); ++k) {
        DevBuf od((size_t)T * F * 2), qd((size_t)T * F), sd(4 * (size_t)T + 16);
        od.poison();
        qd.poison();
        sd.poison();
        if (!is_dynamic(m)) sd.upload(&sstat, 4);
        QuantOut qo{m, m == QuantMode::None ? nullptr : qd.p, sd.as<float>()};
        kernels[k].second(in.x16.p, T, od.p, qo, st, in.si, ui);
        check(cudaStreamSynchronize(st), "silu check");
        outs[k] = bits_from_dev(od, (size_t)T * F);
        if (m != QuantMode::None) qs[k] = qbh::from_dev<uint8_t>(qd, (size_t)T * F);
        const std::string name = std::string("silu ") + src_name(src) + " " + kernels[k].first + " T=" + std::to_string(T);
        // v2 / v3: the SFU's approximations, a numerics change (INFO rows: how far from the twin, not a check)
        const bool exact = std::strncmp(kernels[k].first, "v2", 2) != 0 && std::strncmp(kernels[k].first, "v3", 2) != 0;
        if (cpu) {
          bool ok1, ok2 = true;
          std::string det = cmp_act(outs[k], out_twin, ok1);
          if (m != QuantMode::None) det += "; " + cmp_own_quant(m, from_bits(outs[k]), T, F, qd, sd, sstat, ok2);
          record(name + " vs twin", ok1 && ok2, det, !exact);
        }
        if (k > 0) {
          bool ok;
          std::string det = cmp_act(outs[k], outs[0], ok, exact);
          size_t qd2 = 0;
          for (size_t i = 0; i < qs[0].size(); ++i) qd2 += qs[0][i] != qs[k][i];
          det += "; codes differing " + std::to_string(qd2);
          record(name + " vs product" + (exact ? " (bit for bit)" : ""), ok && qd2 == 0, det, !exact);
        }
      }
      if (cpu) continue;
      const double bytes = (double)in.in_bytes + (m == QuantMode::None ? 2.0 : 1.0) * T * F;
      const int copies = copies_for(bytes);
      std::vector<Input> ins;
      ins.push_back(std::move(in));
      for (int c = 1; c < copies; ++c) ins.push_back(make_input(rng, src, T, 2 * F, 2 * F, false));
      DevBuf od((size_t)T * F * 2), qd((size_t)T * F), sd(4 * (size_t)T + 16);
      sd.upload(&sstat, 4);
      QuantOut qo{m, m == QuantMode::None ? nullptr : qd.p, sd.as<float>()};
      for (auto& kn : kernels)
        time_row("silu", src_name(src), kn.first, T, bytes, [&](int i) {
          const Input& x = ins[i % copies];
          kn.second(x.x16.p, T, m == QuantMode::None ? od.p : nullptr, qo, st, x.si, shifted(x.si, F));
        }, copies, st);
    }
  }
}

void run_exp_sweep(cudaStream_t st) {
  DevBuf bad(8), first(4);
  unsigned long long total = 0;
  uint32_t f = 0xffffffffu;
  for (uint32_t half = 0; half < 2; ++half) {
    check(cudaMemset(bad.p, 0, 8), "sweep");
    check(cudaMemset(first.p, 0xff, 4), "sweep");
    devx::exp_v1_sweep<<<132 * 16, 256, 0, st>>>(half << 31, 1u << 31, bad.as<unsigned long long>(), first.as<uint32_t>());
    check(cudaStreamSynchronize(st), "exp sweep");
    unsigned long long b;
    uint32_t fi;
    bad.download(&b, 8);
    first.download(&fi, 4);
    total += b;
    f = std::min(f, fi);
  }
  char det[120];
  std::snprintf(det, sizeof det, "%llu of 2^32 floats differ%s", total, total ? " (first pattern below)" : "");
  record("exp_f32_v1 == exp_f32 for every float", total == 0, det);
  if (total) std::printf("  first differing pattern 0x%08x\n", f);
}

// ---------------------------------------------------------------------------------------------------------------
// RoPE + KV write: qkv rows [T, (H + 2 Hkv) Dh] as the producer leaves them, FP8 or 16-bit cache.
using RopeFn = std::function<void(void* qkv, const int32_t* pos, const int32_t* slots, int T, const float* c,
                                  const float* s, void* kc, void* vc, cudaStream_t, const ScaledIn&, const KvCacheFormat&)>;

void run_rope(qbh::Rng& rng, cudaStream_t st, const std::vector<int>& check_T, const std::vector<int>& time_T) {
  const int W = (H + 2 * HKV) * DH;
  std::vector<float> ct((size_t)MAXPOS * DH / 2), sn((size_t)MAXPOS * DH / 2);
  for (int p = 0; p < MAXPOS; ++p)
    for (int i = 0; i < DH / 2; ++i) {
      const double a = p * std::pow(500000.0, -2.0 * i / DH);
      ct[(size_t)p * DH / 2 + i] = (float)std::cos(a);
      sn[(size_t)p * DH / 2 + i] = (float)std::sin(a);
    }
  DevBuf ctd = qbh::to_dev(ct), snd = qbh::to_dev(sn);
  const std::pair<const char*, RopeFn> kernels[] = {
      {"product", [](void* q, const int32_t* p, const int32_t* s, int T, const float* c, const float* sn, void* kc, void* vc,
                     cudaStream_t st, const ScaledIn& si, const KvCacheFormat& kv) {
         qb::cuda::rope_qkv_kv_write(q, (H + 2 * HKV) * DH, ACT, p, s, T, H, HKV, DH, c, sn, kc, vc, 16, st, si, kv);
       }},
      {"v1 thread per task", [](void* q, const int32_t* p, const int32_t* s, int T, const float* c, const float* sn, void* kc,
                                void* vc, cudaStream_t st, const ScaledIn& si, const KvCacheFormat& kv) {
         devx::rope_rows<ACT, 1>(q, (H + 2 * HKV) * DH, p, s, T, H, HKV, DH, c, sn, kc, vc, st, si, kv);
       }},
      {"v2 thread per task, 2 rows", [](void* q, const int32_t* p, const int32_t* s, int T, const float* c, const float* sn,
                                        void* kc, void* vc, cudaStream_t st, const ScaledIn& si, const KvCacheFormat& kv) {
         devx::rope_rows<ACT, 2>(q, (H + 2 * HKV) * DH, p, s, T, H, HKV, DH, c, sn, kc, vc, st, si, kv);
       }}};
  for (Src src : {Src::F16, Src::Bf16AccTensor, Src::Int32AccToken})
    for (bool fp8 : {false, true}) {
      if (src == Src::F16 && fp8) continue;
      const KvCacheFormat kv{fp8, 0.037f, 0.053f};
      const int elt = fp8 ? 1 : 2;
      std::vector<int> Ts = check_T;
      for (int t : time_T) Ts.push_back(t);
      for (size_t ti = 0; ti < Ts.size(); ++ti) {
        const int T = Ts[ti];
        const int nslots = T + T / 4 + 16;
        std::vector<int32_t> pos(T), slots(T), perm(nslots);
        for (int i = 0; i < nslots; ++i) perm[i] = i;
        for (int i = nslots - 1; i > 0; --i) std::swap(perm[i], perm[rng.integer(0, i)]);
        for (int t = 0; t < T; ++t) {
          pos[t] = rng.integer(0, MAXPOS - 1);
          slots[t] = rng.integer(0, 49) == 0 ? -1 : perm[t];  // some rows write no cache
        }
        DevBuf posd = qbh::to_dev(pos), slotd = qbh::to_dev(slots);
        Input in = make_input(rng, src, T, W, W, false);
        const size_t cache_bytes = (size_t)nslots * HKV * DH * elt;
        std::vector<std::vector<uint8_t>> q16(3), kcs(3), vcs(3);
        for (int k = 0; k < 3; ++k) {
          DevBuf qkv(in.x16.n), kc(cache_bytes), vc(cache_bytes);
          check(cudaMemcpy(qkv.p, in.x16.p, in.x16.n, cudaMemcpyDeviceToDevice), "rope copy");
          kc.poison();
          vc.poison();
          kernels[k].second(qkv.p, posd.as<int32_t>(), slotd.as<int32_t>(), T, ctd.as<float>(), snd.as<float>(), kc.p, vc.p,
                            st, in.si, kv);
          check(cudaStreamSynchronize(st), "rope check");
          q16[k] = qbh::from_dev<uint8_t>(qkv, qkv.n);
          kcs[k] = qbh::from_dev<uint8_t>(kc, cache_bytes);
          vcs[k] = qbh::from_dev<uint8_t>(vc, cache_bytes);
        }
        for (int k = 1; k < 3; ++k) {
          // q and k columns of qkv (v's columns are not written by the kernels), and both caches, byte for byte
          size_t bq = 0;
          for (int t = 0; t < T; ++t)
            bq += std::memcmp(&q16[k][(size_t)t * W * 2], &q16[0][(size_t)t * W * 2], (size_t)(H + HKV) * DH * 2) != 0;
          const size_t bk = kcs[k] != kcs[0], bv = vcs[k] != vcs[0];
          char det[160];
          std::snprintf(det, sizeof det, "rows with q/k differing %zu/%d, k cache %s, v cache %s", bq, T, bk ? "differs" : "equal",
                        bv ? "differs" : "equal");
          record(std::string("rope ") + src_name(src) + (fp8 ? " fp8-kv " : " ") + kernels[k].first + " vs product T=" +
                     std::to_string(T) + " (bit for bit)",
                 bq == 0 && !bk && !bv, det);
        }
        if (ti < check_T.size()) continue;
        const double bytes = (double)in.in_bytes + (double)T * (H + HKV) * DH * 2 + (double)T * 2 * HKV * DH * elt;
        const int copies = copies_for(bytes);
        std::vector<Input> ins;
        ins.push_back(std::move(in));
        for (int c = 1; c < copies; ++c) ins.push_back(make_input(rng, src, T, W, W, false));
        DevBuf kc(cache_bytes), vc(cache_bytes);
        for (auto& kn : kernels)
          time_row("rope", (std::string(src_name(src)) + (fp8 ? "/kv8" : "")).c_str(), kn.first, T, bytes, [&](int i) {
            Input& x = ins[i % copies];
            kn.second(x.x16.p, posd.as<int32_t>(), slotd.as<int32_t>(), T, ctd.as<float>(), snd.as<float>(), kc.p, vc.p, st,
                      x.si, kv);
          }, copies, st);
      }
    }
}

std::vector<int> parse_list(const char* s) {
  std::vector<int> v;
  for (const char* p = s; *p;) {
    v.push_back(std::atoi(p));
    while (*p && *p != ',') ++p;
    if (*p) ++p;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string only = "norm,silu,rope,exp";
  std::vector<int> check_T = {1, 7, 256, 800}, time_T = {256, 800, 2048, 16384};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--check-t" && i + 1 < argc) check_T = parse_list(argv[++i]);
    else if (a == "--time-t" && i + 1 < argc) time_T = parse_list(argv[++i]);
    else if (a == "--check-only") time_T.clear();
    else {
      std::fprintf(stderr, "usage: %s [--only norm,silu,rope,exp] [--check-t 1,7,256,800] [--time-t 256,800,2048,16384] [--check-only]\n", argv[0]);
      return 2;
    }
  }
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::printf("device: %s, %d SMs; act fp16; D %d, F %d, heads %d/%d x %d\n", prop.name, prop.multiProcessorCount, D, F, H, HKV, DH);
  qb::cpu::set_num_threads(16);
  qbh::Rng rng(20261205);
  cudaStream_t st;
  check(cudaStreamCreate(&st), "cudaStreamCreate");
  auto wants = [&](const char* g) { return ("," + only + ",").find(std::string(",") + g + ",") != std::string::npos; };
  if (wants("exp")) run_exp_sweep(st);
  if (wants("norm")) run_norm(rng, st, check_T, time_T);
  if (wants("silu")) run_silu(rng, st, check_T, time_T);
  if (wants("rope")) run_rope(rng, st, check_T, time_T);
  std::printf("%s: %d failed\n", g_fail ? "FAILED" : "ALL PASSED", g_fail);
  return g_fail ? 1 : 0;
}
