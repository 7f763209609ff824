// Named tile configurations of the fused decode linears (FusedLinear, cuda_ops.h) and the pure function that picks
// one from the linear and its weight type. Each names the kernel template it instantiates in launch_fused
// (gemm_smallm_fused.cuh): a tile is 16 weight rows (8 pairs for the paired ops) x the whole K, 8 warps splitting K,
// weights read in batches of U 16-byte chunks per thread into registers.
// How each default was chosen (decode batch 1, A/B in one call): docs/perf-notes-cuda.md; the configurations that
// lost are listed in dev/README.md.
#pragma once
#include "common/linear.h"

namespace qb::cuda {

enum class FusedTile : int {
  Auto = 0,            // fused_tile_for(linear, weights)
  Batch8Preload2PerSm,  // U = 8, first batch loaded before the PDL wait, 2 blocks / SM: 16-bit weights
  Batch4Preload2PerSm,  // U = 4, preload, 2 blocks / SM: 8-bit o and down
  Batch4Preload3PerSm,  // U = 4, preload, 3 blocks / SM: 8-bit qkv (its 384 tiles fit one wave at 3 blocks / SM)
  Persistent4x2Pre2,    // persistent pipelined kernel (gemm_smallm_persistent.cuh), U = 4, 2 blocks / SM, two
                        // batches before the wait: 8-bit gate_up (1792 tiles: 7 per block instead of 7 waves)
};

constexpr FusedTile fused_tile_for(Linear linear, bool weights_8bit) {
  if (!weights_8bit) return FusedTile::Batch8Preload2PerSm;
  switch (linear) {
    case Linear::Qkv: return FusedTile::Batch4Preload3PerSm;
    case Linear::GateUp: return FusedTile::Persistent4x2Pre2;
    default: return FusedTile::Batch4Preload2PerSm;
  }
}

inline const char* fused_tile_name(FusedTile t) {
  switch (t) {
    case FusedTile::Batch8Preload2PerSm: return "batch8-preload-2/SM";
    case FusedTile::Batch4Preload2PerSm: return "batch4-preload-2/SM";
    case FusedTile::Batch4Preload3PerSm: return "batch4-preload-3/SM";
    case FusedTile::Persistent4x2Pre2: return "persistent-batch4-2/SM";
    default: return "auto";
  }
}

}  // namespace qb::cuda
