// Persistent, software-pipelined small-M GEMM for the fused decode linears (M <= 8; the FusedTile::Persistent4x2Pre2
// configuration, configs.h).
//
// Same arithmetic as gemm_smallm_kernel<KIND, 1, 1, 8, U, ...> (gemm_smallm_mma.cuh): a tile is 16 weight rows (8
// pairs) x the whole K, its 8 warps split K in the same contiguous chunk ranges, each warp adds its chunks in the same
// order (U-chunk batches, then the row-end chunks one at a time), and tile_epilogue sums the warps in warp order —
// so the outputs are bit-identical (the fused_gemv checks compare them with the unfused chain byte for byte).
// What differs is the schedule:
//   - a block loops over tiles blockIdx.x, + gridDim.x, ... (the grid is sized so every block gets the same number
//     of tiles where it can); the fusion policy's prologue (RMSNorm / activation quantization) runs once per block;
//   - a warp's weight batches form one sequence across its tiles, double-buffered in registers: the loads of batch
//     i + 1 (possibly the next tile's first) are issued before batch i's mmas, and before the cross-warp reduction
//     and epilogue of a finished tile, so every thread keeps U x 32 bytes in flight while it computes;
//   - before the programmatic-dependent-launch wait the first batch (PRE2: the first two) is loaded: the weights are
//     constants, so they stream while the previous kernel finishes and while the prologue runs.
// The gemm_smallm_kernel with one tile per block instead leaves the memory bus idle while a block reduces, runs its
// epilogue, exits, and the next block starts and redoes the prologue.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/gemm/gemm_smallm_mma.cuh"

namespace qb::cuda::smallm::persistent {

constexpr int kWarps = 8;

// Blocks for `ntiles` tiles at most `max_blocks` resident: as many tiles per block as the wave forces, spread evenly
// (Llama-3.1-8B gate_up: 1792 tiles over 264 slots -> 256 blocks of exactly 7).
inline int grid_for(int ntiles, int max_blocks) {
  const int per = (ntiles + max_blocks - 1) / max_blocks;
  return (ntiles + per - 1) / per;
}

template <Kind KIND, int U, int MINB, bool PRE2, class F>
__global__ void __launch_bounds__(kWarps * 32, MINB)
    gemm_persistent_kernel(const uint8_t* __restrict__ x, const uint8_t* __restrict__ w, int M, int N, int row_bytes,
                           Epilogue ep, typename F::Args fa) {
  using Acc = typename AccOf<KIND>::T;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  extern __shared__ __align__(16) uint8_t xs_dyn[];  // F::kSmemX: the block's input rows [M, row_bytes]
  __shared__ float s_tok[8];
  __shared__ Acc red[kWarps][1][4][32];
  QB_TRACE_START;

  const int ntiles = F::kPaired ? (F::pairs(fa) + 7) / 8 : (N + 15) / 16;
  const int nchunks = (row_bytes + 63) >> 6;
  const int per_warp = (nchunks + kWarps - 1) / kWarps;
  const int c_begin = warp * per_warp;
  const int c_end = min(c_begin + per_warp, nchunks);
  const int full_end = min(c_end, row_bytes >> 6);
  const int nfull = full_end > c_begin ? (full_end - c_begin) / U : 0;  // pipelined U-chunk batches per tile
  const int c_tail = c_begin + nfull * U;                              // then chunks [c_tail, c_end) one by one
  const int lane_bytes = row_bytes - t4 * 16;

  // This lane's piece of rows g and g + 8 of tile `tile` (paired: the pair's two rows).
  auto row_ptr = [&](int tile, int h) {
    int r;
    if constexpr (F::kPaired)
      r = F::row(fa, min(tile * 8 + g, F::pairs(fa) - 1), h);
    else
      r = min(tile * 16 + h * 8 + g, N - 1);  // clamped rows are computed and discarded
    return w + (size_t)r * row_bytes + t4 * 16;
  };
  const uint8_t* xr = (F::kSmemX ? xs_dyn : x) + (size_t)min(g, M - 1) * row_bytes + t4 * 16;
  float xinv = 1.0f;  // F::kQuantX: set after the PDL wait
  auto load_x = [&](int c) {
    if constexpr (F::kSmemX)
      return *reinterpret_cast<const uint4*>(xr + (size_t)c * 64);
    else if constexpr (F::kQuantX)
      return F::quant16(fa, (size_t)(xr - x) + (size_t)c * 64, xinv);
    else
      return dev::ldg16(xr + (size_t)c * 64);
  };

  Acc acc[4] = {0, 0, 0, 0};
  auto mma2 = [&](const uint4& wa, const uint4& wb, const uint4& xa) {
    mma<KIND>(acc, wa.x, wb.x, wa.y, wb.y, xa.x, xa.y);
    mma<KIND>(acc, wa.z, wb.z, wa.w, wb.w, xa.z, xa.w);
  };
  // A tile's last steps: its row-end chunks (gemm_smallm_kernel's tail loop), the cross-warp reduction, the epilogue.
  auto finish_tile = [&](int tile, const uint8_t* ra, const uint8_t* rb) {
    for (int c = c_tail; c < c_end; ++c) {
      const bool ok = c * 64 < lane_bytes;
      const uint4 wa = ok ? dev::ldg_stream(ra + (size_t)c * 64) : make_uint4(0, 0, 0, 0);
      const uint4 wb = ok ? dev::ldg_stream(rb + (size_t)c * 64) : make_uint4(0, 0, 0, 0);
      mma2(wa, wb, ok ? load_x(c) : make_uint4(0, 0, 0, 0));
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) red[warp][0][i][lane] = acc[i];
    __syncthreads();
    tile_epilogue<F, kWarps, 1>(red, tile, 0, M, N, ep, fa, s_tok);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[i] = 0;
  };

  int tile = blockIdx.x;
  if (nfull == 0) {  // rows shorter than U chunks per warp: no batches to pipeline
    dev::pdl_wait();
    dev::pdl_trigger();
    QB_TRACE_MARK(1);
    F::prologue(fa, M, row_bytes, xs_dyn, s_tok);
    QB_TRACE_MARK(2);
    if constexpr (F::kQuantX) xinv = F::x_inv(fa, min(g, M - 1));
    for (; tile < ntiles; tile += gridDim.x) finish_tile(tile, row_ptr(tile, 0), row_ptr(tile, 1));
    QB_TRACE_FLUSH(F::trace(fa), F::trace_tag(fa));
    return;
  }

  // Batch sequence of this warp: (tile, j) for j < nfull, tiles blockIdx.x, + gridDim.x, ...
  auto load = [&](uint4 (&wa)[U], uint4 (&wb)[U], const uint8_t* ra, const uint8_t* rb, int j) {
    const size_t off = (size_t)(c_begin + j * U) * 64;
#pragma unroll
    for (int u = 0; u < U; ++u) {
      wa[u] = dev::ldg_stream(ra + off + (size_t)u * 64);
      wb[u] = dev::ldg_stream(rb + off + (size_t)u * 64);
    }
  };
  int j = 0;
  const uint8_t* ra = row_ptr(tile, 0);
  const uint8_t* rb = row_ptr(tile, 1);
  // The item after (tile, j): returns false past the last tile.
  int ntile = tile, nj = 0;
  const uint8_t *nra = ra, *nrb = rb;
  auto advance = [&]() {
    nj = j + 1, ntile = tile;
    if (nj == nfull) nj = 0, ntile = tile + gridDim.x;
    if (ntile != tile && ntile < ntiles) nra = row_ptr(ntile, 0), nrb = row_ptr(ntile, 1);
    return ntile < ntiles;
  };
  // One item: issue the next item's loads into `nxt`, compute `cur`, finish the tile if this was its last batch.
  bool preloaded = false;  // PRE2: the second item was loaded before the PDL wait
  auto step = [&](uint4 (&ca)[U], uint4 (&cb)[U], uint4 (&na)[U], uint4 (&nb)[U]) {
    const bool more = advance();
    if (more && !preloaded) load(na, nb, nra, nrb, nj);
    preloaded = false;
#pragma unroll
    for (int u = 0; u < U; ++u) mma2(ca[u], cb[u], load_x(c_begin + j * U + u));
    if (nj == 0) finish_tile(tile, ra, rb);
    tile = ntile, j = nj, ra = nra, rb = nrb;
    return more;
  };

  uint4 a0[U], b0[U], a1[U], b1[U];
  load(a0, b0, ra, rb, 0);
  if constexpr (PRE2) {
    if (advance()) {  // (the first step recomputes the same next item)
      load(a1, b1, nra, nrb, nj);
      preloaded = true;
    }
  }
  dev::pdl_wait();
  dev::pdl_trigger();
  QB_TRACE_MARK(1);
  F::prologue(fa, M, row_bytes, xs_dyn, s_tok);
  QB_TRACE_MARK(2);
  if constexpr (F::kQuantX) xinv = F::x_inv(fa, min(g, M - 1));
  while (step(a0, b0, a1, b1) && step(a1, b1, a0, b0)) {
  }
  QB_TRACE_FLUSH(F::trace(fa), F::trace_tag(fa));
}

}  // namespace qb::cuda::smallm::persistent
