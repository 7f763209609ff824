// v19 (session 21, written without a GPU, not yet run): FlashAttention-3's FP8 path over an FP8 cache — both products
// on FP8 tensor cores. v14's S = Q K^T on e4m3 codes (Q quantized per row and head by its consumer, K codes by TMA
// straight into the stage) and, new here, O += P V as wgmma m64n128k32 e4m3 with P from registers and V^T from shared
// memory: the numerics of the engine's attentionDtype 'fp8' (twin: cpu::attention_paged with fp8_attn).
//
// P: p = exp2(s * scale - m + 8) = 2^8 exp(s - max) at the running max m (FA3's Max_offset 8: P in [0, 256]), summed
// unrounded into the row sum, rounded to e4m3 for P V (the twin rounds at the row's final max: one e4m3 step per
// weight apart at most). The 2^8 cancels in O / l.
// Layouts. 8-bit wgmma takes both operands K-major. A (P, registers, m64 x k32 per instruction): thread (warp w, lane
// g * 4 + t) holds rows 16w + g and + 8, k 4t..4t+3 and 16+4t..16+4t+3, four codes per register (mma.sync m16n8k32's
// A layout). S's accumulator gives the thread columns 8n + 2t, + 1 of each 8-column group n instead, so the k order of
// P V is permuted within every 32 positions (a contraction does not care, as long as V^T uses the same order): logical
// k = 16h + 4t + i holds position 16h + 2t + (i & 1) + 8 (i >> 1); register 0 / 1 (rows g / g+8) of k-step kk packs
// groups n = 4kk, 4kk+1, registers 2 / 3 groups 4kk+2, 4kk+3 — no shuffles. B (V^T, [128 dims][128 positions] codes,
// 128-byte swizzle: rows of 128 positions, the layout of a K stage): the producer warpgroup transposes each tile of V
// codes (TMA'd into a staging buffer, as v14) into it in that permuted order, zero past kv_len (the page tail may be
// NaN; P there is 0).
// Transpose: a thread takes 4 dims x 16 positions (16 32-bit staging reads, conflict-free: lane = dim group g) and
// writes four 16-byte chunks, one per dim; in step e lane g writes dim 4g + ((e + g / 2) & 3), so the eight lanes of
// each quarter-warp store hit eight different swizzled chunks (conflict-free; writing dim 4g + e in step e would put
// them on two chunks: 4-way conflicts). fp8_pv_layout_model.py checks both.
// Shared memory: Q codes 2 x 8 KiB, K stages 2 x 16 KiB, V^T stages 2 x 16 KiB, V staging 2 x 16 KiB: 113 KiB.
// This file holds v19's pieces; its consumer and kernel are v14's (prefill_ws_fp8qk.cuh) with kPV8 = true.
#pragma once
#include <cuda_fp8.h>

#include "kernels/attention/attention_paged_prefill_ws.cuh"

namespace qb::cuda::attn::prefill::ws {

constexpr int kVtStage = DH * BN;  // bytes of one V^T stage of codes: [128 dims][128 positions]

#define QB_WS_R64                                                                                                     \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, "   \
  "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "     \
  "%46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
// d[0..63] += A(registers, e4m3) B(smem, e4m3, K-major)^T, m64n128k32.
__device__ __forceinline__ void wgmma_rs128_e4m3(float* d, const uint32_t (&a)[4], uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " QB_WS_R64 ", {%64, %65, %66, %67}, %68, 1, 1, 1;\n"
               : QB_WG_F32(d, 0), QB_WG_F32(d, 32)
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}
#undef QB_WS_R64

// Four fp32 values as e4m3 codes (round to nearest even, saturating), a in the low byte.
__device__ __forceinline__ uint32_t pack4_e4m3(float a, float b, float c, float d) {
  const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
  const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
  return lo | (hi << 16);
}

// softmax_tile (attention_paged_prefill_wgmma.cuh) for the FP8 path: the same mask, running max and corr; P = 2^8
// exp2(x - m) summed into lrow unrounded and packed as e4m3 A fragments in the permuted k order (header).
template <int NB>
__device__ __forceinline__ void softmax_tile_fp8(float* sc, float (&mrow)[2], float (&lrow)[2], float (&corr)[2],
                                                 uint32_t (&pa)[NB / 32][4], int kbase, int min_pos, int pos_a,
                                                 int pos_b, const float (&scale_log2)[2], int lane) {
  const bool need_mask = kbase + NB - 1 > min_pos;
#pragma unroll
  for (int n = 0; n < NB / 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      float x = sc[4 * n + e] * scale_log2[e >> 1];
      if (need_mask) {
        const int key = kbase + n * 8 + (lane & 3) * 2 + (e & 1);
        if (key > (e < 2 ? pos_a : pos_b)) x = -INFINITY;
      }
      sc[4 * n + e] = x;
    }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = -INFINITY;
#pragma unroll
    for (int n = 0; n < NB / 8; ++n) mx = fmaxf(mx, fmaxf(sc[4 * n + 2 * r], sc[4 * n + 2 * r + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float mnew = fmaxf(mrow[r], mx);
    const float mu = mnew == -INFINITY ? 0.f : mnew;
    corr[r] = fast_exp2(mrow[r] - mu);
    mrow[r] = mnew;
    lrow[r] *= corr[r];
    const float m8 = mu - 8.f;  // P = 2^8 exp2(x - mu)
#pragma unroll
    for (int kk = 0; kk < NB / 32; ++kk)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        const int n0 = 4 * kk + 2 * hf;
        const float x0 = fast_exp2(sc[4 * n0 + 2 * r] - m8), x1 = fast_exp2(sc[4 * n0 + 2 * r + 1] - m8);
        const float x2 = fast_exp2(sc[4 * n0 + 4 + 2 * r] - m8), x3 = fast_exp2(sc[4 * n0 + 4 + 2 * r + 1] - m8);
        pa[kk][2 * hf + r] = pack4_e4m3(x0, x1, x2, x3);
        lrow[r] += (x0 + x1) + (x2 + x3);
      }
  }
}

// O += P V over 128 positions: k-step kk reads positions 32kk.. (32 bytes into V^T's rows, permuted as the header says).
__device__ __forceinline__ void issue_pv128_e4m3(float* o, const uint32_t (&pa)[BN / 32][4], uint32_t vt_addr) {
#pragma unroll
  for (int kk = 0; kk < BN / 32; ++kk) wgmma_rs128_e4m3(o, pa[kk], desc(vt_addr + kk * 32, 16, 1024));
}

// Tile j's V codes (staging rows of 128 bytes, position r at r * DH) into the V^T stage, permuted and swizzled; rows at
// or past `valid` as zeros. Called by the 128 producer threads (t = 0..127).
__device__ __forceinline__ void transpose_v_e4m3(const uint8_t* src, uint8_t* vt, int valid, int t) {
#pragma unroll 1
  for (int it = t; it < (DH / 4) * (BN / 16); it += 128) {
    const int g = it & 31, q16 = it >> 5;  // dims 4g..4g+3, positions 16 q16 .. 16 q16 + 15 (V^T chunk q16)
    uint32_t w[16];
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int r = 16 * q16 + i;
      w[i] = r < valid ? *reinterpret_cast<const uint32_t*>(src + r * DH + 4 * g) : 0u;
    }
#pragma unroll
    for (int step = 0; step < 4; ++step) {
      const int e = (step + (g >> 1)) & 3;                            // the dim's byte in the staging words
      const uint32_t sel = (uint32_t)e | ((uint32_t)(e + 4) << 4);  // byte e of x, then byte e of y
      uint32_t c4[4];
#pragma unroll
      for (int tt = 0; tt < 4; ++tt) {  // logical k 4tt..4tt+3 of the chunk: positions 2tt, 2tt+1, 2tt+8, 2tt+9
        const uint32_t lo = __byte_perm(w[2 * tt], w[2 * tt + 1], sel);
        const uint32_t hi = __byte_perm(w[2 * tt + 8], w[2 * tt + 9], sel);
        c4[tt] = __byte_perm(lo, hi, 0x5410);
      }
      const int d = 4 * g + e;
      *reinterpret_cast<uint4*>(vt + d * 128 + ((q16 ^ (d & 7)) << 4)) = make_uint4(c4[0], c4[1], c4[2], c4[3]);
    }
  }
}

}  // namespace qb::cuda::attn::prefill::ws
