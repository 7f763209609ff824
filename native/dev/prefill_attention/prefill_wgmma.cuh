// Variants v8-v12 of the tensor-core prefill attention (issue 18, item 1), beside v7 = the product's wgmma kernel
// (kernels/attention/attention_paged_prefill_wgmma.cuh, whose helpers these use):
//   v8: FlashAttention-3's intra-warpgroup overlap — tile j's S = Q K^T and tile j-1's O += P V are issued together
//       and tile j's softmax runs while P V is still on the tensor cores; K is loaded one tile ahead of V.
//   v9: v8 with P V as four m64n128k16 (both V panels in one descriptor, LBO = the panel stride).
//   v10 (v7's FP8-KV launch in prefill_main): v7 reading an FP8 cache (below).
//   v11: v7 with the K/V tiles loaded by TMA (one thread issues a 2-D tensor copy per cache page and 64-column panel
//       into the 128-byte swizzle, completion on an mbarrier) instead of 128 threads' cp.async and address arithmetic.
//   v12 (v11's FP8-KV launch in prefill_main): v11's copies with v10's decode.
// Session 15 (H200, bf16, Llama-3.1-8B heads, one layer, call 5): v7 / v8 / v9 1 x 2048 186.3 / 190.6 / 188.9 us,
// 8 x 2048 1224 / 1259 / 1226, 1 x 8192 2233 / 2203 / 2180, a 2048-row chunk after 6144 988 / 1001 / 993 — the
// overlap buys at most 2.4 %, so the product keeps v7's simpler loop. v10-v12 first ran in session 16: v11 was the
// product's for 16-bit caches until session 17's warp-specialized kernel (README). (Before the K/V row lookup was
// shared between K and V, v7-v9 took 338-350 us at 1 x 2048: the blocks are bound by the copies' address arithmetic.)
#pragma once
#include "kernels/attention/attention_paged_prefill_wgmma.cuh"
#include "kernels/common/cuda_check.h"

namespace qb::cuda::attn::prefill::wg {

#define QB_WG_R64                                                                                                     \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, "   \
  "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "     \
  "%46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

// d[0..63] += A(registers) B(smem), m64n128k16, B MN-major read transposed (two 64-column panels LBO apart).
template <ActDtype A>
__device__ __forceinline__ void wgmma_rs128(float* d, const uint32_t (&a)[4], uint64_t db) {
#define QB_RS(T)                                                                                                  \
  asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32." T " " QB_WG_R64 ", {%64, %65, %66, %67}, %68, 1, 1, 1, 1;\n" \
               : QB_WG_F32(d, 0), QB_WG_F32(d, 32)                                                                \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db))
  if constexpr (A == ActDtype::BF16) QB_RS("bf16.bf16"); else QB_RS("f16.f16");
#undef QB_RS
}
#undef QB_WG_R64

template <ActDtype A, bool PV128>
__device__ __forceinline__ void issue_pv_v(float* o, const uint32_t (&pa)[BN / 16][4], uint32_t v_addr) {
  if constexpr (PV128) {
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) wgmma_rs128<A>(o, pa[kk], desc(v_addr + kk * 2048, kPanel, 1024));
  } else {
    issue_pv<A>(o, pa, v_addr);
  }
}

template <ActDtype A, bool PV128, GridOrder O>
__global__ void __launch_bounds__(kThreads, 2) prefill_wgmma_pipe_kernel(PfParams p) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t* sQ = aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * kPanel;
  uint8_t* sV = sK + 2 * 2 * kPanel;
  BlockWork w;
  if (!block_setup<O>(p, sQ, w)) return;
  const KvTileLoader<2> ld(p, w);
  constexpr int kRowsPerThread = KvTileLoader<2>::kRows;
  const int lane = threadIdx.x & 31, nkv = w.nkv;
  auto kb = [&](int j) { return sK + (j & 1) * 2 * kPanel; };
  auto vb = [&](int j) { return sV + (j & 1) * 2 * kPanel; };
  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f}, corr[2];
  // K runs one tile ahead of V: iteration j reads K_j and V_{j-1} and prefetches K_{j+1} and V_j into the buffers
  // iteration j-1 finished with. P and the cache rows in pairs of arrays that swap roles every iteration: a copy from
  // one to the other would define P V's input registers while it runs (ptxas then serializes every wgmma).
  uint32_t pa[BN / 16][4], pb[BN / 16][4];
  int ta[kRowsPerThread], tb[kRowsPerThread];
  ld.rows(0, ta);
  ld.copy(kb(0), p.kc, ta);
  cp_async_commit();  // with Q's
  if (nkv > 1) {
    ld.rows(1, tb);
    ld.copy(kb(1), p.kc, tb);
  }
  ld.copy(vb(0), p.vc, ta);
  cp_async_commit();
  cp_async_wait<1>();
  proxy_fence();
  __syncthreads();
  {
    float sc[32];
    start_qk<A>(sc, smem_u32(sQ), smem_u32(kb(0)));
    wg_wait<0>();
    softmax_tile<A>(sc, mrow, lrow, corr, pa, 0, w.min_pos, w.pos_a, w.pos_b, p.scale_log2, lane);
  }
  auto step = [&](int j, const uint32_t(&pin)[BN / 16][4], uint32_t(&pout)[BN / 16][4],
                  const int(&tin)[kRowsPerThread], int(&tout)[kRowsPerThread]) {
    __syncthreads();  // iteration j-1's reads of K_{j-1} and V_{j-2} are done (their wgmma groups waited for)
    if (j + 1 < nkv) {
      ld.rows(j + 1, tout);
      ld.copy(kb(j + 1), p.kc, tout);
    }
    ld.copy(vb(j), p.vc, tin);
    cp_async_commit();
    cp_async_wait<1>();  // K_j and V_{j-1}
    proxy_fence();
    __syncthreads();
    float sc[32];
    start_qk<A>(sc, smem_u32(sQ), smem_u32(kb(j)));
    issue_pv_v<A, PV128>(o, pin, smem_u32(vb(j - 1)));
    wg_commit();
    wg_wait<1>();  // S_j; P_{j-1} V_{j-1} may still run
    softmax_tile<A>(sc, mrow, lrow, corr, pout, j * BN, w.min_pos, w.pos_a, w.pos_b, p.scale_log2, lane);
    wg_wait<0>();
    rescale_o(o, corr);
  };
  for (int j = 1; j < nkv; j += 2) {
    step(j, pa, pb, tb, ta);
    if (j + 1 < nkv) step(j + 1, pb, pa, ta, tb);
  }
  cp_async_wait<0>();  // V_{nkv-1}
  proxy_fence();
  __syncthreads();
  wg_fence();
  if ((nkv - 1) & 1) issue_pv_v<A, PV128>(o, pb, smem_u32(vb(nkv - 1)));  // P_{nkv-1}: pb after an odd iteration
  else issue_pv_v<A, PV128>(o, pa, smem_u32(vb(nkv - 1)));
  wg_commit();
  wg_wait<0>();
  store_rows<A>(p, w, o, lrow);
}

template <ActDtype A, bool PV128, GridOrder O = GridOrder::HeadsInner>
void launch_wgmma_pipe(const PfParams& pp, cudaStream_t stream) {
  allow_dynamic_smem<prefill_wgmma_pipe_kernel<A, PV128, O>>(kSmemBytes, "prefill wgmma pipe (smem attribute)");
  prefill_wgmma_pipe_kernel<A, PV128, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes, stream>>>(pp);
  check_launch("prefill wgmma pipe");
}

// v10: the product's wgmma kernel (v7) with an FP8 cache, as the mma.sync kernel reads one: K/V codes gathered with
// cp.async into double-buffered row-major staging tiles, decoded (exactly: e4m3 -> f16 / bf16) into one swizzled
// 16-bit K and V tile before the products; k_scale folded into the score scale, v_scale into the normalization.
template <ActDtype A, GridOrder O>
__global__ void __launch_bounds__(kThreads, 2) prefill_wgmma_f8_kernel(PfParams p) {
  constexpr int kCodeTile = BN * DH;  // bytes of one tile of codes
  extern __shared__ uint8_t smem_raw[];
  uint8_t* sQ = aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * kPanel;        // one decoded tile
  uint8_t* sV = sK + 2 * kPanel;        // one decoded tile
  uint8_t* sK8 = sV + 2 * kPanel;       // 2 code buffers
  uint8_t* sV8 = sK8 + 2 * kCodeTile;   // 2 code buffers
  BlockWork w;
  if (!block_setup<O>(p, sQ, w)) return;
  const KvTileLoader<1> ld(p, w);
  const int lane = threadIdx.x & 31;
  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  int tok[KvTileLoader<1>::kRows];
  ld.rows(0, tok);
  ld.copy(sK8, p.kc, tok);
  ld.copy(sV8, p.vc, tok);
  cp_async_commit();  // with Q's
  for (int j = 0; j < w.nkv; ++j) {
    const int cbuf = (j & 1) * kCodeTile;
    if (j + 1 < w.nkv) {
      ld.rows(j + 1, tok);
      ld.copy(sK8 + (kCodeTile - cbuf), p.kc, tok);
      ld.copy(sV8 + (kCodeTile - cbuf), p.vc, tok);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // tile j's codes from every thread's copies
#pragma unroll
    for (int it = 0; it < BN * (DH / 16) / kThreads; ++it) {  // decode (zero-filled codes decode to 0)
      const int i = threadIdx.x + it * kThreads;
      const int r = i / (DH / 16), c = i % (DH / 16);
      uint4 lo, hi;
      decode16_fp8<A>(*reinterpret_cast<const uint4*>(sK8 + cbuf + r * DH + c * 16), lo, hi);
      *reinterpret_cast<uint4*>(sK + sw_off(r, 16 * c)) = lo;
      *reinterpret_cast<uint4*>(sK + sw_off(r, 16 * c + 8)) = hi;
      decode16_fp8<A>(*reinterpret_cast<const uint4*>(sV8 + cbuf + r * DH + c * 16), lo, hi);
      *reinterpret_cast<uint4*>(sV + sw_off(r, 16 * c)) = lo;
      *reinterpret_cast<uint4*>(sV + sw_off(r, 16 * c + 8)) = hi;
    }
    proxy_fence();  // the decoded tiles (and Q's cp.async) to the async proxy the wgmma reads through
    __syncthreads();
    attend_tile<A>(o, mrow, lrow, smem_u32(sQ), smem_u32(sK), smem_u32(sV), j * BN, w.min_pos, w.pos_a, w.pos_b,
                   p.scale_log2, lane);
    __syncthreads();  // the next iteration decodes into sK / sV and copies into this code buffer
  }
  store_rows<A>(p, w, o, lrow, p.v_scale);
}

template <ActDtype A, GridOrder O = GridOrder::HeadsInner>
void launch_wgmma_f8(const PfParams& pp, cudaStream_t stream) {
  allow_dynamic_smem<prefill_wgmma_f8_kernel<A, O>>(kSmemBytes, "prefill wgmma f8 (smem attribute)");
  prefill_wgmma_f8_kernel<A, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes, stream>>>(pp);
  check_launch("prefill wgmma f8");
}

// The two buffers' mbarriers (one arrival each: thread 0's expect_tx), visible to the block before any copy.
__device__ __forceinline__ void init_buffer_barriers(uint64_t (&bar)[2]) {
  if (threadIdx.x == 0) {
    tma::mbar_init(&bar[0], 1);
    tma::mbar_init(&bar[1], 1);
    tma::mbar_init_fence();
  }
  __syncthreads();
}

// ---- v11: v7 with the K/V tiles by TMA (the product's for 16-bit caches in session 16) ----
// The cp.async kernel with the K/V copies taken off the 128 threads (their address arithmetic bounds it): thread 0
// issues one TMA copy per cache page and 64-column panel of K and V (wg::kv_tensor_map) completing on the buffer's
// mbarrier. A page's rows past the sequence's last position come along: their K columns are masked, their V rows
// zeroed after the copy (P is 0 there, but the rows may hold NaN). H200, bf16, Llama-3.1-8B heads, one layer, against
// the cp.async kernel (session 16, call 1): 1 x 2048 184 -> 176 us, 8 x 2048 1224 -> 1141, 1 x 8192 2228 -> 2052, a
// 2048-row chunk after 6144 991 -> 929.
inline bool tma_block_size_ok(int bs) { return bs >= 8 && bs <= BN && (bs & (bs - 1)) == 0; }

template <ActDtype A, GridOrder O>
__global__ void __launch_bounds__(kThreads, 2)
    prefill_wgmma_tma_kernel(PfParams p, const __grid_constant__ CUtensorMap kmap, const __grid_constant__ CUtensorMap vmap) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t bar[2];  // one per K/V buffer
  uint8_t* sQ = aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * kPanel;      // 2 buffers
  uint8_t* sV = sK + 2 * 2 * kPanel;  // 2 buffers
  BlockWork w;
  if (!block_setup<O>(p, sQ, w)) return;
  cp_async_commit();  // Q
  if (threadIdx.x == 0) {
    tma::mbar_init(&bar[0], 1);  // one arrival per phase: thread 0's expect_tx
    tma::mbar_init(&bar[1], 1);
    tma::mbar_init_fence();
  }
  __syncthreads();
  const int lane = threadIdx.x & 31, bs = p.bs, kvh = w.h / (p.H / p.Hkv);
  const int32_t* bt = p.bt + (size_t)w.s * p.max_blocks;
  auto issue = [&](int j) {  // thread 0: tile j's pages (those holding a position < kv_len) into buffer j & 1
    const int b = j & 1, first = j * BN;
    const int npages = min(BN / bs, (w.kv_len - first + bs - 1) / bs);
    tma::mbar_expect_tx(&bar[b], (uint32_t)npages * bs * 128 * 2 * 2);  // rows x 128 bytes x 2 panels x K and V
    for (int pg = 0; pg < npages; ++pg) {
      const int tok0 = __ldg(bt + first / bs + pg) * bs;
#pragma unroll
      for (int pn = 0; pn < 2; ++pn) {
        const int off = b * 2 * kPanel + pn * kPanel + pg * bs * 128;
        tma::load_2d(smem_u32(sK + off), &kmap, kvh * DH + pn * 64, tok0, &bar[b]);
        tma::load_2d(smem_u32(sV + off), &vmap, kvh * DH + pn * 64, tok0, &bar[b]);
      }
    }
  };
  if (threadIdx.x == 0) issue(0);
  cp_async_wait<0>();
  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  for (int j = 0; j < w.nkv; ++j) {
    const int buf = (j & 1) * 2 * kPanel;
    if (threadIdx.x == 0 && j + 1 < w.nkv) issue(j + 1);  // the other buffer: released by the last iteration's barrier
    tma::mbar_wait(&bar[j & 1], (j >> 1) & 1);
    if ((j + 1) * BN > w.kv_len) {  // V rows past kv_len: zero
      for (int i = threadIdx.x; i < BN * (DH / 8); i += kThreads) {
        const int r = i / (DH / 8), c = (i % (DH / 8)) * 8;
        if (j * BN + r >= w.kv_len) *reinterpret_cast<uint4*>(sV + buf + sw_off(r, c)) = make_uint4(0, 0, 0, 0);
      }
    }
    proxy_fence();  // Q's cp.async and the zeroed rows to the async proxy the wgmma reads through
    __syncthreads();
    attend_tile<A>(o, mrow, lrow, smem_u32(sQ), smem_u32(sK + buf), smem_u32(sV + buf), j * BN, w.min_pos, w.pos_a,
                   w.pos_b, p.scale_log2, lane);
    __syncthreads();  // this buffer is free for iteration j + 1's copies of tile j + 2
  }
  store_rows<A>(p, w, o, lrow);
}

template <ActDtype A, GridOrder O = GridOrder::HeadsInner>
void launch_wgmma_tma(const PfParams& pp, cudaStream_t stream) {
  require(tma_block_size_ok(pp.bs), "paged_attention (wgmma prefill, TMA)",
          "the cache block size must be a power of 2 in [8, 64]");
  allow_dynamic_smem<prefill_wgmma_tma_kernel<A, O>>(kSmemBytes, "paged_attention (wgmma prefill, TMA: smem attribute)");
  const CUtensorMap km = kv_tensor_map(pp.kc, pp.Hkv, pp.bs), vm = kv_tensor_map(pp.vc, pp.Hkv, pp.bs);
  prefill_wgmma_tma_kernel<A, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes, stream>>>(pp, km, vm);
  check_launch("paged_attention (wgmma prefill, TMA)");
}

// ---- v12: v11's copies of an FP8 cache (wg::code_tensor_map) ----
template <ActDtype A, GridOrder O>
__global__ void __launch_bounds__(kThreads, 2)
    prefill_wgmma_tma_f8_kernel(PfParams p, const __grid_constant__ CUtensorMap kmap, const __grid_constant__ CUtensorMap vmap) {
  constexpr int kCodeTile = BN * DH;  // bytes of one tile of codes
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t bar[2];  // one per staging buffer
  uint8_t* sQ = aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * kPanel;       // one decoded tile
  uint8_t* sV = sK + 2 * kPanel;       // one decoded tile
  uint8_t* sK8 = sV + 2 * kPanel;      // 2 code buffers
  uint8_t* sV8 = sK8 + 2 * kCodeTile;  // 2 code buffers
  BlockWork w;
  if (!block_setup<O>(p, sQ, w)) return;
  cp_async_commit();  // Q
  init_buffer_barriers(bar);
  const int lane = threadIdx.x & 31, bs = p.bs, kvh = w.h / (p.H / p.Hkv);
  const int32_t* bt = p.bt + (size_t)w.s * p.max_blocks;
  auto issue = [&](int j) {  // thread 0: tile j's pages (those holding a position < kv_len) into staging j & 1
    const int b = j & 1, first = j * BN;
    const int npages = min(BN / bs, (w.kv_len - first + bs - 1) / bs);
    tma::mbar_expect_tx(&bar[b], (uint32_t)npages * bs * DH * 2);  // rows x 128 codes x K and V
    for (int pg = 0; pg < npages; ++pg) {
      const int tok0 = __ldg(bt + first / bs + pg) * bs, off = b * kCodeTile + pg * bs * DH;
      tma::load_2d(smem_u32(sK8 + off), &kmap, kvh * DH, tok0, &bar[b]);
      tma::load_2d(smem_u32(sV8 + off), &vmap, kvh * DH, tok0, &bar[b]);
    }
  };
  if (threadIdx.x == 0) issue(0);
  cp_async_wait<0>();
  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  for (int j = 0; j < w.nkv; ++j) {
    const int cbuf = (j & 1) * kCodeTile;
    if (threadIdx.x == 0 && j + 1 < w.nkv) issue(j + 1);  // the other staging buffer: decoded in iteration j - 1
    tma::mbar_wait(&bar[j & 1], (j >> 1) & 1);
#pragma unroll
    for (int it = 0; it < BN * (DH / 16) / kThreads; ++it) {
      const int i = threadIdx.x + it * kThreads;
      const int r = i / (DH / 16), c = i % (DH / 16);
      uint4 lo, hi;
      decode16_fp8<A>(*reinterpret_cast<const uint4*>(sK8 + cbuf + r * DH + c * 16), lo, hi);  // masked past kv_len
      *reinterpret_cast<uint4*>(sK + sw_off(r, 16 * c)) = lo;
      *reinterpret_cast<uint4*>(sK + sw_off(r, 16 * c + 8)) = hi;
      if (j * BN + r < w.kv_len) {
        decode16_fp8<A>(*reinterpret_cast<const uint4*>(sV8 + cbuf + r * DH + c * 16), lo, hi);
      } else {
        lo = hi = make_uint4(0, 0, 0, 0);  // the page's tail or a stale buffer: P is 0 there, V must be finite
      }
      *reinterpret_cast<uint4*>(sV + sw_off(r, 16 * c)) = lo;
      *reinterpret_cast<uint4*>(sV + sw_off(r, 16 * c + 8)) = hi;
    }
    proxy_fence();  // the decoded tiles (and Q's cp.async) to the async proxy the wgmma reads through
    __syncthreads();
    attend_tile<A>(o, mrow, lrow, smem_u32(sQ), smem_u32(sK), smem_u32(sV), j * BN, w.min_pos, w.pos_a, w.pos_b,
                   p.scale_log2, lane);
    __syncthreads();  // the next iteration decodes into sK / sV
  }
  store_rows<A>(p, w, o, lrow, p.v_scale);
}

template <ActDtype A, GridOrder O = GridOrder::HeadsInner>
void launch_wgmma_tma_f8(const PfParams& pp, cudaStream_t stream) {
  require(tma_block_size_ok(pp.bs), "prefill wgmma tma f8",
          "the cache block size must be a power of 2 in [8, 64]");
  allow_dynamic_smem<prefill_wgmma_tma_f8_kernel<A, O>>(kSmemBytes, "prefill wgmma tma f8 (smem attribute)");
  const CUtensorMap km = code_tensor_map(pp.kc, pp.Hkv, pp.bs), vm = code_tensor_map(pp.vc, pp.Hkv, pp.bs);
  prefill_wgmma_tma_f8_kernel<A, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes, stream>>>(pp, km, vm);
  check_launch("prefill wgmma tma f8");
}

}  // namespace qb::cuda::attn::prefill::wg
