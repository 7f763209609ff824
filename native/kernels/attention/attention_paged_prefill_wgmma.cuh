// The prefill attention on Hopper's warpgroup MMA (wgmma) for head dim 128 with a 16-bit KV cache; what it computes:
// attention_paged_prefill.cu (the same masking, online softmax in the exp2 domain and P rounded to the act dtype as
// the mma.sync kernel and its CPU twin cpu::attention_paged).
//
// One warpgroup (128 threads) per block owns BM = 64 consecutive rows of one sequence and query head; per BN = 64
// cache positions: S = Q K^T as eight wgmma m64n64k16 with both operands in shared memory (K-major, 128-byte
// swizzle), the mask and online softmax on the accumulators in registers, then O += P V as wgmma m64n64k16 with P from
// registers and V read transposed from shared memory (MN-major), O in two 64-column halves. K/V tiles, double-
// buffered, come from the paged cache by cp.async (each thread copies one 16-byte column chunk of 8 rows and looks
// their cache rows up once for K and V). Two blocks per SM. The tile lookup and the block order (every head's heaviest
// tiles first) are the mma.sync kernel's find_tile / block_coords. The product runs it for cache block sizes the
// warp-specialized kernel cannot take (attention_paged_prefill_ws.cuh, built on the helpers here, as are native/dev/
// prefill_attention's v8-v12: FlashAttention-3's softmax-under-P V overlap, which did not pay; TMA copies (v11, the
// product's in session 16); an FP8 cache, which lost to the mma.sync kernel — hence KvTileLoader's 1-byte form).
#pragma once
#include <climits>

#include "kernels/attention/attention_paged_prefill.cuh"
#include "kernels/common/tma.cuh"

namespace qb::cuda::attn::prefill::wg {

constexpr int BM = 64, BN = 64, DH = 128, kThreads = 128;
constexpr int kPanel = 64 * 128;  // bytes of one [64 rows][64 columns] 16-bit panel in the 128-byte swizzle

// Byte offset of (row, col) in a tile of two panels (columns 0-63, 64-127): 16-byte chunk col/8 XOR row%8.
__device__ __forceinline__ int sw_off(int row, int col) {
  return (col >> 6) * kPanel + row * 128 + ((((col & 63) >> 3) ^ (row & 7)) << 4) + ((col & 7) << 1);
}

// A shared-memory matrix descriptor, 128-byte swizzle (native/dev/wgmma_probe checks the LBO / SBO encodings).
__device__ __forceinline__ uint64_t desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return (uint64_t)((addr >> 4) & 0x3FFF) | ((uint64_t)((lbo >> 4) & 0x3FFF) << 16) |
         ((uint64_t)((sbo >> 4) & 0x3FFF) << 32) | ((uint64_t)1 << 62);
}

#define QB_WG_F4(d, i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
#define QB_WG_F32(d, i)                                                                                    \
  QB_WG_F4(d, i), QB_WG_F4(d, i + 4), QB_WG_F4(d, i + 8), QB_WG_F4(d, i + 12), QB_WG_F4(d, i + 16),        \
      QB_WG_F4(d, i + 20), QB_WG_F4(d, i + 24), QB_WG_F4(d, i + 28)
#define QB_WG_R32                                                                                                     \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, "   \
  "%24, %25, %26, %27, %28, %29, %30, %31}"

// d[0..31] += A(smem) B(smem)^T, m64n64k16, K-major B; scale_d 0 overwrites d.
template <ActDtype A>
__device__ __forceinline__ void wgmma_ss(float* d, uint64_t da, uint64_t db, int scale_d) {
#define QB_SS(T)                                                                                        \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                             \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." T " " QB_WG_R32 ", %32, %33, p, 1, 1, 0, 0;\n}\n" \
               : QB_WG_F32(d, 0)                                                                        \
               : "l"(da), "l"(db), "r"(scale_d))
  if constexpr (A == ActDtype::BF16) QB_SS("bf16.bf16"); else QB_SS("f16.f16");
#undef QB_SS
}

// d[0..31] += A(registers) B(smem), m64n64k16, B MN-major read transposed.
template <ActDtype A>
__device__ __forceinline__ void wgmma_rs64(float* d, const uint32_t (&a)[4], uint64_t db) {
#define QB_RS(T)                                                                                                  \
  asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32." T " " QB_WG_R32 ", {%32, %33, %34, %35}, %36, 1, 1, 1, 1;\n" \
               : QB_WG_F32(d, 0)                                                                                  \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db))
  if constexpr (A == ActDtype::BF16) QB_RS("bf16.bf16"); else QB_RS("f16.f16");
#undef QB_RS
}

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wg_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// cp.async writes through the generic proxy; wgmma reads shared memory through the async one.
__device__ __forceinline__ void proxy_fence() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// S = Q K^T over the head dim into sc[0..31]: k-step ks reads 16 columns of panel ks / 4 (32 bytes into its rows).
template <ActDtype A>
__device__ __forceinline__ void issue_qk(float* sc, uint32_t q_addr, uint32_t k_addr) {
#pragma unroll
  for (int ks = 0; ks < DH / 16; ++ks) {
    const uint32_t off = (ks >> 2) * kPanel + (ks & 3) * 32;
    wgmma_ss<A>(sc, desc(q_addr + off, 16, 1024), desc(k_addr + off, 16, 1024), ks > 0);
  }
}

// S = Q K^T into sc[0..31] issued as one wgmma group (not waited for).
template <ActDtype A>
__device__ __forceinline__ void start_qk(float* sc, uint32_t q_addr, uint32_t k_addr) {
#pragma unroll
  for (int i = 0; i < 32; ++i) sc[i] = 0.f;
  wg_fence();
  issue_qk<A>(sc, q_addr, k_addr);
  wg_commit();
}

// O += P V: k-step kk covers positions 16kk..16kk+15 (two 8-row swizzle atoms, 2048 bytes into each V panel); the V
// panel of dims 64 hf.. gives o[32 hf..].
template <ActDtype A>
__device__ __forceinline__ void issue_pv(float* o, const uint32_t (&pa)[BN / 16][4], uint32_t v_addr) {
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) wgmma_rs64<A>(o + 32 * hf, pa[kk], desc(v_addr + hf * kPanel + kk * 2048, 16, 1024));
}

// Mask and online softmax of one S tile of NB columns (accumulator layout: per 8 columns n, sc[4n + 0/1] row a,
// sc[4n + 2/3] row b, columns 8n + 2 (lane % 4) and + 1); P as the A fragments of P V's k-steps, corr[r] the factor
// O's row r takes. NB: the product's BN; native/dev's 128-column tiles use 128. scale_log2[r]: row r's factor from S
// to the exp2 domain (the same for both rows unless Q was quantized per row).
template <ActDtype A, int NB = BN>
__device__ __forceinline__ void softmax_tile(float* sc, float (&mrow)[2], float (&lrow)[2], float (&corr)[2],
                                             uint32_t (&pa)[NB / 16][4], int kbase, int min_pos, int pos_a, int pos_b,
                                             const float (&scale_log2)[2], int lane) {
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
#pragma unroll
    for (int n = 0; n < NB / 8; ++n) {
      float x0 = fast_exp2(sc[4 * n + 2 * r] - mu), x1 = fast_exp2(sc[4 * n + 2 * r + 1] - mu);
      // A fragment of k-step n / 2: registers 0 / 1 rows a / b of its first 8 keys, 2 / 3 of its last 8.
      pa[n >> 1][(n & 1) * 2 + r] = pack_round<A>(x0, x1);
      lrow[r] += x0 + x1;
    }
  }
}

template <ActDtype A, int NB = BN>
__device__ __forceinline__ void softmax_tile(float* sc, float (&mrow)[2], float (&lrow)[2], float (&corr)[2],
                                             uint32_t (&pa)[NB / 16][4], int kbase, int min_pos, int pos_a, int pos_b,
                                             float scale_log2, int lane) {
  const float s[2] = {scale_log2, scale_log2};
  softmax_tile<A, NB>(sc, mrow, lrow, corr, pa, kbase, min_pos, pos_a, pos_b, s, lane);
}

// o[64]: per 8 output dims n (0..15), o[4n + 0/1] row a, o[4n + 2/3] row b (two m64n64 accumulators one after the
// other; also the m64n128 layout).
__device__ __forceinline__ void rescale_o(float* o, const float (&corr)[2]) {
#pragma unroll
  for (int n = 0; n < 16; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[4 * n + e] *= corr[e >> 1];
}

// One K/V tile (in shared memory, visible to the async proxy) into O: S = Q K^T, mask and online softmax, O += P V,
// each product waited for.
template <ActDtype A>
__device__ __forceinline__ void attend_tile(float* o, float (&mrow)[2], float (&lrow)[2], uint32_t q_addr,
                                            uint32_t k_addr, uint32_t v_addr, int kbase, int min_pos, int pos_a,
                                            int pos_b, float scale_log2, int lane) {
  float sc[32], corr[2];
  uint32_t pa[BN / 16][4];
  start_qk<A>(sc, q_addr, k_addr);
  wg_wait<0>();
  softmax_tile<A>(sc, mrow, lrow, corr, pa, kbase, min_pos, pos_a, pos_b, scale_log2, lane);
  rescale_o(o, corr);
  wg_fence();
  issue_pv<A>(o, pa, v_addr);
  wg_commit();
  wg_wait<0>();
}

// What a block works on, found by block_setup: query head h, sequence s's rows r0 .. r0 + nrows - 1, cache positions
// 0 .. kv_len - 1 in nkv tiles (min_pos: the rows' smallest position; tiles reaching past it need the mask), this
// thread's rows a (ra) and b (ra + 8) at positions pos_a / pos_b (-1 past nrows).
struct BlockWork {
  int h, s, r0, nrows, kv_len, min_pos, nkv, ra, pos_a, pos_b;
};

// The tile lookup, the rows' positions and Q's cp.async into sQ (not committed). False: the block has no tile.
template <GridOrder O>
__device__ __forceinline__ bool block_setup(const PfParams& p, uint8_t* sQ, BlockWork& w) {
  __shared__ int sh_s, sh_tile, sh_pmax, sh_pmin;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int h, tile_idx;
  block_coords<O>(h, tile_idx);
  w.h = h;
  if (threadIdx.x == 0) {
    sh_s = -1;
    sh_pmax = -1;
    sh_pmin = INT_MAX;
  }
  __syncthreads();
  if (warp == 0) find_tile<BM>(p, tile_idx, lane, sh_s, sh_tile);
  __syncthreads();
  w.s = sh_s;
  if (w.s < 0) return false;
  w.r0 = __ldg(p.seq_starts + w.s) + sh_tile * BM;
  w.nrows = min(BM, __ldg(p.seq_starts + w.s + 1) - w.r0);
  for (int i = threadIdx.x; i < w.nrows; i += kThreads) {
    const int pp = __ldg(p.positions + w.r0 + i);
    atomicMax(&sh_pmax, pp);
    atomicMin(&sh_pmin, pp);
  }
  for (int i = threadIdx.x; i < BM * (DH / 8); i += kThreads) {  // Q rows, 16-byte chunks, zero past nrows
    const int r = i / (DH / 8), c = (i % (DH / 8)) * 8;
    const bool v = r < w.nrows;
    cp_async16(smem_u32(sQ + sw_off(r, c)), v ? p.q + (size_t)(w.r0 + r) * p.ld_q + (size_t)h * DH + c : p.q, v);
  }
  __syncthreads();
  w.kv_len = sh_pmax + 1;
  w.min_pos = sh_pmin;
  w.nkv = (w.kv_len + BN - 1) / BN;
  w.ra = warp * 16 + (lane >> 2);  // warp w holds rows 16w + lane/4 and + 8 of the accumulators
  w.pos_a = w.ra < w.nrows ? __ldg(p.positions + w.r0 + w.ra) : -1;
  w.pos_b = w.ra + 8 < w.nrows ? __ldg(p.positions + w.r0 + w.ra + 8) : -1;
  return true;
}

// K/V tiles from the paged cache, EB bytes per element (2: act values; 1: FP8 codes, used by native/dev's v10): a
// thread copies one 16-byte column chunk of kRows rows (rt, rt + kStep, ...); rows() looks up the cache rows
// (physical token indices) of tile j once for K and V (-1 past kv_len), copy() gathers them (zero where -1): 16-bit
// values into a [64][128] tile in the 128-byte swizzle, codes into a row-major [64][128] staging tile.
template <int EB>
struct KvTileLoader {
  static constexpr int kChunks = DH * EB / 16, kStep = kThreads / kChunks, kRows = BN / kStep;
  const int32_t* bt;
  int bs, bs_shift, kv_len, rt;
  size_t row_bytes, col_bytes;
  __device__ __forceinline__ KvTileLoader(const PfParams& p, const BlockWork& w) {
    bt = p.bt + (size_t)w.s * p.max_blocks;
    bs = p.bs;
    bs_shift = (bs & (bs - 1)) == 0 ? __ffs(bs) - 1 : -1;  // block size a power of 2: a shift, not a division
    kv_len = w.kv_len;
    rt = threadIdx.x / kChunks;
    row_bytes = (size_t)p.Hkv * DH * EB;
    col_bytes = ((size_t)(w.h / (p.H / p.Hkv)) * DH + (threadIdx.x % kChunks) * (16 / EB)) * EB;
  }
  __device__ __forceinline__ void rows(int j, int (&tok)[kRows]) const {
#pragma unroll
    for (int it = 0; it < kRows; ++it) {
      const int pos = j * BN + rt + kStep * it;
      const int blk = bs_shift >= 0 ? pos >> bs_shift : pos / bs;
      tok[it] = pos < kv_len ? __ldg(bt + blk) * bs + (pos - blk * bs) : -1;
    }
  }
  __device__ __forceinline__ void copy(uint8_t* dst, const void* cache, const int (&tok)[kRows]) const {
    const uint8_t* src = static_cast<const uint8_t*>(cache) + col_bytes;
    const int c = (threadIdx.x % kChunks) * (16 / EB);  // this thread's first element of a row
#pragma unroll
    for (int it = 0; it < kRows; ++it) {
      const int r = rt + kStep * it;
      cp_async16(smem_u32(dst + (EB == 2 ? sw_off(r, c) : r * DH + c)),
                 tok[it] >= 0 ? src + (size_t)tok[it] * row_bytes : cache, tok[it] >= 0);
    }
  }
};

// O * out_scale / l rounded to the act dtype into this thread's two rows of the output.
template <ActDtype A>
__device__ __forceinline__ void store_rows(const PfParams& p, const BlockWork& w, const float* o, const float (&lrow)[2],
                                           float out_scale = 1.f) {
  using AT = dev::Act<A>;
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = lrow[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int row = w.ra + 8 * r;
    if (row >= w.nrows) continue;
    const float inv = out_scale / l;
    uint16_t* dst = p.out + (size_t)(w.r0 + row) * p.ld_out + (size_t)w.h * DH + (lane & 3) * 2;
#pragma unroll
    for (int n = 0; n < 16; ++n) {
      const uint32_t lo = AT::store(o[4 * n + 2 * r] * inv), hi = AT::store(o[4 * n + 2 * r + 1] * inv);
      *reinterpret_cast<uint32_t*>(dst + n * 8) = lo | (hi << 16);
    }
  }
}

// Shared memory: Q (two panels), two K and two V buffers of [64][128] 16-bit, 1024-byte aligned (the swizzle repeats
// every 1024 bytes): 80 KiB + 1 KiB of alignment slack, two blocks per SM.
constexpr size_t kSmemBytes = 5 * 2 * kPanel + 1024;
__device__ __forceinline__ uint8_t* aligned_smem(uint8_t* raw) {
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + 1023) & ~(uintptr_t)1023);
}

template <ActDtype A, GridOrder O>
__global__ void __launch_bounds__(kThreads, 2) prefill_wgmma_kernel(PfParams p) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t* sQ = aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * kPanel;      // 2 buffers
  uint8_t* sV = sK + 2 * 2 * kPanel;  // 2 buffers
  BlockWork w;
  if (!block_setup<O>(p, sQ, w)) return;
  const KvTileLoader<2> ld(p, w);
  const int lane = threadIdx.x & 31;
  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  int tok[KvTileLoader<2>::kRows];
  ld.rows(0, tok);
  ld.copy(sK, p.kc, tok);
  ld.copy(sV, p.vc, tok);
  cp_async_commit();  // with Q's
  for (int j = 0; j < w.nkv; ++j) {
    const int buf = (j & 1) * 2 * kPanel;
    if (j + 1 < w.nkv) {
      ld.rows(j + 1, tok);
      ld.copy(sK + (2 * kPanel - buf), p.kc, tok);
      ld.copy(sV + (2 * kPanel - buf), p.vc, tok);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    proxy_fence();
    __syncthreads();
    attend_tile<A>(o, mrow, lrow, smem_u32(sQ), smem_u32(sK + buf), smem_u32(sV + buf), j * BN, w.min_pos, w.pos_a,
                   w.pos_b, p.scale_log2, lane);
    __syncthreads();  // the next iteration's prefetch overwrites this buffer
  }
  store_rows<A>(p, w, o, lrow);
}

template <ActDtype A, GridOrder O = GridOrder::HeadsInner>
void launch_wgmma(const PfParams& pp, cudaStream_t stream) {
  allow_dynamic_smem<prefill_wgmma_kernel<A, O>>(kSmemBytes, "paged_attention (wgmma prefill smem attribute)");
  prefill_wgmma_kernel<A, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes, stream>>>(pp);
  check_launch("paged_attention (wgmma prefill)");
}

// ---- The cache as TMA copies see it (the warp-specialized kernel, attention_paged_prefill_ws.cuh; native/dev's v11 /
// v12) ----
// One layer's 16-bit cache: rows = cache tokens (block * bs + slot), Hkv * DH columns, a box of one page's rows x 64
// columns landing in the 128-byte swizzle; the row count is the coordinates' bound (the copies only read the block
// tables' pages, inside the allocation).
inline CUtensorMap kv_tensor_map(const void* cache, int Hkv, int bs) {
  return tma::tensor_map_2d(cache, 2, (uint64_t)Hkv * DH, (uint64_t)1 << 31, (uint64_t)Hkv * DH * 2, 64, bs, true);
}
// An FP8 cache as a 2-D tensor of codes [tokens, Hkv x 128], a box of one page's rows x the head's 128 codes,
// unswizzled (decoded from there into the swizzled 16-bit tiles).
inline CUtensorMap code_tensor_map(const void* cache, int Hkv, int bs) {
  return tma::tensor_map_2d(cache, 1, (uint64_t)Hkv * DH, (uint64_t)1 << 31, (uint64_t)Hkv * DH, DH, bs, false);
}

}  // namespace qb::cuda::attn::prefill::wg
