// Shared pieces of the decode-row attention kernels (attention_paged_decode.cu: row-wise on CUDA cores;
// attention_paged_decode_tc.cu: tensor cores for large batches): their parameters and the end of a block's work,
// where the warps' partial softmax states (in shared memory) are merged and either written as the output (the whole
// context in one split) or as a split partial, the last split of a (row, head group) merging all of them.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/attention/attention_common.cuh"
#include "kernels/common/device_common.cuh"

namespace qb::cuda::attn {

struct RowParams {
  const uint16_t* q;
  int ld_q;
  const void* kc;  // act values, or FP8 codes (F8)
  const void* vc;
  float v_scale;  // applied to the normalized output (1 unless FP8; k_scale is folded into scale_log2)
  const int32_t* seq_starts;
  const int32_t* positions;
  const int32_t* bt;
  int max_blocks, T, S, H, Hkv, bs;
  float scale_log2;
  uint16_t* out;
  int ld_out;
  float* out_amax;  // [T] absmax of each output row (fp32 bits, atomicMax), or null
  float2* ws_ml;  // [splits, T, H] (max, sum)
  float* ws_acc;  // [splits, T, H, Dh]
  int* tickets;   // [T, H / GC] arrival counters (zero between calls)
  int splits, split_len, only_single;
  // Let the next kernel launch after the first KV step instead of right after the PDL wait (inactive blocks: after
  // the wait): the next kernel's weight preload competes with this kernel's loads of q and of this step's KV rows.
  int late_trigger;
  unsigned long long* trace;  // trace.cuh (a -DQB_TRACE build only)
  int trace_tag;
};

// Exact 16-bit -> fp32 (hardware conversions; identical to numerics.h, which is slower in a loop).
template <ActDtype A>
__device__ __forceinline__ float to_f32(uint16_t x) {
  if constexpr (A == ActDtype::BF16)
    return __uint_as_float((uint32_t)x << 16);
  else
    return __half2float(__ushort_as_half(x));
}

// out_amax: every thread's max |stored output| (mag) folded into out_amax[t] by one lane per warp. Called by every
// thread of a block that wrote final outputs; fmaxf drops NaN, and non-negative fp32 bits order as integers.
__device__ __forceinline__ void publish_row_amax(const RowParams& p, int t, float mag) {
  if (!p.out_amax) return;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mag = fmaxf(mag, __shfl_xor_sync(0xffffffffu, mag, o));
  if ((threadIdx.x & 31) == 0 && mag > 0.0f)
    atomicMax(reinterpret_cast<unsigned int*>(p.out_amax) + t, __float_as_uint(mag));
}


// The parameters of either kernel for a batch (the split workspace checked against the plan). Host code.
RowParams row_params(const PagedAttentionArgs& a, bool only_single, const SplitPlan& plan);

// The FP8-KV tensor-core decode kernel (attention_paged_decode_tc_fp8.cu) on rp's rows. Host code; launch_decode_tc
// chooses it.
void launch_decode_tc_fp8(const PagedAttentionArgs& a, const RowParams& rp, cudaStream_t stream);

// After the block's W warps left their (max, sum, unnormalized acc) of nh query heads (h0 ..) in shared memory (exp2
// domain; acc over the Dh dims): the output of row t, or this split's partial and, for the last split to arrive, the
// merge of all of them. hc: the block's head group, of gridDim.y per row (HX: of gridDim.x, a grid with the head
// groups along x), the split tickets' index. Every thread of the block calls it.
template <ActDtype A, int DH, int GC, int W, bool HX = false>
__device__ __forceinline__ void finish_rows(const RowParams& p, int t, int hc, int h0, int nh, int split, int ctx,
                                            const float (&sm_m)[W][GC], const float (&sm_l)[W][GC],
                                            const float (&sm_acc)[W][GC][DH]) {
  using AT = dev::Act<A>;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const bool single = p.splits == 1 || (split == 0 && ctx <= p.split_len);
  float mag = 0.0f;  // out_amax: this thread's max |output|
  for (int i = threadIdx.x; i < nh * DH; i += W * 32) {
    const int g = i / DH, d = i - g * DH;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < W; ++w) M = fmaxf(M, sm_m[w][g]);
    float L = 0.f, a = 0.f;
#pragma unroll
    for (int w = 0; w < W; ++w) {
      const float c = sm_m[w][g] == -INFINITY ? 0.f : exp2f(sm_m[w][g] - M);
      L += sm_l[w][g] * c;
      a += sm_acc[w][g][d] * c;
    }
    if (single) {  // the whole context in this split: final output
      const uint16_t o = AT::store(a / L * p.v_scale);
      p.out[(size_t)t * p.ld_out + (size_t)(h0 + g) * DH + d] = o;
      mag = fmaxf(mag, fabsf(to_f32<A>(o)));
    } else {
      const size_t r = ((size_t)split * p.T + t) * p.H + h0 + g;
      p.ws_acc[r * DH + d] = a;
      if (d == 0) p.ws_ml[r] = make_float2(M, L);
    }
  }
  if (single) {
    publish_row_amax(p, t, mag);
    return;
  }
  // Split partials: the last valid split of (row, head group) to arrive merges them (threadfence / ticket pattern;
  // the partials are read from L2).
  __shared__ int last;
  __threadfence();
  __syncthreads();
  const int nval = min(p.splits, (ctx + p.split_len - 1) / p.split_len);
  if (threadIdx.x == 0) {
    int* ticket = p.tickets + (size_t)t * (HX ? gridDim.x : gridDim.y) + hc;
    last = atomicAdd(ticket, 1) == nval - 1;
    if (last) *ticket = 0;  // every split has arrived: zero for the next call
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  // Per head: split weights c_k = exp2(m_k - M) and 1 / L across a warp's lanes (splits <= kMaxSplits = 32), then
  // every output element sums its splits with all loads issued together.
  __shared__ float sm_c[GC][kMaxSplits], sm_inv[GC];
  for (int g = warp; g < nh; g += W) {
    float mk = -INFINITY, lk = 0.f;
    if (lane < nval) {
      const float2 ml = __ldcg(&p.ws_ml[((size_t)lane * p.T + t) * p.H + h0 + g]);
      mk = ml.x;
      lk = ml.y;
    }
    float M = mk;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
    const float c = lane < nval ? exp2f(mk - M) : 0.f;
    float L = lk * c;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) L += __shfl_xor_sync(0xffffffffu, L, o);
    sm_c[g][lane] = c;
    if (lane == 0) sm_inv[g] = 1.f / L;
  }
  __syncthreads();
  const size_t split_stride = (size_t)p.T * p.H * DH;
  for (int i = threadIdx.x; i < nh * DH; i += W * 32) {
    const int g = i / DH, d = i - g * DH;
    const float* acc0 = p.ws_acc + ((size_t)t * p.H + h0 + g) * DH + d;
    float a = 0.f;
#pragma unroll 8
    for (int k = 0; k < nval; ++k) a += sm_c[g][k] * __ldcg(acc0 + k * split_stride);
    const uint16_t o = AT::store(a * sm_inv[g] * p.v_scale);
    p.out[(size_t)t * p.ld_out + (size_t)(h0 + g) * DH + d] = o;
    mag = fmaxf(mag, fabsf(to_f32<A>(o)));
  }
  publish_row_amax(p, t, mag);
}


}  // namespace qb::cuda::attn
