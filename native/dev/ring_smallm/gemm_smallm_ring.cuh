// Persistent small-M GEMM fed by a shared-memory weight ring (decode, M <= 8; FusedLinear tile configuration 5).
//
// Same arithmetic as gemm_smallm_kernel<KIND, 1, 1, 8, ...> (gemm_smallm_mma.cuh) — a tile is 16 weight rows x the
// whole K, its 8 consumer warps split K in the same contiguous chunk ranges, the mma k permutation and the
// cross-warp reduction order are the same — so the outputs are bit-identical (the fused_gemv checks compare them with
// the unfused chain byte for byte). What differs is how the weights arrive:
//   - one block per SM, looping over tiles blockIdx.x, + gridDim.x, ...; the fusion policy's prologue (RMSNorm /
//     activation quantization) runs once per block instead of once per 16-row tile;
//   - a producer warp streams the block's tiles into a ring of `stages` shared-memory slots (16 rows x `chunk` bytes
//     each) with bulk copies (cp.async.bulk, completion counted on an mbarrier per slot), and starts before the
//     programmatic-dependent-launch wait: the weights are constants, so the first ~200 KB per SM are in flight while
//     the previous kernel (attention, or the previous linear's last tiles) is still running, and the prologue, the
//     reductions and the epilogues overlap the stream instead of leaving the memory bus idle.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/gemm/gemm_smallm_mma.cuh"

namespace qb::cuda::smallm::ring {

constexpr int kConsumerWarps = 8;
constexpr int kThreads = (kConsumerWarps + 1) * 32;  // + the producer warp
constexpr int kMaxStages = 32;
constexpr int kPad = 64;  // bytes after each staged row: rows g and g + 1 of a quarter-warp's loads hit other banks

__device__ __forceinline__ uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void mbar_init(uint64_t* b, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(b)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t* b, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(b)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* b) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(b)) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* b, uint32_t parity) {
  asm volatile(
      "{\n\t.reg .pred P1;\n\tLAB_WAIT:\n\t"
      "mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n\t"
      "@P1 bra DONE;\n\tbra LAB_WAIT;\n\tDONE:\n\t}" ::"r"(smem_u32(b)),
      "r"(parity)
      : "memory");
}
// Global -> shared bulk copy (16-byte aligned, bytes a multiple of 16), completion counted on `bar`.
__device__ __forceinline__ void bulk_g2s(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                   smem_u32(dst)),
               "l"(src), "r"(bytes), "r"(smem_u32(bar))
               : "memory");
}
// Barrier among the consumer warps only (the producer warp keeps streaming).
__device__ __forceinline__ void consumers_sync() {
  asm volatile("bar.sync 1, %0;" ::"n"(kConsumerWarps * 32) : "memory");
}

__host__ __device__ constexpr size_t xs_bytes(bool smem_x, int M, int row_bytes) {
  return smem_x ? ((size_t)M * row_bytes + 127) / 128 * 128 : 0;
}
__host__ __device__ constexpr size_t slot_bytes(int chunk) { return (size_t)16 * (chunk + kPad); }

// Dynamic shared memory: [xs: the staged input rows (F::kSmemX)] [ring: stages x 16 rows x (chunk + kPad)].
// chunk: bytes of a row per slot (a multiple of 64).
template <Kind KIND, class F>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_ring_kernel(const uint8_t* __restrict__ x, const uint8_t* __restrict__ w, int M, int N, int row_bytes,
                     int chunk, int stages, Epilogue ep, typename F::Args fa) {
  using Acc = typename AccOf<KIND>::T;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t full[kMaxStages], empty[kMaxStages];
  __shared__ float s_tok[8];
  __shared__ Acc red[kConsumerWarps][1][4][32];
  uint8_t* xs = smem;
  uint8_t* ring = smem + xs_bytes(F::kSmemX, M, row_bytes);
  const int stride = chunk + kPad;
  const int ntiles = F::kPaired ? (F::pairs(fa) + 7) / 8 : (N + 15) / 16;
  const int nst = (row_bytes + chunk - 1) / chunk;  // slots per tile
  const int my_tiles = ntiles > (int)blockIdx.x ? (ntiles - 1 - (int)blockIdx.x) / (int)gridDim.x + 1 : 0;
  const int total = my_tiles * nst;

  if (threadIdx.x == 0) {
    for (int s = 0; s < stages; ++s) {
      mbar_init(&full[s], 1);
      mbar_init(&empty[s], kConsumerWarps);
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();

  // Producer: slot use `it` = tile blockIdx.x + (it / nst) * gridDim.x, row piece it % nst. Lane j < 16 copies the
  // piece of staged row j: rows 0-7 / 8-15 are the mma's rows g / g + 8 (paired: the pair's two rows).
  auto issue = [&](int it) {
    const int tile = (int)blockIdx.x + (it / nst) * (int)gridDim.x, s = it % nst, slot = it % stages;
    const int bytes = min(chunk, row_bytes - s * chunk);
    if (lane == 0) mbar_expect_tx(&full[slot], 16u * (uint32_t)bytes);
    __syncwarp();
    if (lane < 16) {
      const int h = lane >> 3, gg = lane & 7;
      int r;
      if constexpr (F::kPaired)
        r = F::row(fa, min(tile * 8 + gg, F::pairs(fa) - 1), h);
      else
        r = min(tile * 16 + lane, N - 1);  // clamped rows are computed and discarded
      bulk_g2s(ring + (size_t)slot * slot_bytes(chunk) + (size_t)lane * stride,
               w + (size_t)r * row_bytes + (size_t)s * chunk, (uint32_t)bytes, &full[slot]);
    }
  };
  const bool producer = warp == kConsumerWarps;
  if (producer)  // before the PDL wait: weights only
    for (int it = 0; it < min(stages, total); ++it) issue(it);

  dev::pdl_wait();
  dev::pdl_trigger();
  F::prologue(fa, M, row_bytes, xs, s_tok);  // all warps (block-wide reductions)

  if (producer) {
    for (int it = stages; it < total; ++it) {
      mbar_wait(&empty[it % stages], (uint32_t)((it / stages - 1) & 1));
      issue(it);
    }
    return;
  }

  const int nchunks = (row_bytes + 63) >> 6;
  const int per_warp = (nchunks + kConsumerWarps - 1) / kConsumerWarps;
  const int c_begin = warp * per_warp;
  const int c_end = min(c_begin + per_warp, nchunks);
  const int lane_bytes = row_bytes - t4 * 16;  // this lane's piece of chunk c is valid iff c*64 < lane_bytes
  const int cpc = chunk >> 6;                   // 64-byte chunks per slot
  const uint8_t* xr = (F::kSmemX ? xs : x) + (size_t)min(g, M - 1) * row_bytes + t4 * 16;
  const float xinv = F::x_inv(fa, min(g, M - 1));  // F::kQuantX only (after the PDL wait)
  int it = 0;
  for (int tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
    Acc acc[4] = {0, 0, 0, 0};
    for (int s = 0; s < nst; ++s, ++it) {
      const int slot = it % stages;
      mbar_wait(&full[slot], (uint32_t)((it / stages) & 1));
      const uint8_t* sa = ring + (size_t)slot * slot_bytes(chunk) + (size_t)g * stride + t4 * 16;
      const uint8_t* sb = sa + (size_t)8 * stride;
      const int lo = max(c_begin, s * cpc), hi = min(c_end, s * cpc + cpc);
#pragma unroll 4
      for (int c = lo; c < hi; ++c) {
        const bool ok = c * 64 < lane_bytes;
        const int off = (c - s * cpc) * 64;
        const uint4 wa = ok ? *reinterpret_cast<const uint4*>(sa + off) : make_uint4(0, 0, 0, 0);
        const uint4 wb = ok ? *reinterpret_cast<const uint4*>(sb + off) : make_uint4(0, 0, 0, 0);
        uint4 xa = make_uint4(0, 0, 0, 0);
        if (ok) {
          if constexpr (F::kSmemX)
            xa = *reinterpret_cast<const uint4*>(xr + (size_t)c * 64);
          else if constexpr (F::kQuantX)
            xa = F::quant16(fa, (size_t)(xr - x) + (size_t)c * 64, xinv);
          else
            xa = dev::ldg16(xr + (size_t)c * 64);
        }
        mma<KIND>(acc, wa.x, wb.x, wa.y, wb.y, xa.x, xa.y);
        mma<KIND>(acc, wa.z, wb.z, wa.w, wb.w, xa.z, xa.w);
      }
      __syncwarp();
      if (lane == 0) mbar_arrive(&empty[slot]);
    }

    // Cross-warp reduction and epilogue (gemm_smallm_kernel's, MT = NT = 1).
#pragma unroll
    for (int i = 0; i < 4; ++i) red[warp][0][i][lane] = acc[i];
    consumers_sync();
    tile_epilogue<F, kConsumerWarps, 1>(red, tile, 0, M, N, ep, fa, s_tok);
    consumers_sync();
  }
}

}  // namespace qb::cuda::smallm::ring
