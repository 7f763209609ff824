// Small-M weight-streaming GEMM core (decode, M <= 64), shared by the fp8 / int8 / 16-bit launchers.
//
// y[M, N] = x[M, K] * W[N, K]^T computed as y^T = W * x^T on mma.sync: W rows are the mma's M dimension (16 rows per
// m-tile), tokens its N dimension (8 per n-tile). A block owns 16*MT weight rows; its WARPS warps split K; partial
// sums meet in shared memory and the block applies the dequant epilogue.
//
// K permutation: a lane (g = lane/4, t = lane%4) loads 16 contiguous bytes of weight rows g and g+8 at byte
// t*16 of each 64-byte chunk, and the same 16 bytes of token g's activation row. A dot product does not depend on
// the order of k, so the bytes are fed to two mmas (A = {wa.x, wb.x, wa.y, wb.y}, B = {xa.x, xa.y}, then .z/.w) in a
// k order that is the same permutation for A and B: 16-byte coalesced loads instead of 4-byte fragment loads.
// (8-bit types: m16n8k32, 16-bit types: m16n8k16; the register mapping is identical.)
//
// Fusion policy F (gemm_smallm_fused.cuh; Plain here): F::kSmemX — a block-wide prologue (after the PDL wait) writes
// the block's input rows into shared memory (normalized and / or quantized from a 16-bit source) and the mma reads x
// there; F::kPaired — the block's 16 mma rows are 8 pairs (row(p, 0), row(p, 1)) chosen by F::row (RoPE's (d, d+Dh/2),
// SiLU's (gate n, up n)), so the epilogue gets both values of a pair in one thread (F::pair); otherwise F::store.
// F::kQuantX — x is a 16-bit source quantized as it is loaded (F::quant16, at the per-token F::x_inv of the lane's
// token): the piece a lane multiplies for a 64-element chunk is 16 codes of 16 elements at the same offsets as an
// 8-bit x (the launcher passes the 16-bit rows as x and row_bytes = K; the element offset is the byte offset). At
// M = 1 the warp shares the work (quant_batch below); the persistent and ring kernels, measurement configurations for
// these ops, quantize per lane.
// F::kOutAmax — F::pair returns |its output| and the epilogue publishes the per-token max (F::publish_amax).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/device_common.cuh"
#include "kernels/common/trace.cuh"

namespace qb::cuda::smallm {

enum class Kind : int { FP8 = 0, INT8 = 1, F16 = 2, BF16 = 3 };

template <Kind K>
struct AccOf {
  using T = float;
};
template <>
struct AccOf<Kind::INT8> {
  using T = int32_t;
};

// d = a * b + c on one 16x8 tile, k = 32 (8-bit) or 16 (16-bit).
// FP8: sm_90 has no e4m3 mma.sync in hardware; the compiler emulates it (conversions + HMMA) and its accumulation
// keeps fewer bits, so every e4m3 mma starts from zero and is added to the fp32 accumulator. Fused and unfused kernels
// share this arithmetic, so they stay bit-identical (alternatives measured: docs/perf-notes-cuda.md).
template <Kind K>
__device__ __forceinline__ void mma(typename AccOf<K>::T (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                    uint32_t b0, uint32_t b1) {
  if constexpr (K == Kind::FP8) {
    float e[4] = {0.f, 0.f, 0.f, 0.f};
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(e[0]), "+f"(e[1]), "+f"(e[2]), "+f"(e[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#pragma unroll
    for (int i = 0; i < 4; ++i) d[i] += e[i];
  } else if constexpr (K == Kind::INT8) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else if constexpr (K == Kind::BF16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

struct Epilogue {
  const float* s_a;  // null: 1
  int a_per_token;
  const float* s_w;  // null: 1
  int w_per_channel;
  void* y;
  ActDtype y_dtype;
};

// The unfused kernel: x from global memory, y stored with the epilogue's scales.
struct Plain {
  static constexpr bool kSmemX = false, kPaired = false, kQuantX = false, kOutAmax = false;
  struct Args {};
  static __device__ __forceinline__ int row(const Args&, int, int) { return 0; }
  static __device__ __forceinline__ int pairs(const Args&) { return 0; }
  static __device__ __forceinline__ void prologue(const Args&, int, int, uint8_t*, float*) {}
  static __device__ __forceinline__ float x_inv(const Args&, int) { return 1.0f; }
  static __device__ __forceinline__ uint4 quant16(const Args&, size_t, float) { return make_uint4(0, 0, 0, 0); }
  static __device__ __forceinline__ uint32_t quant4(const Args&, size_t, float) { return 0u; }
  static __device__ __forceinline__ float pair(const Args&, int, int, float, float) { return 0.0f; }
  static __device__ __forceinline__ void publish_amax(const Args&, int, float) {}
  static __device__ __forceinline__ void store(const Args&, const Epilogue& ep, int M, int N, int tok, int row,
                                               float v) {
    dev::store_act(ep.y, (size_t)tok * N + row, v, ep.y_dtype);
  }
  static __device__ __forceinline__ unsigned long long* trace(const Args&) { return nullptr; }
  static __device__ __forceinline__ int trace_tag(const Args&) { return 0; }
};

// The block's outputs for tokens nt*8 .. nt*8+7 of row tile `tile` (16*MT rows, or 8*MT pairs for F::kPaired), once
// every warp has written its partial sums to red[warp][mt][i][lane]: the warps' partials summed in warp order, the
// dequant epilogue, then F::pair / F::store. Threads of the first WARPS warps take the outputs in turn.
template <class F, int WARPS, int MT, typename Acc>
__device__ __forceinline__ void tile_epilogue(const Acc (&red)[WARPS][MT][4][32], int tile, int nt, int M, int N,
                                              const Epilogue& ep, const typename F::Args& fa, const float* s_tok) {
  auto token_scale = [&](int tok) {
    if constexpr (F::kSmemX || F::kQuantX)
      return s_tok[tok];
    else
      return ep.s_a ? ep.s_a[ep.a_per_token ? tok : 0] : 1.0f;
  };
  auto weight_scale = [&](int row) { return ep.s_w ? ep.s_w[ep.w_per_channel ? row : 0] : 1.0f; };
  if constexpr (F::kPaired) {
    // Thread per (m-tile, token parity j, lane): the pair's two rows are accumulator entries j and j + 2. (MT * 64
    // and the stride are multiples of 32: a warp's lanes run the loop together, so F::publish_amax may use shuffles.)
    for (int o = threadIdx.x; o < MT * 64; o += WARPS * 32) {
      const int mt = o >> 6, j = (o >> 5) & 1, l = o & 31;
      Acc s0 = 0, s1 = 0;
#pragma unroll
      for (int ww = 0; ww < WARPS; ++ww) s0 += red[ww][mt][j][l], s1 += red[ww][mt][j + 2][l];
      const int p = tile * (8 * MT) + mt * 8 + (l >> 2);
      const int tok = nt * 8 + (l & 3) * 2 + j;
      float mag = 0.0f;
      if (p < F::pairs(fa) && tok < M) {
        const float sa = token_scale(tok);
        mag = F::pair(fa, tok, p, dequant_epilogue((float)s0, sa, weight_scale(F::row(fa, p, 0))),
                      dequant_epilogue((float)s1, sa, weight_scale(F::row(fa, p, 1))));
      }
      if constexpr (F::kOutAmax) F::publish_amax(fa, tok < M ? tok : -1, mag);
    }
  } else {
    for (int o = threadIdx.x; o < MT * 128; o += WARPS * 32) {
      const int mt = o >> 7, i = (o >> 5) & 3, l = o & 31;
      Acc s = 0;
#pragma unroll
      for (int ww = 0; ww < WARPS; ++ww) s += red[ww][mt][i][l];
      const int row = tile * (16 * MT) + mt * 16 + (l >> 2) + ((i & 2) ? 8 : 0);
      const int tok = nt * 8 + (l & 3) * 2 + (i & 1);
      if (row < N && tok < M)
        F::store(fa, ep, M, N, tok, row, dequant_epilogue((float)s, token_scale(tok), weight_scale(row)));
    }
  }
}

// NT: n-tiles of 8 tokens (M <= 8*NT); MT: m-tiles of 16 rows per block; WARPS: K split; U: chunks per load batch;
// MINB: blocks per SM the register budget must allow.
template <Kind KIND, int NT, int MT, int WARPS, int U, int MINB, bool PRE, class F = Plain>
__global__ void __launch_bounds__(WARPS * 32, MINB)
    gemm_smallm_kernel(const uint8_t* __restrict__ x, const uint8_t* __restrict__ w, int M, int N, int row_bytes,
                       Epilogue ep, typename F::Args fa) {
  using Acc = typename AccOf<KIND>::T;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int row_base = blockIdx.x * (16 * MT);
  extern __shared__ __align__(16) uint8_t xs_dyn[];  // F::kSmemX: the block's input rows [M, row_bytes]
  __shared__ float s_tok[8 * NT];                    // F::kSmemX: per-token input scales from the prologue
  QB_TRACE_START;

  if constexpr (!PRE) {
    dev::pdl_wait();
    dev::pdl_trigger();
    QB_TRACE_MARK(1);
    F::prologue(fa, M, row_bytes, xs_dyn, s_tok);
    QB_TRACE_MARK(2);
  }

  const uint8_t* wr[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      int r;
      if constexpr (F::kPaired)
        r = F::row(fa, min(blockIdx.x * (8 * MT) + mt * 8 + g, F::pairs(fa) - 1), h);
      else
        r = min(row_base + mt * 16 + h * 8 + g, N - 1);  // clamped rows are computed and discarded
      wr[mt][h] = w + (size_t)r * row_bytes + t4 * 16;
    }
  }
  const uint8_t* xr[NT];
  const uint8_t* xsrc = F::kSmemX ? xs_dyn : x;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) xr[nt] = xsrc + (size_t)min(nt * 8 + g, M - 1) * row_bytes + t4 * 16;
  float xinv[NT];  // F::kQuantX: 1 / the scale of the lane's token in n-tile nt (read after the PDL wait)
  auto init_xinv = [&]() {
    if constexpr (F::kQuantX) {
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) xinv[nt] = F::x_inv(fa, min(nt * 8 + g, M - 1));
    }
  };
  auto load_x = [&](const uint8_t* p, int nt) {
    if constexpr (F::kSmemX)
      return *reinterpret_cast<const uint4*>(p);
    else if constexpr (F::kQuantX)
      return F::quant16(fa, (size_t)(p - x), xinv[nt]);
    else
      return dev::ldg16(p);
  };

  Acc acc[MT][NT][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[mt][nt][i] = 0;

  const int nchunks = (row_bytes + 63) >> 6;
  const int per_warp = (nchunks + WARPS - 1) / WARPS;
  const int c_begin = warp * per_warp;
  const int c_end = min(c_begin + per_warp, nchunks);
  const int lane_bytes = row_bytes - t4 * 16;  // this lane's piece of chunk c is valid iff c*64 < lane_bytes

  // One 64-byte chunk per row for every m-tile and n-tile (pieces past the row end read as zero).
  auto compute = [&](const uint4 (&wa)[MT], const uint4 (&wb)[MT], int c, bool ok) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const uint4 xa = ok ? load_x(xr[nt] + (size_t)c * 64, nt) : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        mma<KIND>(acc[mt][nt], wa[mt].x, wb[mt].x, wa[mt].y, wb[mt].y, xa.x, xa.y);
        mma<KIND>(acc[mt][nt], wa[mt].z, wb[mt].z, wa[mt].w, wb[mt].w, xa.z, xa.w);
      }
    }
  };

  // F::kQuantX (NT = 1): the x pieces of the U chunks c0 .. c0 + U - 1 of a batch. With one row every lane's token is
  // row 0, and the 8 lane groups would quantize the same pieces: instead lane L quantizes the 4-element word L % 16 of
  // chunk c0 + 2p + L / 16 (p < U / 2) and the warp exchanges the words by shuffles (the quantization is ALU work per
  // element, 8x over at M = 1, that cost more than the staged prologue it replaces). More rows: each lane its own.
  auto quant_batch = [&](int c0q, uint4 (&xb)[U]) {
    if constexpr (F::kQuantX) {
      static_assert(NT == 1, "QuantLoadResidual runs one n-tile (M <= 8)");
      if (M == 1) {
        constexpr int P = (U + 1) / 2;
        uint32_t mine[P];
#pragma unroll
        for (int q = 0; q < P; ++q)
          mine[q] = 2 * q + (lane >> 4) < U
                        ? F::quant4(fa, (size_t)(c0q + 2 * q + (lane >> 4)) * 64 + (lane & 15) * 4, xinv[0])
                        : 0u;
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int src = (u & 1) * 16 + t4 * 4;
          const uint32_t m = mine[u >> 1];
          xb[u] = make_uint4(__shfl_sync(0xffffffffu, m, src), __shfl_sync(0xffffffffu, m, src + 1),
                             __shfl_sync(0xffffffffu, m, src + 2), __shfl_sync(0xffffffffu, m, src + 3));
        }
      } else {
#pragma unroll
        for (int u = 0; u < U; ++u) xb[u] = load_x(xr[0] + (size_t)(c0q + u) * 64, 0);
      }
    }
  };
  // One batch's mmas: x loaded per chunk (compute), or quantized for the whole batch first (kQuantX).
  auto compute_batch = [&](const uint4 (&wa)[U][MT], const uint4 (&wb)[U][MT], int c0b) {
    if constexpr (F::kQuantX) {
      uint4 xb[U];
      quant_batch(c0b, xb);
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma<KIND>(acc[mt][0], wa[u][mt].x, wb[u][mt].x, wa[u][mt].y, wb[u][mt].y, xb[u].x, xb[u].y);
          mma<KIND>(acc[mt][0], wa[u][mt].z, wb[u][mt].z, wa[u][mt].w, wb[u][mt].w, xb[u].z, xb[u].w);
        }
    } else {
#pragma unroll
      for (int u = 0; u < U; ++u) compute(wa[u], wb[u], c0b + u, true);
    }
  };

  // Main loop: U whole chunks per batch, all U*2*MT weight loads issued before the first mma (no predicates).
  const int full_end = min(c_end, row_bytes >> 6);  // chunks fully inside the row
  auto load_batch = [&](uint4 (&wa)[U][MT], uint4 (&wb)[U][MT], int c0) {
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        wa[u][mt] = dev::ldg_stream(wr[mt][0] + (size_t)(c0 + u) * 64);
        wb[u][mt] = dev::ldg_stream(wr[mt][1] + (size_t)(c0 + u) * 64);
      }
  };
  int c0 = c_begin;
  if constexpr (!PRE) init_xinv();
  if constexpr (PRE) {
    // Programmatic dependent launch (pdl.h) with the first weight batch loaded before waiting for the previous
    // kernel (the weights are constants; x is read only in compute()).
    uint4 wa[U][MT], wb[U][MT];
    const bool first = c0 + U <= full_end;
    if (first) load_batch(wa, wb, c0);
    dev::pdl_wait();
    dev::pdl_trigger();
    QB_TRACE_MARK(1);
    F::prologue(fa, M, row_bytes, xs_dyn, s_tok);
    QB_TRACE_MARK(2);
    init_xinv();
    if (first) {
      compute_batch(wa, wb, c0);
      c0 += U;
    }
  }
  for (; c0 + U <= full_end; c0 += U) {
    uint4 wa[U][MT], wb[U][MT];
    load_batch(wa, wb, c0);
    compute_batch(wa, wb, c0);
  }
  // Tail: remaining chunks one at a time, with the row-end check.
  for (; c0 < c_end; ++c0) {
    const bool ok = c0 * 64 < lane_bytes;
    uint4 wa[MT], wb[MT];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      wa[mt] = ok ? dev::ldg_stream(wr[mt][0] + (size_t)c0 * 64) : make_uint4(0, 0, 0, 0);
      wb[mt] = ok ? dev::ldg_stream(wr[mt][1] + (size_t)c0 * 64) : make_uint4(0, 0, 0, 0);
    }
    compute(wa, wb, c0, ok);
  }

  // Cross-warp reduction, one n-tile at a time (keeps shared memory at WARPS*MT*512 bytes).
  __shared__ Acc red[WARPS][MT][4][32];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    if (nt * 8 >= M) break;  // uniform across the block
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int i = 0; i < 4; ++i) red[warp][mt][i][lane] = acc[mt][nt][i];
    __syncthreads();
    tile_epilogue<F, WARPS, MT>(red, blockIdx.x, nt, M, N, ep, fa, s_tok);
    __syncthreads();
  }
  QB_TRACE_FLUSH(F::trace(fa), F::trace_tag(fa));
}

}  // namespace qb::cuda::smallm
