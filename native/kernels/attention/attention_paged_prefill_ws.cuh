// The prefill attention for head dim 128 on Hopper (sm_90a): FlashAttention-3's warp-specialized structure; what it
// computes: attention_paged_prefill.cu (the same masking, online softmax in the exp2 domain, P rounded to the act dtype;
// twin cpu::attention_paged). One block of three warpgroups per SM owns BM = 128 rows of one sequence and query head:
//   warpgroup 0, the producer: one thread issues the K/V copies by TMA (a 2-D box per cache page and 64-column panel,
//     wg::kv_tensor_map) into a ring of two stages of BN = 128 positions, each stage completing on its "full"
//     mbarrier, and reuses a stage when both consumers have released it (its "empty" mbarrier, one arrival per
//     consumer warp);
//   warpgroups 1 and 2, the consumers: 64 rows each (Q in the 128-byte swizzle, copied by their own cp.async), per
//     stage S = Q K^T as wgmma m64n128k16 (K-major), the mask and online softmax over 128 columns (softmax_tile with
//     NB = 128), O += P V as two m64n64k16 per 16 keys (P from registers, V read transposed).
// Against the one-warpgroup kernel (attention_paged_prefill_wgmma.cuh: 64 rows per block, two blocks per SM, 64-
// position tiles, copies issued by a consumer thread), each K/V tile feeds 128 rows instead of 64, S and P V run as
// N = 128 instructions (half the issues, the softmax's shuffles and O's rescales per position), and no consumer thread
// issues copies. Not done: the ping-pong of the two consumers on named barriers (FA3 orders their softmax against the
// other's GEMMs) and the intra-warpgroup overlap (native/dev's v8 / v9 did not pay).
// A consumer whose rows need fewer tiles than the block's (its last position earlier) waits for and releases the
// remaining stages without reading them; the V rows of the block's last tile past its last position are zeroed by the
// consumer that reads that tile with the later rows (the page's tail may hold NaN; P there is 0), before either
// consumer reads it. Shared memory: Q 2 x 16 KiB, K and V 2 stages x 32 KiB each: 160 KiB + alignment; one block per SM.
// FP8 cache (launch_ws_f8, below): the whole producer warpgroup decodes the codes (copied by TMA into staging buffers,
// wg::code_tensor_map) into the same 16-bit stages, exactly (e4m3 -> f16 / bf16).
// Cache block sizes: a power of 2 in [8, 128] (a stage holds whole pages); others run the kernels this one replaced.
// H200, bf16, one layer of Llama-3.1-8B's heads (native/dev/prefill_attention v13, session 17), against the product
// before it (16-bit cache: the one-warpgroup kernel with TMA copies; FP8 cache: the mma.sync kernel), µs:
// 1 x 2048 144.0 -> 116.1, 8 x 2048 1102.7 -> 871.7, 1 x 8192 1973.7 -> 1429.3, a 2048-row chunk after 6144 889.0 ->
// 630.2; FP8 cache 207.8 -> 173.9, 1596.7 -> 1304.8, 2896.0 -> 2232.0, 1290.4 -> 991.3.
#pragma once
#include "kernels/attention/attention_paged_prefill_wgmma.cuh"

namespace qb::cuda::attn::prefill::ws {

using wg::DH;
using wg::desc;
using wg::kPanel;  // [64 rows][64 columns] 16-bit, 8 KiB
using wg::sw_off;

constexpr int BM = 128, BN = 128, kStages = 2, kThreads = 384;
constexpr int kPanelN = BN * 128;             // bytes of one [128 rows][64 columns] 16-bit panel of a K / V stage
constexpr int kStage = 2 * kPanelN;           // one K (or V) stage: two panels
constexpr size_t kSmemBytes = 2 * 2 * kPanel + 2 * kStages * kStage + 1024;

#define QB_WS_R64                                                                                                     \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, "   \
  "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "     \
  "%46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

// d[0..63] = A(smem) B(smem)^T (+ d when scale_d), m64n128k16, K-major B of 128 rows.
template <ActDtype A>
__device__ __forceinline__ void wgmma_ss128(float* d, uint64_t da, uint64_t db, int scale_d) {
#define QB_SS(T)                                                                                        \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                             \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." T " " QB_WS_R64 ", %64, %65, p, 1, 1, 0, 0;\n}\n" \
               : QB_WG_F32(d, 0), QB_WG_F32(d, 32)                                                      \
               : "l"(da), "l"(db), "r"(scale_d))
  if constexpr (A == ActDtype::BF16) QB_SS("bf16.bf16"); else QB_SS("f16.f16");
#undef QB_SS
}
#undef QB_WS_R64

// S = Q K^T (64 x 128) into sc[0..63], issued as one group: k-step ks reads 16 columns of panel ks / 4.
template <ActDtype A>
__device__ __forceinline__ void start_qk128(float* sc, uint32_t q_addr, uint32_t k_addr) {
#pragma unroll
  for (int i = 0; i < 64; ++i) sc[i] = 0.f;
  wg::wg_fence();
#pragma unroll
  for (int ks = 0; ks < DH / 16; ++ks) {
    const uint32_t c = (ks & 3) * 32;
    wgmma_ss128<A>(sc, desc(q_addr + (ks >> 2) * kPanel + c, 16, 1024), desc(k_addr + (ks >> 2) * kPanelN + c, 16, 1024),
                   ks > 0);
  }
  wg::wg_commit();
}

// O += P V over 128 positions: k-step kk covers positions 16kk..16kk+15 of both V panels.
template <ActDtype A>
__device__ __forceinline__ void issue_pv128(float* o, const uint32_t (&pa)[BN / 16][4], uint32_t v_addr) {
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf)
      wg::wgmma_rs64<A>(o + 32 * hf, pa[kk], desc(v_addr + hf * kPanelN + kk * 2048, 16, 1024));
}

__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(tma::smem_addr(bar)) : "memory");
}
__device__ __forceinline__ void named_sync(int id, int count) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}

inline bool block_size_ok(int bs) { return bs >= 8 && bs <= BN && (bs & (bs - 1)) == 0; }

// What the block's setup found: sequence s's rows r0 .. r0 + nrows - 1 (consumer c: 64 c ..), the block's cache
// positions 0 .. kv_len - 1 in nkv tiles, each consumer's largest and smallest position (-1 / INT_MAX: no rows).
struct WsBlock {
  int h, s, r0, nrows, kv_len, nkv;
  int pmax[2], pmin[2];
};

// Barrier inits, the tile lookup and the rows' positions, by the whole block. False: the block has no tile.
template <GridOrder O>
__device__ __forceinline__ bool ws_setup(const PfParams& p, uint64_t* full, uint64_t* empty, int full_count,
                                         WsBlock& b) {
  __shared__ int sh_s, sh_tile, sh_pmax[2], sh_pmin[2];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int tile_idx;
  block_coords<O>(b.h, tile_idx);
  if (threadIdx.x == 0) {
    sh_s = -1;
    sh_pmax[0] = sh_pmax[1] = -1;
    sh_pmin[0] = sh_pmin[1] = INT_MAX;
    for (int st = 0; st < kStages; ++st) {
      tma::mbar_init(&full[st], full_count);
      tma::mbar_init(&empty[st], 8);  // lane 0 of each consumer warp
    }
    tma::mbar_init_fence();
  }
  __syncthreads();
  if (warp == 0) find_tile<BM>(p, tile_idx, lane, sh_s, sh_tile);
  __syncthreads();
  b.s = sh_s;
  if (b.s < 0) return false;
  b.r0 = __ldg(p.seq_starts + b.s) + sh_tile * BM;
  b.nrows = min(BM, __ldg(p.seq_starts + b.s + 1) - b.r0);
  for (int i = threadIdx.x; i < b.nrows; i += kThreads) {
    const int pp = __ldg(p.positions + b.r0 + i);
    atomicMax(&sh_pmax[i / 64], pp);
    atomicMin(&sh_pmin[i / 64], pp);
  }
  __syncthreads();
  for (int c = 0; c < 2; ++c) b.pmax[c] = sh_pmax[c], b.pmin[c] = sh_pmin[c];
  b.kv_len = max(b.pmax[0], b.pmax[1]) + 1;
  b.nkv = (b.kv_len + BN - 1) / BN;
  return true;
}

// Zeroes the V rows of stage tile vt (positions j * BN ..) at or past kv_len (16-bit, swizzled); called by `threads`
// threads, t the caller's index among them.
__device__ __forceinline__ void zero_v_tail(uint8_t* vt, int j, int kv_len, int t, int threads) {
  for (int i = t; i < BN * (DH / 8); i += threads) {
    const int r = i / (DH / 8), col = (i % (DH / 8)) * 8;
    if (j * BN + r >= kv_len)
      *reinterpret_cast<uint4*>(vt + (col >> 6) * kPanelN + r * 128 + ((((col & 63) >> 3) ^ (r & 7)) << 4)) =
          make_uint4(0, 0, 0, 0);
  }
}

// A consumer warpgroup (c = 0 / 1, 64 rows each): its Q by cp.async, then every stage of the block in order (waiting
// for it on full, releasing it on empty), attending the tiles its rows need, and its rows' output. kZeroV: the consumer
// zeroes the V tail of the block's last tile itself (16-bit caches: the tile arrives by TMA as the cache holds it);
// else the producer did.
template <ActDtype A, bool kZeroV>
__device__ __forceinline__ void ws_consume(const PfParams& p, const WsBlock& b, int c, uint8_t* sQ, uint8_t* sK,
                                           uint8_t* sV, uint64_t* full, uint64_t* empty, float out_scale) {
  const int lane = threadIdx.x & 31, t = threadIdx.x - 128 * (c + 1), cw = t >> 5;
  const int cr0 = b.r0 + 64 * c, cnrows = min(64, b.nrows - 64 * c);  // this consumer's rows (cnrows may be <= 0)
  uint8_t* q = sQ + c * 2 * kPanel;
  for (int i = t; i < 64 * (DH / 8); i += 128) {  // Q rows, 16-byte chunks, zero past the sequence
    const int r = i / (DH / 8), col = (i % (DH / 8)) * 8;
    const bool v = r < cnrows;
    cp_async16(smem_u32(q + sw_off(r, col)), v ? p.q + (size_t)(cr0 + r) * p.ld_q + (size_t)b.h * DH + col : p.q, v);
  }
  cp_async_commit();
  cp_async_wait<0>();
  wg::proxy_fence();
  named_sync(2 + c, 128);
  wg::BlockWork w;  // this consumer's share, in the layout store_rows reads
  w.h = b.h;
  w.s = b.s;
  w.r0 = cr0;
  w.nrows = cnrows;
  // (selects, not b.pmax[c]: a runtime index would put the block's fields in local memory)
  const int pmax_c = c ? b.pmax[1] : b.pmax[0], pmax_other = c ? b.pmax[0] : b.pmax[1];
  w.kv_len = pmax_c + 1;
  w.min_pos = c ? b.pmin[1] : b.pmin[0];
  w.nkv = (w.kv_len + BN - 1) / BN;  // 0 when the consumer has no rows
  w.ra = cw * 16 + (lane >> 2);
  w.pos_a = w.ra < cnrows ? __ldg(p.positions + cr0 + w.ra) : -1;
  w.pos_b = w.ra + 8 < cnrows ? __ldg(p.positions + cr0 + w.ra + 8) : -1;
  const int nkv_other = (pmax_other + 1 + BN - 1) / BN;
  // The block's last tile: read by both consumers (then consumer 1 zeroes its V tail, both meet on barrier 1), or by
  // one (it zeroes and meets its own warpgroup on barrier 2 + c).
  const bool other_reads_last = nkv_other == b.nkv;
  const bool zeroes = w.nkv == b.nkv && (c == 1 || !other_reads_last);
  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  for (int j = 0; j < b.nkv; ++j) {
    const int st = j % kStages;
    tma::mbar_wait(&full[st], (j / kStages) & 1);
    if (j < w.nkv) {
      if (kZeroV && j == b.nkv - 1 && (j + 1) * BN > b.kv_len) {  // the block's last tile has rows past kv_len
        if (zeroes) {
          zero_v_tail(sV + st * kStage, j, b.kv_len, t, 128);
          wg::proxy_fence();
        }
        if (other_reads_last) named_sync(1, 256);  // both read it: the zeroing before either reads
        else named_sync(2 + c, 128);
      }
      float sc[64], corr[2];
      uint32_t pa[BN / 16][4];
      start_qk128<A>(sc, smem_u32(q), smem_u32(sK + st * kStage));
      wg::wg_wait<0>();
      wg::softmax_tile<A, BN>(sc, mrow, lrow, corr, pa, j * BN, w.min_pos, w.pos_a, w.pos_b, p.scale_log2, lane);
      wg::rescale_o(o, corr);
      wg::wg_fence();
      issue_pv128<A>(o, pa, smem_u32(sV + st * kStage));
      wg::wg_commit();
      wg::wg_wait<0>();
    }
    if (lane == 0) mbar_arrive(&empty[st]);  // this warp is done with the stage (or never needed it)
  }
  if (cnrows > 0) wg::store_rows<A>(p, w, o, lrow, out_scale);
}

// 16-bit cache: the producer is one thread issuing TMA copies straight into the stages.
template <ActDtype A, GridOrder O>
__global__ void __launch_bounds__(kThreads, 1)
    prefill_ws_kernel(PfParams p, const __grid_constant__ CUtensorMap kmap, const __grid_constant__ CUtensorMap vmap) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages], empty[kStages];
  uint8_t* sQ = wg::aligned_smem(smem_raw);  // consumer c's 64 rows at sQ + c * 2 * kPanel
  uint8_t* sK = sQ + 2 * 2 * kPanel;          // stage s at sK + s * kStage
  uint8_t* sV = sK + kStages * kStage;
  WsBlock b;
  if (!ws_setup<O>(p, full, empty, 1, b)) return;  // full: the producer's expect_tx
  const int wgi = threadIdx.x / 128;
  if (wgi > 0) {
    ws_consume<A, true>(p, b, wgi - 1, sQ, sK, sV, full, empty, 1.f);
    return;
  }
  if (threadIdx.x != 0) return;  // ---- producer ----
  const int bs = p.bs, kvh = b.h / (p.H / p.Hkv);
  const int32_t* bt = p.bt + (size_t)b.s * p.max_blocks;
  for (int j = 0; j < b.nkv; ++j) {
    const int st = j % kStages, first = j * BN;
    if (j >= kStages) tma::mbar_wait(&empty[st], ((j / kStages) - 1) & 1);  // both consumers done with tile j - 2
    const int npages = min(BN / bs, (b.kv_len - first + bs - 1) / bs);
    tma::mbar_expect_tx(&full[st], (uint32_t)npages * bs * 128 * 2 * 2);  // rows x 128 bytes x 2 panels x K, V
    for (int pg = 0; pg < npages; ++pg) {
      const int tok0 = __ldg(bt + first / bs + pg) * bs;
#pragma unroll
      for (int pn = 0; pn < 2; ++pn) {
        const int off = st * kStage + pn * kPanelN + pg * bs * 128;
        tma::load_2d(smem_u32(sK + off), &kmap, kvh * DH + pn * 64, tok0, &full[st]);
        tma::load_2d(smem_u32(sV + off), &vmap, kvh * DH + pn * 64, tok0, &full[st]);
      }
    }
  }
}

// FP8 cache (v13's FP8 launch): the producer warpgroup decodes. Thread 0 copies tile j + 1's codes by TMA (a box of a
// page's rows x the head's 128 codes, unswizzled) into a staging buffer while the 128 producer threads decode tile j's
// codes (exactly: e4m3 -> f16 / bf16) into the 16-bit stage the consumers read, V rows past kv_len as zeros, then
// publish it (proxy fence, the producers' barrier, thread 0's arrival on full). k_scale is in scale_log2, v_scale in the
// output's normalization, as the other FP8-cache kernels. Shared memory: the 16-bit layout above plus two staging
// buffers of K and V codes (2 x 32 KiB): 225 KiB.
constexpr int kCodeTile = BN * DH;  // bytes of one tile of codes
constexpr size_t kSmemBytesF8 = kSmemBytes + 2 * 2 * kCodeTile;

template <ActDtype A, GridOrder O>
__global__ void __launch_bounds__(kThreads, 1)
    prefill_ws_f8_kernel(PfParams p, const __grid_constant__ CUtensorMap kmap, const __grid_constant__ CUtensorMap vmap) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages], empty[kStages], codes[2];
  uint8_t* sQ = wg::aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * 2 * kPanel;
  uint8_t* sV = sK + kStages * kStage;
  uint8_t* sK8 = sV + kStages * kStage;  // staging buffer x at sK8 + x * kCodeTile
  uint8_t* sV8 = sK8 + 2 * kCodeTile;
  if (threadIdx.x == 0) {
    tma::mbar_init(&codes[0], 1);
    tma::mbar_init(&codes[1], 1);
  }
  WsBlock b;
  if (!ws_setup<O>(p, full, empty, 1, b)) return;  // full: thread 0's arrival after the producers' barrier
  const int wgi = threadIdx.x / 128;
  if (wgi > 0) {
    ws_consume<A, false>(p, b, wgi - 1, sQ, sK, sV, full, empty, p.v_scale);
    return;
  }
  // ---- producer warpgroup ----
  const int t = threadIdx.x, bs = p.bs, kvh = b.h / (p.H / p.Hkv);
  const int32_t* bt = p.bt + (size_t)b.s * p.max_blocks;
  auto copy_codes = [&](int j) {  // thread 0: tile j's pages into staging buffer j & 1
    const int x = j & 1, first = j * BN;
    const int npages = min(BN / bs, (b.kv_len - first + bs - 1) / bs);
    tma::mbar_expect_tx(&codes[x], (uint32_t)npages * bs * DH * 2);  // rows x 128 codes x K and V
    for (int pg = 0; pg < npages; ++pg) {
      const int tok0 = __ldg(bt + first / bs + pg) * bs, off = x * kCodeTile + pg * bs * DH;
      tma::load_2d(smem_u32(sK8 + off), &kmap, kvh * DH, tok0, &codes[x]);
      tma::load_2d(smem_u32(sV8 + off), &vmap, kvh * DH, tok0, &codes[x]);
    }
  };
  if (t == 0 && b.nkv > 0) copy_codes(0);
  for (int j = 0; j < b.nkv; ++j) {
    const int st = j % kStages, x = j & 1;
    // staging buffer x ^ 1 was decoded in iteration j - 1 (the producers' barrier below): free for tile j + 1
    if (t == 0 && j + 1 < b.nkv) copy_codes(j + 1);
    tma::mbar_wait(&codes[x], (j >> 1) & 1);
    if (j >= kStages) tma::mbar_wait(&empty[st], ((j / kStages) - 1) & 1);  // both consumers done with tile j - 2
    uint8_t* kt = sK + st * kStage;
    uint8_t* vt = sV + st * kStage;
#pragma unroll 2
    for (int i = t; i < BN * (DH / 16); i += 128) {  // 16 codes per step: two 8-column chunks of the 16-bit tile
      const int r = i / (DH / 16), c16 = i % (DH / 16);
      const int col = 16 * c16, pn = col >> 6, ch = (col & 63) >> 3;
      const int o0 = pn * kPanelN + r * 128 + ((ch ^ (r & 7)) << 4), o1 = pn * kPanelN + r * 128 + (((ch + 1) ^ (r & 7)) << 4);
      uint4 lo, hi;
      decode16_fp8<A>(*reinterpret_cast<const uint4*>(sK8 + x * kCodeTile + r * DH + col), lo, hi);  // masked past kv_len
      *reinterpret_cast<uint4*>(kt + o0) = lo;
      *reinterpret_cast<uint4*>(kt + o1) = hi;
      if (j * BN + r < b.kv_len) {
        decode16_fp8<A>(*reinterpret_cast<const uint4*>(sV8 + x * kCodeTile + r * DH + col), lo, hi);
      } else {
        lo = hi = make_uint4(0, 0, 0, 0);  // the page's tail or a stale buffer: P is 0 there, V must be finite
      }
      *reinterpret_cast<uint4*>(vt + o0) = lo;
      *reinterpret_cast<uint4*>(vt + o1) = hi;
    }
    wg::proxy_fence();  // the decoded tile to the async proxy the consumers' wgmma read through
    named_sync(4, 128);  // every producer's part (and its reads of staging buffer x) done
    if (t == 0) mbar_arrive(&full[st]);
  }
}

template <ActDtype A, GridOrder O = GridOrder::HeadsInner>
void launch_ws(const PfParams& pp, cudaStream_t stream) {
  require(block_size_ok(pp.bs), "paged_attention (warp-specialized prefill)", "the cache block size must be a power of 2 in [8, 128]");
  allow_dynamic_smem<prefill_ws_kernel<A, O>>(kSmemBytes, "paged_attention (warp-specialized prefill: smem attribute)");
  const CUtensorMap km = wg::kv_tensor_map(pp.kc, pp.Hkv, pp.bs), vm = wg::kv_tensor_map(pp.vc, pp.Hkv, pp.bs);
  prefill_ws_kernel<A, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes, stream>>>(pp, km, vm);
  check_launch("paged_attention (warp-specialized prefill)");
}

template <ActDtype A, GridOrder O = GridOrder::HeadsInner>
void launch_ws_f8(const PfParams& pp, cudaStream_t stream) {
  require(block_size_ok(pp.bs), "paged_attention (warp-specialized prefill, FP8 cache)", "the cache block size must be a power of 2 in [8, 128]");
  allow_dynamic_smem<prefill_ws_f8_kernel<A, O>>(kSmemBytesF8,
                                                 "paged_attention (warp-specialized prefill, FP8 cache: smem attribute)");
  const CUtensorMap km = wg::code_tensor_map(pp.kc, pp.Hkv, pp.bs), vm = wg::code_tensor_map(pp.vc, pp.Hkv, pp.bs);
  prefill_ws_f8_kernel<A, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytesF8, stream>>>(pp, km, vm);
  check_launch("paged_attention (warp-specialized prefill, FP8 cache)");
}

}  // namespace qb::cuda::attn::prefill::ws
