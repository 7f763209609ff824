// GEMM problem generation, CPU reference and tolerance (see gemm_cases.h).
//
// Tolerances. The twin accumulates in double (int8: exact int32); the kernels accumulate in fp32 (int8: exact int32)
// and round once to y_dtype. Per element: |gpu - ref| <= u_out * |ref| + c_acc * S, with S = sum_k |x_k w_k| (in real
// units, scales applied), u_out = one ulp of y_dtype relative (2^-7 bf16, 2^-10 f16, 2^-22 f32: the two sides may
// round a nearly-tied value differently), c_acc = 2^-14 for fp32 accumulation of 16-bit products and 2^-12 for fp8
// (Hopper's fp8 tensor-core accumulation keeps fewer mantissa bits; the kernels add every 32-k mma into fp32).
// int8 W8A8 must match bit for bit (same int32 sum, same fp32 epilogue). NaN never passes (outputs are poisoned).
#include "kernels/gemm/check_gemm_cases.h"

#include <cmath>
#include <cstring>

using namespace qbh;

GemmCase make_gemm_case(Harness& h, GemmKind kind, int M, int N, int K, bool a_per_token, bool w_per_channel,
                        qb::ActDtype y_dtype, bool with_ref) {
  GemmCase c;
  c.kind = kind;
  c.M = M;
  c.N = N;
  c.K = K;
  c.a_per_token = a_per_token;
  c.w_per_channel = w_per_channel;
  c.y_dtype = y_dtype;
  const size_t nx = (size_t)M * K, nw = (size_t)N * K;
  const qb::ActDtype in16 = kind == GemmKind::F16 ? qb::ActDtype::F16 : qb::ActDtype::BF16;
  std::vector<float> xf = rand_act(h.rng, nx, in16, 1.0f);
  std::vector<float> wf(nw);
  for (auto& v : wf) v = qb::round_act(h.rng.normal(0.02f), in16);
  if (kind == GemmKind::BF16 || kind == GemmKind::F16) {
    c.xf = std::move(xf);
    c.wf = std::move(wf);
    c.x = act_to_dev(c.xf, in16);
    c.w = act_to_dev(c.wf, in16);
  } else {
    const bool fp8 = kind == GemmKind::FP8;
    const float qmax = fp8 ? 448.0f : 127.0f;
    c.xq.assign(nx, 0);
    // activations: per-token dynamic (the twin's rule) or one static scale
    if (a_per_token) {
      c.s_a.assign(M, 0.f);
      if (fp8) qb::cpu::quant_per_token_fp8(xf.data(), M, K, c.xq.data(), c.s_a.data());
      else qb::cpu::quant_per_token_int8(xf.data(), M, K, (int8_t*)c.xq.data(), c.s_a.data());
    } else {
      float amax = 0;
      for (float v : xf) amax = std::max(amax, std::fabs(v));
      c.s_a.assign(1, amax / qmax * 0.9f);
      if (fp8) qb::cpu::quant_static_fp8(xf.data(), M, K, c.s_a[0], c.xq.data());
      else qb::cpu::quant_static_int8(xf.data(), M, K, c.s_a[0], (int8_t*)c.xq.data());
    }
    // weights: per-channel or per-tensor absmax scales
    c.wq.assign(nw, 0);
    c.s_w.assign(N, 0.f);
    float gmax = 0;
    for (float v : wf) gmax = std::max(gmax, std::fabs(v));
    for (int n = 0; n < N; ++n) {
      float amax = 0;
      for (int k = 0; k < K; ++k) amax = std::max(amax, std::fabs(wf[(size_t)n * K + k]));
      float s = (w_per_channel ? amax : gmax) / qmax;
      if (s <= 0) s = 1.0f;
      c.s_w[n] = s;
      float inv = qb::inv_scale(s);
      for (int k = 0; k < K; ++k) {
        float v = wf[(size_t)n * K + k];
        c.wq[(size_t)n * K + k] = fp8 ? qb::quant_fp8(v, inv) : (uint8_t)qb::quant_int8(v, inv);
      }
    }
    c.x = to_dev(c.xq);
    c.w = to_dev(c.wq);
    c.sa = to_dev(c.s_a);
    c.sw = to_dev(c.s_w);
  }
  if (!with_ref) return c;
  c.ref.assign((size_t)M * N, 0.f);
  switch (kind) {
    case GemmKind::FP8:
      qb::cpu::gemm_fp8(c.xq.data(), c.s_a.data(), a_per_token, c.wq.data(), c.s_w.data(), M, N, K, c.ref.data(), y_dtype);
      break;
    case GemmKind::INT8:
      qb::cpu::gemm_int8_w8a8((const int8_t*)c.xq.data(), c.s_a.data(), a_per_token, (const int8_t*)c.wq.data(),
                              c.s_w.data(), M, N, K, c.ref.data(), y_dtype);
      break;
    default:
      qb::cpu::gemm_f(c.xf.data(), c.wf.data(), M, N, K, c.ref.data(), y_dtype);
      break;
  }
  // error scale S = sum |x w| (real units)
  c.abs_sum.assign((size_t)M * N, 0.f);
  std::vector<float> xa(nx), wa(nw);
  if (kind == GemmKind::BF16 || kind == GemmKind::F16) {
    for (size_t i = 0; i < nx; ++i) xa[i] = std::fabs(c.xf[i]);
    for (size_t i = 0; i < nw; ++i) wa[i] = std::fabs(c.wf[i]);
  } else {
    for (size_t i = 0; i < nx; ++i)
      xa[i] = kind == GemmKind::FP8 ? std::fabs(qb::fp8e4m3_to_f32(c.xq[i])) : std::fabs((float)(int8_t)c.xq[i]);
    for (size_t i = 0; i < nw; ++i)
      wa[i] = kind == GemmKind::FP8 ? std::fabs(qb::fp8e4m3_to_f32(c.wq[i])) : std::fabs((float)(int8_t)c.wq[i]);
  }
  std::vector<float> absref((size_t)M * N);
  qb::cpu::gemm_f(xa.data(), wa.data(), M, N, K, absref.data(), qb::ActDtype::F32);
  for (int t = 0; t < M; ++t)
    for (int n = 0; n < N; ++n) {
      float sc = 1.0f;
      if (!c.s_a.empty()) sc = c.s_a[a_per_token ? t : 0] * c.s_w[n];
      c.abs_sum[(size_t)t * N + n] = absref[(size_t)t * N + n] * sc;
    }
  return c;
}

bool compare_gemm(const GemmCase& c, const DevBuf& y, std::string& detail) {
  const size_t n = (size_t)c.M * c.N;
  auto g = act_from_dev(y, n, c.y_dtype);
  const double u_out = c.y_dtype == qb::ActDtype::BF16 ? std::ldexp(1.0, -7)
                       : c.y_dtype == qb::ActDtype::F16 ? std::ldexp(1.0, -10)
                                                         : std::ldexp(1.0, -22);
  const bool exact = c.kind == GemmKind::INT8;
  const double c_acc = c.kind == GemmKind::FP8 ? std::ldexp(1.0, -12) : std::ldexp(1.0, -14);
  size_t bad = 0, nan = 0, worst_i = 0;
  double worst = 0, e2 = 0, r2 = 0;
  for (size_t i = 0; i < n; ++i) {
    double gv = g[i], rv = c.ref[i];
    if (std::isnan(gv) || std::isinf(gv)) { ++nan; ++bad; continue; }
    double err = std::fabs(gv - rv);
    e2 += err * err;
    r2 += rv * rv;
    double tol = exact ? 0.0 : u_out * std::fabs(rv) + c_acc * c.abs_sum[i];
    if (err > tol) ++bad;
    double ratio = tol > 0 ? err / tol : (err > 0 ? 1e30 : 0);
    if (ratio > worst) { worst = ratio; worst_i = i; }
  }
  char buf[256];
  std::snprintf(buf, sizeof buf, "rel-L2 %.2e, worst err/tol %.3g (at t=%zu n=%zu: gpu %.6g ref %.6g), %zu/%zu out of tol, %zu NaN/unwritten",
                r2 > 0 ? std::sqrt(e2 / r2) : 0.0, worst, worst_i / c.N, worst_i % c.N, (double)g[worst_i],
                (double)c.ref[worst_i], bad, n, nan);
  detail = buf;
  return bad == 0;
}
