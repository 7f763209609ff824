// Tensor-core paged attention for decode rows at large batch (mma.sync m16n8k16, fp32 accumulate) over a 16-bit KV
// cache; an FP8 cache goes to attention_paged_decode_tc_fp8.cu (launch_decode_tc chooses). Twin: cpu::attention_paged.
//
// One block (4 warps) per (row, KV head, context split) with all G = H / Hkv query heads of that KV head (GQA: K and V
// are read once per KV head). A warp takes whole pages of the split in turn (16 positions, the cache's block size) and
// loads their K and V straight from global memory into mma fragments with 16-byte loads (no shared memory, no
// transposes):
//   S (heads x 8 positions) = Q K^T      A = Q (rows = the G <= 8 heads, rows G.. zero), B = K;
//   O^T (16 dims x heads)   += V^T P^T   A = V^T, B = P^T, which is S's accumulator (rows 0-7) as it lies.
// The contraction over Dh is permuted (the same permutation for q and k) and the dims of V are assigned to lanes so
// that each lane reads 16 contiguous bytes of a position; the output dims are put back in order when stored. V^T's
// fragments pair two positions of one dim: one byte permute per register. Online softmax in fp32 (exp2 domain), P
// rounded to the act type and the sum taken over the rounded P (as the prefill kernel).
// Warps, then splits, merge as the row-wise kernel's do (finish_rows, attention_decode_common.cuh).
//
// The row-wise kernel (attention_paged_decode.cu) keeps the small batches: its latency path is tuned for batch 1.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/attention/attention_decode_common.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/common/pdl.h"
#include "kernels/common/trace.cuh"

namespace qb::cuda::attn {
namespace {

constexpr int kWarps = 4;
constexpr int kPage = 16;  // positions per page (block_size; launch_decode_tc requires it)
constexpr int kMaxG = 8;   // query heads per KV head: the n8 of the PV product

template <int NW>
__device__ __forceinline__ void load_words(const uint8_t* p, uint32_t (&w)[NW]) {
  if constexpr (NW % 4 == 0) {
#pragma unroll
    for (int i = 0; i < NW; i += 4) {
      const uint4 r = dev::ldg_stream(p + i * 4);
      w[i] = r.x;
      w[i + 1] = r.y;
      w[i + 2] = r.z;
      w[i + 3] = r.w;
    }
  } else {
    static_assert(NW % 2 == 0, "words come in pairs");
#pragma unroll
    for (int i = 0; i < NW; i += 2)
      asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v2.u32 {%0,%1}, [%2];"
                   : "=r"(w[i]), "=r"(w[i + 1])
                   : "l"(p + i * 4));
  }
}

// Registers bounded for 4 resident blocks per SM (128; Dh 128 spills 20-96 bytes): 16 warps per SM keep enough loads
// in flight. H200, B=256 ctx=2048, one layer: 520.6 us (4.13 TB/s) vs 767.4 us (2.80 TB/s) with the compiler's
// unbounded 168 registers (3 blocks) (dev/README.md).
template <ActDtype A, int DH>
__global__ void __launch_bounds__(kWarps * 32, 4) decode_tc_kernel(RowParams p, int G) {
  constexpr int EB = 2;                   // cache bytes per element
  constexpr int E = 16 / EB;              // elements per 16-byte load
  constexpr int NK = DH / 16;             // k16 chunks of Q K^T; m16 dim tiles of V^T P^T
  constexpr int KC = DH / (4 * E);        // 16-byte K loads per lane per 8-position tile
  constexpr int KW = KC * 4;              // their words
  constexpr int DL = DH / 8;              // V dims per lane (8 lanes of a position)
  constexpr int VW = DL * EB / 4;         // their words per position
  constexpr int PPT = 1;                  // pages per warp turn (the loop keeps the code of session 10's measurements)
  __shared__ float sm_m[kWarps][kMaxG], sm_l[kWarps][kMaxG];
  __shared__ __align__(16) float sm_acc[kWarps][kMaxG][DH];
  const int t = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z;
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
  const size_t tok_bytes = (size_t)p.Hkv * DH * EB;
  const uint8_t* kc = static_cast<const uint8_t*>(p.kc) + (size_t)kvh * DH * EB;
  const uint8_t* vc = static_cast<const uint8_t*>(p.vc) + (size_t)kvh * DH * EB;

  // Q as A fragments (rows = heads; a[1], a[3] = rows 8-15 stay zero). Chunk kc's k = 2q + {0,1} (hb 0) and
  // 2q + 8 + {0,1} (hb 1) are the elements c*4E + q*E + 4*pp + 2*hb + {0,1} with kc = c*(E/4) + pp: what the lane
  // holding position g of a K tile loads.
  uint32_t qa[NK][4];
#pragma unroll
  for (int kk = 0; kk < NK; ++kk) {
    const int c = kk / (E / 4), pp = kk % (E / 4);
    qa[kk][1] = qa[kk][3] = 0u;
    if (g < G) {
      const uint16_t* qrow = p.q + (size_t)t * p.ld_q + (size_t)(h0 + g) * DH + c * 4 * E + q * E + 4 * pp;
      qa[kk][0] = __ldg(reinterpret_cast<const uint32_t*>(qrow));
      qa[kk][2] = __ldg(reinterpret_cast<const uint32_t*>(qrow + 2));
    } else {
      qa[kk][0] = qa[kk][2] = 0u;
    }
  }
  float o[NK][4];  // O^T tile j: (dim g*DL + 2j, heads 2q / 2q+1), (dim g*DL + 2j + 1, heads 2q / 2q+1)
#pragma unroll
  for (int j = 0; j < NK; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
  float m_run = -INFINITY, l_run = 0.f;  // head g's running max (exp2 domain) and this lane's share of the sum

  const int npages = (hi - lo + kPage - 1) / kPage;
  for (int pg0 = warp; pg0 < npages; pg0 += kWarps * PPT) {
    uint32_t kw[PPT][2][KW];  // K words: page, 8-position tile (position nt*8 + g)
    uint32_t vw[PPT][4][VW];  // V words: page, positions 2q, 2q+1, 2q+8, 2q+9
#pragma unroll
    for (int u = 0; u < PPT; ++u) {
      const int page = pg0 + u * kWarps;
      const int base = lo + page * kPage;
      const bool page_ok = page < npages;
      const size_t pbase = page_ok ? (size_t)__ldg(bt + base / kPage) * kPage : 0;
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        const int off = nt * 8 + g;
        if (page_ok && base + off < hi) {
#pragma unroll
          for (int c = 0; c < KC; ++c) {
            uint32_t w4[4];
            load_words<4>(kc + (pbase + off) * tok_bytes + c * 64 + q * 16, w4);
#pragma unroll
            for (int i = 0; i < 4; ++i) kw[u][nt][c * 4 + i] = w4[i];
          }
        } else {
#pragma unroll
          for (int i = 0; i < KW; ++i) kw[u][nt][i] = 0u;
        }
      }
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int off = 2 * q + (r & 1) + (r >> 1) * 8;
        if (page_ok && base + off < hi) {
          load_words<VW>(vc + (pbase + off) * tok_bytes + (size_t)g * DL * EB, vw[u][r]);
        } else {
#pragma unroll
          for (int i = 0; i < VW; ++i) vw[u][r][i] = 0u;
        }
      }
    }
#pragma unroll
    for (int u = 0; u < PPT; ++u) {
      const int page = pg0 + u * kWarps;
      if (page >= npages) break;
      const int base = lo + page * kPage;
      // S = Q K^T for the page's two 8-position tiles.
      float sc[2][4];
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < NK; ++kk) {
          const int c = kk / (E / 4), pp = kk % (E / 4);
          dev::mma16816<A>(sc[nt], qa[kk], kw[u][nt][c * 4 + 2 * pp], kw[u][nt][c * 4 + 2 * pp + 1]);
        }
      }
      // Online softmax of head g over the page (lanes of a quad hold its 16 positions, 4 each).
      float x[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int pos = base + (e >> 1) * 8 + 2 * q + (e & 1);
        x[e] = pos < hi ? sc[e >> 1][e & 1] * p.scale_log2 : -INFINITY;
      }
      float mx = fmaxf(fmaxf(x[0], x[1]), fmaxf(x[2], x[3]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m_run, mx);
      const float mu = m_new == -INFINITY ? 0.f : m_new;
      const float corr = dev::fast_exp2(m_run - mu);
      m_run = m_new;
      float e0 = dev::fast_exp2(x[0] - mu), e1 = dev::fast_exp2(x[1] - mu);
      float e2 = dev::fast_exp2(x[2] - mu), e3 = dev::fast_exp2(x[3] - mu);
      const uint32_t pb0 = dev::pack_round<A>(e0, e1), pb1 = dev::pack_round<A>(e2, e3);
      l_run = l_run * corr + (e0 + e1) + (e2 + e3);
      // Rescale O^T: its columns are heads 2q and 2q + 1, whose factors live in the lanes of rows 2q and 2q + 1.
      const float ca = __shfl_sync(0xffffffffu, corr, (2 * q) * 4);
      const float cb = __shfl_sync(0xffffffffu, corr, (2 * q + 1) * 4);
      // O^T += V^T P^T, one m16 dim tile at a time: A = V^T (dims g*DL + 2j | +1, positions 2q.. of the page).
#pragma unroll
      for (int j = 0; j < NK; ++j) {
        // dims (2j, 2j+1) of the lane's DL at positions 2q, 2q+1 (x0, x1) and 2q+8, 2q+9 (y0, y1)
        const uint32_t x0 = vw[u][0][j], x1 = vw[u][1][j], y0 = vw[u][2][j], y1 = vw[u][3][j];
        const uint32_t a[4] = {__byte_perm(x0, x1, 0x5410), __byte_perm(x0, x1, 0x7632),
                               __byte_perm(y0, y1, 0x5410), __byte_perm(y0, y1, 0x7632)};
        o[j][0] *= ca;
        o[j][1] *= cb;
        o[j][2] *= ca;
        o[j][3] *= cb;
        dev::mma16816<A>(o[j], a, pb0, pb1);
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
    if (2 * q + 1 < G) *reinterpret_cast<float2*>(&sm_acc[warp][2 * q + 1][d]) = make_float2(o[j][1], o[j][3]);
  }
  __syncthreads();
  QB_TRACE_MARK(5);
  finish_rows<A, DH, kMaxG, kWarps>(p, t, kvh, h0, G, split, ctx, sm_m, sm_l, sm_acc);
  QB_TRACE_FLUSH(p.trace, p.trace_tag);
}

template <ActDtype A, int DH>
void launch_t(const RowParams& rp, int G, dim3 grid, cudaStream_t st) {
  constexpr const char* kName = "paged_attention (tensor-core decode)";
  launch_pdl(kName, decode_tc_kernel<A, DH>, grid, kWarps * 32, 0, st, rp, G);
  check_launch(kName);
}

}  // namespace

bool decode_tc_supported(const PagedAttentionArgs& a) {
  const int G = a.H / a.Hkv;
  return (a.Dh == 64 || a.Dh == 128) && G >= 1 && G <= kMaxG && a.block_size == kPage;
}

void launch_decode_tc(const PagedAttentionArgs& a, bool only_single, cudaStream_t stream) {
  require(decode_tc_supported(a), "paged_attention",
          "the tensor-core decode kernel needs Dh 64 or 128, H / Hkv <= 8 and block_size 16");
  const int G = a.H / a.Hkv;
  const SplitPlan plan = plan_splits((long)a.T * a.Hkv, a.max_context);
  RowParams rp = row_params(a, only_single, plan);
  rp.late_trigger = 0;
  if (a.kv.fp8) {
    launch_decode_tc_fp8(a, rp, stream);
    return;
  }
  const dim3 grid(a.T, a.Hkv, plan.splits);
  using L = void (*)(const RowParams&, int, dim3, cudaStream_t);
  const L table[2][2] = {{launch_t<ActDtype::F16, 64>, launch_t<ActDtype::F16, 128>},
                         {launch_t<ActDtype::BF16, 64>, launch_t<ActDtype::BF16, 128>}};
  table[a.act == ActDtype::BF16][a.Dh == 128](rp, G, grid, stream);
}

}  // namespace qb::cuda::attn
