// Checks: activation quantization (bit-exact), RMSNorm+residual(+quant) and SiLU*mul(+quant) against the CPU twins.
// Fused kernels: the 16-bit output may differ from the twin by one ulp in rare elements (sum-of-squares order in the
// norm; exp rounding in SiLU): at most 1 ulp anywhere, and in at most 0.1% of elements. Their quantized output must
// equal the twin's quantization of the kernel's own 16-bit output bit for bit (scales too).
#include <cmath>
#include <cstring>

#include "tools/checks.h"
#include "kernels/norm_quant/check_quant_twin.h"
#include "kernels/norm_quant/check_scaled_in_fixture.h"

using namespace qbh;
using qb::cuda::QuantMode;
using qb::cuda::QuantOut;

namespace {

const char* mode_name(QuantMode m) {
  switch (m) {
    case QuantMode::None: return "none";
    case QuantMode::Fp8PerToken: return "fp8-per-token";
    case QuantMode::Int8PerToken: return "int8-per-token";
    case QuantMode::Fp8Static: return "fp8-static";
    case QuantMode::Int8Static: return "int8-static";
  }
  return "?";
}
// Compare quantized bytes and scales exactly.
std::string cmp_quant(const std::vector<uint8_t>& qg, const std::vector<uint8_t>& qc, const std::vector<float>& sg,
                      const std::vector<float>& sc, bool& ok) {
  size_t bad = 0, first = SIZE_MAX;
  for (size_t i = 0; i < qc.size(); ++i)
    if (qg[i] != qc[i]) { ++bad; if (first == SIZE_MAX) first = i; }
  size_t sbad = 0;
  for (size_t i = 0; i < sc.size(); ++i) if (std::memcmp(&sg[i], &sc[i], 4) != 0) ++sbad;
  ok = bad == 0 && sbad == 0;
  char buf[200];
  if (first != SIZE_MAX)
    std::snprintf(buf, sizeof buf, "q mismatches %zu/%zu (first at %zu: gpu %02x cpu %02x), scale mismatches %zu", bad,
                  qc.size(), first, qg[first], qc[first], sbad);
  else
    std::snprintf(buf, sizeof buf, "q exact (%zu values), scales exact (%zu)", qc.size(), sc.size());
  return buf;
}

// 16-bit output vs twin: max ulp and count of differing elements.
std::string cmp_act(const std::vector<float>& g, const std::vector<float>& c, ActDtype d, bool& ok) {
  long maxu = 0;
  size_t diff = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    long u = ulp_diff(g[i], c[i], d);
    maxu = std::max(maxu, u);
    diff += u != 0;
  }
  ok = maxu <= 1 && diff * 1000 <= c.size();
  char buf[160];
  std::snprintf(buf, sizeof buf, "max %ld ulp, %zu/%zu elements differ (limits: 1 ulp, 0.1%%)", maxu, diff, c.size());
  return buf;
}

}  // namespace

void check_quant(Harness& h) {
  const QuantMode modes[] = {QuantMode::Fp8PerToken, QuantMode::Int8PerToken, QuantMode::Fp8Static, QuantMode::Int8Static};
  for (ActDtype d : {ActDtype::BF16, ActDtype::F16, ActDtype::F32}) {
    for (auto [T, K] : {std::pair{1, 4176}, std::pair{37, 14336}, std::pair{5, 48}}) {
      std::vector<float> x = rand_act(h.rng, (size_t)T * K, d, h.rng.uniform(0.01f, 3.0f));
      if (T > 2) {
        for (int k = 0; k < K; ++k) x[k] = 0.0f;                                   // all-zero token: scale floor
        for (int k = 0; k < K; ++k) x[(size_t)K + k] = qb::round_act(x[(size_t)K + k] * 1e-6f, d);  // tiny token
      }
      DevBuf xd = act_to_dev(x, d);
      for (QuantMode m : modes) {
        std::vector<float> sc(1, 0.f);
        if (!is_dynamic(m)) {  // a calibrated scale small enough that some values saturate
          float amax = 0;
          for (float v : x) amax = std::max(amax, std::fabs(v));
          sc[0] = amax / (is_fp8(m) ? 448.0f : 127.0f) * h.rng.uniform(0.3f, 1.2f);
        }
        std::vector<uint8_t> qc;
        cpu_quant(m, x, T, K, qc, sc);
        DevBuf qd((size_t)T * K), sd(sizeof(float) * std::max(T, 1));
        qd.poison();
        sd.poison();
        if (!is_dynamic(m)) sd.upload(sc.data(), 4);
        switch (m) {
          case QuantMode::Fp8PerToken: qb::cuda::quant_per_token_fp8(xd.p, d, T, K, qd.as<uint8_t>(), sd.as<float>(), h.stream); break;
          case QuantMode::Int8PerToken: qb::cuda::quant_per_token_int8(xd.p, d, T, K, qd.as<int8_t>(), sd.as<float>(), h.stream); break;
          case QuantMode::Fp8Static: qb::cuda::quant_static_fp8(xd.p, d, T, K, sd.as<float>(), qd.as<uint8_t>(), h.stream); break;
          case QuantMode::Int8Static: qb::cuda::quant_static_int8(xd.p, d, T, K, sd.as<float>(), qd.as<int8_t>(), h.stream); break;
          default: break;
        }
        qb::cuda::check(cudaStreamSynchronize(h.stream), "quant check");
        auto qg = from_dev<uint8_t>(qd, (size_t)T * K);
        auto sg = from_dev<float>(sd, is_dynamic(m) ? T : 1);
        bool ok;
        std::string det = cmp_quant(qg, qc, sg, is_dynamic(m) ? sc : std::vector<float>{sc[0]}, ok);
        h.record(std::string("quant ") + mode_name(m) + " " + dtype_name(d) + " T=" + std::to_string(T) + " K=" +
                     std::to_string(K), ok, det);
      }
    }
  }
}

void check_fused(Harness& h) {
  const QuantMode modes[] = {QuantMode::None, QuantMode::Fp8PerToken, QuantMode::Int8PerToken, QuantMode::Fp8Static,
                             QuantMode::Int8Static};
  const float eps = 1e-5f;
  // ---- RMSNorm + residual (+quant)
  for (ActDtype d : {ActDtype::BF16, ActDtype::F16}) {
    for (auto [T, D] : {std::pair{1, 4096}, std::pair{19, 1040}, std::pair{3, 8192}}) {
      // 0: +residual, 1: no residual, 2: +residual, x unscaled (ScaledIn, bf16 accumulators), 3: int32 accumulators
      for (int variant = 0; variant < 4; ++variant) {
        const bool with_res = variant != 1, scaled = variant >= 2, i32 = variant == 3;
        for (QuantMode m : modes) {
          size_t n = (size_t)T * D;
          auto x = rand_act(h.rng, n, d, 0.5f);
          // The production pairings: per-token input scales with per-token fp8 (and per-token int8 with int32
          // accumulators), a per-tensor one with the others.
          ScaledFixture sf;
          const bool tok = m == QuantMode::Fp8PerToken || m == QuantMode::None || (i32 && m == QuantMode::Int8PerToken);
          if (scaled) sf = make_scaled(h.rng, x, T, D, d, tok, true, i32);
          const void* xin_p = nullptr;
          auto res = rand_act(h.rng, n, d, 2.0f);
          std::vector<float> w(D);
          for (auto& v : w) v = qb::round_act(1.0f + h.rng.normal(0.2f), d);
          std::vector<float> res_c = res, out_c(n);
          qb::cpu::rmsnorm_residual(x.data(), with_res ? res_c.data() : nullptr, w.data(), T, D, eps, out_c.data(), d);
          DevBuf xd = act_to_dev(x, d), rd = act_to_dev(res, d), wd = act_to_dev(w, d), od(n * 2), qd(n),
                 sd(4 * T);
          xin_p = scaled ? sf.acc.p : xd.p;
          od.poison();
          qd.poison();
          sd.poison();
          std::vector<float> sc(1, 0.f);
          if (m == QuantMode::Fp8Static || m == QuantMode::Int8Static) {
            float amax = 0;
            for (float v : out_c) amax = std::max(amax, std::fabs(v));
            sc[0] = amax / (is_fp8(m) ? 448.f : 127.f) * 0.8f;
            sd.upload(sc.data(), 4);
          }
          QuantOut qo{m, m == QuantMode::None ? nullptr : qd.p, m == QuantMode::None ? nullptr : sd.as<float>()};
          qb::cuda::rmsnorm_residual_quant(xin_p, with_res ? rd.p : nullptr, wd.p, d, T, D, eps, od.p, qo, h.stream,
                                           sf.si);
          qb::cuda::check(cudaStreamSynchronize(h.stream), "rmsnorm check");
          auto out_g = act_from_dev(od, n, d);
          bool ok1, ok2 = true, ok3 = true;
          std::string det = "out " + cmp_act(out_g, out_c, d, ok1);
          if (with_res) {
            auto res_g = act_from_dev(rd, n, d);
            long maxu = 0;
            for (size_t i = 0; i < n; ++i) maxu = std::max(maxu, ulp_diff(res_g[i], res_c[i], d));
            ok2 = maxu == 0;
            det += maxu == 0 ? "; residual exact" : "; residual differs by " + std::to_string(maxu) + " ulp";
          }
          if (m != QuantMode::None) {
            std::vector<uint8_t> qc;
            cpu_quant(m, out_g, T, D, qc, sc);
            auto qg = from_dev<uint8_t>(qd, n);
            auto sg = from_dev<float>(sd, is_dynamic(m) ? T : 1);
            det += "; " + cmp_quant(qg, qc, sg, is_dynamic(m) ? sc : std::vector<float>{sc[0]}, ok3);
            // Same launch without the 16-bit output (the production path) must write the same bytes.
            if (with_res) rd.upload(to_storage(res, d).data(), n * 2);
            DevBuf qd2(n);
            qd2.poison();
            QuantOut qo2{m, qd2.p, is_dynamic(m) ? sd.as<float>() : sd.as<float>()};
            qb::cuda::rmsnorm_residual_quant(xin_p, with_res ? rd.p : nullptr, wd.p, d, T, D, eps, nullptr, qo2, h.stream,
                                             sf.si);
            qb::cuda::check(cudaStreamSynchronize(h.stream), "rmsnorm check (no out)");
            bool same = from_dev<uint8_t>(qd2, n) == qg;
            ok3 = ok3 && same;
            det += same ? "; out=null path identical" : "; out=null path DIFFERS";
          }
          h.record(std::string("rmsnorm_residual_quant ") + mode_name(m) + " " + dtype_name(d) + (with_res ? " +res" : "") +
                       (i32 ? " x-int32-acc" : scaled ? " x-unscaled" : "") +
                       " T=" + std::to_string(T) + " D=" + std::to_string(D),
                   ok1 && ok2 && ok3, det);
        }
      }
    }
  }
  // ---- SiLU * mul (+quant), fused gate_up layout: g = gu[t, 0:F], u = gu[t, F:2F]
  for (ActDtype d : {ActDtype::BF16, ActDtype::F16}) {
    // 544 rows: the 256-thread row kernel (per-token modes) and two pieces per thread in the flat one (the others)
    for (auto [T, F] : {std::pair{1, 14336}, std::pair{13, 1040}, std::pair{40, 2064}, std::pair{544, 14336}}) {
      for (QuantMode m : modes) {
       for (int sk = 0; sk < 3; ++sk) {  // 16-bit input, bf16 accumulators (ScaledIn), int32 accumulators
        const bool scaled = sk > 0, i32 = sk == 2;
        size_t n = (size_t)T * F;
        auto gu = rand_act(h.rng, 2 * n, d, 2.0f);
        ScaledFixture sf;
        const bool tok = m == QuantMode::Fp8PerToken || m == QuantMode::None || (i32 && m == QuantMode::Int8PerToken);
        // int32 accumulators up to 2^26 finish to |y| <= ~134 here, so silu(g) * u stays within f16's range (with
        // the default scales it overflows to inf and the fp8 codes of NaN differ only in their sign bit)
        if (scaled) sf = make_scaled(h.rng, gu, T, 2 * F, d, tok, true, i32, 0.005f);
        std::vector<float> g(n), u(n), out_c(n);
        for (int t = 0; t < T; ++t)
          for (int i = 0; i < F; ++i) {
            g[(size_t)t * F + i] = gu[(size_t)t * 2 * F + i];
            u[(size_t)t * F + i] = gu[(size_t)t * 2 * F + F + i];
          }
        qb::cpu::silu_mul(g.data(), u.data(), T, F, out_c.data(), d);
        DevBuf gud = act_to_dev(gu, d), od(n * 2), qd(n), sd(4 * T);
        od.poison();
        qd.poison();
        sd.poison();
        std::vector<float> sc(1, 0.f);
        if (!is_dynamic(m) && m != QuantMode::None) {
          float amax = 0;
          for (float v : out_c) amax = std::max(amax, std::fabs(v));
          sc[0] = amax / (is_fp8(m) ? 448.f : 127.f) * 0.7f;
          sd.upload(sc.data(), 4);
        }
        QuantOut qo{m, m == QuantMode::None ? nullptr : qd.p, m == QuantMode::None ? nullptr : sd.as<float>()};
        const uint16_t* gp = scaled ? sf.acc.as<uint16_t>() : gud.as<uint16_t>();
        qb::cuda::ScaledIn uin = sf.si;
        if (scaled) uin.s_w += F;
        if (i32) uin.acc += F;
        qb::cuda::silu_mul_quant(gp, gp + F, 2 * F, d, T, F, od.p, qo, h.stream, sf.si, uin);
        qb::cuda::check(cudaStreamSynchronize(h.stream), "silu check");
        auto out_g = act_from_dev(od, n, d);
        bool ok1, ok3 = true;
        std::string det = "out " + cmp_act(out_g, out_c, d, ok1);
        if (m != QuantMode::None) {
          std::vector<uint8_t> qc;
          cpu_quant(m, out_g, T, F, qc, sc);
          auto qg = from_dev<uint8_t>(qd, n);
          auto sg = from_dev<float>(sd, is_dynamic(m) ? T : 1);
          det += "; " + cmp_quant(qg, qc, sg, is_dynamic(m) ? sc : std::vector<float>{sc[0]}, ok3);
        }
        h.record(std::string("silu_mul_quant ") + mode_name(m) + " " + dtype_name(d) +
                     (i32 ? " gu-int32-acc" : scaled ? " gu-unscaled" : "") +
                     " T=" + std::to_string(T) + " F=" + std::to_string(F),
                 ok1 && ok3, det);
       }
      }
    }
  }
}
