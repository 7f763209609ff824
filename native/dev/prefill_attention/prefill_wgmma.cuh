// Variant v7 of the tensor-core prefill attention (issue 18, item 1, first step; session 14, not run yet): the
// products on Hopper's warpgroup MMA instead of mma.sync. One warpgroup (128 threads) per block owns 64 query rows of
// one head; per 64-position K/V tile: S = Q K^T as eight wgmma m64n64k16 with both operands in shared memory (K-major,
// 128-byte swizzle), the online softmax on the accumulators in registers, then O += P V as wgmma with P from
// registers and V from shared memory read transposed (MN-major), O in two 64-column halves. K/V tiles are gathered
// from the paged cache with cp.async, double-buffered, as in the product's kernel (attention_paged_prefill.cuh, whose
// tile scheduling, masking and softmax this follows); no TMA and no producer / consumer split yet (FlashAttention-3's
// other two parts). 16-bit KV cache only, head dim 128. The descriptor encodings are the ones native/dev/wgmma_probe
// checks; run that first.
#pragma once
#include <climits>

#include "kernels/attention/attention_paged_prefill.cuh"

namespace qb::cuda::attn::prefill::wg {

constexpr int BM = 64, BN = 64, DH = 128, kThreads = 128;
constexpr int kPanel = 64 * 128;  // bytes of one [64 rows][64 columns] bf16 panel in the 128-byte swizzle

// Byte offset of (row, col) in a tile of two panels (columns 0-63, 64-127): 16-byte chunk col/8 XOR row%8.
__device__ __forceinline__ int sw_off(int row, int col) {
  return (col >> 6) * kPanel + row * 128 + ((((col & 63) >> 3) ^ (row & 7)) << 4) + ((col & 7) << 1);
}

__device__ __forceinline__ uint64_t desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return (uint64_t)((addr >> 4) & 0x3FFF) | ((uint64_t)((lbo >> 4) & 0x3FFF) << 16) |
         ((uint64_t)((sbo >> 4) & 0x3FFF) << 32) | ((uint64_t)1 << 62);
}

#define QB_WG_D32(d)                                                                                                  \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),        \
      "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),          \
      "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),         \
      "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define QB_WG_REGS32                                                                                                  \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, "   \
  "%24, %25, %26, %27, %28, %29, %30, %31}"

// d += A(smem) B(smem)^T, m64n64k16, K-major B.
__device__ __forceinline__ void wgmma_ss(float (&d)[32], uint64_t da, uint64_t db, int scale_d) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " QB_WG_REGS32 ", %32, %33, p, 1, 1, 0, 0;\n}\n"
               : QB_WG_D32(d)
               : "l"(da), "l"(db), "r"(scale_d));
}

// d += A(registers) B(smem), m64n64k16, B MN-major read transposed.
__device__ __forceinline__ void wgmma_rs(float (&d)[32], const uint32_t (&a)[4], uint64_t db) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " QB_WG_REGS32
               ", {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
               : QB_WG_D32(d)
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit_wait() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
__device__ __forceinline__ void proxy_fence() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

template <ActDtype A>
__global__ void __launch_bounds__(kThreads, 2) prefill_wgmma_kernel(PfParams p) {
  using AT = dev::Act<A>;
  extern __shared__ uint8_t smem_raw[];
  // The 128-byte swizzle repeats every 1024 bytes: tiles start 1024-byte aligned (launch_wgmma adds the slack).
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~(uintptr_t)1023);
  uint8_t* sQ = smem;                      // [64][128]: 2 panels
  uint8_t* sK = smem + 2 * kPanel;         // 2 buffers x [64 positions][128]
  uint8_t* sV = sK + 2 * 2 * kPanel;       // 2 buffers x [64 positions][128]
  __shared__ int sh_s, sh_tile, sh_pmax, sh_pmin;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y;
  const int tile_idx = gridDim.x - 1 - blockIdx.x;  // last tiles (longest contexts) first
  if (threadIdx.x == 0) {
    sh_s = -1;
    sh_pmax = -1;
    sh_pmin = INT_MAX;
  }
  __syncthreads();
  if (warp == 0) find_tile<BM>(p, tile_idx, lane, sh_s, sh_tile);  // the product kernel's tile lookup
  __syncthreads();
  const int s = sh_s;
  if (s < 0) return;
  const int r0 = __ldg(p.seq_starts + s) + sh_tile * BM;
  const int nrows = min(BM, __ldg(p.seq_starts + s + 1) - r0);
  for (int i = threadIdx.x; i < nrows; i += kThreads) {
    const int pp = __ldg(p.positions + r0 + i);
    atomicMax(&sh_pmax, pp);
    atomicMin(&sh_pmin, pp);
  }
  for (int i = threadIdx.x; i < BM * (DH / 8); i += kThreads) {  // Q rows, 16-byte chunks, zero past nrows
    const int r = i / (DH / 8), c = (i % (DH / 8)) * 8;
    const bool v = r < nrows;
    cp_async16(smem_u32(sQ + sw_off(r, c)), v ? p.q + (size_t)(r0 + r) * p.ld_q + (size_t)h * DH + c : p.q, v);
  }
  cp_async_commit();
  __syncthreads();
  const int kv_len = sh_pmax + 1, min_pos = sh_pmin;
  const int nkv = (kv_len + BN - 1) / BN;
  const int kvh = h / (p.H / p.Hkv);
  const int32_t* bt = p.bt + (size_t)s * p.max_blocks;
  const size_t tok_stride = (size_t)p.Hkv * DH;
  auto load_kv = [&](int j, int buf) {  // positions j*64.. of K and V into buffer buf; zero past kv_len
    uint8_t* k = sK + buf * 2 * kPanel;
    uint8_t* v = sV + buf * 2 * kPanel;
#pragma unroll
    for (int it = 0; it < BN * (DH / 8) / kThreads; ++it) {
      const int i = threadIdx.x + it * kThreads;
      const int r = i / (DH / 8), c = (i % (DH / 8)) * 8;
      const int pos = j * BN + r;
      const bool ok = pos < kv_len;
      size_t off = 0;
      if (ok) {
        const int blk = pos / p.bs;
        off = (((size_t)__ldg(bt + blk) * p.bs + (pos - blk * p.bs)) * tok_stride + (size_t)kvh * DH + c) * 2;
      }
      cp_async16(smem_u32(k + sw_off(r, c)), static_cast<const uint8_t*>(p.kc) + off, ok);
      cp_async16(smem_u32(v + sw_off(r, c)), static_cast<const uint8_t*>(p.vc) + off, ok);
    }
  };
  // This thread's rows of the 64: warp w holds rows 16w + lane/4 (a) and + 8 (b).
  const int ra = warp * 16 + (lane >> 2);
  const int pos_a = ra < nrows ? __ldg(p.positions + r0 + ra) : -1;
  const int pos_b = ra + 8 < nrows ? __ldg(p.positions + r0 + ra + 8) : -1;
  load_kv(0, 0);
  cp_async_commit();
  float o[2][32];
#pragma unroll
  for (int hf = 0; hf < 2; ++hf)
#pragma unroll
    for (int i = 0; i < 32; ++i) o[hf][i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  const uint32_t q_addr = smem_u32(sQ);
  for (int j = 0; j < nkv; ++j) {
    if (j + 1 < nkv) {
      load_kv(j + 1, (j + 1) & 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    proxy_fence();  // cp.async wrote through the generic proxy; wgmma reads through the async one
    __syncthreads();
    const uint32_t k_addr = smem_u32(sK + (j & 1) * 2 * kPanel), v_addr = smem_u32(sV + (j & 1) * 2 * kPanel);
    // S = Q K^T over the head dim: k-step ks reads 16 columns of panel ks / 4 (32 bytes into its 128-byte rows).
    float sc[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) sc[i] = 0.f;
    wg_fence();
#pragma unroll
    for (int ks = 0; ks < DH / 16; ++ks) {
      const uint32_t off = (ks >> 2) * kPanel + (ks & 3) * 32;
      wgmma_ss(sc, desc(q_addr + off, 16, 1024), desc(k_addr + off, 16, 1024), ks > 0);
    }
    wg_commit_wait();
    // Mask, online softmax (accumulator layout: per 8 columns n, sc[4n + 0/1] row a, sc[4n + 2/3] row b, columns
    // 8n + 2 (lane % 4) and + 1).
    const int kbase = j * BN;
    const bool need_mask = kbase + BN - 1 > min_pos;
#pragma unroll
    for (int n = 0; n < BN / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = sc[4 * n + e] * p.scale_log2;
        if (need_mask) {
          const int key = kbase + n * 8 + (lane & 3) * 2 + (e & 1);
          if (key > (e < 2 ? pos_a : pos_b)) x = -INFINITY;
        }
        sc[4 * n + e] = x;
      }
    uint32_t pa[BN / 16][4];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < BN / 8; ++n) mx = fmaxf(mx, fmaxf(sc[4 * n + 2 * r], sc[4 * n + 2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float mnew = fmaxf(mrow[r], mx);
      const float mu = mnew == -INFINITY ? 0.f : mnew;
      const float corr = fast_exp2(mrow[r] - mu);
      mrow[r] = mnew;
      lrow[r] *= corr;
#pragma unroll
      for (int hf = 0; hf < 2; ++hf)
#pragma unroll
        for (int n = 0; n < 8; ++n) {
          o[hf][4 * n + 2 * r] *= corr;
          o[hf][4 * n + 2 * r + 1] *= corr;
        }
#pragma unroll
      for (int n = 0; n < BN / 8; ++n) {
        float x0 = fast_exp2(sc[4 * n + 2 * r] - mu), x1 = fast_exp2(sc[4 * n + 2 * r + 1] - mu);
        // A fragment of k-step n / 2: registers 0 / 1 rows a / b of its first 8 keys, 2 / 3 of its last 8.
        pa[n >> 1][(n & 1) * 2 + r] = pack_round<A>(x0, x1);
        lrow[r] += x0 + x1;
      }
    }
    // O += P V: k-step kk covers positions 16kk..16kk+15 (two 8-row swizzle atoms, 2048 bytes into each V panel);
    // the V panel of dims 64 hf.. gives output half hf.
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) wgmma_rs(o[hf], pa[kk], desc(v_addr + hf * kPanel + kk * 2048, 16, 1024));
    wg_commit_wait();
    __syncthreads();  // the next iteration's prefetch overwrites this buffer
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = lrow[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int row = ra + 8 * r;
    if (row >= nrows) continue;
    const float inv = 1.f / l;
    uint16_t* dst = p.out + (size_t)(r0 + row) * p.ld_out + (size_t)h * DH + (lane & 3) * 2;
#pragma unroll
    for (int hf = 0; hf < 2; ++hf)
#pragma unroll
      for (int n = 0; n < 8; ++n) {
        const uint32_t lo = AT::store(o[hf][4 * n + 2 * r] * inv), hi = AT::store(o[hf][4 * n + 2 * r + 1] * inv);
        *reinterpret_cast<uint32_t*>(dst + hf * 64 + n * 8) = lo | (hi << 16);
      }
  }
}

#undef QB_WG_D32
#undef QB_WG_REGS32

// Q panels + two K and two V buffers of [64][128] bf16: 80 KiB (+1 KiB for alignment), two blocks per SM.
template <ActDtype A>
void launch_wgmma(const PfParams& pp, cudaStream_t stream) {
  constexpr size_t smem = 5 * 2 * kPanel + 1024;
  static bool attr_set = false;
  if (!attr_set) {
    check(cudaFuncSetAttribute(prefill_wgmma_kernel<A>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
          "prefill wgmma (smem attribute)");
    attr_set = true;
  }
  dim3 grid((pp.T + BM - 1) / BM + pp.S, pp.H);
  prefill_wgmma_kernel<A><<<grid, kThreads, smem, stream>>>(pp);
  check_launch("prefill wgmma");
}

}  // namespace qb::cuda::attn::prefill::wg
