// Standalone check + timing of tile configurations of the tensor-core prefill attention: the product's kernel
// template (kernels/attention/attention_paged_prefill.cuh) instantiated with six PrefillTile configurations — v4 is
// the product's tile, v1 the one it replaced. Build and run: dev/prefill_attention/README.md. Nothing in the product
// links this file.
//
// Checks (bf16 activations, Llama-3.1-8B heads: H 32, Hkv 8, Dh 128; 16-bit and FP8 KV caches): fresh random q and
// caches, shuffled block tables, cache slots past each sequence's end and unused table entries pointing to an all-NaN
// page, outputs poisoned; every element against the CPU twin cpu::attention_paged with check_attention.cc's
// tolerance: |gpu - cpu| <= 2 (ulp(|cpu|) + ulp(row-head max |cpu|)) + 2^-9 max_i |v_i - cpu| (P rounded to bf16).
// Cases: one sequence of 333 and of 2048 rows, a 512-row chunk continuing a 1536-position context, and a batch of
// odd lengths (2, 15, 16, 17, 63, 64, 65, 130, 200 rows after 0-40 earlier positions).
// Timing: CUDA graph of back-to-back launches (qbh::time_median_us), median per launch; TFLOP/s counts the causal
// product FLOPs 4 * Dh * H * (sum over rows of their context length).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/attention/attention_paged_prefill.cuh"
#include "dev/prefill_attention/prefill_wgmma.cuh"
#include "kernels/attention/attention_paged_prefill_ws.cuh"
#include "dev/prefill_attention/prefill_ws_fp8qk.cuh"
#include "dev/prefill_attention/prefill_ws_f8_ldg.cuh"
#include "dev/prefill_attention/prefill_ws_pingpong.cuh"
#include "dev/prefill_attention/prefill_ws_overlap.cuh"
#include "dev/prefill_attention/prefill_ws_fp8pv.cuh"
#include "kernels/reference.h"
#include "tools/harness_util.h"

using qb::ActDtype;
using qb::cuda::check;
using qbh::DevBuf;
namespace pf = qb::cuda::attn::prefill;

namespace {

constexpr int H = 32, HKV = 8, DH = 128, BS = 16;
// bf16 by default (the sessions' tables); -DQB_PREFILL_F16 builds the fp16 form, the activations every quantized
// precision of the product runs.
#ifdef QB_PREFILL_F16
constexpr ActDtype ACT = ActDtype::F16;
#else
constexpr ActDtype ACT = ActDtype::BF16;
#endif

using Launch = void (*)(const pf::PfParams&, cudaStream_t);
struct Variant {
  const char* name;
  const char* what;
  Launch f16kv, f8kv;
  bool q8 = false;  // the FP8-KV launch quantizes Q per row and head (checked against reference(c, true))
  bool fp8attn = false;  // the FP8-KV launch is FlashAttention-3's FP8 path (Q and P in e4m3): checked as check_fp8attn says
};
#define QB_VARIANT(NAME, WHAT, BM, BN, NW, MINB, QREG, ORDER)                                              \
  Variant {                                                                                                   \
    NAME, WHAT, pf::launch_prefill<ACT, DH, false, pf::PrefillTile<BM, BN, NW, MINB, QREG>, pf::GridOrder::ORDER>, \
        pf::launch_prefill<ACT, DH, true, pf::PrefillTile<BM, BN, NW, MINB, QREG>, pf::GridOrder::ORDER>          \
  }
// v1-v6 and v7o: blocks in the order before session 16 (one head's tiles, longest first, then the next head's); the
// others every head's longest tiles first (GridOrder in attention_paged_prefill.cuh).
const Variant kVariants[] = {
    QB_VARIANT("v1", "the former product tile: BM 64, BN 64, 4 warps x 1 row tile, Q in registers, 2 blocks/SM", 64, 64, 4, 2, true, TilesInner),
    QB_VARIANT("v2", "BM 128, BN 64, 8 warps x 1, Q in registers, 1 block/SM", 128, 64, 8, 1, true, TilesInner),
    QB_VARIANT("v3", "BM 64, BN 32, 4 warps x 1, Q in registers, 3 blocks/SM", 64, 32, 4, 3, true, TilesInner),
    QB_VARIANT("v4", "BM 128, BN 32, 4 warps x 2 row tiles, Q from smem, 2 blocks/SM (FlashAttention-2's hdim-128 tile; the product's for FP8 KV and head dim 64 until session 16)", 128, 32, 4, 2, false, TilesInner),
    QB_VARIANT("v4h", "v4, every head's longest tiles first (the product's mma.sync kernel since session 16)", 128, 32, 4, 2, false, HeadsInner),
    QB_VARIANT("v5", "BM 128, BN 32, 8 warps x 1, Q in registers, 1 block/SM", 128, 32, 8, 1, true, TilesInner),
    QB_VARIANT("v6", "BM 64, BN 32, 4 warps x 1, Q from smem, 4 blocks/SM", 64, 32, 4, 4, false, TilesInner),
    Variant{"v7o", "wgmma: one warpgroup x 64 rows, BN 64, Q / K / V tiles in the 128-byte swizzle, P from registers, K/V rows looked up once, one head's tiles after another (the product's for 16-bit KV in session 15); FP8 KV: v10o",
            pf::wg::launch_wgmma<ACT, pf::GridOrder::TilesInner>, pf::wg::launch_wgmma_f8<ACT, pf::GridOrder::TilesInner>},
    Variant{"v7", "v7o, every head's longest tiles first (attention_paged_prefill_wgmma.cuh; the product's for block sizes TMA cannot take); FP8 KV: v10, its codes decoded into the 16-bit tiles (prefill_wgmma.cuh)",
            pf::wg::launch_wgmma<ACT>, pf::wg::launch_wgmma_f8<ACT>},
    Variant{"v8", "v7 with FlashAttention-3's intra-warpgroup overlap: S of tile j and P V of tile j-1 issued together, the softmax under P V; K one tile ahead of V (prefill_wgmma.cuh)",
            pf::wg::launch_wgmma_pipe<ACT, false>, nullptr},
    Variant{"v9", "v8 with P V as m64n128k16 (both V panels in one descriptor)",
            pf::wg::launch_wgmma_pipe<ACT, true>, nullptr},
    Variant{"v11o", "v7o with the K/V tiles loaded by TMA: one thread, one 2-D copy per page and 64-column panel, an mbarrier per buffer; FP8 KV: v12o, the codes by TMA, decoded as v10 (prefill_wgmma.cuh)",
            pf::wg::launch_wgmma_tma<ACT, pf::GridOrder::TilesInner>, pf::wg::launch_wgmma_tma_f8<ACT, pf::GridOrder::TilesInner>},
    Variant{"v11", "v11o, every head's longest tiles first: the product's for 16-bit KV in session 16 (prefill_wgmma.cuh); FP8 KV: v12",
            pf::wg::launch_wgmma_tma<ACT>, pf::wg::launch_wgmma_tma_f8<ACT>},
    Variant{"v13", "FlashAttention-3's warp specialization: a producer warpgroup's TMA copies into two 128-position stages shared by two consumer warpgroups of 64 rows (S m64n128, softmax over 128 columns), one 128-row block per SM: the product's for head dim 128 since session 17 (attention_paged_prefill_ws.cuh); FP8 KV: the producer warpgroup decodes the codes into the stages",
            pf::ws::launch_ws<ACT>, pf::ws::launch_ws_f8<ACT>},
    Variant{"v14", "v13 with S = Q K^T on FP8 tensor cores over an FP8 cache (m64n128k32 e4m3): each consumer quantizes its Q rows per row and head, K codes go by TMA straight into the stages, the producer warpgroup decodes only V (prefill_ws_fp8qk.cuh: 5 % faster than v13's FP8 launch in session 18, outside the tolerance: FP8 tensor cores accumulate at reduced precision); 16-bit KV: v13's",
            pf::ws::launch_ws<ACT>, pf::ws::launch_ws_f8q<ACT>, true},
    Variant{"v15", "v13's FP8-cache launch without staging buffers: the producer threads load the codes from L2 into registers (a row's page looked up per row), decode them into the 16-bit stages, and load the next tile's while the stage frees (prefill_ws_f8_ldg.cuh; written in session 18, not yet run); 16-bit KV: v13's",
            pf::ws::launch_ws<ACT>, pf::ws::launch_ws_f8_ldg<ACT>},
    Variant{"v16", "v13 with FlashAttention-3's ping-pong: the consumers take turns on two named barriers to issue S, so one's softmax runs under the other's GEMMs (prefill_ws_pingpong.cuh; session 19, not yet run); FP8 KV: v13's producer with these consumers",
            pf::ws::launch_ws_pp<ACT, false>, pf::ws::launch_ws_pp_f8<ACT, false>},
    Variant{"v16b", "v16 handing the turn over after P V is issued (each consumer's S and P V back to back)",
            pf::ws::launch_ws_pp<ACT, true>, pf::ws::launch_ws_pp_f8<ACT, true>},
    Variant{"v17", "v15's FP8-cache producer (codes from L2 into registers, no staging) with v16's ping-pong consumers (prefill_ws_pingpong.cuh; not yet run); 16-bit KV: v16's",
            pf::ws::launch_ws_pp<ACT, false>, pf::ws::launch_ws_pp_f8_ldg<ACT>},
    Variant{"v18", "v13 with the rest of FlashAttention-3's consumer: S_j issued with P_{j-1} V_{j-1}, tile j's softmax under P V, three stages, setmaxnreg (producer 24 / consumers 240 registers) (prefill_ws_overlap.cuh; session 20, not yet run); FP8 KV: v15's producer (88 / 208)",
            pf::ws::launch_ws_overlap<ACT, false>, pf::ws::launch_ws_overlap_f8<ACT, false>},
    Variant{"v18p", "v18 with v16's ping-pong: the consumers take turns to issue S_j and P_{j-1} V_{j-1}",
            pf::ws::launch_ws_overlap<ACT, true>, pf::ws::launch_ws_overlap_f8<ACT, true>},
    Variant{"v19", "FlashAttention-3's FP8 path over an FP8 cache: v14's FP8 Q K^T and P V as wgmma m64n128k32 e4m3 (P from registers as 2^8 exp(s - m) in e4m3, V codes transposed by the producer into a K-major stage in a permuted k order) — the engine's attentionDtype 'fp8' (prefill_ws_fp8pv.cuh; session 21, not yet run); 16-bit KV: v13's",
            pf::ws::launch_ws<ACT>, pf::ws::launch_ws_f8q<ACT, pf::GridOrder::HeadsInner, true>, false, true},
};

struct Seq {
  int ctx_before, q_len;
};

struct Case {
  std::string name;
  int T = 0, S = 0, max_blocks = 0, num_blocks = 0, ld_q = (H + 2 * HKV) * DH, ld_out = H * DH + 8;
  double flops = 0;
  std::vector<int32_t> seq_starts, positions, bt;
  std::vector<float> q, kc, vc;  // kc / vc: [num_blocks, BS, HKV, DH], values the twin reads
  std::vector<uint8_t> k8, v8;   // FP8 codes (fp8 cases)
  bool fp8 = false;
  float k_scale = 1.0f, v_scale = 1.0f;
};

float ulp_at(float x) {
  x = std::fabs(qb::round_act(x, ACT));
  uint16_t b = qb::f32_to_bf16_bits(x);
  return qb::bf16_bits_to_f32((uint16_t)(b + 1)) - x;
}

// exact_s (FP8 cache only): the scores FP8 tensor cores accumulate are exact — Q entries from {0, +-1/2, +-1, +-2}
// (each row's head quantizes to codes 0, +-112, +-224, +-448), K codes from {0, +-8, +-16, +-32}: every product is a
// multiple of 896 and a 128-term sum stays within 2^11 of them — so an FP8-attention kernel differs from its twin only
// by P's rounding (check_fp8attn).
Case make_case(qbh::Rng& rng, const std::string& name, const std::vector<Seq>& seqs, bool fp8, bool exact_s = false) {
  Case c;
  c.name = name + (fp8 ? (exact_s ? " kv-fp8 exact-S" : " kv-fp8") : "");
  c.fp8 = fp8;
  c.S = (int)seqs.size();
  int need = 0, maxnb = 0;
  c.seq_starts.push_back(0);
  for (auto& s : seqs) {
    const int total = s.ctx_before + s.q_len, nb = (total + BS - 1) / BS;
    need += nb;
    maxnb = std::max(maxnb, nb);
    for (int i = 0; i < s.q_len; ++i) {
      c.positions.push_back(s.ctx_before + i);
      c.flops += 4.0 * DH * H * (s.ctx_before + i + 1);
    }
    c.seq_starts.push_back(c.seq_starts.back() + s.q_len);
  }
  c.T = c.seq_starts.back();
  c.max_blocks = maxnb + 3;
  c.num_blocks = need + 1;
  std::vector<int32_t> pages(c.num_blocks);
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), rng.g);
  const int nan_page = pages.back();
  c.bt.assign((size_t)c.S * c.max_blocks, nan_page);
  const size_t row = (size_t)HKV * DH, page = (size_t)BS * row;
  c.kc = qbh::rand_act(rng, (size_t)c.num_blocks * page, ACT, rng.uniform(0.5f, 2.0f));
  c.vc = qbh::rand_act(rng, (size_t)c.num_blocks * page, ACT, rng.uniform(0.5f, 2.0f));
  const float nan = std::nanf("");
  int next = 0;
  for (int s = 0; s < c.S; ++s) {
    const int total = seqs[s].ctx_before + seqs[s].q_len, nb = (total + BS - 1) / BS;
    for (int k = 0; k < nb; ++k) c.bt[(size_t)s * c.max_blocks + k] = pages[next++];
    for (int p = total; p < nb * BS; ++p) {
      const size_t base = (size_t)c.bt[(size_t)s * c.max_blocks + p / BS] * page + (size_t)(p % BS) * row;
      for (size_t i = 0; i < row; ++i) c.kc[base + i] = c.vc[base + i] = nan;
    }
  }
  for (size_t i = 0; i < page; ++i) c.kc[(size_t)nan_page * page + i] = c.vc[(size_t)nan_page * page + i] = nan;
  if (fp8) {  // codes of values spread over the e4m3 range; the twin reads code * scale
    c.k_scale = 0.37f;
    c.v_scale = 1.9f;
    for (auto* v : {&c.kc, &c.vc}) {
      const float sc = v == &c.kc ? c.k_scale : c.v_scale;
      auto& codes = v == &c.kc ? c.k8 : c.v8;
      codes.resize(v->size());
      for (size_t i = 0; i < v->size(); ++i) {
        float& x = (*v)[i];
        static const float kExactK[] = {0.f, 8.f, -8.f, 16.f, -16.f, 32.f, -32.f};
        const bool exact_k = exact_s && v == &c.kc;
        codes[i] = std::isnan(x) ? 0x7f : qb::f32_to_fp8e4m3(exact_k ? kExactK[rng.g() % 7] : x * 64.0f);
        x = std::isnan(x) ? x : qb::fp8e4m3_to_f32(codes[i]) * sc;
      }
    }
  }
  c.q = qbh::rand_act(rng, (size_t)c.T * c.ld_q, ACT, rng.uniform(0.5f, 3.0f));
  if (exact_s) {
    static const float kExactQ[] = {0.f, 0.5f, -0.5f, 1.f, -1.f, 2.f, -2.f};
    for (float& x : c.q) x = kExactQ[rng.g() % 7];
  }
  return c;
}

struct DevCase {
  DevBuf q, k, v, ss, pos, bt, out;
  pf::PfParams p{};
};

DevCase upload(const Case& c) {
  DevCase d{qbh::act_to_dev(c.q, ACT),
            c.fp8 ? qbh::to_dev(c.k8) : qbh::act_to_dev(c.kc, ACT),
            c.fp8 ? qbh::to_dev(c.v8) : qbh::act_to_dev(c.vc, ACT),
            qbh::to_dev(c.seq_starts),
            qbh::to_dev(c.positions),
            qbh::to_dev(c.bt),
            DevBuf((size_t)c.T * c.ld_out * 2)};
  pf::PfParams& p = d.p;
  p.q = d.q.as<uint16_t>();
  p.ld_q = c.ld_q;
  p.kc = d.k.p;
  p.vc = d.v.p;
  p.v_scale = c.fp8 ? c.v_scale : 1.0f;
  p.seq_starts = d.ss.as<int32_t>();
  p.positions = d.pos.as<int32_t>();
  p.bt = d.bt.as<int32_t>();
  p.max_blocks = c.max_blocks;
  p.T = c.T;
  p.S = c.S;
  p.H = H;
  p.Hkv = HKV;
  p.bs = BS;
  p.scale_log2 = (1.0f / std::sqrt((float)DH)) * 1.4426950408889634f * (c.fp8 ? c.k_scale : 1.0f);
  p.out = d.out.as<uint16_t>();
  p.ld_out = c.ld_out;
  return d;
}

// The CPU twin's output for the case: [T, H, DH]. q8 (v14): the rows of multi-row sequences enter as their e4m3 codes
// times the row-head's scale (absmax / 448, numerics.h's fp8_scale_from_absmax and quant_fp8), the product rounded to
// fp32 (2^-24 relative: far inside the tolerance), then the same twin cpu::attention_paged.
// fp8attn (v19): the twin of FlashAttention-3's FP8 path, cpu::attention_paged with fp8_attn (it quantizes Q itself).
std::vector<float> reference(const Case& c, bool q8 = false, bool fp8attn = false) {
  std::vector<float> q((size_t)c.T * H * DH), ref((size_t)c.T * H * DH);
  for (int t = 0; t < c.T; ++t) std::memcpy(&q[(size_t)t * H * DH], &c.q[(size_t)t * c.ld_q], sizeof(float) * H * DH);
  if (q8)
    for (int s = 0; s < c.S; ++s) {
      if (c.seq_starts[s + 1] - c.seq_starts[s] < 2) continue;
      for (int t = c.seq_starts[s]; t < c.seq_starts[s + 1]; ++t)
        for (int h = 0; h < H; ++h) {
          float* x = &q[((size_t)t * H + h) * DH];
          float amax = 0.0f;
          for (int i = 0; i < DH; ++i) amax = std::max(amax, std::fabs(x[i]));
          const float sq = qb::fp8_scale_from_absmax(amax), inv = qb::inv_scale(sq);
          for (int i = 0; i < DH; ++i) x[i] = qb::fp8e4m3_to_f32(qb::quant_fp8(x[i], inv)) * sq;
        }
    }
  qb::cpu::attention_paged(q.data(), c.kc.data(), c.vc.data(), c.seq_starts.data(), c.S, c.positions.data(),
                           c.bt.data(), c.max_blocks, H, HKV, DH, BS, 1.0f / std::sqrt((float)DH), ref.data(), ACT,
                           fp8attn);
  return ref;
}

// An FP8-attention kernel (v19) against its twin. The kernel rounds each P = 2^8 exp(s - m) to e4m3 at its running
// max m, the twin at the row's final one: each weight p / l may differ by one e4m3 step (2^-4 relative on each side:
// 2^-3), and subnormal codes (P below 2^-6) by 2^-9 / l with l >= 2^8 (n positions: n 2^-17); P V accumulates on FP8
// tensor cores (acc_eps of sum_p p |v| / l <= max |v|). So, per element: |gpu - cpu| <= (2^-3 + n 2^-17 + acc_eps)
// max_p |v_p| + 2 (ulp(|cpu|) + ulp(row-head max |cpu|)) + the scores' term: on exact-S cases none (make_case), on the
// others exp(2 delta) - 1 of max |v| with delta = acc_eps * scale * sum_i |q_i| * max |k| (the FP8 accumulation of
// Q K^T; acc_eps from fp8_accum_probe). Non-finite outputs always fail. Returns the elements outside and the
// non-finite ones (the latter in *nonfinite_out too); det gets the
// worst ratio and the error's RMS over max |v| (a wrong k order or layout shows there as ~0.1-1).
size_t check_fp8attn(const Case& c, const std::vector<float>& ref, const DevBuf& out, bool exact_s, double acc_eps,
                     std::string& det, size_t* nonfinite_out = nullptr) {
  auto got = qbh::act_from_dev(out, (size_t)c.T * c.ld_out, ACT);
  const size_t row = (size_t)HKV * DH;
  const double scale = 1.0 / std::sqrt((double)DH);
  size_t bad = 0, nonfinite = 0, n_el = 0;
  double worst = 0, sq = 0;
  for (int s = 0; s < c.S; ++s) {
    const int len = c.positions[c.seq_starts[s + 1] - 1] + 1;
    // prefix max over positions of max |v| and max |k| per KV head
    std::vector<double> vabs((size_t)len * HKV), kabs((size_t)len * HKV);
    for (int p = 0; p < len; ++p) {
      const size_t slot = (size_t)c.bt[(size_t)s * c.max_blocks + p / BS] * BS + p % BS;
      for (int g = 0; g < HKV; ++g) {
        double va = 0, ka = 0;
        for (int i = 0; i < DH; ++i) {
          va = std::max(va, (double)std::fabs(c.vc[slot * row + (size_t)g * DH + i]));
          ka = std::max(ka, (double)std::fabs(c.kc[slot * row + (size_t)g * DH + i]));
        }
        vabs[(size_t)p * HKV + g] = p ? std::max(vabs[(size_t)(p - 1) * HKV + g], va) : va;
        kabs[(size_t)p * HKV + g] = p ? std::max(kabs[(size_t)(p - 1) * HKV + g], ka) : ka;
      }
    }
    for (int t = c.seq_starts[s]; t < c.seq_starts[s + 1]; ++t)
      for (int h = 0; h < H; ++h) {
        const float* r = &ref[((size_t)t * H + h) * DH];
        const float* g = &got[(size_t)t * c.ld_out + (size_t)h * DH];
        const int kvh = h / (H / HKV), n = c.positions[t] + 1;
        const double vmax = vabs[(size_t)(n - 1) * HKV + kvh];
        double q1 = 0;  // sum |q| after the row's quantization (|code| * scale <= |q| (1 + 2^-4))
        for (int i = 0; i < DH; ++i) q1 += std::fabs(c.q[(size_t)t * c.ld_q + (size_t)h * DH + i]) * (1 + 1.0 / 16);
        const double delta = exact_s ? 0.0 : acc_eps * scale * q1 * kabs[(size_t)(n - 1) * HKV + kvh];
        float rmax = 0;
        for (int i = 0; i < DH; ++i) rmax = std::max(rmax, std::fabs(r[i]));
        const double pterm = (0.125 + n * std::ldexp(1.0, -17) + acc_eps + std::expm1(2 * delta)) * vmax;
        for (int i = 0; i < DH; ++i) {
          if (!std::isfinite(g[i])) { ++nonfinite; continue; }
          const double d = std::fabs((double)g[i] - r[i]), tol = 2.0 * (ulp_at(r[i]) + ulp_at(rmax)) + pterm;
          if (!(d <= tol)) ++bad;
          worst = std::max(worst, d / std::max(tol, 1e-30));
          sq += (d / std::max(vmax, 1e-30)) * (d / std::max(vmax, 1e-30));
          ++n_el;
        }
      }
  }
  char buf[200];
  std::snprintf(buf, sizeof buf, "%zu / %zu outside the tolerance (%s), worst %.3f of it, RMS error / max|v| %.2e, %zu non-finite",
                bad, (size_t)c.T * H * DH, exact_s ? "exact S" : "scores' FP8 accumulation at acc_eps", worst,
                std::sqrt(sq / std::max<size_t>(n_el, 1)), nonfinite);
  det = buf;
  if (nonfinite_out) *nonfinite_out = nonfinite;
  return bad + nonfinite;
}

// Every element within check_attention.cc's tolerance; returns the number outside and a detail line.
size_t compare(const Case& c, const std::vector<float>& ref, const DevBuf& out, std::string& det) {
  auto got = qbh::act_from_dev(out, (size_t)c.T * c.ld_out, ACT);
  const double uP = std::ldexp(1.0, -9);
  size_t bad = 0;
  double worst = 0;
  const size_t row = (size_t)HKV * DH;
  for (int s = 0; s < c.S; ++s) {
    // Prefix max / min of v over the sequence's positions, per KV head and dim: max_i |v_i - out| for any context.
    const int len = c.positions[c.seq_starts[s + 1] - 1] + 1;
    std::vector<float> vmax((size_t)len * row), vmin((size_t)len * row);
    for (int p = 0; p < len; ++p) {
      const float* v = &c.vc[((size_t)c.bt[(size_t)s * c.max_blocks + p / BS] * BS + p % BS) * row];
      for (size_t i = 0; i < row; ++i) {
        vmax[(size_t)p * row + i] = p ? std::max(vmax[(size_t)(p - 1) * row + i], v[i]) : v[i];
        vmin[(size_t)p * row + i] = p ? std::min(vmin[(size_t)(p - 1) * row + i], v[i]) : v[i];
      }
    }
    for (int t = c.seq_starts[s]; t < c.seq_starts[s + 1]; ++t)
      for (int h = 0; h < H; ++h) {
        const float* r = &ref[((size_t)t * H + h) * DH];
        const float* g = &got[(size_t)t * c.ld_out + (size_t)h * DH];
        float rmax = 0;
        for (int i = 0; i < DH; ++i) rmax = std::max(rmax, std::fabs(r[i]));
        const size_t at = (size_t)c.positions[t] * row + (size_t)(h / (H / HKV)) * DH;
        for (int i = 0; i < DH; ++i) {
          const double vdev = std::max((double)vmax[at + i] - r[i], (double)r[i] - vmin[at + i]);
          const double tol = 2.0 * (ulp_at(r[i]) + ulp_at(rmax)) + uP * vdev;
          const double d = std::fabs((double)g[i] - r[i]);
          if (!(d <= tol)) ++bad;
          if (d / std::max(tol, 1e-30) > worst) worst = d / std::max(tol, 1e-30);
        }
      }
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "%zu / %zu outside the tolerance, worst %.2f of it", bad, (size_t)c.T * H * DH, worst);
  det = buf;
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line by line into a log, so a run cut off by a time limit keeps its lines
  bool check_only = false, time_only = false, profile = false;
  int reps = 20;
  double acc_eps = std::ldexp(1.0, -10);  // FP8 tensor cores' accumulation error per unit of sum |a b| (check_fp8attn)
  std::string only;  // comma-separated variant names (v7 also selects its FP8-KV launch v10, v11 selects v12)
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--check-only")) check_only = true;
    else if (!std::strcmp(argv[i], "--time-only")) time_only = true;
    else if (!std::strcmp(argv[i], "--profile")) profile = true;
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--acc-eps") && i + 1 < argc) acc_eps = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--variants") && i + 1 < argc) only = std::string(",") + argv[++i] + ",";
    else {
      std::fprintf(stderr, "usage: prefill_main [--check-only | --time-only | --profile] [--reps N] [--variants v7,v11] [--acc-eps E]\n");
      return 2;
    }
  }
  cudaStream_t st;
  check(cudaStreamCreate(&st), "stream");
  qbh::Rng rng(20261204);
  int fails = 0;
  auto skip = [&](const Variant& v) { return !only.empty() && only.find(std::string(",") + v.name + ",") == std::string::npos; };
  if (profile) {  // one launch of each variant on one 2048-row prefill, 16-bit KV, then FP8 KV where it has one: for ncu
    int launches = 0;
    for (bool f8 : {false, true}) {
      Case c = make_case(rng, "1x2048", {{0, 2048}}, f8);
      DevCase d = upload(c);
      for (const Variant& v : kVariants) {
        const Launch f = f8 ? v.f8kv : v.f16kv;
        if (f && !skip(v)) f(d.p, st), ++launches;
      }
      check(cudaStreamSynchronize(st), "profile run");
    }
    std::printf("profiled %d launches (16-bit KV, then FP8 KV) on 1x2048, %s\n", launches, ACT == ActDtype::F16 ? "fp16" : "bf16");
    return 0;
  }
  if (!time_only) {
    std::vector<std::pair<std::string, std::vector<Seq>>> checks = {
        {"1x333", {{0, 333}}},
        {"1x2048", {{0, 2048}}},
        {"chunk 512 after 1536", {{1536, 512}}},
        {"odd lengths", {{0, 2}, {3, 15}, {0, 16}, {40, 17}, {0, 63}, {7, 64}, {0, 65}, {21, 130}, {0, 200}}},
    };
    for (bool f8 : {false, true})
      for (auto& [name, seqs] : checks) {
        Case c = make_case(rng, name, seqs, f8);
        const auto ref = reference(c);
        std::vector<float> ref_q8, ref_fp8;
        for (const Variant& v : kVariants) {
          if (!(f8 ? v.f8kv : v.f16kv) || skip(v)) continue;  // v8, v9: no FP8-KV launch
          if (f8 && v.q8 && ref_q8.empty()) ref_q8 = reference(c, true);
          DevCase d = upload(c);
          d.out.poison();
          (f8 ? v.f8kv : v.f16kv)(d.p, st);
          check(cudaStreamSynchronize(st), "check run");
          std::string det;
          if (f8 && v.fp8attn) {  // random scores: the accumulation term is a model (acc_eps), so INFO unless non-finite
            if (ref_fp8.empty()) ref_fp8 = reference(c, false, true);
            size_t nf = 0;
            check_fp8attn(c, ref_fp8, d.out, false, acc_eps, det, &nf);
            const bool nonfinite = nf != 0;
            std::printf("%s %-3s %-28s %s\n", nonfinite ? "FAIL" : "INFO", v.name, c.name.c_str(), det.c_str());
            fails += nonfinite;
            continue;
          }
          const size_t bad = compare(c, f8 && v.q8 ? ref_q8 : ref, d.out, det);
          std::printf("%s %-3s %-28s %s\n", bad ? "FAIL" : "PASS", v.name, c.name.c_str(), det.c_str());
          fails += bad != 0;
        }
      }
    // FP8-attention variants on exact-S cases (make_case): everything but P's rounding is exact, so a wrong layout,
    // k order or mask fails here.
    for (auto& [name, seqs] : checks) {
      Case c;
      std::vector<float> ref;
      for (const Variant& v : kVariants) {
        if (!v.fp8attn || !v.f8kv || skip(v)) continue;
        if (ref.empty()) c = make_case(rng, name, seqs, true, true), ref = reference(c, false, true);
        DevCase d = upload(c);
        d.out.poison();
        v.f8kv(d.p, st);
        check(cudaStreamSynchronize(st), "check run");
        std::string det;
        const size_t bad = check_fp8attn(c, ref, d.out, true, acc_eps, det);
        std::printf("%s %-3s %-28s %s\n", bad ? "FAIL" : "PASS", v.name, c.name.c_str(), det.c_str());
        fails += bad != 0;
      }
    }
  }
  if (!check_only) {
    std::printf("\nvariant  case                          us      TFLOP/s   vs first\n");
    std::vector<std::pair<std::string, std::vector<Seq>>> times = {
        {"1x2048", {{0, 2048}}},
        {"8x2048", std::vector<Seq>(8, Seq{0, 2048})},
        {"1x8192", {{0, 8192}}},
        {"chunk 2048 after 6144", {{6144, 2048}}},
    };
    for (bool f8 : {false, true})
      for (auto& [name, seqs] : times) {
        Case c = make_case(rng, name, seqs, f8);
        DevCase d = upload(c);
        double base = 0;
        for (const Variant& v : kVariants) {
          const Launch f = f8 ? v.f8kv : v.f16kv;
          if (!f || skip(v)) continue;
          const double us = qbh::time_median_us([&](int) { f(d.p, st); }, 3, reps, 10, st);
          if (base == 0) base = us;  // the first variant timed (v1 unless --variants)
          std::printf("%-8s %-28s %9.1f %8.1f   %.3f\n", v.name, c.name.c_str(), us, c.flops / (us * 1e6), us / base);
        }
      }
    std::printf("\n");
    for (const Variant& v : kVariants) std::printf("%s: %s\n", v.name, v.what);
  }
  std::printf("%s: %d failing checks (%s)\n", fails ? "FAIL" : "OK", fails, ACT == ActDtype::F16 ? "fp16" : "bf16");
  return fails ? 1 : 0;
}
