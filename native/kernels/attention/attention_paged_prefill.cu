// Tensor-core paged attention (flash-attention-2 style) for the sequences of a batch with more than one row (prefill
// chunks, possibly continuing an earlier prefill at position > 0). Twin: cpu::attention_paged.
//
// One block (4 warps) per (tile of BM = 64 consecutive rows of one sequence, query head). Q stays in registers
// (ldmatrix fragments); K/V tiles of BN = 64 positions are gathered from the paged cache with cp.async into swizzled
// shared memory (double-buffered), positions past the tile's last needed position are zero-filled. S = Q K^T and
// O += P V with mma.sync m16n8k16 (f16/bf16 in, fp32 accumulate); online softmax in fp32 (exp2 domain), P rounded to
// the act dtype for the PV product (the softmax sum uses the rounded P, so the weights stay a convex combination).
// Causal mask per row from positions[] (any positions; no contiguity assumed), applied only on tiles that need it.
// Grid: x = ceil(T/BM) + S (an upper bound on the tiles of all sequences; heaviest tiles launched first), y = H; a block
// maps its index to (sequence, tile) with a warp scan over seq_starts and exits when beyond the batch's tiles.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>

#include "kernels/attention/attention_common.cuh"
#include "kernels/common/device_common.cuh"

namespace qb::cuda::attn {
namespace {

constexpr int BM = 64, BN = 64, kThreads = 128;

struct PfParams {
  const uint16_t* q;
  int ld_q;
  const uint16_t* kc;
  const uint16_t* vc;
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
template <ActDtype A>
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  if constexpr (A == ActDtype::BF16)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ float fast_exp2(float x) {  // MUFU.EX2; exp2(-inf) = 0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
// Round two floats to the act dtype, pack (lo in the low half), and return the rounded values.
template <ActDtype A>
__device__ __forceinline__ uint32_t pack_round(float& lo, float& hi) {
  if constexpr (A == ActDtype::BF16) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    lo = __low2float(v);
    hi = __high2float(v);
    return *reinterpret_cast<uint32_t*>(&v);
  } else {
    __half2 v = __floats2half2_rn(lo, hi);
    lo = __low2float(v);
    hi = __high2float(v);
    return *reinterpret_cast<uint32_t*>(&v);
  }
}

// Swizzled 16-byte-chunk index of (row, chunk) in a [rows][DH] 16-bit tile.
template <int DH>
__device__ __forceinline__ int swz(int row, int chunk) {
  return row * (DH / 8) + (chunk ^ (row & 7));
}

template <ActDtype A, int DH>
__global__ void __launch_bounds__(kThreads, 2) prefill_kernel(PfParams p) {
  using AT = dev::Act<A>;
  constexpr int CH = DH / 8;
  extern __shared__ uint4 smem[];
  uint4* sQ = smem;
  uint4* sK = smem + BM * CH;
  uint4* sV = sK + 2 * BN * CH;
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
  if (warp == 0) {
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
        sh_s = s;
        sh_tile = tile_idx - base - excl;
      }
      base += __shfl_sync(0xffffffffu, inc, 31);
      if (tile_idx < base) break;
    }
  }
  __syncthreads();
  const int s = sh_s;
  if (s < 0) return;
  const int r0 = __ldg(p.seq_starts + s) + sh_tile * BM;
  const int nrows = min(BM, __ldg(p.seq_starts + s + 1) - r0);
  if (threadIdx.x < nrows) {
    const int pp = __ldg(p.positions + r0 + threadIdx.x);
    atomicMax(&sh_pmax, pp);
    atomicMin(&sh_pmin, pp);
  }
  for (int i = threadIdx.x; i < BM * CH; i += kThreads) {
    const int r = i / CH, c = i % CH;
    const bool v = r < nrows;
    const uint16_t* src = v ? p.q + (size_t)(r0 + r) * p.ld_q + (size_t)h * DH + c * 8 : p.q;
    cp_async16(smem_u32(sQ + swz<DH>(r, c)), src, v);
  }
  __syncthreads();
  const int kv_len = sh_pmax + 1, min_pos = sh_pmin;
  const int nkv = (kv_len + BN - 1) / BN;
  const int kvh = h / (p.H / p.Hkv);
  const int32_t* bt = p.bt + (size_t)s * p.max_blocks;
  const size_t tok_stride = (size_t)p.Hkv * DH;

  auto load_kv = [&](int j, int buf) {
    uint4* k = sK + buf * BN * CH;
    uint4* v = sV + buf * BN * CH;
#pragma unroll
    for (int it = 0; it < BN * CH / kThreads; ++it) {
      const int i = threadIdx.x + it * kThreads;
      const int r = i / CH, c = i % CH;
      const int pos = j * BN + r;
      const bool ok = pos < kv_len;
      size_t idx = 0;
      if (ok) {
        const int blk = pos / p.bs;
        const int pg = __ldg(bt + blk);
        idx = ((size_t)pg * p.bs + (pos - blk * p.bs)) * tok_stride + (size_t)kvh * DH + c * 8;
      }
      cp_async16(smem_u32(k + swz<DH>(r, c)), p.kc + idx, ok);
      cp_async16(smem_u32(v + swz<DH>(r, c)), p.vc + idx, ok);
    }
  };

  const int ra = warp * 16 + (lane >> 2);  // this thread's rows ra, ra + 8 of the tile
  const int pos_a = ra < nrows ? __ldg(p.positions + r0 + ra) : -1;
  const int pos_b = ra + 8 < nrows ? __ldg(p.positions + r0 + ra + 8) : -1;

  load_kv(0, 0);
  cp_async_commit();

  float o[DH / 8][4];
#pragma unroll
  for (int i = 0; i < DH / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  uint32_t qa[DH / 16][4];

  for (int j = 0; j < nkv; ++j) {
    if (j + 1 < nkv) {
      load_kv(j + 1, (j + 1) & 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (j == 0) {
#pragma unroll
      for (int kk = 0; kk < DH / 16; ++kk)
        ldsm_x4(smem_u32(sQ + swz<DH>(warp * 16 + (lane & 15), kk * 2 + (lane >> 4))), qa[kk][0], qa[kk][1],
                qa[kk][2], qa[kk][3]);
    }
    const uint4* k = sK + (j & 1) * BN * CH;
    const uint4* v = sV + (j & 1) * BN * CH;
    float sc[BN / 8][4];
#pragma unroll
    for (int i = 0; i < BN / 8; ++i) sc[i][0] = sc[i][1] = sc[i][2] = sc[i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < DH / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < BN / 16; ++np) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4(smem_u32(k + swz<DH>(np * 16 + (lane >> 4) * 8 + (lane & 7), kk * 2 + ((lane >> 3) & 1))), b0, b1, b2,
                b3);
        mma16816<A>(sc[2 * np], qa[kk], b0, b1);
        mma16816<A>(sc[2 * np + 1], qa[kk], b2, b3);
      }
    }
    const int kbase = j * BN;
    const bool need_mask = kbase + BN - 1 > min_pos;
#pragma unroll
    for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = sc[nt][e] * p.scale_log2;
        if (need_mask) {
          const int key = kbase + nt * 8 + (lane & 3) * 2 + (e & 1);
          if (key > (e < 2 ? pos_a : pos_b)) x = -INFINITY;
        }
        sc[nt][e] = x;
      }
    uint32_t pa[BN / 16][4];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < BN / 8; ++nt) mx = fmaxf(mx, fmaxf(sc[nt][2 * r], sc[nt][2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float mnew = fmaxf(mrow[r], mx);
      const float mu = mnew == -INFINITY ? 0.f : mnew;
      const float corr = fast_exp2(mrow[r] - mu);
      mrow[r] = mnew;
      lrow[r] *= corr;
#pragma unroll
      for (int nt = 0; nt < DH / 8; ++nt) {
        o[nt][2 * r] *= corr;
        o[nt][2 * r + 1] *= corr;
      }
#pragma unroll
      for (int nt = 0; nt < BN / 8; ++nt) {
        float x0 = fast_exp2(sc[nt][2 * r] - mu), x1 = fast_exp2(sc[nt][2 * r + 1] - mu);
        // A fragment of P for k-step nt/2: a0 (row, keys 0-7), a1 (row+8, keys 0-7), a2 (row, 8-15), a3 (row+8, 8-15)
        pa[nt >> 1][(nt & 1) * 2 + r] = pack_round<A>(x0, x1);
        lrow[r] += x0 + x1;
      }
    }
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < DH / 16; ++np) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4_t(smem_u32(v + swz<DH>(kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7), np * 2 + (lane >> 4))), b0, b1,
                  b2, b3);
        mma16816<A>(o[2 * np], pa[kk], b0, b1);
        mma16816<A>(o[2 * np + 1], pa[kk], b2, b3);
      }
    }
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
    for (int nt = 0; nt < DH / 8; ++nt) {
      const uint32_t lo = AT::store(o[nt][2 * r] * inv), hi = AT::store(o[nt][2 * r + 1] * inv);
      *reinterpret_cast<uint32_t*>(dst + nt * 8) = lo | (hi << 16);
    }
  }
}

template <ActDtype A, int DH>
void launch_t(const PfParams& pp, cudaStream_t stream) {
  constexpr size_t smem = (size_t)(BM + 4 * BN) * DH * 2;
  static bool attr_set = false;
  if (!attr_set) {
    check(cudaFuncSetAttribute(prefill_kernel<A, DH>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
          "paged_attention (prefill smem attribute)");
    attr_set = true;
  }
  dim3 grid((pp.T + BM - 1) / BM + pp.S, pp.H);
  prefill_kernel<A, DH><<<grid, kThreads, smem, stream>>>(pp);
  check_launch("paged_attention (tensor-core prefill)");
}

}  // namespace

void launch_prefill_tc(const PagedAttentionArgs& a, cudaStream_t stream) {
  require(a.ld_out % 2 == 0, "paged_attention", "ld_out must be even");
  require(a.H <= 65535, "paged_attention", "H too large");
  PfParams pp;
  pp.q = static_cast<const uint16_t*>(a.q);
  pp.ld_q = a.ld_q;
  pp.kc = static_cast<const uint16_t*>(a.k_cache);
  pp.vc = static_cast<const uint16_t*>(a.v_cache);
  pp.seq_starts = a.seq_starts;
  pp.positions = a.positions;
  pp.bt = a.block_tables;
  pp.max_blocks = a.max_blocks;
  pp.T = a.T;
  pp.S = a.S;
  pp.H = a.H;
  pp.Hkv = a.Hkv;
  pp.bs = a.block_size;
  pp.scale_log2 = a.scale * 1.4426950408889634f;
  pp.out = static_cast<uint16_t*>(a.out);
  pp.ld_out = a.ld_out;
  const bool bf = a.act == ActDtype::BF16;
  if (a.Dh == 128) {
    if (bf) launch_t<ActDtype::BF16, 128>(pp, stream);
    else launch_t<ActDtype::F16, 128>(pp, stream);
  } else {
    if (bf) launch_t<ActDtype::BF16, 64>(pp, stream);
    else launch_t<ActDtype::F16, 64>(pp, stream);
  }
}

}  // namespace qb::cuda::attn
