// RoPE (rotate-half, HF Llama) in place on the q and k parts of the fused QKV rows, then the paged KV-cache write of
// the rotated k and of v. Twin: cpu::rope (q and k) + cpu::kv_cache_write. Each rotated pair is computed as the twin
// does, without FMA contraction: round_act(a*c - b*s), round_act(b*c + a*s), so the result is bit-identical.
// Grid: rows x slices of the row's rotation pairs (so a decode step's one row still spreads over ~20 blocks);
// each slice also copies its share of v. Positions and slots are read from device arrays (graph-safe).
#include "cuda_attention.h"
#include "device_common.cuh"
#include "pdl.h"
#include "scaled_in.cuh"

#include <algorithm>

namespace qb::cuda {
namespace {

constexpr int kThreads = 128;

template <ActDtype A>
__global__ void __launch_bounds__(kThreads)
    rope_kv_kernel(uint16_t* __restrict__ qkv, int ld, const int32_t* __restrict__ positions,
                   const int32_t* __restrict__ slots, int H, int Hkv, int Dh, const float* __restrict__ cos_tab,
                   const float* __restrict__ sin_tab, uint16_t* __restrict__ kc, uint16_t* __restrict__ vc,
                   ScaledIn qin) {
  using AT = dev::Act<A>;
  dev::pdl_wait();
  dev::pdl_trigger();
  const int t = blockIdx.x;
  const int half = Dh / 2;
  const int pos = __ldg(positions + t);
  const int slot = __ldg(slots + t);
  const float* c = cos_tab + (size_t)pos * half;
  const float* s = sin_tab + (size_t)pos * half;
  uint16_t* row = qkv + (size_t)t * ld;
  const size_t kv_row = (size_t)Hkv * Dh;
  const int pairs = (H + Hkv) * half;
  const int stride = gridDim.y * kThreads;
  const float sa = qin.s_a ? dev::scaled_in_row(qin, t) : 0.0f;
  for (int i = blockIdx.y * kThreads + threadIdx.x; i < pairs; i += stride) {
    const int head = i / half, d = i - head * half;
    uint16_t* v = row + (size_t)head * Dh;
    uint16_t ab = v[d], bb = v[d + half];
    if (qin.s_a) {
      ab = dev::scaled_in_bits<A>(ab, sa, qin, head * Dh + d);
      bb = dev::scaled_in_bits<A>(bb, sa, qin, head * Dh + d + half);
    }
    const float a = AT::load(ab), b = AT::load(bb);
    const float cc = __ldg(c + d), ss = __ldg(s + d);
    const uint16_t lo = AT::store(__fsub_rn(__fmul_rn(a, cc), __fmul_rn(b, ss)));
    const uint16_t hi = AT::store(__fadd_rn(__fmul_rn(b, cc), __fmul_rn(a, ss)));
    v[d] = lo;
    v[d + half] = hi;
    if (head >= H && slot >= 0) {
      uint16_t* k = kc + (size_t)slot * kv_row + (size_t)(head - H) * Dh;
      k[d] = lo;
      k[d + half] = hi;
    }
  }
  if (slot >= 0) {
    const uint16_t* vsrc = row + (size_t)(H + Hkv) * Dh;
    uint16_t* vdst = vc + (size_t)slot * kv_row;
    const int vcol = (H + Hkv) * Dh;
    for (int i = blockIdx.y * kThreads + threadIdx.x; i < (int)kv_row; i += stride)
      vdst[i] = qin.s_a ? dev::scaled_in_bits<A>(vsrc[i], sa, qin, vcol + i) : vsrc[i];
  }
}

}  // namespace

void rope_qkv_kv_write(void* qkv, int ld, ActDtype act, const int32_t* positions, const int32_t* slot_mapping, int T,
                       int H, int Hkv, int Dh, const float* cos_tab, const float* sin_tab, void* k_cache,
                       void* v_cache, int block_size, cudaStream_t stream, const ScaledIn& qin) {
  const char* name = "rope_qkv_kv_write";
  require(!qin.s_a || qin.s_w, name, "scaled input needs s_w");
  require(act == ActDtype::F16 || act == ActDtype::BF16, name, "act must be F16 or BF16");
  require(H > 0 && Hkv > 0 && H % Hkv == 0, name, "H must be a positive multiple of Hkv");
  require(Dh > 0 && Dh % 2 == 0, name, "Dh must be positive and even");
  require(ld >= (H + 2 * Hkv) * Dh, name, "ld must hold q | k | v");
  require(block_size > 0, name, "block_size must be positive");
  require(T >= 0, name, "T must be >= 0");
  if (T == 0) return;
  require(qkv && positions && slot_mapping && cos_tab && sin_tab && k_cache && v_cache, name, "null pointer");
  auto* x = static_cast<uint16_t*>(qkv);
  auto* kc = static_cast<uint16_t*>(k_cache);
  auto* vc = static_cast<uint16_t*>(v_cache);
  const int slices = std::min(65535, ((H + Hkv) * (Dh / 2) + kThreads - 1) / kThreads);
  const dim3 grid(T, slices);
  auto k = act == ActDtype::BF16 ? rope_kv_kernel<ActDtype::BF16> : rope_kv_kernel<ActDtype::F16>;
  launch_pdl(name, k, grid, dim3(kThreads), 0, stream, x, ld, positions, slot_mapping, H, Hkv, Dh, cos_tab, sin_tab, kc,
             vc, qin);
  check_launch(name);
}

}  // namespace qb::cuda
