// Row-wise paged attention with a split context (flash-decoding) for decode rows, and for every row when the head dim
// has no tensor-core path (Dh 8/16/32). Twin: cpu::attention_paged.
//
// One block (4 warps; 8 for one-row steps) per (row, group of GC query heads sharing one KV head, context split;
// GC = 1 for one-row steps: attention_head_chunk).
// Each warp walks 16-token steps of the split: a token's head slice (Dh x 16 bit) is read by Dh/8 lanes with 16-byte
// streaming loads, K and V of the whole step issued before use; the K/V data is used for all GC query heads (GQA:
// read once per KV head).
// Each lane keeps its own online softmax (max, sum, acc) in fp32 over its tokens; lanes, warps, then splits are merged
// with the usual rescaling (exp2 domain: q is pre-scaled by scale*log2(e)). With one split the block writes the output;
// otherwise it writes (max, sum, unnormalized acc) to the workspace, and the last of the row's splits to finish (a
// ticket counter per (row, head group), PagedAttentionArgs::tickets, left at zero again) merges them: no separate
// combine kernel, so a decode step with short contexts in a graph planned for long ones costs no extra launch. Grid
// and split plan depend only on T, H, Hkv, Dh, max_context (attention_common.cuh); a split
// beyond a row's context exits at once, and the last split takes whatever context is left.
// FP8 KV cache (F8): a lane's 8 elements are 8 codes (8-byte loads), decoded exactly to fp32; k_scale is folded into
// q's pre-scale and v_scale into the final normalization.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <type_traits>

#include "kernels/attention/attention_decode_common.cuh"
#include "kernels/common/device_common.cuh"
#include "kernels/common/pdl.h"
#include "kernels/common/trace.cuh"

namespace qb::cuda::attn {
namespace {

constexpr int kWarps = 4;  // warps per block (8 for one-row steps: attention_warps below)


template <ActDtype A>
__device__ __forceinline__ void unpack8(const uint4& r, float f[8]) {
  const uint16_t* e = reinterpret_cast<const uint16_t*>(&r);
#pragma unroll
  for (int j = 0; j < 8; ++j) f[j] = to_f32<A>(e[j]);
}
// 8 FP8 E4M3 codes -> fp32 (exact: e4m3 -> f16 -> f32).
__device__ __forceinline__ void unpack8_fp8(const uint2& r, float f[8]) {
  const uint16_t* e = reinterpret_cast<const uint16_t*>(&r);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)e[j], __NV_E4M3);
    const float2 v = __half22float2(*reinterpret_cast<const __half2*>(&h));
    f[2 * j] = v.x;
    f[2 * j + 1] = v.y;
  }
}
// A lane's 8 cache elements: 16 bytes of act values, or 8 bytes of FP8 codes.
template <bool F8>
struct KvLane {
  using Raw = typename std::conditional<F8, uint2, uint4>::type;
  static __device__ __forceinline__ Raw zero() {
    if constexpr (F8) return make_uint2(0, 0);
    else return make_uint4(0, 0, 0, 0);
  }
  static __device__ __forceinline__ Raw load(const void* base, size_t idx) {
    if constexpr (F8) {
      uint2 r;
      asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v2.u32 {%0,%1}, [%2];"
                   : "=r"(r.x), "=r"(r.y)
                   : "l"(static_cast<const uint8_t*>(base) + idx));
      return r;
    } else {
      return dev::ldg_stream(static_cast<const uint16_t*>(base) + idx);
    }
  }
  template <ActDtype A>
  static __device__ __forceinline__ void unpack(const Raw& r, float f[8]) {
    if constexpr (F8) unpack8_fp8(r, f);
    else unpack8<A>(r, f);
  }
};

template <ActDtype A, int DH, int GC, int W, bool F8>
__global__ void __launch_bounds__(W * 32) rowwise_kernel(RowParams p) {
  using AT = dev::Act<A>;
  using KL = KvLane<F8>;
  using Raw = typename KL::Raw;
  constexpr int LPT = DH / 8;                // lanes per token (8 elements each)
  constexpr int TPW = 32 / LPT;              // tokens per warp pass
  constexpr int WT = TPW > 16 ? TPW : 16;    // tokens per warp step
  constexpr int R = WT / TPW;                // tokens per lane per step
  __shared__ float sm_m[W][GC], sm_l[W][GC];
  __shared__ __align__(16) float sm_acc[W][GC][DH];
  const int t = blockIdx.x, hc = blockIdx.y, split = blockIdx.z;
  QB_TRACE_START;
  // Step metadata (uploaded before the step's first kernel) and the KV cache rows of earlier steps are read before
  // the programmatic-dependent-launch wait; q and this step's KV rows (written by RoPE + KV write) only after it.
  // Every block waits before leaving.
  const int s = find_seq(p.seq_starts, p.S, t);
  const int seq_rows = __ldg(p.seq_starts + s + 1) - __ldg(p.seq_starts + s);  // this step's rows of the sequence
  const bool skip_row = p.only_single && seq_rows > 1;
  const int ctx = __ldg(p.positions + t) + 1;
  const int lo = split * p.split_len;
  const int hi = split == p.splits - 1 ? ctx : min(ctx, lo + p.split_len);
  const bool active = !skip_row && lo < hi;
  const int G = p.H / p.Hkv;
  const int h0 = hc * GC, kvh = h0 / G;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int tl = lane / LPT, dl = lane % LPT;
  const int32_t* bt = p.bt + (size_t)s * p.max_blocks;
  const size_t tok_stride = (size_t)p.Hkv * DH;
  const size_t head_off = (size_t)kvh * DH + dl * 8;
  // K / V of this lane's tokens of the warp step at `base` with positions in [from, to) (the others untouched).
  auto load_kv = [&](int base, Raw (&kr)[R], Raw (&vr)[R], int from, int to) {
#pragma unroll
    for (int j = 0; j < R; ++j) {
      const int pos = base + j * TPW + tl;
      if (pos >= from && pos < to) {
        const int blk = pos / p.bs;
        const int pg = __ldg(bt + blk);
        const size_t idx = ((size_t)pg * p.bs + (pos - blk * p.bs)) * tok_stride + head_off;
        kr[j] = KL::load(p.kc, idx);
        vr[j] = KL::load(p.vc, idx);
      }
    }
  };
  // The warp's first step: for a sequence with one row in this step (decode), the positions before it were written
  // by earlier steps and load before the wait; the rest (and every position of multi-row sequences) after it.
  const int base0 = lo + warp * WT;
  const int fresh = active && seq_rows == 1 ? ctx - 1 : 0;
  Raw kr0[R], vr0[R];
#pragma unroll
  for (int j = 0; j < R; ++j) kr0[j] = vr0[j] = KL::zero();
  if (active) load_kv(base0, kr0, vr0, 0, min(hi, fresh));
  dev::pdl_wait();
  if (!p.late_trigger || !active) dev::pdl_trigger();
  QB_TRACE_MARK(1);
  if (!active) {
    QB_TRACE_FLUSH(p.trace, p.trace_tag);
    return;
  }
  if (fresh < hi) load_kv(base0, kr0, vr0, fresh, hi);

  float qf[GC][8];
#pragma unroll
  for (int g = 0; g < GC; ++g) {
    uint4 raw = dev::ldg16(p.q + (size_t)t * p.ld_q + (size_t)(h0 + g) * DH + dl * 8);
    unpack8<A>(raw, qf[g]);
#pragma unroll
    for (int e = 0; e < 8; ++e) qf[g][e] *= p.scale_log2;
  }
  float m[GC], l[GC], acc[GC][8];
#pragma unroll
  for (int g = 0; g < GC; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[g][e] = 0.f;
  }

  // One warp step: scores of its R tokens per lane, online softmax, V accumulation.
  auto step = [&](int base, const Raw (&kr)[R], const Raw (&vr)[R]) {
    float sc[R][GC];
#pragma unroll
    for (int j = 0; j < R; ++j) {
      float kf[8];
      KL::template unpack<A>(kr[j], kf);
#pragma unroll
      for (int g = 0; g < GC; ++g) {
        float d = 0.f;
#pragma unroll
        for (int e = 0; e < 8; ++e) d = fmaf(qf[g][e], kf[e], d);
#pragma unroll
        for (int o = 1; o < LPT; o <<= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
        sc[j][g] = (base + j * TPW + tl < hi) ? d : -INFINITY;
      }
    }
    float mn[GC];
#pragma unroll
    for (int g = 0; g < GC; ++g) {
      float mx = sc[0][g];
#pragma unroll
      for (int j = 1; j < R; ++j) mx = fmaxf(mx, sc[j][g]);
      mn[g] = fmaxf(m[g], mx);
      const float mu = mn[g] == -INFINITY ? 0.f : mn[g];
      const float corr = exp2f(m[g] - mu);
      l[g] *= corr;
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[g][e] *= corr;
#pragma unroll
      for (int j = 0; j < R; ++j) {
        sc[j][g] = exp2f(sc[j][g] - mu);
        l[g] += sc[j][g];
      }
      m[g] = mn[g];
    }
#pragma unroll
    for (int j = 0; j < R; ++j) {
      float vf[8];
      KL::template unpack<A>(vr[j], vf);
#pragma unroll
      for (int g = 0; g < GC; ++g)
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[g][e] = fmaf(sc[j][g], vf[e], acc[g][e]);
    }
  };
  if (base0 < hi) step(base0, kr0, vr0);
  QB_TRACE_MARK(4);  // the first (preloaded) step done
  if (p.late_trigger) dev::pdl_trigger();
  for (int base = base0 + W * WT; base < hi; base += W * WT) {
    Raw kr[R], vr[R];
#pragma unroll
    for (int j = 0; j < R; ++j) kr[j] = vr[j] = KL::zero();
    load_kv(base, kr, vr, 0, hi);
    step(base, kr, vr);
  }
  QB_TRACE_MARK(2);  // the block's KV steps done
  // merge lanes holding the same dims (different tokens)
#pragma unroll
  for (int o = LPT; o < 32; o <<= 1) {
#pragma unroll
    for (int g = 0; g < GC; ++g) {
      const float mo = __shfl_xor_sync(0xffffffffu, m[g], o);
      const float lo_ = __shfl_xor_sync(0xffffffffu, l[g], o);
      const float mx = fmaxf(m[g], mo);
      const float c1 = m[g] == -INFINITY ? 0.f : exp2f(m[g] - mx);
      const float c2 = mo == -INFINITY ? 0.f : exp2f(mo - mx);
      l[g] = l[g] * c1 + lo_ * c2;
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const float ao = __shfl_xor_sync(0xffffffffu, acc[g][e], o);
        acc[g][e] = acc[g][e] * c1 + ao * c2;
      }
      m[g] = mx;
    }
  }
  if (lane < LPT) {
#pragma unroll
    for (int g = 0; g < GC; ++g) {
#pragma unroll
      for (int e = 0; e < 8; ++e) sm_acc[warp][g][dl * 8 + e] = acc[g][e];
      if (lane == 0) {
        sm_m[warp][g] = m[g];
        sm_l[warp][g] = l[g];
      }
    }
  }
  __syncthreads();
  QB_TRACE_MARK(5);  // warps merged into shared memory
  finish_rows<A, DH, GC, W>(p, t, hc, h0, GC, split, ctx, sm_m, sm_l, sm_acc);
  QB_TRACE_FLUSH(p.trace, p.trace_tag);
}

template <ActDtype A, int DH, int W, bool F8>
void launch_dh_w(const RowParams& rp, int gc, dim3 grid, cudaStream_t st) {
  constexpr const char* kName = "paged_attention (row-wise split-KV)";
  if constexpr (DH >= 64) {
    switch (gc) {
      case 8:
        if constexpr (DH == 64) launch_pdl(kName, rowwise_kernel<A, DH, 8, W, F8>, grid, W * 32, 0, st, rp);
        break;
      case 4: launch_pdl(kName, rowwise_kernel<A, DH, 4, W, F8>, grid, W * 32, 0, st, rp); break;
      case 2: launch_pdl(kName, rowwise_kernel<A, DH, 2, W, F8>, grid, W * 32, 0, st, rp); break;
      default: launch_pdl(kName, rowwise_kernel<A, DH, 1, W, F8>, grid, W * 32, 0, st, rp); break;
    }
  } else {
    launch_pdl(kName, rowwise_kernel<A, DH, 1, W, F8>, grid, W * 32, 0, st, rp);
  }
  check_launch(kName);
}

// 8 warps per block for one-row steps (batch-1 decode): a split of 128 positions is one 16-token step per warp, all
// of it but this step's row loaded before the PDL wait (docs/perf-notes-cuda.md, session 6: 4 -> 8 warps measured
// faster on every precision; the 4-warp alternative is in dev/README.md).
int attention_warps(int T) { return T <= 1 ? 8 : kWarps; }

// Query heads per block. One-row steps (batch-1 decode): 1 — a lane's work per KV step is a quarter of 4 heads', and
// those steps' latency is on the decode step's critical path (perf notes, session 7: 4 -> 1 head per block measured
// faster on every precision at context 128, within the spread at 2048).
int attention_head_chunk(const PagedAttentionArgs& a) { return a.T > 1 ? head_chunk(a.H, a.Hkv, a.Dh) : 1; }

template <ActDtype A, int DH, bool F8>
void launch_dh(const RowParams& rp, int gc, dim3 grid, cudaStream_t st) {
  if (attention_warps(rp.T) == 8 && DH >= 64)
    launch_dh_w<A, DH, 8, F8>(rp, gc, grid, st);
  else
    launch_dh_w<A, DH, kWarps, F8>(rp, gc, grid, st);
}

template <ActDtype A, bool F8>
void launch_act(const RowParams& rp, int Dh, int gc, dim3 grid, cudaStream_t st) {
  switch (Dh) {
    case 8: launch_dh<A, 8, F8>(rp, gc, grid, st); break;
    case 16: launch_dh<A, 16, F8>(rp, gc, grid, st); break;
    case 32: launch_dh<A, 32, F8>(rp, gc, grid, st); break;
    case 64: launch_dh<A, 64, F8>(rp, gc, grid, st); break;
    default: launch_dh<A, 128, F8>(rp, gc, grid, st); break;
  }
}

}  // namespace

RowParams row_params(const PagedAttentionArgs& a, bool only_single, const SplitPlan& plan) {
  RowParams rp;
  rp.q = static_cast<const uint16_t*>(a.q);
  rp.ld_q = a.ld_q;
  rp.kc = a.k_cache;
  rp.vc = a.v_cache;
  rp.v_scale = a.kv.fp8 ? a.kv.v_scale : 1.0f;
  rp.seq_starts = a.seq_starts;
  rp.positions = a.positions;
  rp.bt = a.block_tables;
  rp.max_blocks = a.max_blocks;
  rp.T = a.T;
  rp.S = a.S;
  rp.H = a.H;
  rp.Hkv = a.Hkv;
  rp.bs = a.block_size;
  rp.scale_log2 = a.scale * 1.4426950408889634f * (a.kv.fp8 ? a.kv.k_scale : 1.0f);
  rp.out = static_cast<uint16_t*>(a.out);
  rp.ld_out = a.ld_out;
  rp.out_amax = a.out_amax;
  rp.splits = plan.splits;
  rp.split_len = plan.split_len;
  rp.only_single = only_single ? 1 : 0;
  rp.late_trigger = 0;
  rp.trace = a.trace;
  rp.trace_tag = a.trace_tag;
  rp.ws_ml = nullptr;
  rp.ws_acc = nullptr;
  rp.tickets = nullptr;
  if (plan.splits > 1) {
    const size_t ml_bytes = ((size_t)plan.splits * a.T * a.H * sizeof(float2) + 255) / 256 * 256;
    const size_t need = ml_bytes + (size_t)plan.splits * a.T * a.H * a.Dh * sizeof(float);
    require(a.workspace != nullptr && a.workspace_bytes >= need, "paged_attention",
            "workspace too small: need " + std::to_string(need) + " bytes (paged_attention_workspace_bytes)");
    require((uintptr_t)a.workspace % 16 == 0, "paged_attention", "workspace must be 16-byte aligned");
    require(a.tickets != nullptr, "paged_attention", "split contexts need tickets ([T * H] int32, zeroed once)");
    rp.tickets = a.tickets;
    rp.ws_ml = static_cast<float2*>(a.workspace);
    rp.ws_acc = reinterpret_cast<float*>(static_cast<char*>(a.workspace) + ml_bytes);
  }
  return rp;
}

void launch_rowwise(const PagedAttentionArgs& a, bool only_single, cudaStream_t stream) {
  const int gc = attention_head_chunk(a);
  const SplitPlan plan = plan_splits((long)a.T * (a.H / gc), a.max_context);
  RowParams rp = row_params(a, only_single, plan);
  // One-row steps let the next kernel (the o projection, whose weight preload competes with q's and this step's KV
  // loads) launch after the first KV step rather than right after the wait: block traces (trace.cuh) showed the first
  // step taking 4.7 us after the wait with the early trigger, 2.3 us with this one (perf notes, session 6).
  rp.late_trigger = a.T <= 1;
  dim3 grid(a.T, a.H / gc, plan.splits);
  if (a.act == ActDtype::BF16) {
    if (a.kv.fp8) launch_act<ActDtype::BF16, true>(rp, a.Dh, gc, grid, stream);
    else launch_act<ActDtype::BF16, false>(rp, a.Dh, gc, grid, stream);
  } else {
    if (a.kv.fp8) launch_act<ActDtype::F16, true>(rp, a.Dh, gc, grid, stream);
    else launch_act<ActDtype::F16, false>(rp, a.Dh, gc, grid, stream);
  }
}

}  // namespace qb::cuda::attn
