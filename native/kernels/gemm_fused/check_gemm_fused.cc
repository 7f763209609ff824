// Fused decode linears (FusedLinear, cuda_ops.h): each compared bit for bit with the unfused chain it replaces
// (rmsnorm_residual_quant / quant_* / small-M GEMM / rope_qkv_kv_write / silu_mul_quant — every one of them checked
// against its CPU twin by the other groups), on random inputs with poisoned outputs, for every precision, both
// activation dtypes, M = 1, 5, 8 at odd small sizes and M = 1 at the Llama-3.1-8B sizes. Then timed: one layer's four
// linears at M = 1, fused (4 kernels) against the unfused chain (9 kernels), weights rotated through device memory.
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>

#include "tools/checks.h"
#include "kernels/attention/attention.h"

using namespace qbh;
using namespace qb::cuda;

namespace {

struct Prec {
  const char* name;
  QuantMode mode;
  qb::ActDtype act;
};
const Prec kPrecs[] = {{"f16", QuantMode::None, qb::ActDtype::F16},
                       {"bf16", QuantMode::None, qb::ActDtype::BF16},
                       {"int8-w8a8", QuantMode::Int8PerToken, qb::ActDtype::BF16},
                       {"int8-w8a8", QuantMode::Int8PerToken, qb::ActDtype::F16},
                       {"fp8-dynamic", QuantMode::Fp8PerToken, qb::ActDtype::BF16},
                       {"fp8-dynamic", QuantMode::Fp8PerToken, qb::ActDtype::F16},
                       {"fp8-static", QuantMode::Fp8Static, qb::ActDtype::BF16},
                       {"fp8-static", QuantMode::Fp8Static, qb::ActDtype::F16}};

struct Dims {
  int D, H, Hkv, Dh, F;  // hidden, heads, kv heads, head dim, intermediate (a multiple of 16)
  int qd() const { return H * Dh; }
  int nqkv() const { return (H + 2 * Hkv) * Dh; }
};
constexpr int kSlots = 64, kMaxPos = 256;

DevBuf filled(size_t n, size_t elem, FillKind k, uint64_t seed, float scale, cudaStream_t s) {
  DevBuf b(std::max<size_t>(n * elem, 16));
  fill_random(b.p, n, k, seed, scale, s);
  return b;
}
DevBuf poisoned(size_t bytes) {
  DevBuf b(std::max<size_t>(bytes, 16));
  b.poison();
  return b;
}
DevBuf copy_of(const DevBuf& a) {
  DevBuf b(a.n);
  check(cudaMemcpy(b.p, a.p, a.n, cudaMemcpyDeviceToDevice), "copy");
  return b;
}

// One layer's weights and inputs for M rows.
struct Layer {
  Prec P;
  Dims d;
  int M;
  bool q8;
  FusedTile tile = FusedTile::Auto;  // every launch of this layer's checks (Auto: the model's choice per linear)
  DevBuf wqkv, wo, wgu, wdown, sqkv, so, sgu, sdown;  // weights [N, K] and per-channel scales
  DevBuf ln, static_s;                                 // norm weight [D]; static scales [4] (qkv, o, gu, down in)
  DevBuf resid, attn, hmid, codes;                     // inputs: [M, D], [M, qd], [M, F] act; [M, F] static codes
  DevBuf pos, slots, cosb, sinb;
  Layer(Harness& h, const Prec& p, const Dims& dims, int m, uint64_t seed) : P(p), d(dims), M(m) {
    cudaStream_t s = h.stream;
    q8 = p.mode != QuantMode::None;
    const FillKind wk = p.mode == QuantMode::Int8PerToken ? FillKind::Int8
                        : q8                              ? FillKind::Fp8
                        : p.act == qb::ActDtype::BF16     ? FillKind::BF16
                                                          : FillKind::F16;
    const FillKind ak = p.act == qb::ActDtype::BF16 ? FillKind::BF16 : FillKind::F16;
    const size_t we = q8 ? 1 : 2;
    const float ws = q8 ? (wk == FillKind::Int8 ? 40.0f : 64.0f) : 0.02f;
    wqkv = filled((size_t)d.nqkv() * d.D, we, wk, seed + 1, ws, s);
    wo = filled((size_t)d.D * d.qd(), we, wk, seed + 2, ws, s);
    wgu = filled((size_t)2 * d.F * d.D, we, wk, seed + 3, ws, s);
    wdown = filled((size_t)d.D * d.F, we, wk, seed + 4, ws, s);
    sqkv = filled(d.nqkv(), 4, FillKind::PositiveF32, seed + 5, 1e-3f, s);
    so = filled(d.D, 4, FillKind::PositiveF32, seed + 6, 1e-3f, s);
    sgu = filled(2 * d.F, 4, FillKind::PositiveF32, seed + 7, 1e-3f, s);
    sdown = filled(d.D, 4, FillKind::PositiveF32, seed + 8, 1e-3f, s);
    ln = filled(d.D, 2, ak, seed + 9, 1.0f, s);
    static_s = filled(4, 4, FillKind::PositiveF32, seed + 10, 0.01f, s);
    resid = filled((size_t)M * d.D, 2, ak, seed + 11, 1.0f, s);
    attn = filled((size_t)M * d.qd(), 2, ak, seed + 12, 1.0f, s);
    hmid = filled((size_t)M * d.F, 2, ak, seed + 13, 1.0f, s);
    codes = filled((size_t)M * d.F, 1, FillKind::Fp8, seed + 14, 64.0f, s);
    cosb = filled((size_t)kMaxPos * d.Dh / 2, 4, FillKind::PositiveF32, seed + 15, 0.5f, s);
    sinb = filled((size_t)kMaxPos * d.Dh / 2, 4, FillKind::PositiveF32, seed + 16, 0.4f, s);
    std::vector<int32_t> hp(M), hs(M);
    for (int t = 0; t < M; ++t) {
      hp[t] = h.rng.integer(0, kMaxPos - 1);
      hs[t] = (t == 1) ? -1 : (t * 7 + (int)(seed % 5)) % kSlots;  // row 1 (when present): a padding row
    }
    pos = to_dev(hp);
    slots = to_dev(hs);
    check(cudaStreamSynchronize(s), "fused check inputs");
  }
  const float* sscale(int which) const { return static_s.as<float>() + which; }
  size_t kv_bytes() const { return (size_t)kSlots * d.Hkv * d.Dh * 2; }

  FusedLinear base(FusedOp op, const DevBuf& w, const DevBuf& sw, int N, int K, const void* in, int which) const {
    FusedLinear f;
    f.op = op;
    f.linear = static_cast<qb::Linear>(which);
    f.tile = tile;
    f.mode = P.mode;
    f.act = P.act;
    f.w = w.p;
    f.w_scale = q8 ? sw.as<float>() : nullptr;
    f.N = N;
    f.K = K;
    f.in = in;
    if (P.mode == QuantMode::Fp8Static) f.in_scale = sscale(which);
    f.eps = 1e-5f;
    return f;
  }
};

// y = x W^T by the unfused small-M kernel: x16 (16-bit weights) or codes xq with scales sa.
void gemm_unfused(const Layer& L, const void* x16, const void* xq, const float* sa, bool per_tok, const DevBuf& w,
                  const DevBuf& sw, int N, int K, void* y, cudaStream_t s) {
  if (!L.q8)
    gemm_f16_smallm(x16, w.p, L.P.act, L.M, N, K, y, L.P.act, s);
  else if (L.P.mode == QuantMode::Int8PerToken)
    gemm_int8_w8a8_smallm(static_cast<const int8_t*>(xq), sa, per_tok, w.as<int8_t>(), sw.as<float>(), true, L.M, N,
                          K, y, L.P.act, s);
  else
    gemm_fp8_smallm(static_cast<const uint8_t*>(xq), sa, per_tok, w.as<uint8_t>(), sw.as<float>(), true, L.M, N, K,
                    y, L.P.act, s);
}

// The unfused input side: x16 = normalized rows (16-bit) or xq / xs = their codes and scales.
struct Staged {
  DevBuf x16, xq, xs;
  const float* scale = nullptr;
  bool per_tok = false;
};
Staged stage_norm(const Layer& L, int which, cudaStream_t s) {
  Staged st;
  st.x16 = poisoned((size_t)L.M * L.d.D * 2);
  st.xq = poisoned((size_t)L.M * L.d.D);
  st.xs = poisoned((size_t)L.M * 4);
  QuantOut qo;
  qo.mode = L.P.mode;
  qo.q = st.xq.p;
  qo.scale = L.P.mode == QuantMode::Fp8Static ? const_cast<float*>(L.sscale(which)) : st.xs.as<float>();
  st.scale = qo.scale;
  st.per_tok = L.q8 && L.P.mode != QuantMode::Fp8Static;
  rmsnorm_residual_quant(L.resid.p, nullptr, L.ln.p, L.P.act, L.M, L.d.D, 1e-5f, L.q8 ? nullptr : st.x16.p, qo, s);
  return st;
}
Staged stage_quant(const Layer& L, const DevBuf& x, int K, int which, cudaStream_t s) {
  Staged st;
  st.xq = poisoned((size_t)L.M * K);
  st.xs = poisoned((size_t)L.M * 4);
  st.per_tok = L.P.mode != QuantMode::Fp8Static;
  st.scale = st.per_tok ? st.xs.as<float>() : L.sscale(which);
  if (L.P.mode == QuantMode::Int8PerToken)
    quant_per_token_int8(x.p, L.P.act, L.M, K, st.xq.as<int8_t>(), st.xs.as<float>(), s);
  else if (L.P.mode == QuantMode::Fp8PerToken)
    quant_per_token_fp8(x.p, L.P.act, L.M, K, st.xq.as<uint8_t>(), st.xs.as<float>(), s);
  else
    quant_static_fp8(x.p, L.P.act, L.M, K, L.sscale(which), st.xq.as<uint8_t>(), s);
  return st;
}

bool same_bytes(const DevBuf& a, const DevBuf& b, size_t n, const char* what, std::string& det) {
  auto ha = from_dev<uint8_t>(a, n), hb = from_dev<uint8_t>(b, n);
  size_t bad = 0, first = n;
  for (size_t i = 0; i < n; ++i)
    if (ha[i] != hb[i]) {
      if (!bad) first = i;
      ++bad;
    }
  char buf[160];
  if (bad)
    std::snprintf(buf, sizeof buf, "%s: %zu / %zu bytes differ (first at byte %zu); ", what, bad, n, first);
  else
    std::snprintf(buf, sizeof buf, "%s: %zu bytes identical; ", what, n);
  det += buf;
  return bad == 0;
}

// SiLU outputs of the fused epilogue (double exp) vs silu_mul_quant (exp_f32, within 1.013 ulp): equal but for rare
// elements one step apart — 16-bit values (act ulp; the same sign) or, fp8-static, the e4m3 codes of the same sign —
// in at most 0.1 % of them. elem: 2 (act) or 1 (codes).
bool near_bytes(const DevBuf& a, const DevBuf& b, size_t n, int elem, const char* what, std::string& det) {
  auto ha = from_dev<uint8_t>(a, n * elem), hb = from_dev<uint8_t>(b, n * elem);
  size_t off = 0, far = 0;
  for (size_t i = 0; i < n; ++i) {
    int va, vb;
    if (elem == 2) {
      uint16_t x, y;
      std::memcpy(&x, &ha[2 * i], 2);
      std::memcpy(&y, &hb[2 * i], 2);
      va = x, vb = y;
    } else {
      va = ha[i], vb = hb[i];
    }
    if (va == vb) continue;
    ++off;
    const int sign = elem == 2 ? 0x8000 : 0x80;
    if ((va & sign) != (vb & sign) || std::abs(va - vb) > 1) ++far;
  }
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s: %zu / %zu elements one step apart, %zu further; ", what, off - far, n, far);
  det += buf;
  return far == 0 && off * 1000 <= n;
}

// Each row's absmax of M x K act values (what a NormSiluMul publishes in out_amax; NaN-free inputs).
std::vector<float> row_absmax(const DevBuf& x, int M, int K, qb::ActDtype act) {
  auto v = act_from_dev(x, (size_t)M * K, act);
  std::vector<float> m(M, 0.0f);
  for (int t = 0; t < M; ++t)
    for (int k = 0; k < K; ++k) m[t] = std::max(m[t], std::fabs(v[(size_t)t * K + k]));
  return m;
}

// resid + y on the host with the twins' rounding (round_act of the sum of two act values), as act bytes.
DevBuf residual_expected(const Layer& L, const DevBuf& y) {
  const size_t n = (size_t)L.M * L.d.D;
  auto r = act_from_dev(L.resid, n, L.P.act), v = act_from_dev(y, n, L.P.act);
  for (size_t i = 0; i < n; ++i) r[i] = qb::round_act(r[i] + v[i], L.P.act);
  return act_to_dev(r, L.P.act);
}

// kv8: an FP8 KV cache (scales 0.37 / 1.9): the codes must equal rope_qkv_kv_write's.
bool check_rope(Harness& h, const Layer& L, std::string& det, bool kv8 = false) {
  const KvCacheFormat kvf{kv8, 0.37f, 1.9f};
  cudaStream_t s = h.stream;
  const Dims& d = L.d;
  const int N = d.nqkv();
  Staged st = stage_norm(L, 0, s);
  DevBuf qkv_ref = poisoned((size_t)L.M * N * 2), kc_ref = poisoned(L.kv_bytes()), vc_ref = poisoned(L.kv_bytes());
  gemm_unfused(L, st.x16.p, st.xq.p, st.scale, st.per_tok, L.wqkv, L.sqkv, N, d.D, qkv_ref.p, s);
  rope_qkv_kv_write(qkv_ref.p, N, L.P.act, L.pos.as<int32_t>(), L.slots.as<int32_t>(), L.M, d.H, d.Hkv, d.Dh,
                    L.cosb.as<float>(), L.sinb.as<float>(), kc_ref.p, vc_ref.p, 16, s, {}, kvf);
  DevBuf qkv = poisoned((size_t)L.M * N * 2), kc = poisoned(L.kv_bytes()), vc = poisoned(L.kv_bytes());
  FusedLinear f = L.base(FusedOp::NormRopeKV, L.wqkv, L.sqkv, N, d.D, L.resid.p, 0);
  f.norm_w = L.ln.p;
  f.qkv = qkv.p;
  f.ld = N;
  f.positions = L.pos.as<int32_t>();
  f.slots = L.slots.as<int32_t>();
  f.H = d.H;
  f.Hkv = d.Hkv;
  f.Dh = d.Dh;
  f.cos_tab = L.cosb.as<float>();
  f.sin_tab = L.sinb.as<float>();
  f.k_cache = kc.p;
  f.v_cache = vc.p;
  f.kv = kvf;
  DevBuf cleared = poisoned((size_t)2 * L.M * 4);  // zero_amax: the model clears the layer's absmax slots here
  f.zero_amax = cleared.as<float>();
  f.zero_n = 2 * L.M;
  linear_fused_smallm(f, L.M, s);
  check(cudaStreamSynchronize(s), "fused rope check");
  bool ok = same_bytes(qkv, qkv_ref, (size_t)L.M * N * 2, "qkv", det);
  ok &= same_bytes(kc, kc_ref, L.kv_bytes(), "k cache", det);
  ok &= same_bytes(vc, vc_ref, L.kv_bytes(), "v cache", det);
  ok &= same_bytes(cleared, to_dev(std::vector<float>(2 * L.M, 0.0f)), (size_t)2 * L.M * 4, "zero_amax", det);
  return ok;
}

bool check_silu(Harness& h, const Layer& L, std::string& det) {
  cudaStream_t s = h.stream;
  const Dims& d = L.d;
  const bool is_static = L.P.mode == QuantMode::Fp8Static;
  Staged st = stage_norm(L, 2, s);
  DevBuf gu = poisoned((size_t)L.M * 2 * d.F * 2), hm_ref = poisoned((size_t)L.M * d.F * 2),
         hq_ref = poisoned((size_t)L.M * d.F);
  gemm_unfused(L, st.x16.p, st.xq.p, st.scale, st.per_tok, L.wgu, L.sgu, 2 * d.F, d.D, gu.p, s);
  QuantOut qo;
  if (is_static) qo = QuantOut{QuantMode::Fp8Static, hq_ref.p, const_cast<float*>(L.sscale(3))};
  silu_mul_quant(gu.p, static_cast<uint16_t*>(gu.p) + d.F, 2 * d.F, L.P.act, L.M, d.F, is_static ? nullptr : hm_ref.p,
                 qo, s);
  DevBuf hm = poisoned((size_t)L.M * d.F * 2), hq = poisoned((size_t)L.M * d.F);
  // Per-token modes: the published row absmax too (out_amax must start at zero: poisoned past the M rows).
  const bool amax = L.q8 && !is_static;
  DevBuf am = poisoned(kFusedMMax * 4);
  if (amax) check(cudaMemsetAsync(am.p, 0, (size_t)L.M * 4, s), "zero out_amax");
  FusedLinear f = L.base(FusedOp::NormSiluMul, L.wgu, L.sgu, 2 * d.F, d.D, L.resid.p, 2);
  f.norm_w = L.ln.p;
  if (is_static) {
    f.hq = hq.p;
    f.hq_scale = L.sscale(3);
  } else {
    f.hmid = hm.p;
    if (amax) f.out_amax = am.as<float>();
  }
  linear_fused_smallm(f, L.M, s);
  check(cudaStreamSynchronize(s), "fused silu check");
  if (is_static) return near_bytes(hq, hq_ref, (size_t)L.M * d.F, 1, "down input codes", det);
  bool ok = near_bytes(hm, hm_ref, (size_t)L.M * d.F, 2, "silu*mul", det);
  // The published absmax: of the fused kernel's own output, bit for bit.
  if (amax) ok &= same_bytes(am, to_dev(row_absmax(hm, L.M, d.F, L.P.act)), (size_t)L.M * 4, "row absmax", det);
  return ok;
}

// O (in = attention output, K = qd) or down (in = hmid / static codes, K = F) with the residual epilogue. 8-bit
// activations on a 16-bit input (qload): QuantLoadResidual at the host's row absmax (per-token) or the static scale;
// otherwise Residual over 16-bit values or, fp8-static down, the codes gate_up's epilogue wrote.
bool check_residual(Harness& h, const Layer& L, bool down, bool qload, std::string& det) {
  cudaStream_t s = h.stream;
  const Dims& d = L.d;
  const int K = down ? d.F : d.qd(), which = down ? 3 : 1;
  const DevBuf& w = down ? L.wdown : L.wo;
  const DevBuf& sw = down ? L.sdown : L.so;
  const DevBuf& x = down ? L.hmid : L.attn;
  // static down: the codes the NormSiluMul epilogue wrote (no quantization here)
  const bool codes_in = L.q8 && !qload;
  DevBuf y = poisoned((size_t)L.M * d.D * 2);
  FusedOp op = FusedOp::Residual;
  const void* in = x.p;
  if (codes_in) {
    gemm_unfused(L, nullptr, L.codes.p, L.sscale(3), false, w, sw, d.D, K, y.p, s);
    in = L.codes.p;
  } else if (L.q8) {
    Staged st = stage_quant(L, x, K, which, s);
    gemm_unfused(L, nullptr, st.xq.p, st.scale, st.per_tok, w, sw, d.D, K, y.p, s);
    check(cudaStreamSynchronize(s), "unfused chain");
    op = FusedOp::QuantLoadResidual;
  } else {
    gemm_unfused(L, x.p, nullptr, nullptr, false, w, sw, d.D, K, y.p, s);
  }
  check(cudaStreamSynchronize(s), "unfused chain");
  DevBuf expected = residual_expected(L, y);
  DevBuf resid = copy_of(L.resid);
  FusedLinear f = L.base(op, w, sw, d.D, K, in, which);
  f.resid = resid.p;
  DevBuf am;
  if (qload && L.P.mode != QuantMode::Fp8Static) {
    am = to_dev(row_absmax(x, L.M, K, L.P.act));
    f.in_amax = am.as<float>();
  }
  linear_fused_smallm(f, L.M, s);
  check(cudaStreamSynchronize(s), "fused residual check");
  return same_bytes(resid, expected, (size_t)L.M * d.D * 2, "residual", det);
}

}  // namespace

void check_fused_gemv(Harness& h) {
  // medium: rows of 8-bit / 16-bit chunks that do not split evenly over the warps and the batches, and more tiles
  // than one wave of the persistent kernel (several tiles per block).
  const Dims small{272, 4, 2, 24, 176}, medium{2320, 6, 2, 64, 2224}, llama{4096, 32, 8, 128, 14336};
  uint64_t seed = 77;
  // Pass 0: the tile configuration the model picks per linear (configs.h); then each named configuration on every
  // op, on fewer cases, so that every configuration stays checked on every op.
  const FusedTile tiles[5] = {FusedTile::Auto, FusedTile::Batch8Preload2PerSm, FusedTile::Batch4Preload2PerSm,
                              FusedTile::Batch4Preload3PerSm, FusedTile::Persistent4x2Pre2};
  for (int pass = 0; pass < 5; ++pass) {
    for (const Prec& p : kPrecs) {
      std::vector<std::pair<Dims, int>> cases = {{small, 1}, {small, 5}, {small, 8}, {llama, 1}};
      if (h.quick) cases = {{small, 5}, {llama, 1}};
      if (pass > 0) cases = {{small, 5}, {medium, 1}, {medium, 3}, {llama, 1}};
      for (auto [d, M] : cases) {
        Layer L(h, p, d, M, seed += 100);
        L.tile = tiles[pass];
        const bool q8 = p.mode != QuantMode::None, is_static = p.mode == QuantMode::Fp8Static;
        // (name, check): 16-bit o and down, fp8-static down over codes, 8-bit QuantLoadResidual o and down
        std::vector<std::pair<std::string, std::function<bool(std::string&)>>> ops = {
            {"NormRopeKV", [&](std::string& det) { return check_rope(h, L, det); }},
            {"NormRopeKV kv-fp8", [&](std::string& det) { return check_rope(h, L, det, true); }},
            {"NormSiluMul", [&](std::string& det) { return check_silu(h, L, det); }}};
        if (!q8) ops.push_back({"Residual(o)", [&](std::string& det) { return check_residual(h, L, false, false, det); }});
        if (!q8 || is_static)
          ops.push_back({"Residual(down)", [&](std::string& det) { return check_residual(h, L, true, false, det); }});
        if (q8) {
          ops.push_back({"QuantLoadResidual(o)", [&](std::string& det) { return check_residual(h, L, false, true, det); }});
          ops.push_back(
              {"QuantLoadResidual(down)", [&](std::string& det) { return check_residual(h, L, true, true, det); }});
        }
        for (auto& [op_name, run] : ops) {
          std::string det;
          bool ok = false;
          try {
            ok = run(det);
          } catch (const std::exception& e) {
            det += e.what();
          }
          char name[160];
          std::snprintf(name, sizeof name, "fused %s %s act:%s M=%d D=%d F=%d%s%s", op_name.c_str(), p.name,
                        dtype_name(p.act), M, d.D, d.F, pass ? " tile:" : "", pass ? fused_tile_name(tiles[pass]) : "");
          h.record(name, ok, det);
        }
      }
    }
  }
}

// One layer's four linears at M = 1 (no attention): fused vs the unfused chain, layers rotated so weights stream
// from device memory. Run without QB_PDL=0 to see the programmatic-dependent-launch overlap the engine gets.
void bench_fused_gemv(Harness& h) {
  const Dims d{4096, 32, 8, 128, 14336};
  for (const Prec& p : kPrecs) {
    if (p.act == qb::ActDtype::BF16 && p.mode != QuantMode::None) continue;  // one activation dtype per precision
    const double wbytes = ((double)d.nqkv() * d.D + (double)d.D * d.qd() + 2.0 * d.F * d.D + (double)d.D * d.F) *
                          (p.mode == QuantMode::None ? 2 : 1);
    const int copies = (int)std::max(2.0, std::ceil(1.0e9 / wbytes));
    std::vector<std::unique_ptr<Layer>> Ls;
    for (int i = 0; i < copies; ++i) Ls.emplace_back(new Layer(h, p, d, 1, 9000 + 50 * i));
    DevBuf qkv = poisoned((size_t)d.nqkv() * 2), kc = poisoned(Ls[0]->kv_bytes()), vc = poisoned(Ls[0]->kv_bytes());
    DevBuf gu = poisoned((size_t)2 * d.F * 2), y = poisoned((size_t)d.D * 2), normed = poisoned((size_t)d.D * 2);
    DevBuf xq = poisoned((size_t)d.F), xs = poisoned(64), hm = poisoned((size_t)d.F * 2);
    const bool is_static = p.mode == QuantMode::Fp8Static, q8 = p.mode != QuantMode::None;
    // As the model runs them: o and per-token down quantize on load, down at gate_up's published absmax. o's absmax
    // comes from the attention kernel, which is not run here: a fixed positive value stands in (the time does not
    // depend on it).
    const bool qload = q8 && !is_static, qload_o = q8;
    DevBuf amax = poisoned(2 * kFusedMMax * 4);  // [down | o]
    check(cudaMemset(amax.p, 0, amax.n), "zero absmax");
    const std::vector<float> o_amax(kFusedMMax, 4.0f);
    check(cudaMemcpy(amax.as<float>() + kFusedMMax, o_amax.data(), kFusedMMax * 4, cudaMemcpyHostToDevice),
          "o absmax");
    // Linear k (0 qkv, 1 o, 2 gate_up, 3 down) of copy i; -1: all four.
    auto fused_ops = [&](int i, int only) {
      const Layer& L = *Ls[i % copies];
      FusedLinear f = L.base(FusedOp::NormRopeKV, L.wqkv, L.sqkv, d.nqkv(), d.D, L.resid.p, 0);
      f.norm_w = L.ln.p;
      f.qkv = qkv.p;
      f.ld = d.nqkv();
      f.positions = L.pos.as<int32_t>();
      f.slots = L.slots.as<int32_t>();
      f.H = d.H, f.Hkv = d.Hkv, f.Dh = d.Dh;
      f.cos_tab = L.cosb.as<float>(), f.sin_tab = L.sinb.as<float>();
      f.k_cache = kc.p, f.v_cache = vc.p;
      if (qload) f.zero_amax = amax.as<float>(), f.zero_n = kFusedMMax;  // the down slot only
      if (only < 0 || only == 0) linear_fused_smallm(f, 1, h.stream);
      f = L.base(qload_o ? FusedOp::QuantLoadResidual : FusedOp::Residual, L.wo, L.so, d.D, d.qd(), L.attn.p, 1);
      f.resid = L.resid.p;
      if (qload_o && !is_static) f.in_amax = amax.as<float>() + kFusedMMax;
      if (only < 0 || only == 1) linear_fused_smallm(f, 1, h.stream);
      f = L.base(FusedOp::NormSiluMul, L.wgu, L.sgu, 2 * d.F, d.D, L.resid.p, 2);
      f.norm_w = L.ln.p;
      if (is_static) f.hq = xq.p, f.hq_scale = L.sscale(3);
      else f.hmid = hm.p;
      if (qload) f.out_amax = amax.as<float>();
      if (only < 0 || only == 2) linear_fused_smallm(f, 1, h.stream);
      const FusedOp down_op = qload ? FusedOp::QuantLoadResidual : FusedOp::Residual;
      f = L.base(down_op, L.wdown, L.sdown, d.D, d.F, is_static ? xq.p : hm.p, 3);
      f.resid = L.resid.p;
      if (qload) f.in_amax = amax.as<float>();
      if (only < 0 || only == 3) linear_fused_smallm(f, 1, h.stream);
    };
    auto fused_layer = [&](int i) { fused_ops(i, -1); };
    auto unfused_layer = [&](int i) {
      const Layer& L = *Ls[i % copies];
      auto qo = [&](int which) {
        return QuantOut{p.mode, xq.p, is_static ? const_cast<float*>(L.sscale(which)) : xs.as<float>()};
      };
      auto gemm = [&](const DevBuf& w, const DevBuf& sw, int N, int K, const void* x16, int which, void* out) {
        gemm_unfused(L, x16, xq.p, is_static ? L.sscale(which) : xs.as<float>(), !is_static, w, sw, N, K, out,
                     h.stream);
      };
      rmsnorm_residual_quant(y.p, L.resid.p, L.ln.p, p.act, 1, d.D, 1e-5f, q8 ? nullptr : normed.p, qo(0), h.stream);
      gemm(L.wqkv, L.sqkv, d.nqkv(), d.D, normed.p, 0, qkv.p);
      rope_qkv_kv_write(qkv.p, d.nqkv(), p.act, L.pos.as<int32_t>(), L.slots.as<int32_t>(), 1, d.H, d.Hkv, d.Dh,
                        L.cosb.as<float>(), L.sinb.as<float>(), kc.p, vc.p, 16, h.stream);
      if (q8) {
        if (p.mode == QuantMode::Int8PerToken)
          quant_per_token_int8(L.attn.p, p.act, 1, d.qd(), xq.as<int8_t>(), xs.as<float>(), h.stream);
        else if (!is_static)
          quant_per_token_fp8(L.attn.p, p.act, 1, d.qd(), xq.as<uint8_t>(), xs.as<float>(), h.stream);
        else
          quant_static_fp8(L.attn.p, p.act, 1, d.qd(), L.sscale(1), xq.as<uint8_t>(), h.stream);
      }
      gemm(L.wo, L.so, d.D, d.qd(), L.attn.p, 1, y.p);
      rmsnorm_residual_quant(y.p, L.resid.p, L.ln.p, p.act, 1, d.D, 1e-5f, q8 ? nullptr : normed.p, qo(2), h.stream);
      gemm(L.wgu, L.sgu, 2 * d.F, d.D, normed.p, 2, gu.p);
      silu_mul_quant(gu.p, static_cast<uint16_t*>(gu.p) + d.F, 2 * d.F, p.act, 1, d.F, q8 ? nullptr : hm.p, qo(3),
                     h.stream);
      gemm(L.wdown, L.sdown, d.D, d.F, hm.p, 3, y.p);
    };
    fill_random(y.p, d.D, p.act == qb::ActDtype::BF16 ? FillKind::BF16 : FillKind::F16, 4242, 0.1f, h.stream);
    for (int fused = 1; fused >= 0; --fused) {
      std::function<void(int)> launch;
      if (fused)
        launch = fused_layer;
      else
        launch = unfused_layer;
      const double us = time_median_us(launch, 3, 15, std::max(10, copies), h.stream);
      add_bench_row(h, "layer-linears", p.name, "llama-3.1-8b layer M=1 (qkv, o, gate_up, down)",
                    fused ? "fused (4 kernels)" : "unfused (9 kernels)", us, wbytes, 2.0 * wbytes / (q8 ? 1 : 2),
                    q8 ? h.ceil.fp8 : h.ceil.bf16);
    }
    // Each fused linear alone, back to back (weights rotated over the copies).
    const char* names[4] = {"qkv (NormRopeKV)", qload_o ? "o (QuantLoadResidual)" : "o (Residual)",
                            "gate_up (NormSiluMul)",
                            qload ? "down (QuantLoadResidual)" : "down (Residual)"};
    const double kbytes[4] = {(double)d.nqkv() * d.D, (double)d.D * d.qd(), 2.0 * d.F * d.D, (double)d.D * d.F};
    for (int k = 0; k < 4; ++k) {
      const double b = kbytes[k] * (q8 ? 1 : 2);
      const double us = time_median_us([&](int i) { fused_ops(i, k); }, 3, 15, std::max(10, copies), h.stream);
      add_bench_row(h, "fused-linear", p.name, names[k], "fused, back to back", us, b, 2.0 * b / (q8 ? 1 : 2),
                    q8 ? h.ceil.fp8 : h.ceil.bf16);
    }
  }
}
