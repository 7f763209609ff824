// Variant v13 of the tensor-core prefill attention: FlashAttention-3's warp-specialized structure for head dim 128 with
// a 16-bit cache. One block of three warpgroups per SM owns BM = 128 rows of one sequence and query head:
//   warpgroup 0, the producer: one thread issues the K/V copies by TMA (a 2-D box per cache page and 64-column panel,
//     as the product's TMA kernel) into a ring of two stages of BN = 128 positions, each stage completing on its
//     "full" mbarrier, and reuses a stage when both consumers have released it (its "empty" mbarrier, one arrival per
//     consumer warp);
//   warpgroups 1 and 2, the consumers: 64 rows each (Q in the 128-byte swizzle, copied by their own cp.async), per
//     stage S = Q K^T as wgmma m64n128k16 (K-major), the mask and online softmax over 128 columns (the product's
//     softmax_tile with NB = 128), O += P V as two m64n64k16 per 16 keys (P from registers, V read transposed).
// Against the product (v11: one warpgroup of 64 rows per block, two blocks per SM, 64-position tiles, copies issued by
// a consumer thread): each K/V tile feeds 128 rows instead of 64 (half the copies and their shared-memory writes per
// row), S and P V run as N = 128 instructions (half the issues, the softmax's shuffles and O's rescale per position),
// and no consumer thread issues copies. Not done here: the ping-pong of the two consumers on named barriers (FA3
// orders their softmax against the other's GEMMs) and the intra-warpgroup overlap (v8 / v9 did not pay).
// Same semantics as the product (what it computes: kernels/attention/attention_paged_prefill.cu). A consumer whose rows
// need fewer tiles than the block's (its last position earlier) waits for and releases the remaining stages without
// reading them; the V rows of the block's last tile past its last position are zeroed by the consumer that reads that
// tile with the later rows (the page's tail may hold NaN; P there is 0), before either consumer reads it.
// Shared memory: Q 2 x 16 KiB, K and V 2 stages x 32 KiB each: 160 KiB + alignment; one block per SM.
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

template <ActDtype A, GridOrder O>
__global__ void __launch_bounds__(kThreads, 1)
    prefill_ws_kernel(PfParams p, const __grid_constant__ CUtensorMap kmap, const __grid_constant__ CUtensorMap vmap) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages], empty[kStages];
  __shared__ int sh_s, sh_tile, sh_pmax[2], sh_pmin[2];
  uint8_t* sQ = wg::aligned_smem(smem_raw);  // consumer c's 64 rows at sQ + c * 2 * kPanel
  uint8_t* sK = sQ + 2 * 2 * kPanel;          // stage s at sK + s * kStage
  uint8_t* sV = sK + kStages * kStage;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int h, tile_idx;
  block_coords<O>(h, tile_idx);
  if (threadIdx.x == 0) {
    sh_s = -1;
    sh_pmax[0] = sh_pmax[1] = -1;
    sh_pmin[0] = sh_pmin[1] = INT_MAX;
    for (int s = 0; s < kStages; ++s) {
      tma::mbar_init(&full[s], 1);   // the producer's expect_tx
      tma::mbar_init(&empty[s], 8);  // lane 0 of each consumer warp
    }
    tma::mbar_init_fence();
  }
  __syncthreads();
  if (warp == 0) find_tile<BM>(p, tile_idx, lane, sh_s, sh_tile);
  __syncthreads();
  const int s = sh_s;
  if (s < 0) return;
  const int r0 = __ldg(p.seq_starts + s) + sh_tile * BM;
  const int nrows = min(BM, __ldg(p.seq_starts + s + 1) - r0);
  for (int i = threadIdx.x; i < nrows; i += kThreads) {
    const int pp = __ldg(p.positions + r0 + i);
    atomicMax(&sh_pmax[i / 64], pp);
    atomicMin(&sh_pmin[i / 64], pp);
  }
  __syncthreads();
  const int kv_len = max(sh_pmax[0], sh_pmax[1]) + 1;
  const int nkv = (kv_len + BN - 1) / BN;
  const int wgi = threadIdx.x / 128;

  if (wgi == 0) {  // ---- producer ----
    if (threadIdx.x != 0) return;
    const int bs = p.bs, kvh = h / (p.H / p.Hkv);
    const int32_t* bt = p.bt + (size_t)s * p.max_blocks;
    for (int j = 0; j < nkv; ++j) {
      const int st = j % kStages, first = j * BN;
      if (j >= kStages) tma::mbar_wait(&empty[st], ((j / kStages) - 1) & 1);  // both consumers done with tile j - 2
      const int npages = min(BN / bs, (kv_len - first + bs - 1) / bs);
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
    return;
  }

  // ---- consumers ----
  const int c = wgi - 1, t = threadIdx.x - 128 * wgi, cw = t >> 5;
  const int cr0 = r0 + 64 * c, cnrows = min(64, nrows - 64 * c);  // this consumer's rows (cnrows may be <= 0)
  uint8_t* q = sQ + c * 2 * kPanel;
  for (int i = t; i < 64 * (DH / 8); i += 128) {  // Q rows, 16-byte chunks, zero past the sequence
    const int r = i / (DH / 8), col = (i % (DH / 8)) * 8;
    const bool v = r < cnrows;
    cp_async16(smem_u32(q + sw_off(r, col)), v ? p.q + (size_t)(cr0 + r) * p.ld_q + (size_t)h * DH + col : p.q, v);
  }
  cp_async_commit();
  cp_async_wait<0>();
  wg::proxy_fence();
  named_sync(2 + c, 128);
  wg::BlockWork w;  // this consumer's share, in the layout store_rows reads
  w.h = h;
  w.s = s;
  w.r0 = cr0;
  w.nrows = cnrows;
  w.kv_len = sh_pmax[c] + 1;
  w.min_pos = sh_pmin[c];
  w.nkv = (w.kv_len + BN - 1) / BN;  // 0 when the consumer has no rows
  w.ra = cw * 16 + (lane >> 2);
  w.pos_a = w.ra < cnrows ? __ldg(p.positions + cr0 + w.ra) : -1;
  w.pos_b = w.ra + 8 < cnrows ? __ldg(p.positions + cr0 + w.ra + 8) : -1;
  const int nkv_other = (sh_pmax[1 - c] + 1 + BN - 1) / BN;
  // The block's last tile: read by both consumers (then consumer 1 zeroes its V tail, both meet on barrier 1), or by
  // one (it zeroes and meets its own warpgroup on barrier 2 + c).
  const bool reads_last = w.nkv == nkv, other_reads_last = nkv_other == nkv;
  const bool zeroes = reads_last && (c == 1 || !other_reads_last);
  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  for (int j = 0; j < nkv; ++j) {
    const int st = j % kStages;
    tma::mbar_wait(&full[st], (j / kStages) & 1);
    if (j < w.nkv) {
      const uint32_t k_addr = smem_u32(sK + st * kStage), v_addr = smem_u32(sV + st * kStage);
      if (j == nkv - 1 && (j + 1) * BN > kv_len) {  // the block's last tile has rows past its last position
        if (zeroes) {
          for (int i = t; i < BN * (DH / 8); i += 128) {
            const int r = i / (DH / 8), col = (i % (DH / 8)) * 8;
            if (j * BN + r >= kv_len)
              *reinterpret_cast<uint4*>(sV + st * kStage + (col >> 6) * kPanelN + r * 128 +
                                        ((((col & 63) >> 3) ^ (r & 7)) << 4)) = make_uint4(0, 0, 0, 0);
          }
          wg::proxy_fence();
        }
        if (other_reads_last) named_sync(1, 256);  // both read it: the zeroing before either reads
        else named_sync(2 + c, 128);
      }
      float sc[64], corr[2];
      uint32_t pa[BN / 16][4];
      start_qk128<A>(sc, smem_u32(q), k_addr);
      wg::wg_wait<0>();
      wg::softmax_tile<A, BN>(sc, mrow, lrow, corr, pa, j * BN, w.min_pos, w.pos_a, w.pos_b, p.scale_log2, lane);
      wg::rescale_o(o, corr);
      wg::wg_fence();
      issue_pv128<A>(o, pa, v_addr);
      wg::wg_commit();
      wg::wg_wait<0>();
    }
    if (lane == 0) mbar_arrive(&empty[st]);  // this warp is done with the stage (or never needed it)
  }
  if (cnrows > 0) wg::store_rows<A>(p, w, o, lrow);
}

template <ActDtype A, GridOrder O = GridOrder::HeadsInner>
void launch_ws(const PfParams& pp, cudaStream_t stream) {
  require(block_size_ok(pp.bs), "prefill ws", "the cache block size must be a power of 2 in [8, 128]");
  static bool attr_set = false;
  if (!attr_set) {
    check(cudaFuncSetAttribute(prefill_ws_kernel<A, O>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kSmemBytes),
          "prefill ws (smem attribute)");
    attr_set = true;
  }
  const CUtensorMap km = wg::kv_tensor_map(pp.kc, pp.Hkv, pp.bs), vm = wg::kv_tensor_map(pp.vc, pp.Hkv, pp.bs);
  prefill_ws_kernel<A, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes, stream>>>(pp, km, vm);
  check_launch("prefill ws");
}

}  // namespace qb::cuda::attn::prefill::ws
