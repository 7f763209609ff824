// RoPE + KV-cache write variants (session 20, not yet run), against the product's rope_qkv_kv_write
// (kernels/rope_kv/rope_kv_write.cu, W = 8: 16-byte pieces).
// Why: the product's kernel moves ~24 KB a row (q, k in place; k, v into the cache) and took 26.2 µs for a 2048-token
// prefill (~1.3 TB/s) and 13.9 µs at batch 800 (session 14's ncu). Its grid is rows x 3 slices of 128 threads for
// Llama-3.1-8B's 320 pair groups a row (64 threads of the third slice idle), and the first slice's threads also copy
// the row's v (128 pieces) after their rotation, so those threads run twice as long.
// Here a block of R rows has one thread per task: the 320 pair groups and then the 128 v pieces of a row (448 threads
// for Llama-3.1-8B), and each thread issues its loads for all R rows before any arithmetic. Same arithmetic as the
// product element by element (round(a c - b s), round(b c + a s) without contraction; FP8 cache e4m3(x / scale) with
// the IEEE division): bit-identical outputs.
#pragma once
#include "kernels/common/device_common.cuh"
#include "kernels/common/pdl.h"
#include "kernels/cuda_ops.h"
#include "kernels/norm_quant/scaled_in.cuh"

namespace qb::cuda::devx {

// 8 finished act values to the cache at dst: as they are, or FP8 codes of value / scale (the product's cache_store).
template <ActDtype A, bool F8>
__device__ __forceinline__ void cache_store8(uint8_t* dst, const uint4& v, float scale) {
  if constexpr (F8) {
    const uint16_t* e = reinterpret_cast<const uint16_t*>(&v);
    uint32_t c[2] = {0, 0};
#pragma unroll
    for (int w = 0; w < 8; ++w)
      c[w / 4] |= (uint32_t)f32_to_fp8e4m3(__fdiv_rn(dev::Act<A>::load(e[w]), scale)) << (8 * (w % 4));
    *reinterpret_cast<uint2*>(dst) = make_uint2(c[0], c[1]);
  } else {
    *reinterpret_cast<uint4*>(dst) = v;
  }
}

// The product's load_finished for W = 8.
template <ActDtype A>
__device__ __forceinline__ uint4 load_finished8(const uint16_t* qkv, size_t off, const ScaledIn& qin, float sa, int n) {
  if (qin.acc) return dev::load_in_8<A>(qkv, off, qin, sa, n);
  uint4 out = *reinterpret_cast<const uint4*>(qkv + off);
  if (qin.s_a) dev::scaled_in_8<A>(reinterpret_cast<uint16_t*>(&out), sa, qin, n);
  return out;
}

// Block: R rows from blockIdx.x * R; thread i < groups: pair group i (8 adjacent pairs of one q / k head), else v piece
// i - groups. Dh % 16 == 0, rows 16-byte aligned.
template <ActDtype A, bool F8, int R>
__global__ void rope_rows_kernel(uint16_t* __restrict__ qkv, int ld, const int32_t* __restrict__ positions,
                                 const int32_t* __restrict__ slots, int T, int H, int Hkv, int Dh,
                                 const float* __restrict__ cos_tab, const float* __restrict__ sin_tab,
                                 void* __restrict__ kc, void* __restrict__ vc, ScaledIn qin, KvCacheFormat kvf) {
  using AT = dev::Act<A>;
  constexpr int kElt = F8 ? 1 : 2;
  const int half = Dh / 2;
  const int groups = (H + Hkv) * half / 8;
  const int vpieces = Hkv * Dh / 8;
  const int i = threadIdx.x;
  const int t0 = blockIdx.x * R;
  const size_t kv_row = (size_t)Hkv * Dh;
  if (i < groups) {
    const int head = i * 8 / half, d = i * 8 - head * half;
    int pos[R], slot[R];
    float ce[R][8], se[R][8];
#pragma unroll
    for (int r = 0; r < R; ++r) {  // metadata and tables: nothing an earlier kernel writes (before the wait)
      const int t = min(t0 + r, T - 1);
      pos[r] = __ldg(positions + t);
      slot[r] = t0 + r < T ? __ldg(slots + t) : -1;
      const float4* c = reinterpret_cast<const float4*>(cos_tab + (size_t)pos[r] * half + d);
      const float4* s = reinterpret_cast<const float4*>(sin_tab + (size_t)pos[r] * half + d);
      const float4 c0 = __ldg(c), c1 = __ldg(c + 1), s0 = __ldg(s), s1 = __ldg(s + 1);
      ce[r][0] = c0.x, ce[r][1] = c0.y, ce[r][2] = c0.z, ce[r][3] = c0.w, ce[r][4] = c1.x, ce[r][5] = c1.y, ce[r][6] = c1.z, ce[r][7] = c1.w;
      se[r][0] = s0.x, se[r][1] = s0.y, se[r][2] = s0.z, se[r][3] = s0.w, se[r][4] = s1.x, se[r][5] = s1.y, se[r][6] = s1.z, se[r][7] = s1.w;
    }
    dev::pdl_wait();
    dev::pdl_trigger();
    uint4 av[R], bv[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (t0 + r >= T) break;
      const int t = t0 + r;
      const float sa = qin.s_a ? dev::scaled_in_row(qin, t) : 0.0f;
      const size_t off = (size_t)t * ld + (size_t)head * Dh + d;
      av[r] = load_finished8<A>(qkv, off, qin, sa, head * Dh + d);
      bv[r] = load_finished8<A>(qkv, off + half, qin, sa, head * Dh + d + half);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (t0 + r >= T) break;
      const int t = t0 + r;
      uint16_t* ae = reinterpret_cast<uint16_t*>(&av[r]);
      uint16_t* be = reinterpret_cast<uint16_t*>(&bv[r]);
#pragma unroll
      for (int w = 0; w < 8; ++w) {
        const float a = AT::load(ae[w]), b = AT::load(be[w]);
        ae[w] = AT::store(__fsub_rn(__fmul_rn(a, ce[r][w]), __fmul_rn(b, se[r][w])));
        be[w] = AT::store(__fadd_rn(__fmul_rn(b, ce[r][w]), __fmul_rn(a, se[r][w])));
      }
      uint16_t* v = qkv + (size_t)t * ld + (size_t)head * Dh;
      *reinterpret_cast<uint4*>(v + d) = av[r];
      *reinterpret_cast<uint4*>(v + d + half) = bv[r];
      if (head >= H && slot[r] >= 0) {
        uint8_t* k = static_cast<uint8_t*>(kc) + ((size_t)slot[r] * kv_row + (size_t)(head - H) * Dh) * kElt;
        cache_store8<A, F8>(k + d * kElt, av[r], kvf.k_scale);
        cache_store8<A, F8>(k + (d + half) * kElt, bv[r], kvf.k_scale);
      }
    }
  } else if (i < groups + vpieces) {
    const int pv = i - groups;
    int slot[R];
#pragma unroll
    for (int r = 0; r < R; ++r) slot[r] = t0 + r < T ? __ldg(slots + t0 + r) : -1;
    dev::pdl_wait();
    dev::pdl_trigger();
    const int vcol = (H + Hkv) * Dh + pv * 8;
    uint4 x[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (slot[r] < 0) continue;
      const int t = t0 + r;
      const float sa = qin.s_a ? dev::scaled_in_row(qin, t) : 0.0f;
      x[r] = load_finished8<A>(qkv, (size_t)t * ld + vcol, qin, sa, vcol);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (slot[r] < 0) continue;
      cache_store8<A, F8>(static_cast<uint8_t*>(vc) + ((size_t)slot[r] * kv_row + (size_t)pv * 8) * kElt, x[r], kvf.v_scale);
    }
  } else {
    dev::pdl_wait();
    dev::pdl_trigger();
  }
}

// Same contract as qb::cuda::rope_qkv_kv_write (Dh % 16 == 0, 16-byte aligned rows and caches).
template <ActDtype A, int R>
void rope_rows(void* qkv, int ld, const int32_t* positions, const int32_t* slots, int T, int H, int Hkv, int Dh,
               const float* cos_tab, const float* sin_tab, void* kc, void* vc, cudaStream_t stream, const ScaledIn& qin,
               const KvCacheFormat& kv) {
  const char* name = R == 1 ? "rope v1 (a thread per task)" : "rope v2 (a thread per task, rows per block)";
  require(Dh % 16 == 0 && ld % 8 == 0, name, "Dh a multiple of 16, ld of 8");
  if (T <= 0) return;
  const int threads = ((H + Hkv) * (Dh / 2) / 8 + Hkv * Dh / 8 + 31) / 32 * 32;
  require(threads <= 1024, name, "at most 1024 tasks a row");
  auto k = kv.fp8 ? rope_rows_kernel<A, true, R> : rope_rows_kernel<A, false, R>;
  launch_pdl(name, k, dim3((T + R - 1) / R), dim3(threads), 0, stream, static_cast<uint16_t*>(qkv), ld, positions, slots, T,
             H, Hkv, Dh, cos_tab, sin_tab, kc, vc, qin, kv);
  check_launch(name);
}

}  // namespace qb::cuda::devx
