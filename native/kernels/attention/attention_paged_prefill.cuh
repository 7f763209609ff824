// The tensor-core prefill attention kernel (FlashAttention-2 style; what it computes: attention_paged_prefill.cu)
// as a template over its tile configuration, so the product (attention_paged_prefill.cu, one named tile) and the
// tile experiment (native/dev/prefill_attention) compile the same code. Host-callable: launch_prefill.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <climits>

#include "kernels/attention/attention_common.cuh"
#include "kernels/common/cuda_check.h"
#include "kernels/common/device_common.cuh"
#include "kernels/common/mma.cuh"

namespace qb::cuda::attn::prefill {

// A tile configuration: BM rows of one sequence and query head per block, BN cache positions per K/V tile, NW warps
// of MT = BM / (16 NW) row tiles of 16 (each K/V fragment read from shared memory feeds all MT), Q fragments kept in
// registers for the whole block or re-read from shared memory every k step, MINB blocks per SM (register bound).
template <int BM_, int BN_, int NW, int MINB, bool Q_IN_REGISTERS>
struct PrefillTile {
  static constexpr int BM = BM_, BN = BN_, MT = BM_ / (16 * NW), kThreads = NW * 32, kMinBlocks = MINB;
  static constexpr bool kQInRegisters = Q_IN_REGISTERS;
  static_assert(MT >= 1 && BM_ == 16 * NW * MT, "BM must be 16 x warps x row tiles per warp");
};

struct PfParams {
  const uint16_t* q;
  int ld_q;
  const void* kc;  // act values, or FP8 codes (F8)
  const void* vc;
  float v_scale;   // F8: output factor (k_scale is folded into scale_log2)
  const int32_t* seq_starts;
  const int32_t* positions;
  const int32_t* bt;
  int max_blocks, T, S, H, Hkv, bs;
  float scale_log2;
  uint16_t* out;
  int ld_out;
};

__device__ __forceinline__ uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  const int sz = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(sz));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}
using dev::fast_exp2;
using dev::mma16816;
using dev::pack_round;

// Swizzled 16-byte-chunk index of (row, chunk) in a [rows][DH] 16-bit tile.
template <int DH>
__device__ __forceinline__ int swz(int row, int chunk) {
  return row * (DH / 8) + (chunk ^ (row & 7));
}

// 16 FP8 codes -> 16 act values (exact), as two 16-byte chunks.
template <ActDtype A>
__device__ __forceinline__ void decode16_fp8(const uint4& c, uint4& lo, uint4& hi) {
  const uint16_t* e = reinterpret_cast<const uint16_t*>(&c);
  uint32_t w[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)e[j], __NV_E4M3);
    if constexpr (A == ActDtype::BF16) {
      const __nv_bfloat162 b = __float22bfloat162_rn(__half22float2(*reinterpret_cast<const __half2*>(&h)));
      w[j] = *reinterpret_cast<const uint32_t*>(&b);
    } else {
      w[j] = *reinterpret_cast<const uint32_t*>(&h);
    }
  }
  lo = make_uint4(w[0], w[1], w[2], w[3]);
  hi = make_uint4(w[4], w[5], w[6], w[7]);
}

// The order the blocks are dispatched in. Tiles are numbered from the batch's last (longest context: the most K/V
// tiles) down. TilesInner (grid x = tiles, y = heads): one head's tiles from the longest down, then the next head's,
// so the last head's longest tiles start late and finish last. HeadsInner (grid x = heads, y = tiles): every head's
// longest tiles first and the shortest last, a short tail (list scheduling longest-first).
enum class GridOrder { TilesInner, HeadsInner };
template <GridOrder O>
dim3 prefill_grid(int tiles, int H) {
  return O == GridOrder::HeadsInner ? dim3(H, tiles) : dim3(tiles, H);
}
// An upper bound on the batch's tiles of BM rows (grid sizing; blocks past the last tile exit).
inline int prefill_tiles(const PfParams& pp, int bm) {
  const int tiles = (pp.T + bm - 1) / bm + pp.S;
  require(tiles <= 65535, "paged_attention (prefill)", "too many rows and sequences in one batch for the grid");
  return tiles;
}
// This block's query head and tile number (0: the batch's last tile).
template <GridOrder O>
__device__ __forceinline__ void block_coords(int& h, int& tile_idx) {
  if constexpr (O == GridOrder::HeadsInner) {
    h = blockIdx.x;
    tile_idx = gridDim.y - 1 - blockIdx.y;
  } else {
    h = blockIdx.y;
    tile_idx = gridDim.x - 1 - blockIdx.x;
  }
}

// Which sequence, and which of its BM-row tiles, tile number tile_idx of the batch is (sequences of one row are
// decodes: no tiles). Called by one warp; writes *seq and *tile where it finds them (leaves them else).
template <int BM>
__device__ __forceinline__ void find_tile(const PfParams& p, int tile_idx, int lane, int& seq, int& tile) {
  int base = 0;
  for (int s0 = 0; s0 < p.S; s0 += 32) {
    const int s = s0 + lane;
    int n = 0;
    if (s < p.S) {
      const int len = __ldg(p.seq_starts + s + 1) - __ldg(p.seq_starts + s);
      n = len > 1 ? (len + BM - 1) / BM : 0;
    }
    int inc = n;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int v = __shfl_up_sync(0xffffffffu, inc, o);
      if (lane >= o) inc += v;
    }
    const int excl = inc - n;
    if (n > 0 && tile_idx >= base + excl && tile_idx < base + inc) {
      seq = s;
      tile = tile_idx - base - excl;
    }
    base += __shfl_sync(0xffffffffu, inc, 31);
    if (tile_idx < base) break;
  }
}

template <ActDtype A, int DH, bool F8, class Tile, GridOrder O>
__global__ void __launch_bounds__(Tile::kThreads, Tile::kMinBlocks) prefill_kernel(PfParams p) {
  using AT = dev::Act<A>;
  constexpr int BM = Tile::BM, BN = Tile::BN, MT = Tile::MT, kThreads = Tile::kThreads;
  constexpr int CH = DH / 8;
  constexpr int CH8 = DH / 16;  // 16-byte chunks of a row of FP8 codes
  constexpr int CHX = F8 ? CH8 : CH;  // chunks per cache row
  constexpr int EB = F8 ? 1 : 2;      // cache bytes per element
  static_assert((BN * CHX) % kThreads == 0 && (BN * CH8) % kThreads == 0, "K/V tile chunks must divide the threads");
  extern __shared__ uint4 smem[];
  uint4* sQ = smem;
  uint4* sK = smem + BM * CH;
  // 16-bit: K and V double-buffered; F8: one decoded 16-bit K / V tile, then the double-buffered code tiles.
  uint4* sV = sK + (F8 ? 1 : 2) * BN * CH;
  uint4* sK8 = sV + (F8 ? 1 : 2) * BN * CH;
  uint4* sV8 = sK8 + 2 * BN * CH8;
  __shared__ int sh_s, sh_tile, sh_pmax, sh_pmin;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int h, tile_idx;
  block_coords<O>(h, tile_idx);
  if (threadIdx.x == 0) {
    sh_s = -1;
    sh_pmax = -1;
    sh_pmin = INT_MAX;
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
    atomicMax(&sh_pmax, pp);
    atomicMin(&sh_pmin, pp);
  }
  for (int i = threadIdx.x; i < BM * CH; i += kThreads) {
    const int r = i / CH, c = i % CH;
    const bool v = r < nrows;
    const uint16_t* src = v ? p.q + (size_t)(r0 + r) * p.ld_q + (size_t)h * DH + c * 8 : p.q;
    cp_async16(smem_u32(sQ + swz<DH>(r, c)), src, v);
  }
  cp_async_commit();
  __syncthreads();
  const int kv_len = sh_pmax + 1, min_pos = sh_pmin;
  const int nkv = (kv_len + BN - 1) / BN;
  const int kvh = h / (p.H / p.Hkv);
  const int32_t* bt = p.bt + (size_t)s * p.max_blocks;
  const size_t tok_stride = (size_t)p.Hkv * DH;

  // Tile j's K and V rows into buffer buf: 16-byte chunks of act values into the swizzled 16-bit tiles, or of FP8
  // codes into the staging tiles (row-major; decoded below). Rows past kv_len are zero-filled.
  auto load_kv = [&](int j, int buf) {
    uint4* k = (F8 ? sK8 : sK) + buf * BN * CHX;
    uint4* v = (F8 ? sV8 : sV) + buf * BN * CHX;
#pragma unroll
    for (int it = 0; it < BN * CHX / kThreads; ++it) {
      const int i = threadIdx.x + it * kThreads;
      const int r = i / CHX, c = i % CHX;
      const int pos = j * BN + r;
      const bool ok = pos < kv_len;
      size_t off = 0;  // bytes
      if (ok) {
        const int blk = pos / p.bs;
        const int pg = __ldg(bt + blk);
        off = (((size_t)pg * p.bs + (pos - blk * p.bs)) * tok_stride + (size_t)kvh * DH) * EB + c * 16;
      }
      const int dst = F8 ? i : swz<DH>(r, c);
      cp_async16(smem_u32(k + dst), static_cast<const uint8_t*>(p.kc) + off, ok);
      cp_async16(smem_u32(v + dst), static_cast<const uint8_t*>(p.vc) + off, ok);
    }
  };

  // This warp's row tiles: rows (warp * MT + mt) * 16 + lane / 4 (+ 8).
  int pos_a[MT], pos_b[MT];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    const int ra = (warp * MT + mt) * 16 + (lane >> 2);
    pos_a[mt] = ra < nrows ? __ldg(p.positions + r0 + ra) : -1;
    pos_b[mt] = ra + 8 < nrows ? __ldg(p.positions + r0 + ra + 8) : -1;
  }

  load_kv(0, 0);
  cp_async_commit();

  float o[MT][DH / 8][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int i = 0; i < DH / 8; ++i) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.f;
  float mrow[MT][2], lrow[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) mrow[mt][0] = mrow[mt][1] = -INFINITY, lrow[mt][0] = lrow[mt][1] = 0.f;
  auto q_frag = [&](int mt, int kk, uint32_t (&f)[4]) {
    ldsm_x4(smem_u32(sQ + swz<DH>((warp * MT + mt) * 16 + (lane & 15), kk * 2 + (lane >> 4))), f[0], f[1], f[2], f[3]);
  };
  uint32_t qa[Tile::kQInRegisters ? MT : 1][Tile::kQInRegisters ? DH / 16 : 1][4];  // Q fragments (kQInRegisters)

  for (int j = 0; j < nkv; ++j) {
    if (j + 1 < nkv) {
      load_kv(j + 1, (j + 1) & 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if constexpr (F8) {  // decode tile j's codes into the 16-bit tile (zero-filled codes decode to 0)
      const uint4* k8 = sK8 + (j & 1) * BN * CH8;
      const uint4* v8 = sV8 + (j & 1) * BN * CH8;
#pragma unroll
      for (int it = 0; it < BN * CH8 / kThreads; ++it) {
        const int i = threadIdx.x + it * kThreads;
        const int r = i / CH8, c = i % CH8;
        uint4 lo, hi;
        decode16_fp8<A>(k8[i], lo, hi);
        sK[swz<DH>(r, 2 * c)] = lo;
        sK[swz<DH>(r, 2 * c + 1)] = hi;
        decode16_fp8<A>(v8[i], lo, hi);
        sV[swz<DH>(r, 2 * c)] = lo;
        sV[swz<DH>(r, 2 * c + 1)] = hi;
      }
      __syncthreads();
    }
    if constexpr (Tile::kQInRegisters) {
      if (j == 0) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int kk = 0; kk < DH / 16; ++kk) q_frag(mt, kk, qa[mt][kk]);
      }
    }
    const uint4* k = sK + (F8 ? 0 : (j & 1) * BN * CH);
    const uint4* v = sV + (F8 ? 0 : (j & 1) * BN * CH);
    float sc[MT][BN / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int i = 0; i < BN / 8; ++i) sc[mt][i][0] = sc[mt][i][1] = sc[mt][i][2] = sc[mt][i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < DH / 16; ++kk) {
      uint32_t qf[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        if constexpr (Tile::kQInRegisters) {
#pragma unroll
          for (int e = 0; e < 4; ++e) qf[mt][e] = qa[mt][kk][e];
        } else {
          q_frag(mt, kk, qf[mt]);
        }
      }
#pragma unroll
      for (int np = 0; np < BN / 16; ++np) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4(smem_u32(k + swz<DH>(np * 16 + (lane >> 4) * 8 + (lane & 7), kk * 2 + ((lane >> 3) & 1))), b0, b1, b2,
                b3);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma16816<A>(sc[mt][2 * np], qf[mt], b0, b1);
          mma16816<A>(sc[mt][2 * np + 1], qf[mt], b2, b3);
        }
      }
    }
    const int kbase = j * BN;
    const bool need_mask = kbase + BN - 1 > min_pos;
    uint32_t pa[MT][BN / 16][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = sc[mt][nt][e] * p.scale_log2;
          if (need_mask) {
            const int key = kbase + nt * 8 + (lane & 3) * 2 + (e & 1);
            if (key > (e < 2 ? pos_a[mt] : pos_b[mt])) x = -INFINITY;
          }
          sc[mt][nt][e] = x;
        }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt) mx = fmaxf(mx, fmaxf(sc[mt][nt][2 * r], sc[mt][nt][2 * r + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mnew = fmaxf(mrow[mt][r], mx);
        const float mu = mnew == -INFINITY ? 0.f : mnew;
        const float corr = fast_exp2(mrow[mt][r] - mu);
        mrow[mt][r] = mnew;
        lrow[mt][r] *= corr;
#pragma unroll
        for (int nt = 0; nt < DH / 8; ++nt) {
          o[mt][nt][2 * r] *= corr;
          o[mt][nt][2 * r + 1] *= corr;
        }
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt) {
          float x0 = fast_exp2(sc[mt][nt][2 * r] - mu), x1 = fast_exp2(sc[mt][nt][2 * r + 1] - mu);
          pa[mt][nt >> 1][(nt & 1) * 2 + r] = pack_round<A>(x0, x1);
          lrow[mt][r] += x0 + x1;
        }
      }
    }
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < DH / 16; ++np) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4_t(smem_u32(v + swz<DH>(kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7), np * 2 + (lane >> 4))), b0, b1,
                  b2, b3);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma16816<A>(o[mt][2 * np], pa[mt][kk], b0, b1);
          mma16816<A>(o[mt][2 * np + 1], pa[mt][kk], b2, b3);
        }
      }
    }
    __syncthreads();  // the next iteration's prefetch overwrites this buffer
  }
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float l = lrow[mt][r];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const int row = (warp * MT + mt) * 16 + (lane >> 2) + 8 * r;
      if (row >= nrows) continue;
      const float inv = F8 ? p.v_scale / l : 1.f / l;
      uint16_t* dst = p.out + (size_t)(r0 + row) * p.ld_out + (size_t)h * DH + (lane & 3) * 2;
#pragma unroll
      for (int nt = 0; nt < DH / 8; ++nt) {
        const uint32_t lo = AT::store(o[mt][nt][2 * r] * inv), hi = AT::store(o[mt][nt][2 * r + 1] * inv);
        *reinterpret_cast<uint32_t*>(dst + nt * 8) = lo | (hi << 16);
      }
    }
}

// Raises Kernel's dynamic shared memory limit to `bytes`, once per kernel (the first launch's size).
template <auto Kernel>
void allow_dynamic_smem(size_t bytes, const char* what) {
  static bool done = false;
  if (done) return;
  check(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes), what);
  done = true;
}

// Launches the kernel of tile configuration Tile on pp's batch. Shared memory: Q + K/V (16-bit, double-buffered; F8:
// single) + F8 code tiles (double-buffered): (BM + 4 BN) x DH x 2 bytes either way (64 KiB for the product's tile).
template <ActDtype A, int DH, bool F8, class Tile, GridOrder O = GridOrder::HeadsInner>
void launch_prefill(const PfParams& pp, cudaStream_t stream) {
  constexpr int BM = Tile::BM, BN = Tile::BN;
  constexpr size_t smem = (size_t)(BM + 4 * BN) * DH * 2;
  static_assert(!F8 || (size_t)(BM + 2 * BN) * DH * 2 + 4 * BN * DH <= smem, "F8 tiles must fit the same smem");
  allow_dynamic_smem<prefill_kernel<A, DH, F8, Tile, O>>(smem, "paged_attention (prefill smem attribute)");
  prefill_kernel<A, DH, F8, Tile, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), Tile::kThreads, smem, stream>>>(pp);
  check_launch("paged_attention (tensor-core prefill)");
}

}  // namespace qb::cuda::attn::prefill
