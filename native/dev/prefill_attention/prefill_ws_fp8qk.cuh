// v14 (session 18): the warp-specialized prefill attention (kernels/attention/attention_paged_prefill_ws.cuh, v13) over
// an FP8 cache with S = Q K^T on FP8 tensor cores (wgmma m64n128k32 e4m3, both operands K-major codes): each consumer
// quantizes its 64 Q rows per row and head to e4m3 (scale absmax / 448; twin: prefill_main.cu's reference(c, true)), the
// scores take the row's scale in the softmax, K codes go by TMA straight into the stages (the 128-byte swizzle: the
// layout 8-bit wgmma reads), and the producer warpgroup decodes only V into the 16-bit stage P V reads.
// Session 18, H200, bf16, one layer of Llama-3.1-8B's heads (results/gpu-h200-session18): 1 x 2048 173.8 -> 165.2 us,
// 8 x 2048 1314.5 -> 1247.7, 1 x 8192 2231.4 -> 2107.8, 2048-row chunk after 6144 997.1 -> 943.0 (5 % faster than
// v13's FP8 launch, still 40 % slower than the 16-bit cache's 115.8), and its outputs leave check_attention.cc's
// tolerance (worst 2.6-28 x, max abs error up to 0.17 at |out| ~6): Hopper's FP8 tensor cores accumulate the 128-term
// dot products at reduced precision (not fp32), which the fp32-score tolerance does not admit. Not in the product.
// The consumer (ws_consume_fp8qk) is v13's ws_consume with the FP8 Q load and S; the rest is v13's. kPV8 = true is
// v19 (prefill_ws_fp8pv.cuh): P V on FP8 tensor cores too, the producer transposing V codes instead of decoding them.
#pragma once
#include "dev/prefill_attention/prefill_ws_fp8pv.cuh"

namespace qb::cuda::attn::prefill::ws {

#define QB_WS_R64                                                                                                     \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, "   \
  "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "     \
  "%46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
// d[0..63] = A(smem) B(smem)^T (+ d when scale_d), m64n128k32 on e4m3 codes, both K-major (the only layout 8-bit
// wgmma takes).
__device__ __forceinline__ void wgmma_ss128_e4m3(float* d, uint64_t da, uint64_t db, int scale_d) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " QB_WS_R64 ", %64, %65, p, 1, 1;\n}\n"
               : QB_WG_F32(d, 0), QB_WG_F32(d, 32)
               : "l"(da), "l"(db), "r"(scale_d));
}
#undef QB_WS_R64

// S = Q K^T (64 x 128) from e4m3 codes: Q [64][128] and K [128][128] codes, rows of 128 bytes in the 128-byte swizzle;
// k-step ks reads 32 codes (32 bytes into the rows).
__device__ __forceinline__ void start_qk128_e4m3(float* sc, uint32_t q_addr, uint32_t k_addr) {
#pragma unroll
  for (int i = 0; i < 64; ++i) sc[i] = 0.f;
  wg::wg_fence();
#pragma unroll
  for (int ks = 0; ks < DH / 32; ++ks)
    wgmma_ss128_e4m3(sc, desc(q_addr + ks * 32, 16, 1024), desc(k_addr + ks * 32, 16, 1024), ks > 0);
  wg::wg_commit();
}

constexpr int kQ8 = 64 * DH;       // bytes of one consumer's Q codes [64][128]
constexpr int kK8Stage = BN * DH;  // bytes of one K stage of codes [128][128]

// A consumer's 64 Q rows as e4m3 codes in the 128-byte swizzle (rows of 128 bytes), each row and head quantized with
// its own scale (absmax / 448, code = e4m3(q * (1 / scale)): prefill_main.cu's reference(c, true)); rows past the sequence
// as zeros. Two threads per row, 64 values each. Returns the scales of this thread's accumulator rows ra and ra + 8.
template <ActDtype A>
__device__ __forceinline__ void load_q_e4m3(const PfParams& p, int h, int cr0, int cnrows, int c, uint8_t* q8,
                                            int ra, float (&sq_row)[2]) {
  using AT = dev::Act<A>;
  __shared__ float sh_sq[2][64];
  const int t = threadIdx.x - 128 * (c + 1), r = t >> 1, half = t & 1;
  uint4 x[8];
  float amax = 0.f;
  const uint16_t* src = p.q + (size_t)(cr0 + r) * p.ld_q + (size_t)h * DH + half * 64;
#pragma unroll
  for (int k = 0; k < 8; ++k) {
    x[k] = r < cnrows ? dev::ldg16(src + 8 * k) : make_uint4(0, 0, 0, 0);
    const uint16_t* e = reinterpret_cast<const uint16_t*>(&x[k]);
#pragma unroll
    for (int i = 0; i < 8; ++i) amax = fmaxf(amax, fabsf(AT::load(e[i])));
  }
  amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
  const float sq = fp8_scale_from_absmax(amax), inv = inv_scale(sq);
#pragma unroll
  for (int k = 0; k < 8; k += 2) {  // 16 codes: one 16-byte chunk of the row
    uint32_t w[4];
#pragma unroll
    for (int wi = 0; wi < 4; ++wi) {
      const uint16_t* e = reinterpret_cast<const uint16_t*>(&x[k + wi / 2]) + 4 * (wi & 1);
      w[wi] = 0;
#pragma unroll
      for (int i = 0; i < 4; ++i) w[wi] |= (uint32_t)quant_fp8(AT::load(e[i]), inv) << (8 * i);
    }
    const int ch = half * 4 + k / 2;
    *reinterpret_cast<uint4*>(q8 + r * 128 + ((ch ^ (r & 7)) << 4)) = make_uint4(w[0], w[1], w[2], w[3]);
  }
  if (half == 0) sh_sq[c][r] = sq;
  wg::proxy_fence();
  named_sync(2 + c, 128);
  sq_row[0] = sh_sq[c][ra];
  sq_row[1] = sh_sq[c][ra + 8];
}

// A consumer warpgroup of v14: ws_consume (attention_paged_prefill_ws.cuh) with Q and K as e4m3 codes. kPV8 (v19):
// P in e4m3 (softmax_tile_fp8) and P V on FP8 tensor cores over the V^T stage sV.
template <ActDtype A, bool kPV8 = false>
__device__ __forceinline__ void ws_consume_fp8qk(const PfParams& p, const WsBlock& b, int c, uint8_t* sQ, uint8_t* sK,
                                           uint8_t* sV, uint64_t* full, uint64_t* empty, float out_scale) {
  const int lane = threadIdx.x & 31, t = threadIdx.x - 128 * (c + 1), cw = t >> 5;
  const int cr0 = b.r0 + 64 * c, cnrows = min(64, b.nrows - 64 * c);  // this consumer's rows (cnrows may be <= 0)
  constexpr int kKStage = kK8Stage;
  uint8_t* q = sQ + c * kQ8;
  float scale_row[2] = {p.scale_log2, p.scale_log2};
  {
    float sq[2];
    load_q_e4m3<A>(p, b.h, cr0, cnrows, c, q, cw * 16 + (lane >> 2), sq);
    scale_row[0] *= sq[0];
    scale_row[1] *= sq[1];
  }
  wg::BlockWork w;  // this consumer's share, in the layout store_rows reads
  w.h = b.h;
  w.s = b.s;
  w.r0 = cr0;
  w.nrows = cnrows;
  // (selects, not b.pmax[c]: a runtime index would put the block's fields in local memory)
  const int pmax_c = c ? b.pmax[1] : b.pmax[0];
  w.kv_len = pmax_c + 1;
  w.min_pos = c ? b.pmin[1] : b.pmin[0];
  w.nkv = (w.kv_len + BN - 1) / BN;  // 0 when the consumer has no rows
  w.ra = cw * 16 + (lane >> 2);
  w.pos_a = w.ra < cnrows ? __ldg(p.positions + cr0 + w.ra) : -1;
  w.pos_b = w.ra + 8 < cnrows ? __ldg(p.positions + cr0 + w.ra + 8) : -1;
  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  for (int j = 0; j < b.nkv; ++j) {
    const int st = j % kStages;
    tma::mbar_wait(&full[st], (j / kStages) & 1);
    if (j < w.nkv) {
      float sc[64], corr[2];
      start_qk128_e4m3(sc, smem_u32(q), smem_u32(sK + st * kKStage));
      wg::wg_wait<0>();
      if constexpr (kPV8) {
        uint32_t pa[BN / 32][4];
        softmax_tile_fp8<BN>(sc, mrow, lrow, corr, pa, j * BN, w.min_pos, w.pos_a, w.pos_b, scale_row, lane);
        wg::rescale_o(o, corr);
        wg::wg_fence();
        issue_pv128_e4m3(o, pa, smem_u32(sV + st * kVtStage));
      } else {
        uint32_t pa[BN / 16][4];
        wg::softmax_tile<A, BN>(sc, mrow, lrow, corr, pa, j * BN, w.min_pos, w.pos_a, w.pos_b, scale_row, lane);
        wg::rescale_o(o, corr);
        wg::wg_fence();
        issue_pv128<A>(o, pa, smem_u32(sV + st * kStage));
      }
      wg::wg_commit();
      wg::wg_wait<0>();
    }
    if (lane == 0) mbar_arrive(&empty[st]);  // this warp is done with the stage (or never needed it)
  }
  if (cnrows > 0) wg::store_rows<A>(p, w, o, lrow, out_scale);
}

// The kernel: the consumers quantize their Q rows to e4m3 (load_q_e4m3), thread 0 copies
// each tile's K codes by TMA straight into the stage (a box of a page's rows x the head's 128 codes in the 128-byte
// swizzle: the K-major layout 8-bit wgmma reads), and the producer warpgroup decodes only V (copied by TMA into a
// staging buffer) into the 16-bit stage P V reads. A stage's full barrier takes two arrivals: thread 0's with the K
// copy's bytes, and thread 0's again once the producers have decoded V. Shared memory: Q codes 2 x 8 KiB, K stages
// 2 x 16 KiB, 16-bit V stages 2 x 32 KiB, V staging 2 x 16 KiB: 145 KiB. kPV8 (v19): the producers transpose the V
// codes (transpose_v_e4m3) into V^T stages of 16 KiB instead: 113 KiB.
template <bool kPV8>
constexpr size_t kSmemBytesF8Q = 2 * kQ8 + kStages * kK8Stage + kStages * (kPV8 ? kVtStage : kStage) + 2 * kCodeTile + 1024;

template <ActDtype A, GridOrder O, bool kPV8 = false>
__global__ void __launch_bounds__(kThreads, 1)
    prefill_ws_f8q_kernel(PfParams p, const __grid_constant__ CUtensorMap kmap, const __grid_constant__ CUtensorMap vmap) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages], empty[kStages], vcodes[2];
  constexpr int kVStage = kPV8 ? kVtStage : kStage;
  uint8_t* sQ = wg::aligned_smem(smem_raw);  // consumer c's Q codes at sQ + c * kQ8
  uint8_t* sK = sQ + 2 * kQ8;                // K stage s (codes) at sK + s * kK8Stage
  uint8_t* sV = sK + kStages * kK8Stage;     // V stage s (16-bit, or V^T codes with kPV8) at sV + s * kVStage
  uint8_t* sV8 = sV + kStages * kVStage;     // V staging buffer x at sV8 + x * kCodeTile
  if (threadIdx.x == 0) {
    tma::mbar_init(&vcodes[0], 1);
    tma::mbar_init(&vcodes[1], 1);
  }
  WsBlock b;
  if (!ws_setup<O>(p, full, empty, 2, b)) return;
  const int wgi = threadIdx.x / 128;
  if (wgi > 0) {
    ws_consume_fp8qk<A, kPV8>(p, b, wgi - 1, sQ, sK, sV, full, empty, p.v_scale);
    return;
  }
  // ---- producer warpgroup ----
  const int t = threadIdx.x, bs = p.bs, kvh = b.h / (p.H / p.Hkv);
  const int32_t* bt = p.bt + (size_t)b.s * p.max_blocks;
  auto pages = [&](int j) { return min(BN / bs, (b.kv_len - j * BN + bs - 1) / bs); };
  auto copy_v = [&](int j) {  // thread 0: tile j's V codes into staging buffer j & 1
    const int x = j & 1, np = pages(j);
    tma::mbar_expect_tx(&vcodes[x], (uint32_t)np * bs * DH);
    for (int pg = 0; pg < np; ++pg)
      tma::load_2d(smem_u32(sV8 + x * kCodeTile + pg * bs * DH), &vmap, kvh * DH, __ldg(bt + j * BN / bs + pg) * bs,
                   &vcodes[x]);
  };
  if (t == 0 && b.nkv > 0) copy_v(0);
  for (int j = 0; j < b.nkv; ++j) {
    const int st = j % kStages, x = j & 1;
    // staging buffer x ^ 1 was decoded in iteration j - 1 (the producers' barrier below): free for tile j + 1
    if (t == 0 && j + 1 < b.nkv) copy_v(j + 1);
    if (j >= kStages) tma::mbar_wait(&empty[st], ((j / kStages) - 1) & 1);  // both consumers done with tile j - 2
    if (t == 0) {  // K codes straight into the stage (arrival 1 of 2)
      const int np = pages(j);
      tma::mbar_expect_tx(&full[st], (uint32_t)np * bs * DH);
      for (int pg = 0; pg < np; ++pg)
        tma::load_2d(smem_u32(sK + st * kK8Stage + pg * bs * DH), &kmap, kvh * DH, __ldg(bt + j * BN / bs + pg) * bs,
                     &full[st]);
    }
    tma::mbar_wait(&vcodes[x], (j >> 1) & 1);
    uint8_t* vt = sV + st * kVStage;
    if constexpr (kPV8) {
      transpose_v_e4m3(sV8 + x * kCodeTile, vt, b.kv_len - j * BN, t);
    } else {
#pragma unroll 2
      for (int i = t; i < BN * (DH / 16); i += 128) {  // 16 codes per step: two 8-column chunks of the 16-bit tile
        const int r = i / (DH / 16), c16 = i % (DH / 16);
        const int col = 16 * c16, pn = col >> 6, ch = (col & 63) >> 3;
        uint4 lo = make_uint4(0, 0, 0, 0), hi = lo;  // past kv_len (the page's tail, a stale buffer): P is 0, V finite
        if (j * BN + r < b.kv_len) decode16_fp8<A>(*reinterpret_cast<const uint4*>(sV8 + x * kCodeTile + r * DH + col), lo, hi);
        *reinterpret_cast<uint4*>(vt + pn * kPanelN + r * 128 + ((ch ^ (r & 7)) << 4)) = lo;
        *reinterpret_cast<uint4*>(vt + pn * kPanelN + r * 128 + (((ch + 1) ^ (r & 7)) << 4)) = hi;
      }
    }
    wg::proxy_fence();   // the decoded (or transposed) tile to the async proxy the consumers' wgmma read through
    named_sync(4, 128);  // every producer's part (and its reads of staging buffer x) done
    if (t == 0) mbar_arrive(&full[st]);  // arrival 2 of 2
  }
}

// An FP8 cache as TMA copies of K codes see it for 8-bit wgmma: a box of one page's rows x the head's 128 codes in the
// 128-byte swizzle.
inline CUtensorMap code_tensor_map_swizzled(const void* cache, int Hkv, int bs) {
  return tma::tensor_map_2d(cache, 1, (uint64_t)Hkv * DH, (uint64_t)1 << 31, (uint64_t)Hkv * DH, DH, bs, true);
}

// v14; kPV8 = true: v19 (FP8 P V too).
template <ActDtype A, GridOrder O = GridOrder::HeadsInner, bool kPV8 = false>
void launch_ws_f8q(const PfParams& pp, cudaStream_t stream) {
  const char* name = kPV8 ? "paged_attention (warp-specialized prefill, FP8 cache, FP8 Q K^T and P V)"
                          : "paged_attention (warp-specialized prefill, FP8 cache, FP8 Q K^T)";
  require(block_size_ok(pp.bs), name, "the cache block size must be a power of 2 in [8, 128]");
  allow_dynamic_smem<prefill_ws_f8q_kernel<A, O, kPV8>>(kSmemBytesF8Q<kPV8>, name);
  const CUtensorMap km = code_tensor_map_swizzled(pp.kc, pp.Hkv, pp.bs), vm = wg::code_tensor_map(pp.vc, pp.Hkv, pp.bs);
  prefill_ws_f8q_kernel<A, O, kPV8><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytesF8Q<kPV8>, stream>>>(pp, km, vm);
  check_launch(name);
}

}  // namespace qb::cuda::attn::prefill::ws
