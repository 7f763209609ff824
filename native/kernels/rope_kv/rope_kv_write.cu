// RoPE (rotate-half, HF Llama) in place on the q and k parts of the fused QKV rows, then the paged KV-cache write of
// the rotated k and of v. Twin: cpu::rope (q and k) + cpu::kv_cache_write. Each rotated pair is computed as the twin
// does, without FMA contraction: round_act(a*c - b*s), round_act(b*c + a*s), so the result is bit-identical.
// Grid: rows x slices of the row's rotation pairs (W adjacent pairs per thread, 128 threads per slice: a row of
// Llama-3.1-8B's 40 q and k heads is 3 slices with W = 8); each slice also copies its share of v. Positions and slots are read from device arrays (graph-safe).
// FP8 KV cache (KvCacheFormat::fp8): the cache gets e4m3(x / scale) of the finished act value x (twin:
// cpu::kv_cache_write_fp8, same IEEE division and saturating RNE conversion).
// qin (ScaledIn): bf16 accumulators in qkv (finished in place for q and k), or int32 ones in qin.acc (q and k finished
// and written to qkv; v finished on its way to the cache).
#include "kernels/attention/attention.h"
#include "kernels/common/device_common.cuh"
#include "kernels/common/pdl.h"
#include "kernels/norm_quant/scaled_in.cuh"

#include <algorithm>
#include <type_traits>

namespace qb::cuda {
namespace {

constexpr int kThreads = 128;

// W: adjacent rotation pairs per thread: 8 (16-byte loads / stores of q, k, v, two float4 of cos / sin; needs
// Dh % 16 == 0 and 16-byte aligned rows), 2 (4-byte; Dh % 4 == 0, 4-byte aligned), else 1.
template <int W>
struct Lanes;  // W 16-bit values as one load / store
template <>
struct Lanes<1> { using V = uint16_t; };
template <>
struct Lanes<2> { using V = uint32_t; };
template <>
struct Lanes<8> { using V = uint4; };

// W consecutive floats of a cos / sin table.
template <int W>
__device__ __forceinline__ void load_tab(const float* p, float* out) {
  if constexpr (W == 8) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(p)), b = __ldg(reinterpret_cast<const float4*>(p) + 1);
    out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w, out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
  } else if constexpr (W == 2) {
    const float2 a = __ldg(reinterpret_cast<const float2*>(p));
    out[0] = a.x, out[1] = a.y;
  } else {
    out[0] = __ldg(p);
  }
}

// W finished act values (bits in e) to the cache at dst: as they are, or as FP8 codes of value / scale.
template <ActDtype A, int W, bool F8>
__device__ __forceinline__ void cache_store(void* dst, const uint16_t* e, float scale) {
  if constexpr (F8) {
    uint32_t c[(W + 3) / 4] = {};
#pragma unroll
    for (int w = 0; w < W; ++w)
      c[w / 4] |= (uint32_t)f32_to_fp8e4m3(__fdiv_rn(dev::Act<A>::load(e[w]), scale)) << (8 * (w % 4));
    if constexpr (W == 8) *static_cast<uint2*>(dst) = make_uint2(c[0], c[1]);
    else if constexpr (W == 2) *static_cast<uint16_t*>(dst) = (uint16_t)c[0];
    else *static_cast<uint8_t*>(dst) = (uint8_t)c[0];
  } else {
    *static_cast<typename Lanes<W>::V*>(dst) = *reinterpret_cast<const typename Lanes<W>::V*>(e);
  }
}

// W finished input values at element offset off of the qkv buffer (columns n .. n + W - 1): qkv's act values, or
// qkv's bf16 accumulators finished with qin's scales (per-channel scales as two float4 for W = 8), or qin.acc's int32
// accumulators finished (ScaledIn, cuda_ops.h). Plain loads of qkv: the kernel writes q and k back in place.
template <ActDtype A, int W>
__device__ __forceinline__ typename Lanes<W>::V load_finished(const uint16_t* qkv, size_t off, const ScaledIn& qin,
                                                              float sa, int n) {
  using V = typename Lanes<W>::V;
  V out;
  uint16_t* e = reinterpret_cast<uint16_t*>(&out);
  if (qin.acc) {
    if constexpr (W == 8) {
      out = dev::load_in_8<A>(qkv, off, qin, sa, n);
    } else {
#pragma unroll
      for (int w = 0; w < W; ++w) e[w] = dev::load_in_1<A>(qkv, off + w, qin, sa, n + w);
    }
    return out;
  }
  out = *reinterpret_cast<const V*>(qkv + off);
  if (qin.s_a) {
    if constexpr (W == 8) {
      dev::scaled_in_8<A>(e, sa, qin, n);
    } else {
#pragma unroll
      for (int w = 0; w < W; ++w) e[w] = dev::scaled_in_bits<A>(e[w], sa, qin, n + w);
    }
  }
  return out;
}

template <ActDtype A, int W, bool F8>
__global__ void __launch_bounds__(kThreads)
    rope_kv_kernel(uint16_t* __restrict__ qkv, int ld, const int32_t* __restrict__ positions,
                   const int32_t* __restrict__ slots, int H, int Hkv, int Dh, const float* __restrict__ cos_tab,
                   const float* __restrict__ sin_tab, void* __restrict__ kc, void* __restrict__ vc,
                   ScaledIn qin, KvCacheFormat kvf) {
  using AT = dev::Act<A>;
  using V = typename Lanes<W>::V;
  constexpr int kElt = F8 ? 1 : 2;  // cache bytes per element
  const int t = blockIdx.x;
  const int half = Dh / 2;
  // Before the programmatic-dependent-launch wait (pdl.h) only what no earlier kernel writes: the step's positions /
  // slots (uploaded before the step's first kernel) and the cos / sin tables; the first group's values are loaded.
  const int pos = __ldg(positions + t);
  const int slot = __ldg(slots + t);
  const float* c = cos_tab + (size_t)pos * half;
  const float* s = sin_tab + (size_t)pos * half;
  const int groups = (H + Hkv) * half / W;
  const int i0 = blockIdx.y * kThreads + threadIdx.x;
  float c0[W] = {}, s0[W] = {};
  if (i0 < groups) {
    const int d0 = i0 * W - (i0 * W / half) * half;
    load_tab<W>(c + d0, c0);
    load_tab<W>(s + d0, s0);
  }
  dev::pdl_wait();
  dev::pdl_trigger();
  uint16_t* row = qkv + (size_t)t * ld;
  const size_t kv_row = (size_t)Hkv * Dh;
  const int stride = gridDim.y * kThreads;
  const float sa = qin.s_a ? dev::scaled_in_row(qin, t) : 0.0f;
  for (int i = i0; i < groups; i += stride) {
    const int head = i * W / half, d = i * W - head * half;
    uint16_t* v = row + (size_t)head * Dh;
    const size_t off = (size_t)t * ld + (size_t)head * Dh + d;
    V av = load_finished<A, W>(qkv, off, qin, sa, head * Dh + d);
    V bv = load_finished<A, W>(qkv, off + half, qin, sa, head * Dh + d + half);
    float ce[W], se[W];
    if (i == i0) {
#pragma unroll
      for (int w = 0; w < W; ++w) ce[w] = c0[w], se[w] = s0[w];
    } else {
      load_tab<W>(c + d, ce);
      load_tab<W>(s + d, se);
    }
    uint16_t* ae = reinterpret_cast<uint16_t*>(&av);
    uint16_t* be = reinterpret_cast<uint16_t*>(&bv);
#pragma unroll
    for (int w = 0; w < W; ++w) {
      const float a = AT::load(ae[w]), b = AT::load(be[w]);
      ae[w] = AT::store(__fsub_rn(__fmul_rn(a, ce[w]), __fmul_rn(b, se[w])));
      be[w] = AT::store(__fadd_rn(__fmul_rn(b, ce[w]), __fmul_rn(a, se[w])));
    }
    *reinterpret_cast<V*>(v + d) = av;
    *reinterpret_cast<V*>(v + d + half) = bv;
    if (head >= H && slot >= 0) {
      uint8_t* k = static_cast<uint8_t*>(kc) + ((size_t)slot * kv_row + (size_t)(head - H) * Dh) * kElt;
      cache_store<A, W, F8>(k + d * kElt, ae, kvf.k_scale);
      cache_store<A, W, F8>(k + (d + half) * kElt, be, kvf.k_scale);
    }
  }
  if (slot >= 0) {
    uint8_t* vdst = static_cast<uint8_t*>(vc) + (size_t)slot * kv_row * kElt;
    const int vcol = (H + Hkv) * Dh;
    for (int i = blockIdx.y * kThreads + threadIdx.x; i < (int)kv_row / W; i += stride) {
      const V x = load_finished<A, W>(qkv, (size_t)t * ld + (size_t)vcol + (size_t)i * W, qin, sa, vcol + i * W);
      cache_store<A, W, F8>(vdst + (size_t)i * W * kElt, reinterpret_cast<const uint16_t*>(&x), kvf.v_scale);
    }
  }
}

}  // namespace

void rope_qkv_kv_write(void* qkv, int ld, ActDtype act, const int32_t* positions, const int32_t* slot_mapping, int T,
                       int H, int Hkv, int Dh, const float* cos_tab, const float* sin_tab, void* k_cache,
                       void* v_cache, int block_size, cudaStream_t stream, const ScaledIn& qin,
                       const KvCacheFormat& kv) {
  const char* name = "rope_qkv_kv_write";
  require(!qin.s_a || qin.s_w, name, "scaled input needs s_w");
  require(!qin.acc || (qin.s_a && (uintptr_t)qin.acc % 16 == 0), name,
          "int32 accumulators need s_a and 16-byte alignment");
  require(act == ActDtype::F16 || act == ActDtype::BF16, name, "act must be F16 or BF16");
  require(H > 0 && Hkv > 0 && H % Hkv == 0, name, "H must be a positive multiple of Hkv");
  require(Dh > 0 && Dh % 2 == 0, name, "Dh must be positive and even");
  require(ld >= (H + 2 * Hkv) * Dh, name, "ld must hold q | k | v");
  require(block_size > 0, name, "block_size must be positive");
  require(T >= 0, name, "T must be >= 0");
  require(!kv.fp8 || (kv.k_scale > 0.f && kv.v_scale > 0.f), name, "FP8 KV scales must be positive");
  if (T == 0) return;
  require(qkv && positions && slot_mapping && cos_tab && sin_tab && k_cache && v_cache, name, "null pointer");
  auto* x = static_cast<uint16_t*>(qkv);
  auto aligned = [&](size_t a) {
    return (uintptr_t)qkv % a == 0 && (uintptr_t)k_cache % a == 0 && (uintptr_t)v_cache % a == 0;
  };
  const bool w8 = Dh % 16 == 0 && ld % 8 == 0 && aligned(16);
  const bool w2 = Dh % 4 == 0 && ld % 2 == 0 && aligned(4);
  const int W = w8 ? 8 : w2 ? 2 : 1;
  const int slices = std::min(65535, ((H + Hkv) * (Dh / 2) / W + kThreads - 1) / kThreads);
  const dim3 grid(T, slices);
  using K = decltype(&rope_kv_kernel<ActDtype::F16, 2, false>);
  const K table[2][3][2] = {
      {{rope_kv_kernel<ActDtype::F16, 1, false>, rope_kv_kernel<ActDtype::F16, 1, true>},
       {rope_kv_kernel<ActDtype::F16, 2, false>, rope_kv_kernel<ActDtype::F16, 2, true>},
       {rope_kv_kernel<ActDtype::F16, 8, false>, rope_kv_kernel<ActDtype::F16, 8, true>}},
      {{rope_kv_kernel<ActDtype::BF16, 1, false>, rope_kv_kernel<ActDtype::BF16, 1, true>},
       {rope_kv_kernel<ActDtype::BF16, 2, false>, rope_kv_kernel<ActDtype::BF16, 2, true>},
       {rope_kv_kernel<ActDtype::BF16, 8, false>, rope_kv_kernel<ActDtype::BF16, 8, true>}}};
  const K k = table[act == ActDtype::BF16][w8 ? 2 : w2 ? 1 : 0][kv.fp8];
  launch_pdl(name, k, grid, dim3(kThreads), 0, stream, x, ld, positions, slot_mapping, H, Hkv, Dh, cos_tab, sin_tab,
             k_cache, v_cache, qin, kv);
  check_launch(name);
}

}  // namespace qb::cuda
