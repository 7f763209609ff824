// Checks and timings of the attention-path kernels (RoPE + paged KV write, paged attention) against cpu/ops.h.
//
// rope_qkv_kv_write: bit-exact against cpu::rope (q and k parts) + the cache write (rows with a negative slot skip
// it; every other cache slot must keep its old contents).
// paged_attention: fresh random q and caches (act-rounded), shuffled block tables, odd lengths, prefill chunks that
// start at position > 0, decodes, both in one batch; cache slots past each sequence's end and unused block-table
// entries (pointing to an all-NaN page) hold NaN, so reading anything outside the causal window poisons the output.
// Tolerance vs the CPU twin (double-accumulated, rounded once): |gpu - cpu| <= 2 * (ulp(|cpu|) + ulp(max|cpu| of
// that row and head)), ulps of the act dtype (the twin's own output rounding <= 0.5 ulp, the kernel's 0.5 ulp, fp32
// softmax differences); on rows of the tensor-core path (Dh 64/128, sequences of > 1 row) plus u_P * max_i |v_i - out|
// per element, u_P = 2^-9 (bf16) / 2^-12 (f16): the first-order bound of rounding the softmax weights P to 16 bit
// before the PV product (they do not average out over a short context). A wrong mask, page or scale is far outside.
// The same on the tensor-core decode kernel's rows (forced, or chosen for a large batch).
// FP8 KV cache: the caches hold FP8 codes of values x / scale for random codes (NaN code 0x7f outside the window);
// the twin reads code * scale in fp32. rope_qkv_kv_write with FP8: codes bit-exact against cpu::kv_cache_write_fp8.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "tools/checks.h"
#include "kernels/norm_quant/check_scaled_in_fixture.h"
#include "kernels/attention/attention.h"

using namespace qbh;

namespace {

float ulp_at(float x, ActDtype d) {
  x = std::fabs(qb::round_act(x, d));
  if (d == ActDtype::F16) {
    uint16_t b = qb::f32_to_f16_bits(x);
    return qb::f16_bits_to_f32((uint16_t)(b + 1)) - x;
  }
  uint16_t b = qb::f32_to_bf16_bits(x);
  return qb::bf16_bits_to_f32((uint16_t)(b + 1)) - x;
}

struct SeqSpec {
  int ctx_before, q_len;
};

// How a case stores its KV cache and which decode kernel it asks for.
struct KvCase {
  bool fp8 = false;
  float k_scale = 1.0f, v_scale = 1.0f;
  qb::cuda::DecodeKernel decode = qb::cuda::DecodeKernel::Auto;
};
const char* decode_name(qb::cuda::DecodeKernel k) {
  return k == qb::cuda::DecodeKernel::RowWise ? " rowwise" : k == qb::cuda::DecodeKernel::TensorCore ? " tc" : "";
}
// Host FP8 caches: codes, and the values code * scale the twin reads (NaN where the code is NaN).
std::vector<uint8_t> to_fp8_cache(std::vector<float>& vals, float scale) {
  std::vector<uint8_t> codes(vals.size());
  for (size_t i = 0; i < vals.size(); ++i) {
    codes[i] = std::isnan(vals[i]) ? 0x7f : qb::f32_to_fp8e4m3(vals[i] / scale);
    vals[i] = std::isnan(vals[i]) ? vals[i] : qb::fp8e4m3_to_f32(codes[i]) * scale;
  }
  return codes;
}

// Host description of a varlen batch over a paged cache.
struct HostBatch {
  int T = 0, S = 0, H, Hkv, Dh, bs = 16, max_blocks = 0, num_blocks = 0, max_q_len = 1, max_context = 1;
  std::vector<int32_t> seq_starts, positions, bt;
  std::vector<float> kc, vc;  // [num_blocks, bs, Hkv, Dh]
};

HostBatch make_batch(Harness& h, const std::vector<SeqSpec>& seqs, int H, int Hkv, int Dh, ActDtype d, int bs = 16) {
  HostBatch b;
  b.bs = bs;
  b.H = H;
  b.Hkv = Hkv;
  b.Dh = Dh;
  b.S = (int)seqs.size();
  int need_blocks = 0, maxnb = 0, maxctx = 0;
  b.seq_starts.push_back(0);
  for (auto& s : seqs) {
    int total = s.ctx_before + s.q_len;
    int nb = (total + b.bs - 1) / b.bs;
    need_blocks += nb;
    maxnb = std::max(maxnb, nb);
    maxctx = std::max(maxctx, total);
    b.max_q_len = std::max(b.max_q_len, s.q_len);
    for (int i = 0; i < s.q_len; ++i) b.positions.push_back(s.ctx_before + i);
    b.seq_starts.push_back(b.seq_starts.back() + s.q_len);
  }
  b.T = b.seq_starts.back();
  b.max_blocks = maxnb + 3;
  b.num_blocks = need_blocks + 1;
  b.max_context = maxctx + 5;  // a bound, not the exact value
  std::vector<int32_t> pages(b.num_blocks);
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), h.rng.g);
  const int nan_page = pages.back();
  b.bt.assign((size_t)b.S * b.max_blocks, nan_page);
  size_t row = (size_t)Hkv * Dh, page_elems = (size_t)b.bs * row;
  b.kc = rand_act(h.rng, (size_t)b.num_blocks * page_elems, d, h.rng.uniform(0.5f, 2.0f));
  b.vc = rand_act(h.rng, (size_t)b.num_blocks * page_elems, d, h.rng.uniform(0.5f, 2.0f));
  const float nan = std::nanf("");
  int next = 0;
  for (int s = 0; s < b.S; ++s) {
    int total = seqs[s].ctx_before + seqs[s].q_len;
    int nb = (total + b.bs - 1) / b.bs;
    for (int k = 0; k < nb; ++k) b.bt[(size_t)s * b.max_blocks + k] = pages[next++];
    for (int p = total; p < nb * b.bs; ++p) {  // tail of the last page: never written, never read
      size_t base = (size_t)b.bt[(size_t)s * b.max_blocks + p / b.bs] * page_elems + (size_t)(p % b.bs) * row;
      for (size_t i = 0; i < row; ++i) b.kc[base + i] = b.vc[base + i] = nan;
    }
  }
  for (size_t i = 0; i < page_elems; ++i) b.kc[(size_t)nan_page * page_elems + i] = b.vc[(size_t)nan_page * page_elems + i] = nan;
  return b;
}

void check_attention_case(Harness& h, const char* label, const std::vector<SeqSpec>& seqs, int H, int Hkv, int Dh,
                          ActDtype d, const KvCase& kv = {}, int bs = 16) {
  HostBatch b = make_batch(h, seqs, H, Hkv, Dh, d, bs);
  std::vector<uint8_t> k8, v8;
  if (kv.fp8) {  // random values spread over the e4m3 range around the scale
    for (auto* c : {&b.kc, &b.vc})
      for (float& x : *c)
        if (!std::isnan(x)) x *= (c == &b.kc ? kv.k_scale : kv.v_scale) * 64.0f;
    k8 = to_fp8_cache(b.kc, kv.k_scale);
    v8 = to_fp8_cache(b.vc, kv.v_scale);
  }
  const int T = b.T;
  const int ld_q = (H + 2 * Hkv) * Dh;  // q inside a fused qkv buffer
  const int ld_out = H * Dh + 8;
  std::vector<float> qkv = rand_act(h.rng, (size_t)T * ld_q, d, h.rng.uniform(0.5f, 3.0f));
  std::vector<float> q((size_t)T * H * Dh);
  for (int t = 0; t < T; ++t)
    std::memcpy(&q[(size_t)t * H * Dh], &qkv[(size_t)t * ld_q], sizeof(float) * H * Dh);
  const float scale = 1.0f / std::sqrt((float)Dh);
  std::vector<float> ref((size_t)T * H * Dh);
  qb::cpu::attention_paged(q.data(), b.kc.data(), b.vc.data(), b.seq_starts.data(), b.S, b.positions.data(),
                           b.bt.data(), b.max_blocks, H, Hkv, Dh, b.bs, scale, ref.data(), d);

  DevBuf qd = act_to_dev(qkv, d), kd = kv.fp8 ? to_dev(k8) : act_to_dev(b.kc, d), vd = kv.fp8 ? to_dev(v8) : act_to_dev(b.vc, d);
  DevBuf ssd = to_dev(b.seq_starts), posd = to_dev(b.positions), btd = to_dev(b.bt);
  DevBuf od((size_t)T * ld_out * 2);
  od.poison();
  const size_t wsb = qb::cuda::paged_attention_workspace_bytes(T, H, Dh, b.max_context);
  DevBuf ws(std::max<size_t>(wsb, 16));
  ws.poison();
  DevBuf tickets((size_t)T * H * sizeof(int));  // zero before the first call; the kernels leave them zero
  qb::cuda::check(cudaMemset(tickets.p, 0, tickets.n), "tickets");
  qb::cuda::PagedAttentionArgs a;
  a.q = qd.p;
  a.ld_q = ld_q;
  a.k_cache = kd.p;
  a.v_cache = vd.p;
  a.seq_starts = ssd.as<int32_t>();
  a.positions = posd.as<int32_t>();
  a.block_tables = btd.as<int32_t>();
  a.max_blocks = b.max_blocks;
  a.T = T;
  a.S = b.S;
  a.H = H;
  a.Hkv = Hkv;
  a.Dh = Dh;
  a.block_size = b.bs;
  a.scale = scale;
  a.act = d;
  a.max_q_len = b.max_q_len;
  a.max_context = b.max_context;
  a.out = od.p;
  a.ld_out = ld_out;
  a.workspace = ws.p;
  a.workspace_bytes = wsb;
  a.tickets = tickets.as<int>();
  a.kv.fp8 = kv.fp8;
  a.kv.k_scale = kv.k_scale;
  a.kv.v_scale = kv.v_scale;
  a.decode_kernel = kv.decode;
  // Decode-only batches (the row-wise kernels): each row's published absmax too (o's QuantLoadResidual scale).
  const bool amax = b.max_q_len == 1;
  DevBuf amd(std::max<size_t>((size_t)T * 4, 16));
  if (amax) {
    qb::cuda::check(cudaMemset(amd.p, 0, amd.n), "out_amax");
    a.out_amax = amd.as<float>();
  }
  std::string err;
  try {
    qb::cuda::paged_attention(a, h.stream);
    qb::cuda::check(cudaStreamSynchronize(h.stream), "paged_attention check");
  } catch (const std::exception& e) {
    err = e.what();
  }
  char name[160];
  std::snprintf(name, sizeof name, "paged_attention %s%s%s %s Dh=%d H=%d Hkv=%d T=%d S=%d", label,
                kv.fp8 ? " kv-fp8" : "", decode_name(kv.decode), dtype_name(d), Dh, H, Hkv, T, b.S);
  if (!err.empty()) {
    h.record(name, false, "error: " + err);
    return;
  }
  {  // the split-merge tickets must be back at zero for the next call
    const std::vector<int> tk = from_dev<int>(tickets, (size_t)T * H);
    const size_t nz = (size_t)std::count_if(tk.begin(), tk.end(), [](int v) { return v != 0; });
    if (nz) {
      h.record(name, false, std::to_string(nz) + " split tickets not left at zero");
      return;
    }
  }
  std::vector<float> g = act_from_dev(od, (size_t)T * ld_out, d);
  std::vector<int> seq_of(T);
  for (int s = 0; s < b.S; ++s)
    for (int i = b.seq_starts[s]; i < b.seq_starts[s + 1]; ++i) seq_of[i] = s;
  const bool tc_dims = Dh == 64 || Dh == 128;
  // Decode rows on the tensor-core kernel (as paged_attention chooses it): P rounded to 16 bit there too.
  const bool tc_decode = kv.decode == qb::cuda::DecodeKernel::TensorCore ||
                         (kv.decode == qb::cuda::DecodeKernel::Auto && T >= qb::cuda::decode_tc_min_rows(kv.fp8) &&
                          H / Hkv <= 8);
  const double u_p = d == ActDtype::BF16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);  // 16-bit unit roundoff x2
  double worst = 0, max_abs = 0, max_out = 0;
  size_t nan_count = 0, worst_i = 0;
  for (int t = 0; t < T; ++t)
    for (int hh = 0; hh < H; ++hh) {
      const float* c = &ref[((size_t)t * H + hh) * Dh];
      const float* gg = &g[(size_t)t * ld_out + (size_t)hh * Dh];
      float M = 0;
      for (int i = 0; i < Dh; ++i) M = std::max(M, std::fabs(c[i]));
      max_out = std::max<double>(max_out, M);
      const float uM = ulp_at(M, d);
      // Tensor-core rows: P is rounded to the act dtype (relative u_P) before the PV product and in the sum, which
      // moves the output by at most u_P * max_i |v_i - out| (first order): added to the ulp budget.
      const bool tc_row = tc_dims && ((b.seq_starts[seq_of[t] + 1] - b.seq_starts[seq_of[t]]) > 1 || tc_decode);
      std::vector<double> vdev(Dh, 0.0);
      if (tc_row) {
        const int kvh = hh / (H / Hkv), s = seq_of[t];
        for (int p = 0; p <= b.positions[t]; ++p) {
          const float* vv = &b.vc[((size_t)b.bt[(size_t)s * b.max_blocks + p / b.bs] * b.bs + p % b.bs) * Hkv * Dh +
                                  (size_t)kvh * Dh];
          for (int i = 0; i < Dh; ++i) vdev[i] = std::max(vdev[i], std::fabs((double)vv[i] - c[i]));
        }
      }
      for (int i = 0; i < Dh; ++i) {
        if (std::isnan(gg[i]) || std::isinf(gg[i])) {
          ++nan_count;
          continue;
        }
        double e = std::fabs((double)gg[i] - c[i]);
        max_abs = std::max(max_abs, e);
        double u = e / (ulp_at(c[i], d) + uM + 0.5 * u_p * vdev[i]);
        if (u > worst) {
          worst = u;
          worst_i = ((size_t)t * H + hh) * Dh + i;
        }
      }
    }
  // out_amax: exactly the max |output| of each row (the same rounded values the kernel stored).
  size_t amax_bad = 0;
  if (amax) {
    const std::vector<float> got = from_dev<float>(amd, T);
    for (int t = 0; t < T; ++t) {
      float m = 0.0f;
      for (int i = 0; i < H * Dh; ++i) m = std::max(m, std::fabs(g[(size_t)t * ld_out + i]));
      amax_bad += got[t] != m;
    }
  }
  const bool ok = nan_count == 0 && worst <= 2.0 && amax_bad == 0;
  char det[360];
  std::snprintf(det, sizeof det,
                "max err %.3f units of (ulp|cpu| + ulp max|row| [+ u_P*max|v-out| on mma rows]) (limit 2), max abs err %.3g, max|out| %.3g, "
                "non-finite %zu; max_q_len %d, ctx bound %d; row absmax %s%s",
                worst, max_abs, max_out, nan_count, b.max_q_len, b.max_context,
                !amax ? "not asked" : amax_bad ? (std::to_string(amax_bad) + " rows wrong").c_str() : "exact",
                worst > 2.0 ? (" worst at t=" + std::to_string(worst_i / ((size_t)H * Dh))).c_str() : "");
  h.record(name, ok, det);
}

// scaled: qkv is an unscaled linear output (ScaledIn, per-token x per-channel scales); the v part of qkv then stays
// unscaled in place (only the cache gets finished v), which the expected rows reflect.
// kv8: the caches are FP8 (scales 0.37 / 1.9): codes must equal cpu::kv_cache_write_fp8's, untouched slots unchanged.
// i32: qkv as int32 accumulators (ScaledIn::acc, the int8 path): q and k are written finished into a poisoned qkv
// buffer whose v and padding columns stay as they were.
void check_rope(Harness& h, int T, int H, int Hkv, int Dh, ActDtype d, bool scaled = false, bool kv8 = false,
                bool i32 = false) {
  const float ks = kv8 ? 0.37f : 1.0f, vs = kv8 ? 1.9f : 1.0f;
  const int ld = (H + 2 * Hkv) * Dh + 8;  // padded rows
  const int half = Dh / 2, max_pos = 4096, bs = 16, num_blocks = 9;
  const size_t kv_row = (size_t)Hkv * Dh;
  std::vector<float> x = rand_act(h.rng, (size_t)T * ld, d, h.rng.uniform(0.5f, 3.0f));
  ScaledFixture sf;
  if (scaled) sf = make_scaled(h.rng, x, T, ld, d, true, true, i32);
  std::vector<float> cosv((size_t)max_pos * half), sinv((size_t)max_pos * half);
  for (int p = 0; p < max_pos; ++p)
    for (int i = 0; i < half; ++i) {
      double inv = std::pow(500000.0, -2.0 * i / Dh);
      cosv[(size_t)p * half + i] = (float)std::cos(p * inv);
      sinv[(size_t)p * half + i] = (float)std::sin(p * inv);
    }
  std::vector<int32_t> pos(T), slot(T);
  std::vector<int32_t> slots_all(num_blocks * bs);
  std::iota(slots_all.begin(), slots_all.end(), 0);
  std::shuffle(slots_all.begin(), slots_all.end(), h.rng.g);
  for (int t = 0; t < T; ++t) {
    pos[t] = h.rng.integer(0, max_pos - 1);
    slot[t] = (t % 5 == 3) ? -1 : slots_all[t];
  }
  std::vector<float> kc = rand_act(h.rng, (size_t)num_blocks * bs * kv_row, d);
  std::vector<float> vc = rand_act(h.rng, (size_t)num_blocks * bs * kv_row, d);
  std::vector<uint8_t> k8, v8;
  if (kv8) {
    k8 = to_fp8_cache(kc, ks);
    v8 = to_fp8_cache(vc, vs);
  }
  // twin
  std::vector<float> qh((size_t)T * H * Dh), kh((size_t)T * kv_row);
  for (int t = 0; t < T; ++t) {
    std::memcpy(&qh[(size_t)t * H * Dh], &x[(size_t)t * ld], sizeof(float) * H * Dh);
    std::memcpy(&kh[(size_t)t * kv_row], &x[(size_t)t * ld + (size_t)H * Dh], sizeof(float) * kv_row);
  }
  qb::cpu::rope(qh.data(), pos.data(), T, H, Dh, cosv.data(), sinv.data(), d);
  qb::cpu::rope(kh.data(), pos.data(), T, Hkv, Dh, cosv.data(), sinv.data(), d);
  std::vector<float> xe = x, kce = kc, vce = vc;
  for (int t = 0; t < T; ++t) {
    std::memcpy(&xe[(size_t)t * ld], &qh[(size_t)t * H * Dh], sizeof(float) * H * Dh);
    std::memcpy(&xe[(size_t)t * ld + (size_t)H * Dh], &kh[(size_t)t * kv_row], sizeof(float) * kv_row);
    if (slot[t] < 0) continue;
    std::vector<float> vrow(&x[(size_t)t * ld + (size_t)(H + Hkv) * Dh], &x[(size_t)t * ld + (size_t)(H + Hkv) * Dh] + kv_row);
    if (kv8)
      qb::cpu::kv_cache_write_fp8(&kh[(size_t)t * kv_row], vrow.data(), &slot[t], 1, Hkv, Dh, ks, vs, kce.data(),
                                  vce.data(), bs);
    else
      qb::cpu::kv_cache_write(&kh[(size_t)t * kv_row], vrow.data(), &slot[t], 1, Hkv, Dh, kce.data(), vce.data(), bs);
  }
  DevBuf xd = act_to_dev(x, d), kd = kv8 ? to_dev(k8) : act_to_dev(kc, d), vd = kv8 ? to_dev(v8) : act_to_dev(vc, d);
  DevBuf pd = to_dev(pos), sd = to_dev(slot), cd = to_dev(cosv), snd = to_dev(sinv);
  std::vector<uint16_t> acc_bits;
  if (scaled) {  // the kernel works in place on the accumulators; untouched parts (v, padding) keep their bf16 bits
    xd = std::move(sf.acc);
    acc_bits = from_dev<uint16_t>(xd, x.size());
  }
  std::string err;
  try {
    qb::cuda::rope_qkv_kv_write(xd.p, ld, d, pd.as<int32_t>(), sd.as<int32_t>(), T, H, Hkv, Dh, cd.as<float>(),
                                snd.as<float>(), kd.p, vd.p, bs, h.stream, sf.si,
                                qb::cuda::KvCacheFormat{kv8, ks, vs});
    qb::cuda::check(cudaStreamSynchronize(h.stream), "rope check");
  } catch (const std::exception& e) {
    err = e.what();
  }
  char name[160];
  std::snprintf(name, sizeof name, "rope_qkv_kv_write %s%s%s T=%d H=%d Hkv=%d Dh=%d", dtype_name(d),
                i32 ? " qkv-int32-acc" : scaled ? " qkv-unscaled" : "", kv8 ? " kv-fp8" : "", T, H, Hkv, Dh);
  if (!err.empty()) {
    h.record(name, false, "error: " + err);
    return;
  }
  auto cmp = [&](const std::vector<float>& ge, const std::vector<float>& ex) {
    size_t bad = 0;
    for (size_t i = 0; i < ex.size(); ++i)
      if (std::memcmp(&ge[i], &ex[i], 4) != 0 && !(std::isnan(ge[i]) && std::isnan(ex[i]))) ++bad;
    return bad;
  };
  std::vector<float> xg = act_from_dev(xd, x.size(), d);
  if (scaled) {  // v and padding columns: the accumulator bits must be left as they were
    const std::vector<uint16_t> bits = from_dev<uint16_t>(xd, x.size());
    for (int t = 0; t < T; ++t)
      for (int i = (H + Hkv) * Dh; i < ld; ++i) {
        const size_t j = (size_t)t * ld + i;
        xg[j] = xe[j] = 0.0f;
        if (bits[j] != acc_bits[j]) xg[j] = 1.0f;  // counted as a mismatch
      }
  }
  auto cache_vals = [&](const DevBuf& c, size_t n, float sc) {
    if (!kv8) return act_from_dev(c, n, d);
    const std::vector<uint8_t> codes = from_dev<uint8_t>(c, n);
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = qb::fp8e4m3_to_f32(codes[i]) * sc;
    return v;
  };
  size_t bx = cmp(xg, xe), bk = cmp(cache_vals(kd, kc.size(), ks), kce), bv = cmp(cache_vals(vd, vc.size(), vs), vce);
  char det[200];
  std::snprintf(det, sizeof det, "bit-exact required: qkv mismatches %zu/%zu, k cache %zu/%zu, v cache %zu/%zu", bx,
                x.size(), bk, kc.size(), bv, vc.size());
  h.record(name, bx == 0 && bk == 0 && bv == 0, det);
}

}  // namespace

void check_attention(Harness& h) {
  if (!h.wants("attention")) return;
  for (ActDtype d : {ActDtype::BF16, ActDtype::F16}) {
    check_rope(h, 37, 32, 8, 128, d);
    check_rope(h, 5, 8, 4, 8, d);
    check_rope(h, 19, 6, 2, 32, d);
    check_rope(h, 37, 32, 8, 128, d, true);
    check_rope(h, 3, 8, 4, 8, d, true);
    check_rope(h, 7, 4, 2, 6, d);        // Dh % 4 != 0: one pair per thread
    check_rope(h, 7, 4, 2, 6, d, true);
    check_rope(h, 37, 32, 8, 128, d, false, true);  // FP8 KV cache
    check_rope(h, 37, 32, 8, 128, d, true, true);
    check_rope(h, 5, 8, 4, 8, d, false, true);
    check_rope(h, 7, 4, 2, 6, d, true, true);
    check_rope(h, 37, 32, 8, 128, d, true, false, true);  // int32 accumulators (the int8 path)
    check_rope(h, 37, 32, 8, 128, d, true, true, true);
    check_rope(h, 5, 8, 4, 8, d, true, false, true);
    check_rope(h, 7, 4, 2, 6, d, true, true, true);       // one pair per thread
  }
  struct Dims {
    int Dh, H, Hkv;
  };
  const Dims dims[] = {{8, 8, 4}, {16, 8, 2}, {32, 6, 2}, {64, 8, 1}, {128, 32, 8}};
  const std::vector<SeqSpec> decode = {{0, 1}, {16, 1}, {99, 1}, {341, 1}, {1022, 1}};
  const std::vector<SeqSpec> mixed = {{0, 77}, {50, 129}, {0, 1}, {299, 1}, {44, 1}, {130, 2}, {17, 1}};
  const std::vector<SeqSpec> prefill = {{0, 333}};
  const std::vector<SeqSpec> chunks = {{64, 65}, {203, 65}, {0, 65}};
  // one-row steps (batch-1 decode: its own block shape, attention_warps / head chunk in attention_paged_decode.cu)
  const std::vector<SeqSpec> single_short = {{127, 1}}, single_long = {{1790, 1}}, single_first = {{0, 1}};
  for (ActDtype d : {ActDtype::BF16, ActDtype::F16})
    for (const Dims& m : dims) {
      check_attention_case(h, "decode", decode, m.H, m.Hkv, m.Dh, d);
      check_attention_case(h, "mixed", mixed, m.H, m.Hkv, m.Dh, d);
      check_attention_case(h, "prefill", prefill, m.H, m.Hkv, m.Dh, d);
      check_attention_case(h, "chunks", chunks, m.H, m.Hkv, m.Dh, d);
      check_attention_case(h, "single", single_short, m.H, m.Hkv, m.Dh, d);
      check_attention_case(h, "single", single_long, m.H, m.Hkv, m.Dh, d);
      check_attention_case(h, "single", single_first, m.H, m.Hkv, m.Dh, d);
    }
  // The prefill kernels' tile edges at head dim 128 (16-bit KV: the wgmma kernel's 64-row / 64-position tiles; FP8 KV:
  // the mma.sync kernel's 128 / 32): lengths 15-17, 63-65, 127-129 beside one-row and two-row sequences at
  // Llama-3.1-8B's heads; one 2048-row prefill, one of 4100 rows and a 300-row chunk continuing 4096 cached positions
  // at 8 query / 2 KV heads (the same GQA group; the CPU twin's time for 32 heads at 4100 rows was minutes).
  const std::vector<SeqSpec> edges = {{0, 15}, {0, 16}, {0, 17}, {0, 63}, {0, 64}, {0, 65},
                                      {0, 127}, {0, 128}, {0, 129}, {5, 2}, {40, 1}};
  const std::vector<SeqSpec> long_prefill = {{0, 2048}}, longer_prefill = {{0, 4100}}, continuing = {{4096, 300}};
  for (ActDtype d : {ActDtype::BF16, ActDtype::F16}) {
    check_attention_case(h, "edges", edges, 32, 8, 128, d);
    check_attention_case(h, "prefill", long_prefill, 8, 2, 128, d);
    check_attention_case(h, "prefill", longer_prefill, 8, 2, 128, d);
    check_attention_case(h, "chunks", continuing, 8, 2, 128, d);
  }
  // Cache block sizes other than the engine's 16 (prefill rows only): 8, 32 and 64 take the wgmma kernel's TMA copies
  // (one to eight pages per 64-position tile), 24 and 128 its cp.async copies; FP8 KV the mma.sync kernel.
  const std::vector<SeqSpec> paged_prefill = {{0, 129}, {37, 64}, {0, 15}, {200, 77}};
  for (int bs : {8, 24, 32, 64, 128})
    for (bool f8 : {false, true}) {
      const KvCase kv{f8, f8 ? 0.021f : 1.0f, f8 ? 0.013f : 1.0f, qb::cuda::DecodeKernel::Auto};
      char label[32];
      std::snprintf(label, sizeof label, "prefill bs %d", bs);
      check_attention_case(h, label, paged_prefill, 8, 2, 128, ActDtype::BF16, kv, bs);
    }
  // many decodes (no split) next to one long chunk
  std::vector<SeqSpec> wide;
  for (int i = 0; i < 60; ++i) wide.push_back({h.rng.integer(0, 700), 1});
  wide.push_back({300, 211});
  check_attention_case(h, "wide-mixed", wide, 32, 8, 128, ActDtype::BF16);
  // FP8 KV cache (every kernel: row-wise, tensor-core decode, tensor-core prefill) and the tensor-core decode kernel
  // forced on every case it supports (Dh 64 / 128), 16-bit and FP8.
  using qb::cuda::DecodeKernel;
  std::vector<SeqSpec> big;  // a large decode batch: the tensor-core kernel by the Auto rule
  for (int i = 0; i < 96; ++i) big.push_back({h.rng.integer(0, 900), 1});
  big.push_back({2047, 1});
  for (ActDtype d : {ActDtype::BF16, ActDtype::F16})
    for (const Dims& m : dims)
      for (bool f8 : {false, true})
        for (DecodeKernel dk : {DecodeKernel::Auto, DecodeKernel::TensorCore}) {
          if (!f8 && dk == DecodeKernel::Auto) continue;  // above
          if (dk == DecodeKernel::TensorCore && m.Dh < 64) continue;
          const KvCase kv{f8, f8 ? 0.021f : 1.0f, f8 ? 0.013f : 1.0f, dk};
          check_attention_case(h, "decode", decode, m.H, m.Hkv, m.Dh, d, kv);
          check_attention_case(h, "mixed", mixed, m.H, m.Hkv, m.Dh, d, kv);
          check_attention_case(h, "single", single_long, m.H, m.Hkv, m.Dh, d, kv);
          check_attention_case(h, "single", single_first, m.H, m.Hkv, m.Dh, d, kv);
          check_attention_case(h, "big-decode", big, m.H, m.Hkv, m.Dh, d, kv);
          if (dk == DecodeKernel::Auto) {
            check_attention_case(h, "prefill", prefill, m.H, m.Hkv, m.Dh, d, kv);
            check_attention_case(h, "chunks", chunks, m.H, m.Hkv, m.Dh, d, kv);
          }
        }
  for (bool f8 : {false, true})  // row-wise forced on the big batch (the Auto rule's other side)
    check_attention_case(h, "big-decode", big, 32, 8, 128, ActDtype::BF16,
                         KvCase{f8, f8 ? 0.021f : 1.0f, f8 ? 0.013f : 1.0f, DecodeKernel::RowWise});
  check_attention_case(h, "wide-mixed", wide, 32, 8, 128, ActDtype::F16, KvCase{true, 0.05f, 0.02f, DecodeKernel::Auto});
  for (ActDtype d : {ActDtype::BF16, ActDtype::F16}) {  // the tile edges above with an FP8 cache
    const KvCase kv{true, 0.021f, 0.013f, DecodeKernel::Auto};
    check_attention_case(h, "edges", edges, 32, 8, 128, d, kv);
    check_attention_case(h, "prefill", long_prefill, 8, 2, 128, d, kv);
    check_attention_case(h, "chunks", continuing, 8, 2, 128, d, kv);
  }
}

// ---------------------------------------------------------------------------------------------------------------
namespace {


constexpr int kH = 32, kHkv = 8, kDh = 128, kBs = 16;

// One timed attention configuration: seqs (ctx_before, q_len), KV pages rotated over copies (> 256 MB in all).
void bench_case(Harness& h, const std::string& label, const std::vector<SeqSpec>& seqs, uint64_t seed,
                const KvCase& kv = {}) {
  const int eb = kv.fp8 ? 1 : 2;  // cache bytes per element
  std::vector<int32_t> ss{0}, pos;
  int maxnb = 0, maxq = 1, maxctx = 1, nblocks = 0;
  double kv_tokens = 0, flops = 0;
  for (auto& s : seqs) {
    int total = s.ctx_before + s.q_len;
    int nb = (total + kBs - 1) / kBs;
    nblocks += nb;
    maxnb = std::max(maxnb, nb);
    maxq = std::max(maxq, s.q_len);
    maxctx = std::max(maxctx, total);
    for (int i = 0; i < s.q_len; ++i) {
      pos.push_back(s.ctx_before + i);
      flops += 4.0 * kDh * kH * (s.ctx_before + i + 1);
    }
    kv_tokens += total;
    ss.push_back(ss.back() + s.q_len);
  }
  const int T = ss.back(), S = (int)seqs.size();
  const double kv_bytes = kv_tokens * kHkv * kDh * 2 * eb;
  const int copies = (int)std::min(8.0, std::max(1.0, std::ceil(256e6 / kv_bytes)));
  const size_t page_elems = (size_t)kBs * kHkv * kDh;
  const size_t total_pages = (size_t)nblocks * copies;
  DevBuf kc(total_pages * page_elems * eb), vc(total_pages * page_elems * eb);
  const auto fk = kv.fp8 ? qb::cuda::FillKind::Fp8 : qb::cuda::FillKind::BF16;
  qb::cuda::fill_random(kc.p, total_pages * page_elems, fk, seed, 1.0f, h.stream);
  qb::cuda::fill_random(vc.p, total_pages * page_elems, fk, seed + 1, 1.0f, h.stream);
  std::vector<int32_t> pages(total_pages);
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), h.rng.g);
  std::vector<DevBuf> bts;
  size_t next = 0;
  for (int c = 0; c < copies; ++c) {
    std::vector<int32_t> bt((size_t)S * maxnb, 0);
    for (int s = 0; s < S; ++s) {
      int nb = (seqs[s].ctx_before + seqs[s].q_len + kBs - 1) / kBs;
      for (int k = 0; k < nb; ++k) bt[(size_t)s * maxnb + k] = pages[next++];
    }
    bts.push_back(to_dev(bt));
  }
  const int ld = (kH + 2 * kHkv) * kDh;
  DevBuf q((size_t)T * ld * 2), out((size_t)T * kH * kDh * 2);
  qb::cuda::fill_random(q.p, (size_t)T * ld, qb::cuda::FillKind::BF16, seed + 2, 1.0f, h.stream);
  DevBuf ssd = to_dev(ss), posd = to_dev(pos);
  const size_t wsb = qb::cuda::paged_attention_workspace_bytes(T, kH, kDh, maxctx);
  DevBuf ws(std::max<size_t>(wsb, 16));
  DevBuf tickets((size_t)T * kH * sizeof(int));
  qb::cuda::check(cudaMemset(tickets.p, 0, tickets.n), "tickets");
  qb::cuda::check(cudaStreamSynchronize(h.stream), "attention bench fill");
  qb::cuda::PagedAttentionArgs a;
  a.q = q.p;
  a.ld_q = ld;
  a.k_cache = kc.p;
  a.v_cache = vc.p;
  a.seq_starts = ssd.as<int32_t>();
  a.positions = posd.as<int32_t>();
  a.max_blocks = maxnb;
  a.T = T;
  a.S = S;
  a.H = kH;
  a.Hkv = kHkv;
  a.Dh = kDh;
  a.block_size = kBs;
  a.scale = 1.0f / std::sqrt((float)kDh);
  a.act = ActDtype::BF16;
  a.max_q_len = maxq;
  a.max_context = maxctx;
  a.out = out.p;
  a.ld_out = kH * kDh;
  a.workspace = ws.p;
  a.workspace_bytes = wsb;
  a.tickets = tickets.as<int>();
  a.kv.fp8 = kv.fp8;
  a.decode_kernel = kv.decode;
  auto launch = [&](int i) {
    qb::cuda::PagedAttentionArgs b = a;
    b.block_tables = bts[i % copies].as<int32_t>();
    qb::cuda::paged_attention(b, h.stream);
  };
  const int batch = maxq > 1 ? 4 : std::max(10, copies);
  double us = time_median_us(launch, 3, h.quick ? 5 : 15, batch, h.stream);
  const double bytes = kv_bytes + (double)T * kH * kDh * 2 * 2;
  std::string kernel = maxq > 1 ? "tc-prefill" : qb::cuda::decode_tc_min_rows(kv.fp8) <= T ? "tc-decode" : "rowwise-splitkv";
  if (maxq == 1 && kv.decode == qb::cuda::DecodeKernel::RowWise) kernel = "rowwise-splitkv";
  if (maxq == 1 && kv.decode == qb::cuda::DecodeKernel::TensorCore) kernel = "tc-decode";
  if (kv.fp8) kernel += " kv-fp8";
  add_bench_row(h, "paged_attention", "bf16", label, kernel, us, bytes, flops, h.ceil.bf16);
}

}  // namespace

void bench_attention(Harness& h) {
  if (!h.wants("attention")) return;
  uint64_t seed = 777;
  using qb::cuda::DecodeKernel;
  // Decode: both kernels, 16-bit and FP8 KV (achieved TB/s per point: the bench row's bandwidth column).
  for (int B : {1, 16, 64, 256, 1024})
    for (int C : {128, 2048, 4096})
      for (bool f8 : {false, true}) {
        for (DecodeKernel dk : {DecodeKernel::RowWise, DecodeKernel::TensorCore}) {
          std::vector<SeqSpec> seqs(B, SeqSpec{C - 1, 1});
          bench_case(h, "decode B=" + std::to_string(B) + " ctx=" + std::to_string(C), seqs, seed++,
                     KvCase{f8, 1.0f, 1.0f, dk});
        }
      }
  for (bool f8 : {false, true}) {
    bench_case(h, "prefill 1x2048", {{0, 2048}}, seed++, KvCase{f8});
    bench_case(h, "prefill 8x2048", std::vector<SeqSpec>(8, SeqSpec{0, 2048}), seed++, KvCase{f8});
  }
  {
    std::vector<SeqSpec> mixed(63, SeqSpec{2047, 1});
    mixed.push_back({1536, 512});
    bench_case(h, "mixed 512@1536+63 dec", mixed, seed++);
  }
  // RoPE + KV write
  for (int T : {64, 2048}) {
    const int ld = (kH + 2 * kHkv) * kDh, half = kDh / 2;
    DevBuf x((size_t)T * ld * 2), cs((size_t)4096 * half * 4), sn((size_t)4096 * half * 4);
    DevBuf kc((size_t)T * kHkv * kDh * 2), vc((size_t)T * kHkv * kDh * 2);
    qb::cuda::fill_random(x.p, (size_t)T * ld, qb::cuda::FillKind::BF16, seed, 1.0f, h.stream);
    qb::cuda::fill_random(cs.p, (size_t)4096 * half, qb::cuda::FillKind::F32, seed + 1, 1.0f, h.stream);
    qb::cuda::fill_random(sn.p, (size_t)4096 * half, qb::cuda::FillKind::F32, seed + 2, 1.0f, h.stream);
    std::vector<int32_t> pos(T), slot(T);
    for (int t = 0; t < T; ++t) {
      pos[t] = h.rng.integer(0, 4095);
      slot[t] = t;
    }
    DevBuf pd = to_dev(pos), sd = to_dev(slot);
    qb::cuda::check(cudaStreamSynchronize(h.stream), "rope bench fill");
    auto launch = [&](int) {
      qb::cuda::rope_qkv_kv_write(x.p, ld, ActDtype::BF16, pd.as<int32_t>(), sd.as<int32_t>(), T, kH, kHkv, kDh,
                                  cs.as<float>(), sn.as<float>(), kc.p, vc.p, kBs, h.stream);
    };
    double us = time_median_us(launch, 3, 15, 10, h.stream);
    // read q|k|v, write q|k back, write k and v to the cache
    double bytes = (double)T * ((double)ld * 2 + (kH + kHkv) * kDh * 2 + 2.0 * kHkv * kDh * 2);
    add_bench_row(h, "rope_qkv_kv_write", "bf16", "T=" + std::to_string(T) + " H=32 Hkv=8 Dh=128", "fused", us, bytes, 0, 0);
  }
}
