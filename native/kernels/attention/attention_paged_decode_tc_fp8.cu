// Tensor-core paged attention for decode rows at large batch over an FP8 KV cache (mma.sync m16n8k16 in f16, fp32
// accumulate). Twin: cpu::attention_paged with cpu::kv_fp8_roundtrip'd caches.
//
// The structure of the 16-bit kernel (attention_paged_decode_tc.cu: one block of 4 warps per (KV head, row, context
// split), the G query heads of the KV head as mma rows, K and V loaded straight into fragments with 16-byte loads,
// S = Q K^T and O^T += V^T P^T with P^T taken from S's accumulators), with what an FP8 cache changes: a warp takes
// two pages per turn (as many bytes in flight as one 16-bit page) and runs one online-softmax update over both (one
// max, one rescale of O per turn); codes are decoded exactly to f16 (cvt.f16x2.e4m3x2; q goes to f16 as well, exact
// for bf16 activations unless below f16's range), k_scale folded into the score scale and v_scale into the output;
// the grid puts the KV heads of a row next to each other and loads prefetch 128 bytes into L2 (below).
// H200, one layer, B=1024 ctx 2048: 1107 us (3.90 TB/s) vs 1495 us (2.88) for the 16-bit kernel's structure with
// FP8 decoding (one page per softmax update, volatile loads and mma, row-major grid, 256-byte prefetch); B=256 ctx
// 2048 272 vs 361 us (results/gpu-h200-decode-fp8-*). Decoding codes with integer ops instead of cvt (sign and
// magnitude bits moved under f16's exponent, 2^8 folded into the scales) measured no faster (291 vs 285 us).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "kernels/attention/attention_decode_common.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/common/pdl.h"
#include "kernels/common/trace.cuh"

namespace qb::cuda::attn {
namespace {

constexpr int kWarps = 4;
constexpr int kPage = 16;  // positions per page (block_size)
constexpr int kMaxG = 8;   // query heads per KV head: the n8 of the PV product
constexpr int kPPT = 2;    // pages per warp turn

// 16 / 8 bytes of the cache, read once. The L2 prefetch stays at 128 bytes, a position's K or V of one KV head: the
// 256-byte hint of the 16-bit kernel fetches the next KV head's bytes too, wasted when its block runs later (H200,
// B=1024 ctx 2048, one layer: 1483.9 vs 1106.8 us with the row-major grid). Not volatile: the compiler may move the
// loads among the mma work.
__device__ __forceinline__ uint4 ld_stream16(const uint8_t* p) {
  uint4 r;
  asm("ld.global.nc.L1::no_allocate.L2::128B.v4.u32 {%0,%1,%2,%3}, [%4];"
      : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
      : "l"(p));
  return r;
}
__device__ __forceinline__ uint2 ld_stream8(const uint8_t* p) {
  uint2 r;
  asm("ld.global.nc.L1::no_allocate.L2::128B.v2.u32 {%0,%1}, [%2];" : "=r"(r.x), "=r"(r.y) : "l"(p));
  return r;
}

// D += A B, f16 inputs (a1 = a3 = 0: rows 8-15 of A are empty), fp32 accumulate. Not volatile (see above).
__device__ __forceinline__ void mma_f16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                        uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Two FP8 E4M3 codes (the low or high half of a word) -> f16x2, exact.
__device__ __forceinline__ uint32_t fp8x2_to_f16x2(uint32_t word, int half) {
  const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)(half ? word >> 16 : word & 0xffffu), __NV_E4M3);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Two act values as f16 (bf16 -> f16 for bf16 activations).
template <ActDtype A>
__device__ __forceinline__ uint32_t to_f16x2(uint32_t w) {
  if constexpr (A == ActDtype::F16) {
    return w;
  } else {
    const __half2 h = __float22half2_rn(make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xffff0000u)));
    return *reinterpret_cast<const uint32_t*>(&h);
  }
}

// Grid (KV head, row, split): the KV heads of a row run together and read the adjacent 128-byte pieces of each
// position's 1 KiB (Llama-3.1-8B) at about the same time.
template <ActDtype A, int DH>
__global__ void __launch_bounds__(kWarps * 32, 4) decode_tc_fp8_kernel(RowParams p, int G) {
  constexpr int NK = DH / 16;  // k16 chunks of Q K^T; m16 dim tiles of V^T P^T
  constexpr int KC = DH / 64;  // 16-byte K loads per lane per 8-position tile
  constexpr int KW = KC * 4;   // their words
  constexpr int DL = DH / 8;   // V dims per lane (8 lanes of a position)
  constexpr int VW = DL / 4;   // their words per position
  __shared__ float sm_m[kWarps][kMaxG], sm_l[kWarps][kMaxG];
  __shared__ __align__(16) float sm_acc[kWarps][kMaxG][DH];
  const int kvh = blockIdx.x, t = blockIdx.y, split = blockIdx.z;
  QB_TRACE_START;
  const int s = find_seq(p.seq_starts, p.S, t);
  const int seq_rows = __ldg(p.seq_starts + s + 1) - __ldg(p.seq_starts + s);
  const bool skip_row = p.only_single && seq_rows > 1;
  const int ctx = __ldg(p.positions + t) + 1;
  const int lo = split * p.split_len;
  const int hi = split == p.splits - 1 ? ctx : min(ctx, lo + p.split_len);
  const bool active = !skip_row && lo < hi;
  dev::pdl_wait();
  dev::pdl_trigger();
  if (!active) {
    QB_TRACE_FLUSH(p.trace, p.trace_tag);
    return;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, q = lane & 3;  // fragment row / column group
  const int h0 = kvh * G;
  const int32_t* bt = p.bt + (size_t)s * p.max_blocks;
  const size_t tok_bytes = (size_t)p.Hkv * DH;
  const uint8_t* kc = static_cast<const uint8_t*>(p.kc) + (size_t)kvh * DH;
  const uint8_t* vc = static_cast<const uint8_t*>(p.vc) + (size_t)kvh * DH;
  const float sl = p.scale_log2;

  // Q as A fragments a0 (k = 2q, 2q+1) and a2 (k = 2q+8, 2q+9) of rows = heads (rows 8-15 zero). Chunk kk = c*4 + pp
  // contracts the elements c*64 + q*16 + 4*pp + {0..3} that the lane holding position g of a K tile loads as word pp
  // of its load c, as pairs (0, 1) and (2, 3).
  uint32_t qa[NK][2];
#pragma unroll
  for (int kk = 0; kk < NK; ++kk) {
    const int c = kk / 4, pp = kk % 4;
    qa[kk][0] = qa[kk][1] = 0u;
    if (g < G) {
      const uint16_t* qrow = p.q + (size_t)t * p.ld_q + (size_t)(h0 + g) * DH + c * 64 + q * 16 + 4 * pp;
      const uint2 w = __ldg(reinterpret_cast<const uint2*>(qrow));
      qa[kk][0] = to_f16x2<A>(w.x);
      qa[kk][1] = to_f16x2<A>(w.y);
    }
  }
  float o[NK][4];  // O^T tile j: (dim g*DL + 2j, heads 2q / 2q+1), (dim g*DL + 2j + 1, heads 2q / 2q+1)
#pragma unroll
  for (int j = 0; j < NK; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
  float m_run = -INFINITY, l_run = 0.f;  // head g's running max (exp2 domain) and this lane's share of the sum

  const int npages = (hi - lo + kPage - 1) / kPage;
  for (int pg0 = warp; pg0 < npages; pg0 += kWarps * kPPT) {
    const bool two = pg0 + kWarps < npages;  // the turn's second page exists (warp-uniform)
    uint32_t kw[kPPT][2][KW];  // K words: page, 8-position tile (position nt*8 + g)
    uint32_t vw[kPPT][4][VW];  // V words: page, positions 2q, 2q+1, 2q+8, 2q+9
#pragma unroll
    for (int u = 0; u < kPPT; ++u) {
      const int base = lo + (pg0 + u * kWarps) * kPage;
      const bool page_ok = u == 0 || two;
      const size_t pbase = page_ok ? (size_t)__ldg(bt + base / kPage) * kPage : 0;
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        const int off = nt * 8 + g;
        const bool ok = page_ok && base + off < hi;
#pragma unroll
        for (int c = 0; c < KC; ++c) {
          const uint4 r = ok ? ld_stream16(kc + (pbase + off) * tok_bytes + c * 64 + q * 16) : make_uint4(0, 0, 0, 0);
          kw[u][nt][c * 4] = r.x;
          kw[u][nt][c * 4 + 1] = r.y;
          kw[u][nt][c * 4 + 2] = r.z;
          kw[u][nt][c * 4 + 3] = r.w;
        }
      }
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int off = 2 * q + (r & 1) + (r >> 1) * 8;
        const bool ok = page_ok && base + off < hi;
        const uint8_t* src = vc + (pbase + off) * tok_bytes + g * DL;
        if constexpr (VW == 4) {
          const uint4 x = ok ? ld_stream16(src) : make_uint4(0, 0, 0, 0);
          vw[u][r][0] = x.x;
          vw[u][r][1] = x.y;
          vw[u][r][2] = x.z;
          vw[u][r][3] = x.w;
        } else {
          static_assert(VW == 2, "Dh 64 or 128");
          const uint2 x = ok ? ld_stream8(src) : make_uint2(0, 0);
          vw[u][r][0] = x.x;
          vw[u][r][1] = x.y;
        }
      }
    }
    // S = Q K^T for the turn's pages (two 8-position tiles each).
    float sc[kPPT][2][4];
#pragma unroll
    for (int u = 0; u < kPPT; ++u)
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        sc[u][nt][0] = sc[u][nt][1] = sc[u][nt][2] = sc[u][nt][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < NK; ++kk) {
          const uint32_t w = kw[u][nt][kk];  // word kk % 4 of load kk / 4
          mma_f16(sc[u][nt], qa[kk][0], 0u, qa[kk][1], 0u, fp8x2_to_f16x2(w, 0), fp8x2_to_f16x2(w, 1));
        }
      }
    // One online-softmax update of head g over the turn (lanes of a quad hold its positions, 4 per page each).
    float x[kPPT][4];
#pragma unroll
    for (int u = 0; u < kPPT; ++u) {
      const int base = lo + (pg0 + u * kWarps) * kPage;
      const bool page_ok = u == 0 || two;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int pos = base + (e >> 1) * 8 + 2 * q + (e & 1);
        x[u][e] = page_ok && pos < hi ? sc[u][e >> 1][e & 1] * sl : -INFINITY;
      }
    }
    float mx = fmaxf(fmaxf(fmaxf(x[0][0], x[0][1]), fmaxf(x[0][2], x[0][3])),
                     fmaxf(fmaxf(x[1][0], x[1][1]), fmaxf(x[1][2], x[1][3])));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float m_new = fmaxf(m_run, mx);  // finite: the turn's first page holds a position
    const float corr = dev::fast_exp2(m_run - m_new);
    m_run = m_new;
    uint32_t pb[kPPT][2];
    float sum = 0.f;
#pragma unroll
    for (int u = 0; u < kPPT; ++u) {
      float e0 = dev::fast_exp2(x[u][0] - m_new), e1 = dev::fast_exp2(x[u][1] - m_new);
      float e2 = dev::fast_exp2(x[u][2] - m_new), e3 = dev::fast_exp2(x[u][3] - m_new);
      pb[u][0] = dev::pack_round<ActDtype::F16>(e0, e1);
      pb[u][1] = dev::pack_round<ActDtype::F16>(e2, e3);
      sum += (e0 + e1) + (e2 + e3);
    }
    l_run = l_run * corr + sum;
    // Rescale O^T: its columns are heads 2q and 2q + 1, whose factors live in the lanes of rows 2q and 2q + 1.
    const float ca = __shfl_sync(0xffffffffu, corr, (2 * q) * 4);
    const float cb = __shfl_sync(0xffffffffu, corr, (2 * q + 1) * 4);
#pragma unroll
    for (int j = 0; j < NK; ++j) {
      o[j][0] *= ca;
      o[j][1] *= cb;
      o[j][2] *= ca;
      o[j][3] *= cb;
    }
    // O^T += V^T P^T, one m16 dim tile at a time: A = V^T (dims g*DL + 2j | +1, positions 2q.. of the page).
#pragma unroll
    for (int u = 0; u < kPPT; ++u) {
      if (u > 0 && !two) break;
#pragma unroll
      for (int j = 0; j < NK; ++j) {
        // dims (2j, 2j+1) of the lane's DL at positions 2q, 2q+1, 2q+8, 2q+9
        const uint32_t x0 = fp8x2_to_f16x2(vw[u][0][j >> 1], j & 1), x1 = fp8x2_to_f16x2(vw[u][1][j >> 1], j & 1);
        const uint32_t y0 = fp8x2_to_f16x2(vw[u][2][j >> 1], j & 1), y1 = fp8x2_to_f16x2(vw[u][3][j >> 1], j & 1);
        const uint32_t a0 = __byte_perm(x0, x1, 0x5410), a1 = __byte_perm(x0, x1, 0x7632);
        const uint32_t a2 = __byte_perm(y0, y1, 0x5410), a3 = __byte_perm(y0, y1, 0x7632);
        mma_f16(o[j], a0, a1, a2, a3, pb[u][0], pb[u][1]);
      }
    }
  }
  QB_TRACE_MARK(2);
  // Warp results to shared memory: head g's (max, sum) from its quad; O^T columns 2q, 2q + 1 as rows of sm_acc.
  l_run += __shfl_xor_sync(0xffffffffu, l_run, 1);
  l_run += __shfl_xor_sync(0xffffffffu, l_run, 2);
  if (q == 0 && g < G) {
    sm_m[warp][g] = m_run;
    sm_l[warp][g] = l_run;
  }
#pragma unroll
  for (int j = 0; j < NK; ++j) {
    const int d = g * DL + 2 * j;
    if (2 * q < G) *reinterpret_cast<float2*>(&sm_acc[warp][2 * q][d]) = make_float2(o[j][0], o[j][2]);
    if (2 * q + 1 < G)
      *reinterpret_cast<float2*>(&sm_acc[warp][2 * q + 1][d]) = make_float2(o[j][1], o[j][3]);
  }
  __syncthreads();
  QB_TRACE_MARK(5);
  finish_rows<A, DH, kMaxG, kWarps, /*HX=*/true>(p, t, kvh, h0, G, split, ctx, sm_m, sm_l, sm_acc);
  QB_TRACE_FLUSH(p.trace, p.trace_tag);
}

template <ActDtype A, int DH>
void launch_t(const RowParams& rp, int G, int T, int Hkv, cudaStream_t st) {
  constexpr const char* kName = "paged_attention (tensor-core decode, FP8 KV)";
  launch_pdl(kName, decode_tc_fp8_kernel<A, DH>, dim3(Hkv, T, rp.splits), kWarps * 32, 0, st, rp, G);
  check_launch(kName);
}

}  // namespace

void launch_decode_tc_fp8(const PagedAttentionArgs& a, const RowParams& rp, cudaStream_t stream) {
  using L = void (*)(const RowParams&, int, int, int, cudaStream_t);
  const L table[2][2] = {{launch_t<ActDtype::F16, 64>, launch_t<ActDtype::F16, 128>},
                         {launch_t<ActDtype::BF16, 64>, launch_t<ActDtype::BF16, 128>}};
  table[a.act == ActDtype::BF16][a.Dh == 128](rp, a.H / a.Hkv, a.T, a.Hkv, stream);
}

}  // namespace qb::cuda::attn
