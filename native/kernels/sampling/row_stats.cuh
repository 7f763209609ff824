// Sampling's first pass (sampling.cu, step 1): the order key of a logit, the per-thread walk over a row, and the row
// statistics (max, first argmax, min, logsumexp at temperature 1) in one block or split over many blocks for long
// rows. Included by sampling.cu only.
#pragma once
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

#include "kernels/common/device_common.cuh"

namespace qb::cuda::sampling_rows {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kBins = 16;
constexpr int kCap = 2048;  // tokens resolved by an in-shared-memory sort

// Order key: unsigned order = float order; -0 and +0 map to the same key (equal probabilities).
__device__ __forceinline__ uint32_t okey(float x) {
  if (x == 0.0f) x = 0.0f;
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float unkey(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// Calls f(x, index) for every element of the row this thread owns, in increasing index order per thread.
template <typename F>
__device__ __forceinline__ void for_row(const float* __restrict__ row, int V, bool vec, F&& f) {
  if (vec) {
    const float4* r4 = reinterpret_cast<const float4*>(row);
    const int nv = V >> 2;
    int i = threadIdx.x;
    for (; i + 3 * kThreads < nv; i += 4 * kThreads) {
      float4 v[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) v[u] = __ldg(r4 + i + u * kThreads);
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int b = 4 * (i + u * kThreads);
        f(v[u].x, b);
        f(v[u].y, b + 1);
        f(v[u].z, b + 2);
        f(v[u].w, b + 3);
      }
    }
    for (; i < nv; i += kThreads) {
      const float4 v = __ldg(r4 + i);
      f(v.x, 4 * i);
      f(v.y, 4 * i + 1);
      f(v.z, 4 * i + 2);
      f(v.w, 4 * i + 3);
    }
  } else {
    for (int i = threadIdx.x; i < V; i += kThreads) f(__ldg(row + i), i);
  }
}

struct RowStats {
  float mx, mn;
  int am;
  double lse;
};

struct StatsSmem {
  float f[32];
  int i[32];
  double d[32];
};

// Running statistics of a stretch of logits: max, min, first argmax, sum of exp(x - max) in double. One thread adds
// elements in index order (add); a block merges its threads' (merged, the same in every thread); RowStats finishes.
struct StatPart {
  float m = -INFINITY, mn = INFINITY;
  int am = INT_MAX;
  double s = 0.0;
  __device__ void add(float x, int i) {
    mn = fminf(mn, x);
    if (x > m) {
      s = m == -INFINITY ? 0.0 : s * exp((double)m - (double)x);
      m = x;
      am = i;
    }
    if (m != -INFINITY) s += (double)expf(x - m);
  }
  // add() for a stretch whose max m is already set (elements in index order): the same min, first argmax and sum,
  // without rescaling.
  __device__ void add_known_max(float x, int i) {
    mn = fminf(mn, x);
    if (m != -INFINITY) {
      if (x == m && am == INT_MAX) am = i;
      s += (double)expf(x - m);
    }
  }
  __device__ StatPart merged(StatsSmem& sh) const {
    StatPart r;
    r.m = dev::block_reduce(m, sh.f, [](float a, float b) { return fmaxf(a, b); }, -INFINITY);
    r.mn = dev::block_reduce(mn, sh.f, [](float a, float b) { return fminf(a, b); }, INFINITY);
    r.am = dev::block_reduce(m == r.m ? am : INT_MAX, sh.i, [](int a, int b) { return min(a, b); }, INT_MAX);
    const double sc = (m == -INFINITY || r.m == -INFINITY) ? 0.0 : s * exp((double)m - (double)r.m);
    r.s = dev::block_reduce(sc, sh.d, [](double a, double b) { return a + b; }, 0.0);
    return r;
  }
  __device__ RowStats finish() const {
    RowStats r;
    r.mx = m;
    r.mn = mn;
    r.am = am == INT_MAX ? 0 : am;  // all -inf (or NaN): the CPU's argmax returns 0
    r.lse = (double)m + log(s);
    return r;
  }
};

// Max, argmax (first index), min and logsumexp of a row, in one pass. Every thread gets the result.
__device__ RowStats row_stats(const float* __restrict__ row, int V, bool vec, StatsSmem& sh) {
  StatPart p;
  for_row(row, V, vec, [&](float x, int i) { p.add(x, i); });
  return p.merged(sh).finish();
}

// Row statistics over many blocks (decode: one row of 128k logits took ~40 us in a single block): each block of
// kPartThreads reduces a chunk of the row to a StatPart; the sampling block merges the parts (combine_parts).
constexpr int kPartThreads = 256;
constexpr int kPartChunk = 4096;  // logits per block (a multiple of 4 x kPartThreads: float4 loads, kPer per thread)
static_assert(kPartChunk % (4 * kPartThreads) == 0, "whole float4 loads per thread");
__host__ __device__ inline int stat_parts(int V) { return (V + kPartChunk - 1) / kPartChunk; }

__global__ void __launch_bounds__(kPartThreads)
    stats_part_kernel(const float* __restrict__ logits, int V, const int32_t* __restrict__ row_idx,
                      StatPart* __restrict__ parts) {
  __shared__ StatsSmem sh;
  const int r = blockIdx.x, c = blockIdx.y, C = gridDim.y;
  const float* row = logits + (size_t)__ldg(row_idx + r) * V;
  const int lo = c * kPartChunk, hi = min(V, lo + kPartChunk);
  StatPart p;
  if ((V & 3) == 0 && ((uintptr_t)row & 15) == 0) {
    // The thread's values in registers, then two passes over them: the max first, then min, first argmax and the sum
    // of exp(x - max) with the max fixed. StatPart::add's running form rescales the sum with a double exp at every
    // new max (a few per thread). H200, greedy sample_rows of 128256 logits (session 16, the kernel bench): 256 rows
    // 110 -> 51 us, 800 rows 330 -> 151 us (batching the loads alone: 111 -> 109 us).
    constexpr int kPer = kPartChunk / 4 / kPartThreads;
    const float4* r4 = reinterpret_cast<const float4*>(row);
    float4 v[kPer];
    float tm = -INFINITY;
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      const int i = lo / 4 + threadIdx.x + u * kPartThreads;
      if (i < hi / 4) {
        v[u] = __ldg(r4 + i);
        tm = fmaxf(tm, fmaxf(fmaxf(v[u].x, v[u].y), fmaxf(v[u].z, v[u].w)));  // NaN never the max, as in add
      }
    }
    p.m = tm;
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      const int i = lo / 4 + threadIdx.x + u * kPartThreads;
      if (i < hi / 4) {
        p.add_known_max(v[u].x, 4 * i);
        p.add_known_max(v[u].y, 4 * i + 1);
        p.add_known_max(v[u].z, 4 * i + 2);
        p.add_known_max(v[u].w, 4 * i + 3);
      }
    }
  } else {
    for (int i = lo + threadIdx.x; i < hi; i += kPartThreads) p.add(__ldg(row + i), i);
  }
  const StatPart q = p.merged(sh);
  if (threadIdx.x == 0) parts[(size_t)r * C + c] = q;
}

// Merges a row's C parts (C <= kThreads) into RowStats; called by the whole block.
__device__ RowStats combine_parts(const StatPart* __restrict__ p, int C, StatsSmem& sh) {
  StatPart q;
  if ((int)threadIdx.x < C) q = p[threadIdx.x];
  return q.merged(sh).finish();
}

}  // namespace qb::cuda::sampling_rows
